// Route and AcknowledgeAlert on a real PostgreSQL with the shipped policy
// (config/alert_policy.yaml): which findings alert and to whom, idempotent
// routing, newer generations, and who may acknowledge.
#include <algorithm>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

#include "alert_test_support.h"
#include "parallax/auth/grpc_auth.h"
#include "parallax/auth/jwt.h"
#include "parallax/rpc/rpc_server.h"

namespace parallax::alerting {
namespace {

using namespace parallax::alerting::testing;

const v1::AlertChange* ChangeFor(const v1::RouteResponse& r, const std::string& label) {
  for (const auto& c : r.changes()) {
    if (c.alert().finding().label() == label) return &c;
  }
  return nullptr;
}

const v1::SuppressedFinding* SuppressedFor(const v1::RouteResponse& r, const std::string& label) {
  for (const auto& s : r.suppressed()) {
    if (s.label() == label) return &s;
  }
  return nullptr;
}

TEST_CASE("route alerts a pneumothorax to thoracic radiology and says why the other findings do not alert",
          "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  int pokes = 0;
  fx.on_outbox = [&] { ++pokes; };
  auto routed = fx.service->RouteAnalysis(
      Service(), Analysis("1.2.840.1", 1,
                          {Finding("f-ptx", "Pneumothorax", 0.81, 0.40), Finding("f-cm", "Cardiomegaly", 0.90, 0.50),
                           Finding("f-eff", "Effusion", 0.10, 0.45)}));
  INFO(routed.status().message());
  REQUIRE(routed.ok());
  REQUIRE(routed->changes_size() == 1);
  const v1::AlertChange& c = routed->changes(0);
  CHECK(c.change() == v1::CHANGE_KIND_CREATED);
  CHECK(c.alert().target_group() == "thoracic-radiology");
  CHECK(c.alert().policy_rule_id() == "pneumothorax");
  CHECK(c.alert().priority() == v1::ALERT_PRIORITY_URGENT);
  CHECK(c.alert().state() == v1::ALERT_STATE_OPEN);
  CHECK(c.alert().finding().finding_id() == "f-ptx");
  CHECK(c.alert().alert_id() == AlertIdFor("1.2.840.1", "Pneumothorax"));
  CHECK(c.alert().has_next_escalation_at());  // senior-radiology after 15m

  REQUIRE(routed->suppressed_size() == 2);
  CHECK(SuppressedFor(*routed, "Cardiomegaly")->reason() == v1::SUPPRESSION_REASON_NO_POLICY);
  CHECK(SuppressedFor(*routed, "Effusion")->reason() == v1::SUPPRESSION_REASON_BELOW_OPERATING_POINT);

  // One commit: the alert's history, one audit ALERT_SENT, one outbox item.
  CHECK(fx.History(c.alert().alert_id()) == std::vector<v1::AlertEventKind>{v1::ALERT_EVENT_KIND_CREATED});
  const auto sent = fx.AuditEvents(audit::v1::EVENT_TYPE_ALERT_SENT);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].subject().alert_id() == c.alert().alert_id());
  CHECK(sent[0].subject().finding_id() == "f-ptx");
  CHECK(sent[0].subject().label() == "Pneumothorax");
  CHECK(sent[0].subject().study_instance_uid() == "1.2.840.1");
  CHECK(Attribute(sent[0], "target_group") == "thoracic-radiology");
  CHECK(Attribute(sent[0], "priority") == "urgent");
  CHECK(Attribute(sent[0], "critical") == "true");
  CHECK(fx.OutboxItems() == 1);
  CHECK(pokes == 1);
}

TEST_CASE("a 45 mL haemorrhage alerts neuroradiology first and neurosurgery too, as one critical alert",
          "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  auto routed = fx.service->RouteAnalysis(Service(), Analysis("1.2.840.2", 1, {Haemorrhage("f-ich", 45.8)}));
  REQUIRE(routed.ok());
  REQUIRE(routed->changes_size() == 1);
  const v1::Alert& a = routed->changes(0).alert();
  CHECK(a.target_group() == "neuroradiology");
  CHECK(a.priority() == v1::ALERT_PRIORITY_CRITICAL);
  CHECK(a.policy_rule_id() == "ich-any");
  auto stored = fx.store->GetAlert(a.alert_id());
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->groups == std::vector<std::string>{"neuroradiology", "neurosurgery"});
  // Every notified group travels with the alert to its readers.
  CHECK(std::vector<std::string>(a.target_groups().begin(), a.target_groups().end()) ==
        std::vector<std::string>{"neuroradiology", "neurosurgery"});
  CHECK(std::vector<std::string>((*stored)->alert.target_groups().begin(), (*stored)->alert.target_groups().end()) ==
        std::vector<std::string>{"neuroradiology", "neurosurgery"});
  CHECK((*stored)->critical);
  CHECK((*stored)->fhir_priority == FhirPriority::kAsap);
  CHECK((*stored)->timers.ack_timeout == std::chrono::minutes(5));  // the shortest of ich-any and ich-large
  REQUIRE((*stored)->timers.escalation.size() == 2);
  CHECK((*stored)->timers.escalation[0].group == "senior-radiology");
  CHECK((*stored)->next_action_at.has_value());

  // 30 mL: neuroradiology only.
  auto small = fx.service->RouteAnalysis(Service(), Analysis("1.2.840.3", 1, {Haemorrhage("f-ich2", 30.0)}));
  REQUIRE(small.ok());
  REQUIRE(small->changes_size() == 1);
  auto small_stored = fx.store->GetAlert(small->changes(0).alert().alert_id());
  REQUIRE(small_stored.ok());
  CHECK((*small_stored)->groups == std::vector<std::string>{"neuroradiology"});
}

TEST_CASE("a new haemorrhage is routed as a critical alert and a stable one known from the prior as urgent",
          "[alert_service][change][db]") {
  AlertFixture fx(ShippedPolicy());
  auto compared = [](common::v1::Finding f, common::v1::ChangeClass change) {
    common::v1::PriorComparison* c = f.mutable_prior_comparison();
    c->set_change(change);
    c->set_prior_study_instance_uid("1.2.840.9");
    c->set_prior_study_date("20260601");
    c->set_interval_days(92);
    return f;
  };
  auto fresh = fx.service->RouteAnalysis(
      Service(), Analysis("1.2.840.4", 1, {compared(Haemorrhage("f-new", 20.0), common::v1::CHANGE_CLASS_NEW)}));
  auto known = fx.service->RouteAnalysis(
      Service(), Analysis("1.2.840.5", 1, {compared(Haemorrhage("f-known", 20.0), common::v1::CHANGE_CLASS_STABLE)}));
  REQUIRE(fresh.ok());
  REQUIRE(known.ok());
  REQUIRE(fresh->changes_size() == 1);
  REQUIRE(known->changes_size() == 1);
  CHECK(fresh->changes(0).alert().priority() == v1::ALERT_PRIORITY_CRITICAL);
  CHECK(fresh->changes(0).alert().policy_rule_id() == "ich-any");
  CHECK(known->changes(0).alert().priority() == v1::ALERT_PRIORITY_URGENT);
  CHECK(known->changes(0).alert().policy_rule_id() == "ich-known");
  CHECK(known->changes(0).alert().finding().prior_comparison().change() == common::v1::CHANGE_CLASS_STABLE);
  auto stored = fx.store->GetAlert(known->changes(0).alert().alert_id());
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK_FALSE((*stored)->critical);
  CHECK((*stored)->fhir_priority == FhirPriority::kUrgent);
}

TEST_CASE("routing the same analysis again returns its alerts unchanged and enqueues nothing", "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  const v1::RouteRequest request =
      Analysis("1.2.840.4", 2, {Finding("f-ptx", "Pneumothorax", 0.81, 0.40), Finding("f-cm", "Cardiomegaly", 0.9, 0.5)});
  auto first = fx.service->RouteAnalysis(Service(), request);
  REQUIRE(first.ok());
  auto again = fx.service->RouteAnalysis(Service(), request);
  REQUIRE(again.ok());
  REQUIRE(again->changes_size() == 1);
  CHECK(again->changes(0).change() == v1::CHANGE_KIND_UNCHANGED);
  CHECK(again->changes(0).alert().alert_id() == first->changes(0).alert().alert_id());
  CHECK(again->suppressed_size() == 1);
  CHECK(fx.OutboxItems() == 1);
  CHECK(fx.AuditEvents(audit::v1::EVENT_TYPE_ALERT_SENT).size() == 1);
  auto listed = fx.service->List(v1::ListAlertsRequest());
  REQUIRE(listed.ok());
  CHECK(listed->alerts_size() == 1);
}

TEST_CASE("a newer generation updates an alert, keeps its acknowledgement and withdraws what no longer holds",
          "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  const std::string study = "1.2.840.5";
  auto g1 = fx.service->RouteAnalysis(
      Service(), Analysis(study, 1, {Finding("g1-ptx", "Pneumothorax", 0.81, 0.40), Finding("g1-mass", "Mass", 0.7, 0.5)}));
  REQUIRE(g1.ok());
  REQUIRE(g1->changes_size() == 2);
  const std::string ptx = AlertIdFor(study, "Pneumothorax");
  const std::string mass = AlertIdFor(study, "Mass");
  auto ack = fx.service->Acknowledge(User("dr-thorax", {escalation::v1::ROLE_THORACIC_RADIOLOGIST}, {"thoracic-radiology"}),
                                     [&] {
                                       v1::AcknowledgeAlertRequest r;
                                       r.set_alert_id(ptx);
                                       r.set_actor_user_id("dr-thorax");
                                       return r;
                                     }());
  REQUIRE(ack.ok());

  common::v1::Finding large = Finding("g2-ptx", "Pneumothorax", 0.93, 0.40);
  large.set_area_cm2(55.0);
  auto g2 = fx.service->RouteAnalysis(Service(), Analysis(study, 2, {large, Finding("g2-mass", "Mass", 0.2, 0.5)}));
  INFO(g2.status().message());
  REQUIRE(g2.ok());
  REQUIRE(g2->changes_size() == 2);
  const v1::AlertChange* updated = ChangeFor(*g2, "Pneumothorax");
  REQUIRE(updated != nullptr);
  CHECK(updated->change() == v1::CHANGE_KIND_UPDATED);
  CHECK(updated->alert().alert_id() == ptx);
  CHECK(updated->alert().finding().finding_id() == "g2-ptx");
  CHECK(updated->alert().study().generation() == 2);
  CHECK(updated->alert().policy_rule_id() == "pneumothorax-large");
  CHECK(updated->alert().priority() == v1::ALERT_PRIORITY_CRITICAL);
  CHECK(updated->alert().state() == v1::ALERT_STATE_ACKNOWLEDGED);
  CHECK(updated->alert().acknowledged_by() == "dr-thorax");
  CHECK_FALSE(updated->alert().has_next_escalation_at());
  const v1::AlertChange* withdrawn = ChangeFor(*g2, "Mass");
  REQUIRE(withdrawn != nullptr);
  CHECK(withdrawn->change() == v1::CHANGE_KIND_WITHDRAWN);
  CHECK(withdrawn->alert().alert_id() == mass);
  CHECK(withdrawn->alert().state() == v1::ALERT_STATE_WITHDRAWN);
  CHECK(SuppressedFor(*g2, "Mass")->reason() == v1::SUPPRESSION_REASON_BELOW_OPERATING_POINT);
  CHECK(fx.History(mass) == std::vector<v1::AlertEventKind>{v1::ALERT_EVENT_KIND_CREATED, v1::ALERT_EVENT_KIND_WITHDRAWN});
  CHECK(fx.History(ptx) == std::vector<v1::AlertEventKind>{v1::ALERT_EVENT_KIND_CREATED,
                                                            v1::ALERT_EVENT_KIND_ACKNOWLEDGED,
                                                            v1::ALERT_EVENT_KIND_UPDATED});
  // Still one alert per finding per study.
  v1::ListAlertsRequest all;
  all.set_study_instance_uid(study);
  CHECK(fx.service->List(all)->alerts_size() == 2);

  // A late delivery of the older generation is refused; a withdrawn alert cannot be acknowledged.
  auto late = fx.service->RouteAnalysis(Service(), Analysis(study, 1, {Finding("g1-ptx", "Pneumothorax", 0.81, 0.40)}));
  CHECK(late.status().code() == absl::StatusCode::kFailedPrecondition);
  v1::AcknowledgeAlertRequest ack_mass;
  ack_mass.set_alert_id(mass);
  auto refused = fx.service->Acknowledge(User("dr-thorax", {escalation::v1::ROLE_THORACIC_RADIOLOGIST},
                                              {"thoracic-radiology"}),
                                         ack_mass);
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);

  // Generation 3 finds the mass again: the same alert reopens.
  auto g3 = fx.service->RouteAnalysis(Service(), Analysis(study, 3, {large, Finding("g3-mass", "Mass", 0.8, 0.5)}));
  REQUIRE(g3.ok());
  const v1::AlertChange* reopened = ChangeFor(*g3, "Mass");
  REQUIRE(reopened != nullptr);
  CHECK(reopened->change() == v1::CHANGE_KIND_UPDATED);
  CHECK(reopened->alert().state() == v1::ALERT_STATE_OPEN);
}

TEST_CASE("only the alert's groups, seniors and department heads may acknowledge it, and every refusal is audited",
          "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  auto routed = fx.service->RouteAnalysis(Service(), Analysis("1.2.840.6", 1, {Haemorrhage("f-ich", 45.8)}));
  REQUIRE(routed.ok());
  const std::string id = routed->changes(0).alert().alert_id();
  v1::AcknowledgeAlertRequest r;
  r.set_alert_id(id);

  // A thoracic radiologist is in none of its groups.
  auto wrong = fx.service->Acknowledge(User("dr-thorax", {escalation::v1::ROLE_THORACIC_RADIOLOGIST},
                                            {"thoracic-radiology"}),
                                       r);
  CHECK(wrong.status().code() == absl::StatusCode::kPermissionDenied);
  // Nobody acts as somebody else.
  r.set_actor_user_id("dr-neuro");
  auto impostor = fx.service->Acknowledge(User("dr-thorax", {escalation::v1::ROLE_RADIOLOGIST}, {"neurosurgery"}), r);
  CHECK(impostor.status().code() == absl::StatusCode::kPermissionDenied);
  const auto refusals = fx.AuditEvents(audit::v1::EVENT_TYPE_ACCESS_REFUSED);
  REQUIRE(refusals.size() == 2);
  CHECK(refusals[0].subject().alert_id() == id);
  CHECK(refusals[0].outcome() == audit::v1::OUTCOME_DENIED);
  CHECK(fx.service->Get(id)->alert().state() == v1::ALERT_STATE_OPEN);

  // A neurosurgeon (second target group) may.
  auto ok = fx.service->Acknowledge(User("dr-neuro", {escalation::v1::ROLE_RADIOLOGIST}, {"neurosurgery"}), r);
  INFO(ok.status().message());
  REQUIRE(ok.ok());
  CHECK_FALSE(ok->already_acknowledged());
  CHECK(ok->alert().state() == v1::ALERT_STATE_ACKNOWLEDGED);
  CHECK(ok->alert().acknowledged_by() == "dr-neuro");
  CHECK(ok->alert().has_acknowledged_at());
  auto stored = fx.store->GetAlert(id);
  REQUIRE(stored.ok());
  CHECK_FALSE((*stored)->next_action_at.has_value());  // timers stopped
  const auto acks = fx.AuditEvents(audit::v1::EVENT_TYPE_ALERT_ACKNOWLEDGED);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].actor().user_id() == "dr-neuro");
  CHECK(acks[0].subject().alert_id() == id);
  CHECK(acks[0].subject().finding_id() == "f-ich");
  CHECK(acks[0].subject().label() == "Intracranial haemorrhage");
  CHECK(acks[0].subject().study_instance_uid() == "1.2.840.6");

  // Again: already acknowledged, nothing new recorded.
  auto repeat = fx.service->Acknowledge(User("dr-neuro", {escalation::v1::ROLE_RADIOLOGIST}, {"neurosurgery"}), r);
  REQUIRE(repeat.ok());
  CHECK(repeat->already_acknowledged());
  CHECK(repeat->alert().acknowledged_by() == "dr-neuro");
  CHECK(fx.AuditEvents(audit::v1::EVENT_TYPE_ALERT_ACKNOWLEDGED).size() == 1);

  // A senior radiologist outside the groups may acknowledge another alert.
  auto other = fx.service->RouteAnalysis(Service(), Analysis("1.2.840.7", 1, {Haemorrhage("f-ich7", 12.0)}));
  REQUIRE(other.ok());
  v1::AcknowledgeAlertRequest senior_request;
  senior_request.set_alert_id(other->changes(0).alert().alert_id());
  auto senior = fx.service->Acknowledge(User("dr-senior", {escalation::v1::ROLE_SENIOR_RADIOLOGIST}, {}), senior_request);
  REQUIRE(senior.ok());
  CHECK(senior->alert().state() == v1::ALERT_STATE_ACKNOWLEDGED);

  v1::AcknowledgeAlertRequest unknown;
  unknown.set_alert_id("alr-unknown");
  CHECK(fx.service->Acknowledge(User("dr-senior", {escalation::v1::ROLE_SENIOR_RADIOLOGIST}, {}), unknown).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("route refuses callers that are not services and analyses without study or finding ids",
          "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  auto user = fx.service->RouteAnalysis(User("dr-x", {escalation::v1::ROLE_RADIOLOGIST}, {}),
                                        Analysis("1.2.840.8", 1, {Haemorrhage("f", 45.0)}));
  CHECK(user.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(fx.AuditEvents(audit::v1::EVENT_TYPE_ACCESS_REFUSED).size() == 1);
  CHECK(fx.service->RouteAnalysis(Service(), Analysis("", 1, {})).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(fx.service->RouteAnalysis(Service(), Analysis("1.2.840.8", 1, {Finding("", "Pneumothorax", 0.9, 0.4)}))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(fx.OutboxItems() == 0);
}

TEST_CASE("list alerts filters by state, group and label, newest first, page by page", "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(fx.service
                ->RouteAnalysis(Service(), Analysis("1.2.840.9." + std::to_string(i), 1,
                                                    {Finding("p" + std::to_string(i), "Pneumothorax", 0.8, 0.4)}))
                .ok());
  }
  REQUIRE(fx.service->RouteAnalysis(Service(), Analysis("1.2.840.9.9", 1, {Haemorrhage("h", 45.0)})).ok());
  v1::ListAlertsRequest r;
  r.set_target_group("thoracic-radiology");
  r.set_page_size(2);
  std::vector<std::string> studies;
  for (int page = 0; page < 5; ++page) {
    auto got = fx.service->List(r);
    REQUIRE(got.ok());
    for (const auto& a : got->alerts()) studies.push_back(a.study().study_instance_uid());
    if (got->next_page_token().empty()) break;
    r.set_page_token(got->next_page_token());
  }
  CHECK(studies == std::vector<std::string>{"1.2.840.9.4", "1.2.840.9.3", "1.2.840.9.2", "1.2.840.9.1", "1.2.840.9.0"});
  v1::ListAlertsRequest by_group;
  by_group.set_target_group("neurosurgery");  // a secondary group matches too
  CHECK(fx.service->List(by_group)->alerts_size() == 1);
  v1::ListAlertsRequest by_label;
  by_label.set_label("pneumothorax");
  by_label.add_states(v1::ALERT_STATE_OPEN);
  CHECK(fx.service->List(by_label)->alerts_size() == 5);
  by_label.clear_states();
  by_label.add_states(v1::ALERT_STATE_ACKNOWLEDGED);
  CHECK(fx.service->List(by_label)->alerts_size() == 0);
  v1::ListAlertsRequest bad;
  bad.set_page_token("x1");
  CHECK(fx.service->List(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad.set_page_token("");
  bad.set_page_size(501);
  CHECK(fx.service->List(bad).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(fx.service->Get("alr-none").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("over gRPC the caller is the bearer token's: a service routes, a user of the group acknowledges",
          "[alert_service][db]") {
  AlertFixture fx(ShippedPolicy());
  const std::string secret(40, 'k');
  auth::VerifierOptions options;
  options.hs256_secret = secret;
  auto verifier = auth::JwtVerifier::Create(options);
  REQUIRE(verifier.ok());
  auto issuer = auth::JwtIssuer::Create(secret);
  REQUIRE(issuer.ok());
  AlertService service(fx.store.get(), &fx.policy, fx.audit.get(),
                       [&](grpc::ServerContext* ctx) { return auth::AuthenticateCall(*ctx, *verifier); });
  rpc::RpcServer server({"127.0.0.1:0"});
  server.Register(&service, "parallax.alerting.v1.AlertRouting");
  REQUIRE(server.Start().ok());
  auto stub = v1::AlertRouting::NewStub(rpc::MakeChannel(absl::StrCat("127.0.0.1:", server.port())));
  auto token = [&](const std::string& sub, auth::Role role, std::vector<std::string> groups) {
    auth::TokenClaims claims;
    claims.subject = sub;
    claims.roles = {role};
    claims.groups = std::move(groups);
    auto t = issuer->Issue(claims, std::chrono::system_clock::now());
    REQUIRE(t.ok());
    return *t;
  };
  const std::string triage = token("triage", escalation::v1::ROLE_INTEGRATION, {});
  const std::string neuro = token("dr-neuro", escalation::v1::ROLE_NEURORADIOLOGIST, {"neuroradiology"});
  const v1::RouteRequest request = Analysis("1.2.840.30", 1, {Haemorrhage("f-ich", 45.8)});

  {
    grpc::ClientContext ctx;
    v1::RouteResponse response;
    CHECK(stub->Route(&ctx, request, &response).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    auth::AttachBearer(&ctx, neuro);
    v1::RouteResponse response;
    CHECK(stub->Route(&ctx, request, &response).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  v1::RouteResponse routed;
  {
    grpc::ClientContext ctx;
    auth::AttachBearer(&ctx, triage);
    const grpc::Status s = stub->Route(&ctx, request, &routed);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(routed.changes_size() == 1);
  }
  v1::AcknowledgeAlertRequest ack;
  ack.set_alert_id(routed.changes(0).alert().alert_id());
  ack.set_actor_user_id("dr-someone-else");
  {
    grpc::ClientContext ctx;
    auth::AttachBearer(&ctx, neuro);
    v1::AcknowledgeAlertResponse response;
    CHECK(stub->AcknowledgeAlert(&ctx, ack, &response).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  ack.set_actor_user_id("dr-neuro");
  {
    grpc::ClientContext ctx;
    auth::AttachBearer(&ctx, neuro);
    v1::AcknowledgeAlertResponse response;
    const grpc::Status s = stub->AcknowledgeAlert(&ctx, ack, &response);
    INFO(s.error_message());
    REQUIRE(s.ok());
    CHECK(response.alert().acknowledged_by() == "dr-neuro");
  }
  {
    grpc::ClientContext ctx;
    auth::AttachBearer(&ctx, neuro);
    v1::ListAlertsRequest list;
    list.add_states(v1::ALERT_STATE_ACKNOWLEDGED);
    v1::ListAlertsResponse response;
    REQUIRE(stub->ListAlerts(&ctx, list, &response).ok());
    CHECK(response.alerts_size() == 1);
  }
  server.Shutdown();
}

}  // namespace
}  // namespace parallax::alerting
