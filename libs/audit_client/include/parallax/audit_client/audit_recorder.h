#pragma once
// AuditRecorder: how every Parallax service records audit events without
// losing any. Record (or Enqueue, inside the caller's own transaction)
// writes the event into a durable outbox table, <schema>.audit_outbox, in the
// CALLING service's own schema; a sender thread delivers the outbox to
// Audit.Record over gRPC, oldest first, and deletes each entry once the audit
// service has answered OK (a new entry or a duplicate). An audit outage
// therefore delays events and never loses them, and an event enqueued in a
// transaction that rolls back is never sent.
//
// Delivery is at least once; Audit.Record is idempotent per event_id, so the
// log holds each event once. Order: entries go out in outbox id order and a
// failed delivery stops the pass (later entries wait; retries back off
// exponentially from backoff_initial to backoff_max). Ids are taken at insert,
// so two transactions committing in the opposite order of their inserts may
// reach the audit log in id order rather than commit order; occurred_at
// keeps the true time. An entry the audit service refuses as malformed
// (INVALID_ARGUMENT, or bytes that no longer parse) cannot succeed on retry:
// it is set aside (dead = true, last_error kept, logged) so it does not
// block the rest. Several replicas of a service share the outbox: a
// transaction-scoped advisory lock lets one of them deliver at a time, and
// that delivery pass holds one pooled connection for its duration.
//
// Defaults filled in when unset: event_id (a random UUID v4; pass your own,
// e.g. audit_client::EventIdFor(...), to make a repeated action idempotent),
// occurred_at (now), service (options.service), actor (a SERVICE actor whose
// system_id is the service).
//
// Wake-ups: Record wakes the sender at once; Enqueue NOTIFYs
// "<schema>_audit_outbox" at commit, which the sender LISTENs for (call
// Poke() after your commit to skip that round trip); the sender also looks
// again every `poll`.
//
// Thread-safety: thread-safe. Record/Enqueue/DeliverPending may be called
// from any thread; Start and Stop from the owner. Destroying the recorder
// stops it.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/store/database.h"
#include "parallax/store/migrations.h"

namespace grpc {
class Channel;
}
namespace prometheus {
class Registry;
}

namespace parallax::audit_client {

struct AuditRecorderOptions {
  // host:port of the Audit service. Empty: events are kept in the outbox and
  // never sent (Start() refuses), e.g. for a tool that only enqueues.
  std::string audit_address;
  // Used instead of a channel to audit_address when set (TLS, tests).
  std::shared_ptr<grpc::Channel> channel;
  // AuditEvent.service when the event leaves it empty (e.g. "escalation").
  std::string service;
  // The sender looks at the outbox at least this often.
  std::chrono::milliseconds poll{2000};
  // Deadline of one Audit.Record call.
  std::chrono::milliseconds rpc_timeout{5000};
  // Wait after the first failed delivery; doubles per further failure up to
  // backoff_max, and resets after a success.
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  // Entries one delivery pass sends at most.
  int batch_size = 100;
  // Listen for NOTIFY (needs one extra connection, not from the pool).
  bool listen = true;
  // Optional: counters of delivered / failed deliveries and the outbox size,
  // labelled with the schema. Must outlive the recorder.
  prometheus::Registry* registry = nullptr;
};

class AuditRecorder {
 public:
  // The outbox's migrations for `schema`, numbered first_version,
  // first_version + 1, ..., to append to the calling service's own list for
  // that schema (one list per schema; see parallax/store/migrations.h).
  static std::vector<store::Migration> Migrations(std::string_view schema, int first_version);

  // Applies Migrations(schema, 1) to `schema`: only for a schema whose sole
  // user is the outbox (tests, tools). Errors as store::ApplyMigrations.
  static absl::Status Migrate(store::Database& db, std::string_view schema);

  // db must outlive the recorder; schema is the caller's own schema (a
  // lower-case identifier) whose migrations include Migrations(schema, n).
  AuditRecorder(store::Database* db, std::string schema, AuditRecorderOptions options);
  ~AuditRecorder();
  AuditRecorder(const AuditRecorder&) = delete;
  AuditRecorder& operator=(const AuditRecorder&) = delete;

  // Starts the sender thread (and the NOTIFY listener when options.listen).
  // FAILED_PRECONDITION without an audit address or channel, or when already
  // started; INVALID_ARGUMENT for a schema that is not an identifier. A
  // listener that cannot connect is not an error: the sender then polls.
  absl::Status Start();

  // Stops and joins the sender (an RPC in flight finishes or times out
  // first). Undelivered entries stay in the outbox for the next start.
  // Idempotent.
  void Stop();

  // Commits `event` to the outbox in its own transaction and wakes the
  // sender. Returns the event_id. INVALID_ARGUMENT when the type is
  // unspecified or no service is known; UNAVAILABLE when the database is
  // down (nothing was stored: the caller decides whether its action may
  // proceed unrecorded); other store errors as parallax/store/database.h.
  absl::StatusOr<std::string> Record(audit::v1::AuditEvent event);

  // Adds `event` to the outbox inside the caller's transaction, so it
  // commits (and is sent) if and only if that transaction commits. Returns
  // the event_id (generated here when unset; a retried transaction body
  // gets a fresh one, which is fine as the earlier attempt rolled back).
  // An event_id already in the outbox is not added twice. INVALID_ARGUMENT
  // as Record; store errors as Transaction::Exec (the transaction is then
  // dead).
  absl::StatusOr<std::string> Enqueue(store::Transaction& txn, audit::v1::AuditEvent event);

  // Wakes the sender now (after a transaction with Enqueue committed).
  void Poke();

  // One delivery pass on the calling thread; returns how many entries were
  // delivered. OK with 0 when another replica is delivering. UNAVAILABLE
  // (with the audit service's error) when a delivery failed and the pass
  // stopped; store errors as parallax/store/database.h.
  absl::StatusOr<int> DeliverPending();

  // Entries waiting in the outbox (dead ones not counted). Store errors as
  // parallax/store/database.h.
  absl::StatusOr<int64_t> PendingCount();

  // Entries set aside as undeliverable.
  absl::StatusOr<int64_t> DeadCount();

  const std::string& schema() const { return schema_; }

 private:
  struct Sender;
  struct Metrics;
  void Run();
  void Listen();
  // Fills the defaults; INVALID_ARGUMENT as Record.
  absl::Status Complete(audit::v1::AuditEvent& event) const;

  store::Database* db_;
  std::string schema_;
  std::string table_;
  std::string channel_name_;
  AuditRecorderOptions options_;
  std::unique_ptr<Sender> sender_;
  std::unique_ptr<Metrics> metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = false;
  bool started_ = false;
  std::thread thread_;
  std::thread listener_thread_;
};

}  // namespace parallax::audit_client
