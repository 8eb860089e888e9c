#pragma once
// What the escalation service needs of the audit trail: events that record
// an action commit with it (Enqueue inside the action's transaction), and
// refusals, which have no transaction of their own, are recorded alone.
// Implemented over libs/audit_client's durable outbox in main; a test may
// collect events in memory. Implementations are thread-safe.
#include <absl/status/status.h>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/store/database.h"

namespace parallax::escalation {

class AuditTrail {
 public:
  virtual ~AuditTrail() = default;
  virtual absl::Status Enqueue(store::Transaction& txn, const audit::v1::AuditEvent& event) = 0;
  virtual absl::Status Record(const audit::v1::AuditEvent& event) = 0;
};

}  // namespace parallax::escalation
