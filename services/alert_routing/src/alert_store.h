#pragma once
// Alert routing's state in PostgreSQL (schema `alerting`):
//   routed        every analysed study routed, per (study, generation): the
//                 RouteRequest as received and the RouteResponse given
//   alerts        one per finding label per study (alert_id is derived from
//                 the study UID and the label, since finding ids change with
//                 every generation): state, priority, groups, the policy's
//                 timers copied at routing, notification and escalation
//                 counts, when the next timer action is due, and the Alert
//                 proto serialized
//   alert_events  each alert's history (created, notified, re-notified,
//                 escalated, acknowledged, updated, resolved, withdrawn)
//   outbox        deliveries for the dispatcher (alert_dispatcher.h): one
//                 per routed analysis, one per timer notification and one
//                 per Communication status update (resolved, withdrawn), with
//                 their progress so a retry resumes where it failed, and
//                 the delivery lease (owner, until) of the worker that
//                 claimed it
//   audit_outbox  libs/audit_client's durable audit outbox
// A commit that enqueues work NOTIFYs "alerting_outbox".
// The service composes these calls inside its own transactions.
// Thread-safe (Database is); a Transaction belongs to its caller's thread.
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "alert_policy.h"
#include "alert_timers.h"
#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/store/database.h"

namespace parallax::alerting {

inline constexpr char kOutboxChannel[] = "alerting_outbox";

// An alert as stored: the proto plus what the proto does not carry.
struct StoredAlert {
  v1::Alert alert;                       // alert_id, study, finding, state, counts, timestamps
  std::string label;                     // the finding's label as the model wrote it
  bool critical = false;
  FhirPriority fhir_priority = FhirPriority::kRoutine;
  std::vector<std::string> groups;       // target groups, primary first
  std::string rule_id;                   // primary rule
  AlertTimers timers;                    // copied from the decision
  TimePoint timers_from;                 // creation, or the moment it was reopened
  int renotified_at_level = 0;           // re-notifications at the current escalation level
  std::optional<TimePoint> next_action_at;
  std::string report_id;                 // the preliminary report it is about, once known

  // The target groups followed by the groups escalated to so far.
  std::vector<std::string> GroupsSoFar() const;
  // The group the newest notification goes to: the primary group, or the
  // group of the latest escalation step.
  std::string CurrentGroup() const;
};

// Work for the dispatcher.
// kCommunicationUpdate: the alert's Communication again with the status its
// state now has (resolved or withdrawn); payload {"alert_id": ...}.
enum class OutboxKind { kRoute = 1, kNotify = 2, kCommunicationUpdate = 3 };
struct OutboxItem {
  int64_t id = 0;
  OutboxKind kind = OutboxKind::kRoute;
  std::string study_uid;
  int64_t generation = 0;
  std::string payload;       // JSON; see alert_dispatcher.cc
  int attempts = 0;
  TimePoint created_at;      // the commit that enqueued it (dispatch latency, Communication.sent)
  TimePoint next_attempt_at;
  std::string report_id;     // progress: OpenReport answered with this report
  std::set<std::string> done;  // progress: steps done ("comm:<alert>", "hook:<alert>:<group>")
  std::string lease_owner;   // the claim's token (ClaimNext); updates are fenced by it
};

// Microseconds since the epoch <-> TimePoint, as stored.
int64_t ToMicros(TimePoint t);
TimePoint FromMicros(int64_t micros);

class AlertStore {
 public:
  explicit AlertStore(store::Database* db) : db_(db) {}

  // Brings the schema to the newest version. Errors as store::ApplyMigrations.
  absl::Status Migrate();
  store::Database* db() const { return db_; }

  // Serialises routing of one study across transactions (advisory lock held
  // until the transaction ends).
  absl::Status LockStudy(store::Transaction& txn, const std::string& study_uid);
  // The newest generation routed for the study, or nullopt.
  absl::StatusOr<std::optional<int64_t>> LatestGeneration(store::Transaction& txn, const std::string& study_uid);
  // The response given when (study, generation) was routed, or nullopt when
  // it was never routed.
  absl::StatusOr<std::optional<v1::RouteResponse>> RoutedResponse(store::Transaction& txn,
                                                                  const std::string& study_uid, int64_t generation);
  absl::Status InsertRouted(store::Transaction& txn, const v1::RouteRequest& request, int positives,
                            const v1::RouteResponse& response);
  // The stored request of (study, generation), or nullopt.
  absl::StatusOr<std::optional<v1::RouteRequest>> RoutedRequest(const std::string& study_uid, int64_t generation);

  // Alerts.
  absl::StatusOr<std::vector<StoredAlert>> AlertsOfStudyForUpdate(store::Transaction& txn,
                                                                  const std::string& study_uid);
  absl::StatusOr<std::optional<StoredAlert>> AlertForUpdate(store::Transaction& txn, const std::string& alert_id);
  absl::StatusOr<std::optional<StoredAlert>> GetAlert(const std::string& alert_id);
  // Inserts (insert = true) or rewrites every column of the alert.
  absl::Status SaveAlert(store::Transaction& txn, const StoredAlert& alert, bool insert);
  // Records the report the alerts' Communications are about.
  absl::Status SetReportId(const std::vector<std::string>& alert_ids, const std::string& report_id);
  absl::Status AddEvent(store::Transaction& txn, const std::string& alert_id, const v1::AlertEvent& event);
  // History, oldest first.
  absl::StatusOr<std::vector<v1::AlertEvent>> Events(const std::string& alert_id);
  // Alerts matching the request's filters, newest first.
  absl::StatusOr<std::vector<StoredAlert>> ListAlerts(const v1::ListAlertsRequest& request, int64_t offset,
                                                      int limit);
  // Unacknowledged alerts (OPEN, ESCALATED) whose next action is due at
  // `now`, locked (SKIP LOCKED) for the transaction.
  absl::StatusOr<std::vector<StoredAlert>> DueAlertsForUpdate(store::Transaction& txn, TimePoint now, int limit);

  // Outbox.
  absl::Status Enqueue(store::Transaction& txn, OutboxKind kind, const std::string& study_uid, int64_t generation,
                       const std::string& payload);
  // Undelivered items, oldest first (due or not, leased or not), for
  // inspection; delivery claims items with ClaimNext.
  absl::StatusOr<std::vector<OutboxItem>> PendingItems(int limit);
  // Claims one item for delivery: the oldest item that is the oldest
  // undelivered item of its study (a study's items go out in order), due,
  // and not under another worker's unexpired lease. The claim is one
  // statement with FOR UPDATE SKIP LOCKED, so concurrent claimers (threads
  // or replicas) never get the same item while its lease runs. The item is
  // leased to `owner` (a token unique to this claim) until now + `lease`.
  // Returns the item (lease_owner = owner), nullopt when nothing is
  // claimable, INVALID_ARGUMENT for an empty owner, UNAVAILABLE/INTERNAL
  // for database errors.
  absl::StatusOr<std::optional<OutboxItem>> ClaimNext(const std::string& owner, std::chrono::milliseconds lease);
  // When the earliest study's head item becomes claimable (its retry time,
  // or the end of the lease it is under), which may be in the past; nullopt
  // when nothing is pending. Errors: database errors.
  absl::StatusOr<std::optional<TimePoint>> NextClaimableAt();
  // The following are fenced by item.lease_owner: they return ABORTED when
  // the item is no longer leased to it (the lease expired and another worker
  // claimed it) or was delivered meanwhile, and the caller must stop
  // working on the item. Database errors otherwise.
  // Saves report_id and done, and renews the lease for `lease` from now.
  absl::Status SaveProgress(const OutboxItem& item, std::chrono::milliseconds lease = std::chrono::seconds(30));
  // Delivered: never claimed again.
  absl::Status MarkDelivered(const OutboxItem& item);
  // Failed: released, claimable again (with the study's later items behind
  // it) after `delay`.
  absl::Status MarkRetry(const OutboxItem& item, int attempts, std::chrono::milliseconds delay,
                         const std::string& error);
  absl::StatusOr<int64_t> PendingCount();

 private:
  store::Database* db_;
};

}  // namespace parallax::alerting
