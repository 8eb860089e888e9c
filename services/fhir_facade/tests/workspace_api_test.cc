// WorkspaceApi against small in-process gRPC services that stand in for
// triage, escalation and alert routing: what the facade itself decides
// (tokens passed on, errors mapped, filters, keys, the live feed). The real
// services are exercised by the browser test (tests/workspace).
#include <fstream>
#include <mutex>

#include <catch2/catch.hpp>

#include "parallax/auth/jwt.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/testing/temp_dir.h"
#include "workspace/workspace_api.h"

namespace parallax::fhir_facade::workspace {
namespace {

constexpr char kSecret[] = "a-test-secret-of-at-least-32-bytes-long";

std::string BearerOf(const grpc::ServerContext* ctx) {
  auto it = ctx->client_metadata().find("authorization");
  return it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
}

class FakeTriage final : public triage::v1::Triage::Service {
 public:
  grpc::Status ListWorklist(grpc::ServerContext*, const triage::v1::ListWorklistRequest* r,
                            triage::v1::ListWorklistResponse* out) override {
    for (const char* uid : {"1.2.3.1", "1.2.3.2"}) {
      if (!r->modality().empty() && r->modality() != "CT") continue;
      auto* e = out->add_entries();
      e->set_study_instance_uid(uid);
      e->set_generation(1);
      e->set_state(triage::v1::ANALYSIS_STATE_ANALYSED);
      e->set_modality("CT");
      e->set_urgency(uid[6] == '1' ? 90 : 10);
    }
    return grpc::Status::OK;
  }
  grpc::Status GetStudyStatus(grpc::ServerContext*, const triage::v1::GetStudyStatusRequest* r,
                              triage::v1::GetStudyStatusResponse* out) override {
    out->set_study_instance_uid(r->study_instance_uid());
    out->set_state(triage::v1::ANALYSIS_STATE_ANALYSED);
    return grpc::Status::OK;
  }
};

class FakeEscalation final : public escalation::v1::Escalation::Service {
 public:
  grpc::Status GetReport(grpc::ServerContext*, const escalation::v1::GetReportRequest* r,
                         escalation::v1::GetReportResponse* out) override {
    if (r->study_instance_uid() != "1.2.3.1") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no report");
    auto* report = out->mutable_report();
    report->set_report_id("rpt-1");
    report->set_status(accepted_ ? escalation::v1::REPORT_STATUS_FINAL : escalation::v1::REPORT_STATUS_PRELIMINARY);
    report->mutable_study()->set_study_instance_uid("1.2.3.1");
    report->mutable_study()->set_generation(1);
    auto* f = report->add_findings();
    f->mutable_finding()->set_finding_id("f-1");
    f->mutable_finding()->set_label("Subdural");
    f->mutable_finding()->set_positive(true);
    f->set_outcome(accepted_ ? escalation::v1::FINDING_OUTCOME_ACCEPTED : escalation::v1::FINDING_OUTCOME_PENDING);
    return grpc::Status::OK;
  }
  grpc::Status ReviewFinding(grpc::ServerContext* ctx, const escalation::v1::ReviewFindingRequest* r,
                             escalation::v1::ReviewFindingResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    seen_bearer = BearerOf(ctx);
    seen = *r;
    if (r->action() == escalation::v1::REVIEW_ACTION_REJECT && r->actor_user_id() == "dr.ray") {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "user dr.ray may not reject a critical Subdural finding");
    }
    if (r->action() == escalation::v1::REVIEW_ACTION_ACCEPT) accepted_ = true;
    return grpc::Status::OK;
  }
  std::mutex mu;
  std::string seen_bearer;
  escalation::v1::ReviewFindingRequest seen;

 private:
  bool accepted_ = false;
};

class FakeAlerts final : public alerting::v1::AlertRouting::Service {
 public:
  grpc::Status ListAlerts(grpc::ServerContext*, const alerting::v1::ListAlertsRequest* r,
                          alerting::v1::ListAlertsResponse* out) override {
    if (r->study_instance_uid() == "1.2.3.1") {
      auto* a = out->add_alerts();
      a->set_alert_id("alr-1");
      a->mutable_study()->set_study_instance_uid("1.2.3.1");
      a->mutable_study()->set_generation(1);
      a->mutable_finding()->set_finding_id("f-1");
      a->set_state(alerting::v1::ALERT_STATE_OPEN);
      a->set_priority(alerting::v1::ALERT_PRIORITY_CRITICAL);
      // Primary group neurosurgery (an epidural over 30 mL); neuroradiology is notified too.
      a->set_target_group("neurosurgery");
      a->add_target_groups("neurosurgery");
      a->add_target_groups("neuroradiology");
    }
    return grpc::Status::OK;
  }
};

struct Fixture {
  testing::TempDir dir;
  FakeTriage triage;
  FakeEscalation escalation;
  FakeAlerts alerts;
  rpc::RpcServer server{rpc::RpcServerOptions{"127.0.0.1:0"}};
  std::unique_ptr<triage::v1::Triage::Stub> triage_stub;
  std::unique_ptr<escalation::v1::Escalation::Stub> escalation_stub;
  std::unique_ptr<alerting::v1::AlertRouting::Stub> alerts_stub;
  std::unique_ptr<auth::ServiceAuth> auth;
  StudyKeys keys{kSecret};
  ChangeFeed feed;
  std::unique_ptr<WorkspaceApi> api;
  http::Router router;

  Fixture() {
    server.Register(&triage, "parallax.triage.v1.Triage");
    server.Register(&escalation, "parallax.escalation.v1.Escalation");
    server.Register(&alerts, "parallax.alerting.v1.AlertRouting");
    REQUIRE(server.Start().ok());
    auto channel = rpc::MakeChannel("127.0.0.1:" + std::to_string(server.port()));
    triage_stub = triage::v1::Triage::NewStub(channel);
    escalation_stub = escalation::v1::Escalation::NewStub(channel);
    alerts_stub = alerting::v1::AlertRouting::NewStub(channel);
    const std::string secret_file = dir.path().string() + "/secret";
    std::ofstream(secret_file) << kSecret;
    auto created = auth::ServiceAuth::Create({secret_file}, "fhir-facade");
    REQUIRE(created.ok());
    auth = std::move(*created);
    api = std::make_unique<WorkspaceApi>(
        WorkspaceBackends{triage_stub.get(), escalation_stub.get(), alerts_stub.get(), nullptr, nullptr, nullptr},
        auth.get(), std::nullopt, nullptr, &keys, &feed, WorkspaceOptions{});
    api->AddRoutes(router);
  }
  ~Fixture() { server.Shutdown(); }

  static std::string Token(const std::string& user, auth::Role role, std::vector<std::string> groups = {}) {
    auto issuer = auth::JwtIssuer::Create(kSecret);
    auth::TokenClaims claims;
    claims.subject = user;
    claims.roles = {role};
    claims.groups = std::move(groups);
    return *issuer->Issue(claims, std::chrono::system_clock::now());
  }
  http::Response Call(const std::string& method, const std::string& target, const std::string& token,
                      const std::string& body = "") {
    http::Request r;
    r.method = method;
    r.target = target;
    r.path = target.substr(0, target.find('?'));
    r.query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    r.body = body;
    return router.Route(r);
  }
};

TEST_CASE("workspace API needs a valid token and says so with 401") {
  Fixture f;
  CHECK(f.Call("GET", "/api/worklist", "").status == 401);
  CHECK(f.Call("GET", "/api/worklist", "not.a.token").status == 401);
  CHECK(f.Call("POST", "/api/session", "", R"({"user":"a","password":"b"})").status == 404);  // no local identity
}

TEST_CASE("workspace worklist keys studies opaquely, keeps triage's order and filters by every group an alert "
          "notifies") {
  Fixture f;
  const std::string token = Fixture::Token("dr.neuro", escalation::v1::ROLE_NEURORADIOLOGIST, {"neuroradiology"});
  http::Response all = f.Call("GET", "/api/worklist", token);
  REQUIRE(all.status == 200);
  CHECK(all.body.find("1.2.3.1") == std::string::npos);  // no study UID leaves in the worklist
  const Json studies = Json::parse(all.body)["studies"];
  REQUIRE(studies.size() == 2);
  CHECK(studies[0]["urgency"] == 90);
  CHECK(studies[0]["alert"]["priority"] == "critical");
  CHECK(studies[0]["report_status"] == "preliminary");
  CHECK(studies[1]["alert"].is_null());
  CHECK(studies[1]["report_status"] == "none");
  CHECK(studies[0]["key"] == f.keys.KeyOf("1.2.3.1"));

  // A study is in every group its alert notifies, not only the primary one.
  const Json neuro = Json::parse(f.Call("GET", "/api/worklist?group=neuroradiology", token).body)["studies"];
  REQUIRE(neuro.size() == 1);
  CHECK(neuro[0]["alert"]["groups"] == Json::array({"neurosurgery", "neuroradiology"}));
  CHECK(Json::parse(f.Call("GET", "/api/worklist?group=neurosurgery", token).body)["studies"].size() == 1);
  CHECK(Json::parse(f.Call("GET", "/api/worklist?group=thoracic-radiology", token).body)["studies"].empty());
  CHECK(f.Call("GET", "/api/worklist?status=done", token).status == 400);
}

TEST_CASE("workspace review passes the user's own token and the reported finding to escalation") {
  Fixture f;
  const std::string neuro = Fixture::Token("dr.neuro", escalation::v1::ROLE_NEURORADIOLOGIST);
  const std::string key = f.keys.KeyOf("1.2.3.1");
  // Without a reason a rejection is refused here, before escalation.
  CHECK(f.Call("POST", "/api/findings/f-1/review", neuro, R"({"action":"reject","study_key":")" + key + "\"}").status ==
        400);
  // A service's refusal comes back as 403 with its reason.
  const std::string ray = Fixture::Token("dr.ray", escalation::v1::ROLE_RADIOLOGIST);
  http::Response refused =
      f.Call("POST", "/api/findings/f-1/review", ray, R"({"action":"reject","reason":"artefact","study_key":")" + key + "\"}");
  CHECK(refused.status == 403);
  CHECK(Json::parse(refused.body)["error"].get<std::string>().find("may not reject") != std::string::npos);
  {
    std::lock_guard<std::mutex> lock(f.escalation.mu);
    CHECK(f.escalation.seen_bearer == "Bearer " + ray);
    CHECK(f.escalation.seen.actor_user_id() == "dr.ray");
    CHECK(f.escalation.seen.alert_id() == "alr-1");
    CHECK(f.escalation.seen.finding().label() == "Subdural");
    CHECK(f.escalation.seen.reject_reason() == escalation::v1::REJECT_REASON_OTHER);
  }
  const int64_t cursor = f.feed.Wait(0, std::chrono::milliseconds(0)).seq;
  http::Response accepted = f.Call("POST", "/api/findings/f-1/review", neuro,
                                   R"({"action":"accept","study_key":")" + key + "\"}");
  REQUIRE(accepted.status == 200);
  const Json body = Json::parse(accepted.body);
  CHECK(body["outcome"] == "accepted");
  CHECK(body["report"]["status"] == "final");
  ChangeBatch batch = f.feed.Wait(cursor, std::chrono::milliseconds(0));
  REQUIRE(batch.events.size() == 1);
  CHECK(batch.events[0].study_key == key);
  // A finding that is not in the report is a conflict, not a silent success.
  CHECK(f.Call("POST", "/api/findings/f-9/review", neuro, R"({"action":"accept","study_key":")" + key + "\"}").status ==
        409);
}

TEST_CASE("workspace resolves a key it never handed out through triage, and refuses an unknown one") {
  Fixture f;
  StudyKeys other(kSecret);  // the same secret, as after a restart
  const std::string key = other.KeyOf("1.2.3.2");
  const std::string token = Fixture::Token("dr.neuro", escalation::v1::ROLE_NEURORADIOLOGIST);
  CHECK_FALSE(f.keys.StudyOf(key).has_value());
  // Ingest is not configured in this fixture: the study view says which part is missing.
  http::Response view = f.Call("GET", "/api/studies/" + key, token);
  CHECK(view.status == 503);
  CHECK(f.keys.StudyOf(key) == "1.2.3.2");
  CHECK(f.Call("GET", "/api/studies/AAAAAAAAAAAAAAAAAAAAAA", token).status == 404);
}

}  // namespace
}  // namespace parallax::fhir_facade::workspace
