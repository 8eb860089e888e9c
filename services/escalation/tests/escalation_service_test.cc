// Review, escalation and the report on a real PostgreSQL: the whole path of
// one critical finding from the AI's preliminary report through a refused
// and an authorised rejection, the senior's decision and the final report.
#include "escalation_service.h"

#include <mutex>

#include <catch2/catch.hpp>

#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/store/bytea.h"
#include "parallax/store/testing/fresh_database.h"

namespace parallax::escalation {
namespace {

// Collects audit events in memory (the durable trail is libs/audit_client's).
class MemoryTrail final : public AuditTrail {
 public:
  absl::Status Enqueue(store::Transaction&, const audit::v1::AuditEvent& e) override { return Add(e); }
  absl::Status Record(const audit::v1::AuditEvent& e) override { return Add(e); }
  int Count(audit::v1::EventType type) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& e : events_) n += e.type() == type;
    return n;
  }

 private:
  absl::Status Add(const audit::v1::AuditEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
    return absl::OkStatus();
  }
  std::mutex mu_;
  std::vector<audit::v1::AuditEvent> events_;
};

TokenIdentity Who(const std::string& id, std::set<v1::Role> roles) {
  TokenIdentity who;
  who.user_id = id;
  who.roles.assign(roles.begin(), roles.end());
  return who;
}

struct Fixture {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<EscalationStore> store;
  MemoryTrail trail;
  std::unique_ptr<EscalationService> service;
  int pokes = 0;
  Fixture() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("escalation"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    store = std::make_unique<EscalationStore>(db.get());
    REQUIRE(store->Migrate().ok());
    REQUIRE(store->ReplaceOverrideRights(*ParseOverrideRights(
                      "any_haemorrhage:neuroradiologist|senior_radiologist, *:department_head"))
                .ok());
    service = std::make_unique<EscalationService>(store.get(), &trail,
                                                  [](grpc::ServerContext*) -> absl::StatusOr<TokenIdentity> {
                                                    return absl::UnauthenticatedError("not used");
                                                  },
                                                  EscalationOptions{}, [this] { ++pokes; });
  }
  int64_t Outbox(OutboxKind kind) {
    auto rows = db->Exec("SELECT count(*) FROM escalation.outbox WHERE kind = $1", {static_cast<int>(kind)});
    REQUIRE(rows.ok());
    return *(*rows)[0].GetInt64(0);
  }
};

common::v1::Finding Haemorrhage(const std::string& id, bool positive) {
  common::v1::Finding f;
  f.set_finding_id(id);
  f.set_label("any_haemorrhage");
  f.set_subtype("subdural");
  f.set_probability(positive ? 0.94 : 0.05);
  f.set_operating_point(0.5);
  f.set_positive(positive);
  f.set_laterality(common::v1::LATERALITY_LEFT);
  f.set_volume_ml(45.8);
  f.mutable_model()->set_model_id("parallax.headct");
  return f;
}

v1::OpenReportRequest Analysis(const std::string& study, int64_t generation, const std::string& finding_id) {
  v1::OpenReportRequest r;
  r.mutable_study()->set_study_instance_uid(study);
  r.mutable_study()->set_generation(generation);
  *r.add_findings() = Haemorrhage(finding_id, true);
  r.add_critical_finding_ids(finding_id);
  (*r.mutable_alert_ids())[finding_id] = "alert-1";
  return r;
}

v1::ReviewFindingRequest Reject(const std::string& request_id, const std::string& actor, const std::string& finding) {
  v1::ReviewFindingRequest r;
  r.set_request_id(request_id);
  r.set_actor_user_id(actor);
  r.mutable_finding()->set_finding_id(finding);
  r.set_action(v1::REVIEW_ACTION_REJECT);
  r.set_reject_reason(v1::REJECT_REASON_ARTEFACT);
  return r;
}

const TokenIdentity kService = Who("alert-routing", {v1::ROLE_INTEGRATION});

TEST_CASE("escalation: a rejected critical haemorrhage goes to a senior, whose decision finalises the report",
          "[escalation][db]") {
  Fixture fx;
  auto opened = fx.service->Open(kService, Analysis("1.2.3", 1, "f-1"));
  REQUIRE(opened.ok());
  CHECK(opened->newly_opened());
  CHECK(opened->report().status() == v1::REPORT_STATUS_PRELIMINARY);
  CHECK(opened->report().version() == 1);
  REQUIRE(opened->report().findings_size() == 1);
  CHECK(opened->report().findings(0).outcome() == v1::FINDING_OUTCOME_PENDING);
  CHECK(fx.Outbox(OutboxKind::kFhirReport) == 1);
  // The same analysis again changes nothing.
  auto again = fx.service->Open(kService, Analysis("1.2.3", 1, "f-1"));
  REQUIRE(again.ok());
  CHECK(!again->newly_opened());
  CHECK(fx.Outbox(OutboxKind::kFhirReport) == 1);

  // A general radiologist may not reject it: refused and audited.
  auto refused = fx.service->Review(Who("r-general", {v1::ROLE_RADIOLOGIST}), Reject("q1", "r-general", "f-1"));
  REQUIRE(!refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(fx.trail.Count(audit::v1::EVENT_TYPE_ACCESS_REFUSED) == 1);
  CHECK(fx.trail.Count(audit::v1::EVENT_TYPE_FINDING_REJECTED) == 0);
  // Nor may anyone act under another user's name.
  auto impersonation = fx.service->Review(Who("r-general", {v1::ROLE_RADIOLOGIST}), Reject("q1b", "n-neuro", "f-1"));
  CHECK(impersonation.status().code() == absl::StatusCode::kPermissionDenied);

  // A neuroradiologist may: the rejection opens a case for the seniors.
  auto rejected = fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), Reject("q2", "n-neuro", "f-1"));
  REQUIRE(rejected.ok());
  REQUIRE(rejected->has_opened_case());
  CHECK(rejected->opened_case().state() == v1::CASE_STATE_OPEN);
  CHECK(rejected->opened_case().assigned_group() == "senior-radiology");
  CHECK(!rejected->report_triggered());
  CHECK(fx.Outbox(OutboxKind::kFhirTask) == 1);
  CHECK(fx.trail.Count(audit::v1::EVENT_TYPE_CASE_ESCALATED) == 1);
  // A retry of the same request returns the same review and opens nothing new.
  auto retried = fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), Reject("q2", "n-neuro", "f-1"));
  REQUIRE(retried.ok());
  CHECK(retried->review().review_id() == rejected->review().review_id());
  CHECK(fx.Outbox(OutboxKind::kFhirTask) == 1);
  // While the case is open the finding cannot be reviewed again.
  v1::ReviewFindingRequest accept = Reject("q3", "n-neuro", "f-1");
  accept.set_action(v1::REVIEW_ACTION_ACCEPT);
  CHECK(fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), accept).status().code() ==
        absl::StatusCode::kFailedPrecondition);

  // The seniors see the case; the rejecting reviewer may not decide it.
  auto cases = fx.service->Cases(Who("s-senior", {v1::ROLE_SENIOR_RADIOLOGIST}), v1::ListCasesRequest());
  REQUIRE(cases.ok());
  REQUIRE(cases->cases_size() == 1);
  v1::DecideCaseRequest decide;
  decide.set_request_id("d1");
  decide.set_case_id(cases->cases(0).case_id());
  decide.set_decision(v1::CASE_DECISION_CONFIRM_FINDING);
  decide.set_rationale("thin subdural collection visible on slices 14-16");
  decide.set_actor_user_id("n-neuro");
  CHECK(fx.service->Decide(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST, v1::ROLE_SENIOR_RADIOLOGIST}), decide)
            .status()
            .code() == absl::StatusCode::kPermissionDenied);
  decide.set_actor_user_id("s-senior");
  auto decided = fx.service->Decide(Who("s-senior", {v1::ROLE_SENIOR_RADIOLOGIST}), decide);
  REQUIRE(decided.ok());
  CHECK(decided->decided_case().state() == v1::CASE_STATE_DECIDED);
  CHECK(decided->report().status() == v1::REPORT_STATUS_FINAL);
  CHECK(decided->report().version() == 2);
  REQUIRE(decided->report().findings_size() == 1);
  CHECK(decided->report().findings(0).outcome() == v1::FINDING_OUTCOME_CONFIRMED_BY_SENIOR);
  CHECK(decided->report().findings(0).decided_by() == "s-senior");
  CHECK(fx.Outbox(OutboxKind::kFhirReport) == 2);
  CHECK(fx.Outbox(OutboxKind::kDicomSr) == 1);
  CHECK(fx.Outbox(OutboxKind::kFhirTask) == 2);
  // Deciding twice is refused; the same request again returns the decision.
  decide.set_request_id("d2");
  CHECK(fx.service->Decide(Who("s-senior", {v1::ROLE_SENIOR_RADIOLOGIST}), decide).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(fx.trail.Count(audit::v1::EVENT_TYPE_CASE_DECIDED) == 1);
}

TEST_CASE("escalation: an accepted finding finalises the report and a later modification amends it",
          "[escalation][db]") {
  Fixture fx;
  REQUIRE(fx.service->Open(kService, Analysis("1.2.4", 1, "f-2")).ok());
  v1::ReviewFindingRequest accept = Reject("a1", "r-general", "f-2");
  accept.set_action(v1::REVIEW_ACTION_ACCEPT);
  auto accepted = fx.service->Review(Who("r-general", {v1::ROLE_RADIOLOGIST}), accept);
  REQUIRE(accepted.ok());
  CHECK(accepted->report_triggered());
  auto report = fx.service->Report("1.2.4");
  REQUIRE(report.ok());
  CHECK(report->report().status() == v1::REPORT_STATUS_FINAL);

  v1::ReviewFindingRequest modify = Reject("m1", "n-neuro", "f-2");
  modify.set_action(v1::REVIEW_ACTION_MODIFY);
  modify.mutable_modification()->set_volume_ml(38.0);
  modify.mutable_modification()->set_laterality(common::v1::LATERALITY_RIGHT);
  // Modifying a critical finding needs the override right too.
  modify.set_actor_user_id("r-general");
  CHECK(fx.service->Review(Who("r-general", {v1::ROLE_RADIOLOGIST}), modify).status().code() ==
        absl::StatusCode::kPermissionDenied);
  modify.set_actor_user_id("n-neuro");
  auto modified = fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), modify);
  REQUIRE(modified.ok());
  CHECK(modified->review().resulting_finding().volume_ml() == Approx(38.0));
  CHECK(modified->review().resulting_finding().laterality() == common::v1::LATERALITY_RIGHT);
  report = fx.service->Report("1.2.4");
  REQUIRE(report.ok());
  CHECK(report->report().status() == v1::REPORT_STATUS_AMENDED);
  CHECK(report->report().version() == 3);
  CHECK(report->report().findings(0).outcome() == v1::FINDING_OUTCOME_MODIFIED);
  CHECK(report->report().findings(0).finding().subtype() == "subdural");  // unchanged fields stay
}

TEST_CASE("escalation: a newer analysis supersedes the findings and cancels their open case", "[escalation][db]") {
  Fixture fx;
  REQUIRE(fx.service->Open(kService, Analysis("1.2.5", 1, "f-old")).ok());
  REQUIRE(fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), Reject("x1", "n-neuro", "f-old")).ok());
  auto newer = fx.service->Open(kService, Analysis("1.2.5", 2, "f-new"));
  REQUIRE(newer.ok());
  CHECK(newer->report().study().generation() == 2);
  REQUIRE(newer->report().findings_size() == 1);
  CHECK(newer->report().findings(0).finding().finding_id() == "f-new");
  v1::ListCasesRequest cancelled;
  cancelled.add_states(v1::CASE_STATE_CANCELLED);
  auto cases = fx.service->Cases(Who("s-senior", {v1::ROLE_SENIOR_RADIOLOGIST}), cancelled);
  REQUIRE(cases.ok());
  CHECK(cases->cases_size() == 1);
  // An older generation arriving late is refused.
  CHECK(fx.service->Open(kService, Analysis("1.2.5", 1, "f-old")).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  // Only services open reports.
  CHECK(fx.service->Open(Who("r-general", {v1::ROLE_RADIOLOGIST}), Analysis("1.2.6", 1, "f-x")).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE("escalation: only admins manage users, and the last admin cannot be removed", "[escalation][db]") {
  Fixture fx;
  v1::UpsertUserRequest request;
  request.set_actor_user_id("root");
  request.mutable_user()->set_user_id("root");
  request.mutable_user()->add_roles(v1::ROLE_ADMIN);
  request.mutable_user()->set_active(true);
  const TokenIdentity root = Who("root", {v1::ROLE_ADMIN});
  auto created = fx.service->Upsert(root, request);
  REQUIRE(created.ok());
  CHECK(created->created());
  request.mutable_user()->set_user_id("n-neuro");
  request.mutable_user()->clear_roles();
  request.mutable_user()->add_roles(v1::ROLE_NEURORADIOLOGIST);
  request.mutable_user()->add_groups("neuroradiology");
  REQUIRE(fx.service->Upsert(root, request).ok());
  // The directory's roles join the token's.
  auto listed = fx.service->Users(Who("n-neuro", {}), v1::ListUsersRequest());
  REQUIRE(listed.ok());
  CHECK(listed->users_size() == 2);
  // Demoting the only admin is refused.
  request.mutable_user()->set_user_id("root");
  request.mutable_user()->clear_roles();
  request.mutable_user()->add_roles(v1::ROLE_AUDITOR);
  CHECK(fx.service->Upsert(root, request).status().code() == absl::StatusCode::kFailedPrecondition);
  // A non-admin may not manage users.
  request.set_actor_user_id("n-neuro");
  CHECK(fx.service->Upsert(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), request).status().code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(fx.trail.Count(audit::v1::EVENT_TYPE_USER_CHANGED) == 2);
}

}  // namespace
}  // namespace parallax::escalation

namespace parallax::escalation {
namespace {

// The ResolveAlerts requests waiting in the outbox, oldest first.
std::vector<alerting::v1::ResolveAlertsRequest> ResolveItems(store::Database* db) {
  auto rows = db->Exec("SELECT payload FROM escalation.outbox WHERE kind = $1 ORDER BY id",
                       {static_cast<int>(OutboxKind::kResolveAlerts)});
  REQUIRE(rows.ok());
  std::vector<alerting::v1::ResolveAlertsRequest> out;
  for (const store::Row& row : *rows) {
    auto bytes = store::FromByteaHex(row.Get(0).value_or(""), "payload");
    REQUIRE(bytes.ok());
    alerting::v1::ResolveAlertsRequest r;
    REQUIRE(r.ParseFromString(*bytes));
    out.push_back(r);
  }
  return out;
}

TEST_CASE("a review of an alerted finding enqueues the alert's resolution with the review, once per review",
          "[escalation][db]") {
  Fixture fx;
  // f-1 alerted (alert-1); f-2 did not alert.
  v1::OpenReportRequest analysis = Analysis("1.2.9", 1, "f-1");
  *analysis.add_findings() = Haemorrhage("f-2", true);
  analysis.mutable_findings(1)->set_label("Epidural");
  REQUIRE(fx.service->Open(kService, analysis).ok());
  CHECK(ResolveItems(fx.db.get()).empty());

  v1::ReviewFindingRequest accept;
  accept.set_request_id("acc-1");
  accept.set_actor_user_id("n-neuro");
  accept.mutable_finding()->set_finding_id("f-1");
  accept.set_action(v1::REVIEW_ACTION_ACCEPT);
  const int pokes_before = fx.pokes;
  auto accepted = fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), accept);
  INFO(accepted.status().message());
  REQUIRE(accepted.ok());
  auto items = ResolveItems(fx.db.get());
  REQUIRE(items.size() == 1);
  CHECK(items[0].study_instance_uid() == "1.2.9");
  REQUIRE(items[0].finding_ids_size() == 1);
  CHECK(items[0].finding_ids(0) == "f-1");
  REQUIRE(items[0].alert_ids_size() == 1);
  CHECK(items[0].alert_ids(0) == "alert-1");
  CHECK(items[0].outcome() == alerting::v1::RESOLUTION_OUTCOME_ACCEPTED);
  CHECK(items[0].reviewer_user_id() == "n-neuro");
  CHECK(items[0].review_id() == accepted->review().review_id());
  CHECK(fx.pokes > pokes_before);  // the publisher is woken for it

  // A retry of the same request enqueues nothing more.
  REQUIRE(fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), accept).ok());
  CHECK(ResolveItems(fx.db.get()).size() == 1);

  // A finding without an alert: nothing to resolve.
  v1::ReviewFindingRequest other = accept;
  other.set_request_id("acc-2");
  other.mutable_finding()->set_finding_id("f-2");
  REQUIRE(fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), other).ok());
  CHECK(ResolveItems(fx.db.get()).size() == 1);
}

TEST_CASE("a rejected critical finding resolves its alert as escalated when the case opens", "[escalation][db]") {
  Fixture fx;
  REQUIRE(fx.service->Open(kService, Analysis("1.2.10", 1, "f-1")).ok());
  auto rejected = fx.service->Review(Who("n-neuro", {v1::ROLE_NEURORADIOLOGIST}), Reject("rej-1", "n-neuro", "f-1"));
  INFO(rejected.status().message());
  REQUIRE(rejected.ok());
  REQUIRE(rejected->has_opened_case());
  auto items = ResolveItems(fx.db.get());
  REQUIRE(items.size() == 1);
  CHECK(items[0].outcome() == alerting::v1::RESOLUTION_OUTCOME_ESCALATED);
  CHECK(items[0].alert_ids(0) == "alert-1");
}

}  // namespace
}  // namespace parallax::escalation
