// ResolveAlerts on a real PostgreSQL with the shipped policy: a reviewed
// finding's alert is resolved once, its timers stop, the EHR's Communication
// update is enqueued; only services may call it, and findings that never
// alerted are no error.
#include <absl/strings/str_cat.h>

#include "alert_test_support.h"

namespace parallax::alerting {
namespace {

using namespace parallax::alerting::testing;

v1::ResolveAlertsRequest ResolveFindings(const std::string& study, std::vector<std::string> finding_ids,
                                         v1::ResolutionOutcome outcome = v1::RESOLUTION_OUTCOME_ACCEPTED) {
  v1::ResolveAlertsRequest r;
  r.set_study_instance_uid(study);
  for (const std::string& id : finding_ids) r.add_finding_ids(id);
  r.set_outcome(outcome);
  r.set_reviewer_user_id("dr.chest");
  r.set_review_id("rev-1");
  return r;
}

int64_t OutboxOfKind(AlertFixture& fx, OutboxKind kind) {
  auto rows = fx.db->Exec("SELECT count(*) FROM alerting.outbox WHERE kind = $1", {static_cast<int>(kind)});
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

bool TimerScheduled(AlertFixture& fx, const std::string& alert_id) {
  auto rows = fx.db->Exec("SELECT next_action_at IS NOT NULL FROM alerting.alerts WHERE alert_id = $1", {alert_id});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return (*rows)[0].Get(0).value_or("") == "t";
}

std::string RoutePneumothorax(AlertFixture& fx, const std::string& study) {
  auto routed = fx.service->RouteAnalysis(
      Service(), Analysis(study, 1, {Finding("f-ptx", "Pneumothorax", 0.81, 0.40),
                                     Finding("f-cm", "Cardiomegaly", 0.90, 0.50)}));
  INFO(routed.status().message());
  REQUIRE(routed.ok());
  REQUIRE(routed->changes_size() == 1);
  return routed->changes(0).alert().alert_id();
}

TEST_CASE("resolving a reviewed finding marks its alert resolved, stops its timers and enqueues the EHR update",
          "[alert_service][resolve][db]") {
  AlertFixture fx(ShippedPolicy());
  const std::string alert_id = RoutePneumothorax(fx, "1.2.840.70");
  REQUIRE(TimerScheduled(fx, alert_id));
  int pokes = 0;
  fx.on_outbox = [&] { ++pokes; };

  auto resolved = fx.service->Resolve(Service("escalation"), ResolveFindings("1.2.840.70", {"f-ptx"}));
  INFO(resolved.status().message());
  REQUIRE(resolved.ok());
  REQUIRE(resolved->resolved_alert_ids_size() == 1);
  CHECK(resolved->resolved_alert_ids(0) == alert_id);
  CHECK(resolved->already_resolved_alert_ids_size() == 0);
  REQUIRE(resolved->alerts_size() == 1);
  const v1::Alert& a = resolved->alerts(0);
  CHECK(a.state() == v1::ALERT_STATE_RESOLVED);
  CHECK(a.resolved_by() == "dr.chest");
  CHECK(a.resolution() == v1::RESOLUTION_OUTCOME_ACCEPTED);
  CHECK(a.has_resolved_at());
  CHECK_FALSE(a.has_next_escalation_at());
  CHECK(pokes == 1);

  // Stored: the state, no timer, a RESOLVED event last.
  auto got = fx.service->Get(alert_id);
  REQUIRE(got.ok());
  CHECK(got->alert().state() == v1::ALERT_STATE_RESOLVED);
  CHECK(got->alert().resolution() == v1::RESOLUTION_OUTCOME_ACCEPTED);
  CHECK(fx.History(alert_id).back() == v1::ALERT_EVENT_KIND_RESOLVED);
  CHECK(got->history(got->history_size() - 1).actor_user_id() == "dr.chest");
  CHECK_FALSE(TimerScheduled(fx, alert_id));
  // A day later no timer re-notifies or escalates it.
  AlertService later(fx.store.get(), &fx.policy, fx.audit.get(),
                     [](grpc::ServerContext*) -> absl::StatusOr<auth::Principal> { return absl::UnauthenticatedError(""); },
                     [] {}, nullptr, [] { return std::chrono::system_clock::now() + std::chrono::hours(24); });
  auto fired = later.RunTimers();
  REQUIRE(fired.ok());
  CHECK(*fired == 0);
  // It cannot be acknowledged any more.
  v1::AcknowledgeAlertRequest ack;
  ack.set_alert_id(alert_id);
  auto acked = fx.service->Acknowledge(User("dr.chest", {escalation::v1::ROLE_RADIOLOGIST}, {"thoracic-radiology"}),
                                       ack);
  CHECK(acked.status().code() == absl::StatusCode::kFailedPrecondition);

  // One Communication update and one audit event (ALERT_SENT, change resolved).
  CHECK(OutboxOfKind(fx, OutboxKind::kCommunicationUpdate) == 1);
  std::vector<audit::v1::AuditEvent> resolutions;
  for (const auto& e : fx.AuditEvents(audit::v1::EVENT_TYPE_ALERT_SENT)) {
    if (Attribute(e, "change") == "resolved") resolutions.push_back(e);
  }
  REQUIRE(resolutions.size() == 1);
  CHECK(resolutions[0].subject().alert_id() == alert_id);
  CHECK(resolutions[0].subject().finding_id() == "f-ptx");
  CHECK(resolutions[0].subject().label() == "Pneumothorax");
  CHECK(resolutions[0].subject().review_id() == "rev-1");
  CHECK(Attribute(resolutions[0], "resolution") == "accepted");
  CHECK(Attribute(resolutions[0], "resolved_by") == "dr.chest");
  CHECK(Attribute(resolutions[0], "critical") == "true");
  CHECK(resolutions[0].actor().kind() == audit::v1::ACTOR_KIND_SERVICE);
  CHECK(fx.AuditEvents(audit::v1::EVENT_TYPE_ALERT_ACKNOWLEDGED).empty());

  // Again (a retried outbox item), by finding or by alert id: unchanged.
  const size_t events = fx.History(alert_id).size();
  v1::ResolveAlertsRequest by_alert;
  by_alert.add_alert_ids(alert_id);
  by_alert.set_outcome(v1::RESOLUTION_OUTCOME_REJECTED);
  by_alert.set_reviewer_user_id("dr.other");
  for (const v1::ResolveAlertsRequest& again : {ResolveFindings("1.2.840.70", {"f-ptx"}), by_alert}) {
    auto repeat = fx.service->Resolve(Service("escalation"), again);
    REQUIRE(repeat.ok());
    CHECK(repeat->resolved_alert_ids_size() == 0);
    REQUIRE(repeat->already_resolved_alert_ids_size() == 1);
    CHECK(repeat->already_resolved_alert_ids(0) == alert_id);
    REQUIRE(repeat->alerts_size() == 1);
    CHECK(repeat->alerts(0).resolution() == v1::RESOLUTION_OUTCOME_ACCEPTED);
    CHECK(repeat->alerts(0).resolved_by() == "dr.chest");
  }
  CHECK(fx.History(alert_id).size() == events);
  CHECK(OutboxOfKind(fx, OutboxKind::kCommunicationUpdate) == 1);
  CHECK(pokes == 1);
}

TEST_CASE("an acknowledged alert is resolved too, and a withdrawn one stays withdrawn", "[alert_service][resolve][db]") {
  AlertFixture fx(ShippedPolicy());
  const std::string alert_id = RoutePneumothorax(fx, "1.2.840.71");
  v1::AcknowledgeAlertRequest ack;
  ack.set_alert_id(alert_id);
  REQUIRE(fx.service->Acknowledge(User("dr.chest", {escalation::v1::ROLE_RADIOLOGIST}, {"thoracic-radiology"}), ack)
              .ok());
  auto resolved = fx.service->Resolve(Service("escalation"),
                                      ResolveFindings("1.2.840.71", {"f-ptx"}, v1::RESOLUTION_OUTCOME_MODIFIED));
  REQUIRE(resolved.ok());
  REQUIRE(resolved->resolved_alert_ids_size() == 1);
  CHECK(resolved->alerts(0).state() == v1::ALERT_STATE_RESOLVED);
  CHECK(resolved->alerts(0).acknowledged_by() == "dr.chest");  // the acknowledgement stays on record

  // Withdrawn by a newer analysis (no pneumothorax): the Communication update
  // for the withdrawal is enqueued, and resolving leaves it withdrawn.
  const std::string other = RoutePneumothorax(fx, "1.2.840.72");
  const int64_t updates = OutboxOfKind(fx, OutboxKind::kCommunicationUpdate);
  auto withdrawn = fx.service->RouteAnalysis(
      Service(), Analysis("1.2.840.72", 2, {Finding("f-ptx-2", "Pneumothorax", 0.10, 0.40)}));
  REQUIRE(withdrawn.ok());
  REQUIRE(withdrawn->changes_size() == 1);
  CHECK(withdrawn->changes(0).change() == v1::CHANGE_KIND_WITHDRAWN);
  CHECK(OutboxOfKind(fx, OutboxKind::kCommunicationUpdate) == updates + 1);
  v1::ResolveAlertsRequest by_alert;
  by_alert.add_alert_ids(other);
  by_alert.set_outcome(v1::RESOLUTION_OUTCOME_ACCEPTED);
  auto after = fx.service->Resolve(Service("escalation"), by_alert);
  REQUIRE(after.ok());
  CHECK(after->resolved_alert_ids_size() == 0);
  REQUIRE(after->alerts_size() == 1);
  CHECK(after->alerts(0).state() == v1::ALERT_STATE_WITHDRAWN);
  CHECK(OutboxOfKind(fx, OutboxKind::kCommunicationUpdate) == updates + 1);
}

TEST_CASE("only services may resolve alerts, and a refusal is audited and changes nothing",
          "[alert_service][resolve][db]") {
  AlertFixture fx(ShippedPolicy());
  const std::string alert_id = RoutePneumothorax(fx, "1.2.840.73");
  for (const auth::Principal& who :
       {User("dr.chest", {escalation::v1::ROLE_RADIOLOGIST}, {"thoracic-radiology"}),
        User("dr.head", {escalation::v1::ROLE_DEPARTMENT_HEAD}, {})}) {
    auto refused = fx.service->Resolve(who, ResolveFindings("1.2.840.73", {"f-ptx"}));
    CHECK(refused.status().code() == absl::StatusCode::kPermissionDenied);
  }
  const auto refusals = fx.AuditEvents(audit::v1::EVENT_TYPE_ACCESS_REFUSED);
  REQUIRE(refusals.size() == 2);
  CHECK(Attribute(refusals[0], "action") == "resolve_alerts");
  CHECK(refusals[0].outcome() == audit::v1::OUTCOME_DENIED);
  auto got = fx.service->Get(alert_id);
  REQUIRE(got.ok());
  CHECK(got->alert().state() == v1::ALERT_STATE_OPEN);
  CHECK(TimerScheduled(fx, alert_id));
  CHECK(OutboxOfKind(fx, OutboxKind::kCommunicationUpdate) == 0);
}

TEST_CASE("findings that never alerted and unknown alert ids are listed as unmatched, not refused",
          "[alert_service][resolve][db]") {
  AlertFixture fx(ShippedPolicy());
  const std::string alert_id = RoutePneumothorax(fx, "1.2.840.74");
  v1::ResolveAlertsRequest r = ResolveFindings("1.2.840.74", {"f-cm", "f-unknown"});
  r.add_alert_ids("alr-does-not-exist");
  auto resolved = fx.service->Resolve(Service("escalation"), r);
  INFO(resolved.status().message());
  REQUIRE(resolved.ok());
  CHECK(resolved->alerts_size() == 0);
  CHECK(resolved->resolved_alert_ids_size() == 0);
  REQUIRE(resolved->unmatched_finding_ids_size() == 2);
  CHECK(resolved->unmatched_finding_ids(0) == "f-cm");
  CHECK(resolved->unmatched_finding_ids(1) == "f-unknown");
  REQUIRE(resolved->unmatched_alert_ids_size() == 1);
  CHECK(resolved->unmatched_alert_ids(0) == "alr-does-not-exist");
  // The alert of another finding of the study is untouched.
  CHECK(fx.service->Get(alert_id)->alert().state() == v1::ALERT_STATE_OPEN);
  CHECK(OutboxOfKind(fx, OutboxKind::kCommunicationUpdate) == 0);

  // Malformed requests are refused as such.
  v1::ResolveAlertsRequest nothing;
  nothing.set_outcome(v1::RESOLUTION_OUTCOME_ACCEPTED);
  CHECK(fx.service->Resolve(Service("escalation"), nothing).status().code() == absl::StatusCode::kInvalidArgument);
  v1::ResolveAlertsRequest no_study = ResolveFindings("", {"f-ptx"});
  CHECK(fx.service->Resolve(Service("escalation"), no_study).status().code() == absl::StatusCode::kInvalidArgument);
  v1::ResolveAlertsRequest no_outcome = ResolveFindings("1.2.840.74", {"f-ptx"}, v1::RESOLUTION_OUTCOME_UNSPECIFIED);
  CHECK(fx.service->Resolve(Service("escalation"), no_outcome).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(fx.service->Get(alert_id)->alert().state() == v1::ALERT_STATE_OPEN);
}

}  // namespace
}  // namespace parallax::alerting
