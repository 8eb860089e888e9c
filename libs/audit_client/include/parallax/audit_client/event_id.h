#pragma once
// Event ids for audit events (AuditEvent.event_id, the idempotency key of
// Audit.Record). Thread-safe pure functions.
#include <string>
#include <string_view>

namespace parallax::audit_client {

// A random UUID version 4 in its canonical lower-case text form
// ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"), from the operating system's
// random source.
std::string NewEventId();

// A UUID (RFC 9562 version 8, SHA-256 based) determined by `name`: the same
// name always gives the same id, so a service that may record one action
// twice (a retried handler, a replayed message) can name the action, e.g.
// "alert-routing/ALERT_SENT/<alert_id>", and the audit log keeps it once.
// The name must not hold patient data (only the id is stored, but keep it
// clean anyway).
std::string EventIdFor(std::string_view name);

}  // namespace parallax::audit_client
