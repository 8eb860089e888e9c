#pragma once
// The department's analytics and review lists, computed from the audit
// entries whose occurred_at falls in a time window [window_start,
// window_end). Events are read through AuditQuery (indexed columns, decoded
// content) and then joined in memory by study, alert, finding and case, as
// the event conventions at the top of audit.proto describe.
//
// Definitions (all over the window's entries only; an acknowledgment or a
// decision after window_end does not count):
//   studies_analysed  distinct study UIDs of STUDY_ANALYSED (model filter
//                     applies, label filter does not: it is the denominator)
//   alerts_sent       distinct alert ids of ALERT_SENT
//   false_alerts      alerts whose finding's outcome is rejected: the last of
//                     FINDING_ACCEPTED / _REJECTED / _MODIFIED and CASE_DECIDED
//                     (CONFIRM_FINDING, UPHOLD_REJECTION, MODIFY) is a
//                     rejection or an upheld rejection
//   time to ack       per alert, the first ALERT_ACKNOWLEDGED minus its first
//                     ALERT_SENT (occurred_at); median and p90 by nearest rank
//   reviewed ...      per finding, the radiologist's last accept / reject /
//                     modify; agreement = accepted / reviewed
//   escalated         distinct cases opened (CASE_ESCALATED)
//   senior_confirmed  cases whose last decision is CONFIRM_FINDING
//   overrides         per (user, label), the findings the user reviewed
//                     (their last action on each) and of those the rejected
//                     or modified ones
// Events are ordered by occurred_at, then sequence.
//
// Thread-safe (it holds a Database*, which is); the Compute* functions are pure.
#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/store/database.h"

namespace parallax::audit {

// Which events count: labels (empty = all) and model_id (empty = all). An
// event passes the model filter when its subject.model_id is the one asked
// for, or when it names no model but concerns a finding, alert or study an
// event of that model named.
struct AnalyticsFilter {
  std::vector<std::string> labels;
  std::string model_id;
};

// Pure: the analytics over `events` (already limited to the window).
audit::v1::GetAnalyticsResponse ComputeAnalytics(std::vector<audit::v1::AuditEvent> events,
                                                 const AnalyticsFilter& filter);

// Pure: the review lists over `events` (already limited to the window).
audit::v1::GetReviewListResponse ComputeReviewList(std::vector<audit::v1::AuditEvent> events,
                                                   const AnalyticsFilter& filter);

class AuditAnalytics {
 public:
  explicit AuditAnalytics(store::Database* db) : db_(db) {}

  // The analytics over the request's window (window_end unset = now).
  // INVALID_ARGUMENT when window_start is not before window_end;
  // RESOURCE_EXHAUSTED when the window holds more than max_events entries
  // (narrow it); DATA_LOSS when an entry does not decode; UNAVAILABLE.
  absl::StatusOr<audit::v1::GetAnalyticsResponse> GetAnalytics(const audit::v1::GetAnalyticsRequest& request);

  // The review lists over the request's window. Errors as GetAnalytics.
  absl::StatusOr<audit::v1::GetReviewListResponse> GetReviewList(const audit::v1::GetReviewListRequest& request);

  // Upper bound of entries one window may hold (they are joined in memory).
  void set_max_events(int64_t max_events) { max_events_ = max_events; }

 private:
  absl::StatusOr<std::vector<audit::v1::AuditEvent>> LoadWindow(const google::protobuf::Timestamp& start,
                                                                 const google::protobuf::Timestamp* end);

  store::Database* db_;
  int64_t max_events_ = 5'000'000;
};

}  // namespace parallax::audit
