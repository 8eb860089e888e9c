#pragma once
// The AlertRouting gRPC service (proto/parallax/alerting/v1/alert_routing.proto):
// applies the department's policy (alert_policy.h, policy_evaluator.h) to
// each analysed study triage routes, keeps one alert per finding label per
// study, lets the alert's groups acknowledge it, and runs its timers
// (alert_timers.h). Every change commits in one transaction with its history
// events, its audit events (libs/audit_client's outbox) and one outbox item
// for the dispatcher (alert_dispatcher.h), which the `on_outbox` callback
// wakes at once after the commit.
//
// Callers: Route and ResolveAlerts need a service (role integration);
// AcknowledgeAlert a user
// in one of the alert's groups so far (target groups plus those it escalated
// to, from the token's groups claim) or a senior radiologist or department
// head; ListAlerts and GetAlert any authenticated caller. Refusals are
// audited as ACCESS_REFUSED. Thread-safe.
#include <chrono>
#include <functional>
#include <string>

#include <absl/status/statusor.h>

#include "alert_metrics.h"
#include "alert_policy.h"
#include "alert_store.h"
#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/audit_client/audit_recorder.h"
#include "parallax/auth/principal.h"

namespace parallax::alerting {

// The id of the alert of `label` in the study: "alr-" and 32 hex digits of
// SHA-256 over the study UID and the lower-cased label. Stable across
// generations, so a re-analysis updates the alert instead of adding one.
std::string AlertIdFor(const std::string& study_uid, const std::string& label);

class AlertService final : public v1::AlertRouting::Service {
 public:
  using Authenticate = std::function<absl::StatusOr<auth::Principal>(grpc::ServerContext*)>;
  using Clock = std::function<TimePoint()>;

  // Everything must outlive the service; `metrics` may be null. `on_outbox`
  // runs after each commit that enqueued work for the dispatcher.
  AlertService(AlertStore* store, const AlertPolicy* policy, audit_client::AuditRecorder* audit,
               Authenticate authenticate, std::function<void()> on_outbox = [] {}, AlertMetrics* metrics = nullptr,
               Clock clock = std::chrono::system_clock::now);

  // Route for a given caller. Returns every change (CREATED, UPDATED,
  // WITHDRAWN; UNCHANGED for a repeat of an analysis already routed) and
  // every finding that does not alert with why. PERMISSION_DENIED when the
  // caller is not a service; INVALID_ARGUMENT without a study UID or with a
  // finding lacking id or label; FAILED_PRECONDITION for a generation older
  // than one already routed; UNAVAILABLE when the store is down.
  absl::StatusOr<v1::RouteResponse> RouteAnalysis(const auth::Principal& who, const v1::RouteRequest& request);

  // AcknowledgeAlert for a given caller. The alert (already_acknowledged
  // when it was). INVALID_ARGUMENT without an alert id; NOT_FOUND;
  // PERMISSION_DENIED (actor_user_id is not the caller, or the caller is in
  // none of the alert's groups so far and is neither senior radiologist nor
  // department head); FAILED_PRECONDITION when withdrawn or resolved;
  // UNAVAILABLE.
  absl::StatusOr<v1::AcknowledgeAlertResponse> Acknowledge(const auth::Principal& who,
                                                           const v1::AcknowledgeAlertRequest& request);

  // ResolveAlerts for a given caller: marks the selected alerts (study UID +
  // finding ids, and/or alert ids) RESOLVED with the review's outcome and
  // reviewer, stops their timers, records a RESOLVED history event and an
  // ALERT_SENT audit event (attribute change = "resolved"; the audit log has
  // no resolution type and ALERT_ACKNOWLEDGED would count as an
  // acknowledgement), and enqueues the Communication update (completed), in
  // one transaction. Returns every matched alert, which were resolved now,
  // which were resolved before (unchanged), and the ids nothing matched
  // (not errors). A withdrawn alert is matched and left withdrawn.
  // PERMISSION_DENIED when the caller is not a service (audited);
  // INVALID_ARGUMENT when nothing is selected, finding ids come without a
  // study UID, or the outcome is unspecified; UNAVAILABLE when the store is
  // down.
  absl::StatusOr<v1::ResolveAlertsResponse> Resolve(const auth::Principal& who,
                                                    const v1::ResolveAlertsRequest& request);

  // Alerts matching the filters, newest first. INVALID_ARGUMENT for a bad
  // page token or a page size outside 0..500; UNAVAILABLE.
  absl::StatusOr<v1::ListAlertsResponse> List(const v1::ListAlertsRequest& request);

  // One alert with its history. NOT_FOUND; UNAVAILABLE.
  absl::StatusOr<v1::GetAlertResponse> Get(const std::string& alert_id);

  // One timer pass: re-notifies or escalates every unacknowledged alert
  // whose next action is due (alert_timers.h; up to 200 per pass), in one
  // transaction with their events, audit events (escalations) and outbox
  // items, then wakes the dispatcher. Returns the
  // number of actions taken; store errors as parallax/store/database.h.
  absl::StatusOr<int> RunTimers();

  grpc::Status Route(grpc::ServerContext* ctx, const v1::RouteRequest* request,
                     v1::RouteResponse* response) override;
  grpc::Status AcknowledgeAlert(grpc::ServerContext* ctx, const v1::AcknowledgeAlertRequest* request,
                                v1::AcknowledgeAlertResponse* response) override;
  grpc::Status ResolveAlerts(grpc::ServerContext* ctx, const v1::ResolveAlertsRequest* request,
                            v1::ResolveAlertsResponse* response) override;
  grpc::Status ListAlerts(grpc::ServerContext* ctx, const v1::ListAlertsRequest* request,
                          v1::ListAlertsResponse* response) override;
  grpc::Status GetAlert(grpc::ServerContext* ctx, const v1::GetAlertRequest* request,
                        v1::GetAlertResponse* response) override;

 private:
  // Records ACCESS_REFUSED (own transaction) and returns `refusal`.
  absl::Status Refuse(const auth::Principal& who, const std::string& action, const audit::v1::Subject& subject,
                      const absl::Status& refusal);

  AlertStore* store_;
  const AlertPolicy* policy_;
  audit_client::AuditRecorder* audit_;
  Authenticate authenticate_;
  std::function<void()> on_outbox_;
  AlertMetrics* metrics_;
  Clock clock_;
};

}  // namespace parallax::alerting
