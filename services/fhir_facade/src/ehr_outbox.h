#pragma once
// The facade's durable outbox to the EHR, in PostgreSQL (table fhir.outbox).
//
// Every new resource version the ResourceStore writes is enqueued here in
// the same transaction (Enqueue takes the caller's Transaction), so a
// resource is either stored and queued for the EHR, or neither. Delivery
// (ehr_delivery.h) Claims due entries, sends them, and records the outcome
// with Complete or Fail.
//
// Order: the entries of one order key (the study, else the resource) are
// delivered strictly in enqueue order: only the oldest open entry of a key
// can be claimed, so an Observation is at the EHR before the
// DiagnosticReport stored after it that references it. A retrying head
// holds back the rest of its key; a dead entry does not (it needs an
// operator, and holding a study's later resources for it would lose more).
//
// Superseding: only the newest version of a resource needs to go. At the end
// of a write transaction, SupersedeOlder marks older, not yet claimed
// versions of the same resources superseded, unless an open entry enqueued
// between the two references the resource (it must then still find the old
// version at the EHR first). Entries are processed newest first so that a
// report republished as a whole supersedes its whole earlier batch.
//
// States:
//   pending     waiting for its turn (claimable when at the head of its key)
//   delivering  leased to a worker until lease_expires_at
//   retrying    failed with a retryable error; claimable after next_attempt_at
//   delivered   the EHR accepted it (terminal)
//   dead        refused by the EHR (4xx other than 408/429) or out of
//               attempts (terminal; counted, needs an operator)
//   superseded  a newer version of the resource replaced it before it was
//               sent (terminal; never sent)
// Every time comes from PostgreSQL (statement_timestamp()).
//
// last_error holds HTTP statuses, OperationOutcome issue codes and ids only,
// never patient data.
//
// Thread-safety: EhrOutbox is thread-safe (it holds a Database*, which is).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "parallax/store/database.h"
#include "parallax/store/migrations.h"

namespace parallax::fhir_facade {

struct OutboxOptions {
  // Claims an entry gets; when the last one fails retryably it goes dead.
  int max_attempts = 10;
  // Backoff before the second attempt; doubles per further attempt.
  std::chrono::milliseconds backoff_base{1000};
  // Upper bound of the backoff.
  std::chrono::milliseconds backoff_max{300000};
  // Fraction of the backoff drawn at random (0.5: between 50% and 100%).
  double backoff_jitter = 0.5;
  // NOTIFY channel announcing new entries.
  std::string notify_channel = "fhir_outbox";
  // Open entries (pending, delivering, retrying) allowed before Enqueue's
  // callers are refused with RESOURCE_EXHAUSTED; 0 = no limit.
  int64_t capacity = 0;
};

enum class OutboxEntryState { kPending, kDelivering, kRetrying, kDelivered, kDead, kSuperseded };

// "pending", "delivering", ... as stored.
std::string_view OutboxEntryStateName(OutboxEntryState state);

struct NewOutboxEntry {
  std::string resource_type;
  std::string resource_id;
  int64_t version_id = 0;
  // Entries of one key go in enqueue order; the study UID, else "<type>/<id>".
  std::string order_key;
  // Business identifier for the conditional update; empty value: update by id.
  std::string identifier_system;
  std::string identifier_value;
  // "Type/id" references the resource makes (resource_keys.h References).
  std::vector<std::string> references;
  // The resource JSON to send.
  std::string body;
};

// An entry leased to one worker; pass it back unchanged to Complete / Fail.
struct ClaimedEntry {
  int64_t entry_id = 0;
  std::string resource_type;
  std::string resource_id;
  int64_t version_id = 0;
  std::string identifier_system;
  std::string identifier_value;
  std::string body;
  int attempt = 0;  // 1 for the first claim
  std::string lease_token;
};

// An entry's row, for GetOutboxStatus and operators. Times in ms since the
// epoch; 0 when not set.
struct OutboxEntryInfo {
  int64_t entry_id = 0;
  std::string resource_type;
  std::string resource_id;
  int64_t version_id = 0;
  OutboxEntryState state = OutboxEntryState::kPending;
  int attempts = 0;
  int64_t enqueued_at_ms = 0;
  int64_t next_attempt_at_ms = 0;  // pending / retrying only
  int64_t delivered_at_ms = 0;
  int last_http_status = 0;
  std::string last_error;
  int64_t superseded_by = 0;  // entry that replaced it, when superseded
};

struct OutboxCounts {
  int64_t pending = 0;
  int64_t delivering = 0;
  int64_t retrying = 0;
  int64_t dead = 0;
  int64_t delivered = 0;
  int64_t superseded = 0;
  int64_t oldest_open_enqueued_at_ms = 0;  // oldest pending/retrying entry; 0 when none
  int64_t last_delivered_at_ms = 0;        // 0 when none
};

class EhrOutbox {
 public:
  // The outbox's migrations, numbered from first_version, for the `fhir`
  // schema's list (fhir_schema.h).
  static std::vector<store::Migration> Migrations(int first_version);

  // db must outlive the outbox.
  EhrOutbox(store::Database* db, OutboxOptions options);

  // Within the caller's transaction: RESOURCE_EXHAUSTED when the open
  // entries reached the capacity; OK otherwise (and always when capacity is 0).
  absl::Status CheckCapacity(store::Transaction& tx);

  // Within the caller's transaction: adds a pending entry and NOTIFYs the
  // channel at commit. Returns the entry id. INVALID_ARGUMENT when type, id,
  // version, order key or body is missing; store errors as database.h.
  absl::StatusOr<int64_t> Enqueue(store::Transaction& tx, const NewOutboxEntry& entry);

  // Within the caller's transaction, after its Enqueues: supersedes older
  // unclaimed versions of the same resources (see the top of this file).
  // OK, or a store error.
  absl::Status SupersedeOlder(store::Transaction& tx, const std::vector<int64_t>& new_entry_ids);

  // The newest entry for one resource version, if any (a duplicate Put
  // answers with it). Store errors as database.h.
  absl::StatusOr<std::optional<int64_t>> EntryFor(store::Transaction& tx, std::string_view type, std::string_view id,
                                                  int64_t version_id);

  // Leases the oldest claimable entry: the head of its order key, pending or
  // retrying and due. First returns expired leases to retrying (or dead on
  // the last attempt). Returns nullopt when nothing is due.
  // INVALID_ARGUMENT for an empty worker_id; UNAVAILABLE when the database
  // is down.
  absl::StatusOr<std::optional<ClaimedEntry>> Claim(std::string_view worker_id, std::chrono::milliseconds lease);

  // Marks the entry delivered. Returns the seconds from enqueue to delivery.
  // FAILED_PRECONDITION when the lease was lost (the entry is someone
  // else's now: nothing changed); UNAVAILABLE.
  absl::StatusOr<double> Complete(const ClaimedEntry& entry, int http_status);

  // Records a failed attempt (error_text: codes only, truncated to 500
  // bytes). Retryable with attempts left: retrying after the backoff
  // min(max, base * 2^(attempt-1)) less up to jitter of it; otherwise dead.
  // Returns the new state. FAILED_PRECONDITION when the lease was lost;
  // UNAVAILABLE.
  absl::StatusOr<OutboxEntryState> Fail(const ClaimedEntry& entry, int http_status, std::string_view error_text,
                                        bool retryable);

  // Entries per state. Without `with_history`, delivered and superseded
  // (which grow for ever) are left at 0 and last_delivered_at_ms too, so the
  // query only touches open and dead entries (for gauges refreshed often).
  // UNAVAILABLE.
  absl::StatusOr<OutboxCounts> Counts(bool with_history = true);

  // One entry. NOT_FOUND for an unknown id; UNAVAILABLE.
  absl::StatusOr<OutboxEntryInfo> Get(int64_t entry_id);

  // Up to limit (1..1000) entries in state, most recently updated first.
  absl::StatusOr<std::vector<OutboxEntryInfo>> List(OutboxEntryState state, int limit);

  const OutboxOptions& options() const { return options_; }

 private:
  std::chrono::milliseconds Backoff(int attempt) const;

  store::Database* db_;
  OutboxOptions options_;
};

}  // namespace parallax::fhir_facade
