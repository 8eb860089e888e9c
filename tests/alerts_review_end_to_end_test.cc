// The alerts, review and escalation path end to end on the local stack, with
// every part real: scripts/parallax brings up PostgreSQL, Orthanc as the PACS,
// the EHR recorder and every service; phantom studies arrive by C-STORE.
// Checked: a positive study alerts the right group and sends a preliminary
// report to the EHR; the reviewer's accept sends the final report to the EHR
// and the SR to Orthanc; an unauthorised rejection is refused; an authorised
// one opens an escalation case; each review resolves its alert (RESOLVED,
// the EHR's Communication completed); the EHR going down and coming back loses and
// duplicates nothing; the audit chain verifies, and fails after an edit.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/audit/v1/audit.grpc.pb.h"
#include "parallax/auth/grpc_auth.h"
#include "parallax/auth/jwt.h"
#include "parallax/escalation/v1/escalation.grpc.pb.h"
#include "parallax/http/client.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/testing/environment.h"

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace esc = parallax::escalation::v1;
namespace alerting = parallax::alerting::v1;

// Ports of this stack: the usual ones + an offset between 300 and 890 whose
// ports were all free when the stack started (PickOffset), so runs beside each
// other (or a stack still shutting down) do not collide; the benchmarks use
// 1000 and 1100. The base ports of scripts/parallax lie partly in Linux's
// ephemeral range, where other tests' servers bind port 0, so a start-up that
// fails is tried again at another offset.
int g_offset = 300;
std::string Ehr() { return "http://127.0.0.1:" + std::to_string(8091 + g_offset); }
std::string Orthanc() { return "http://127.0.0.1:" + std::to_string(18042 + g_offset); }

struct Ran {
  int exit_code;
  std::string output;
};

Ran Run(const std::string& command) {
  std::array<char, 4096> buffer;
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Every port scripts/parallax opens at this offset binds now (its ports-free).
bool OffsetFree(int offset) {
  return Run("PARALLAX_PORT_OFFSET=" + std::to_string(offset) + " " + parallax::testing::SourceDir() +
             "/scripts/parallax ports-free")
             .exit_code == 0;
}

int PickOffset(unsigned attempt) {
  const unsigned start = static_cast<unsigned>(getpid()) + 17 * attempt;
  for (unsigned i = 0; i < 60; ++i) {
    const int offset = 300 + 10 * static_cast<int>((start + i) % 60);
    if (OffsetFree(offset)) return offset;
  }
  return 300 + 10 * static_cast<int>(start % 60);  // none free: start fails and says which service
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

json GetJson(const std::string& url) {
  auto r = parallax::http::Fetch("GET", url, {}, "", 5s);
  if (!r.ok() || r->status != 200) return json();
  return json::parse(r->body, nullptr, false);
}

// The whole local stack under a home of its own.
struct Stack {
  std::string home;
  std::string env;
  Stack() {
    home = (std::filesystem::temp_directory_path() / ("parallax-e2e-" + std::to_string(getpid()))).string();
    Ran up{-1, ""};
    std::string tries;
    for (unsigned attempt = 0; attempt < 3; ++attempt) {
      std::filesystem::remove_all(home);
      std::filesystem::create_directories(home);
      g_offset = PickOffset(attempt);
      env = "PARALLAX_HOME=" + home + " PARALLAX_PORT_OFFSET=" + std::to_string(g_offset) +
            " BUILD_DIR=" + parallax::testing::BinDir() + " PARALLAX_SKIP_BUILD=1 ";
      up = Run(env + parallax::testing::SourceDir() + "/scripts/parallax up --stable-after 1s");
      if (up.exit_code == 0) break;
      // The destructor does not run when the constructor fails: stop what did start.
      Run(env + parallax::testing::SourceDir() + "/scripts/parallax down");
      // Only a service that would not start (a port taken meanwhile) is worth another offset.
      if (attempt == 2 || (up.output.find("exited at start-up") == std::string::npos &&
                           up.output.find("did not become healthy") == std::string::npos))
        break;
      tries += "offset " + std::to_string(g_offset) + ":\n" + up.output + "\n";
    }
    if (!tries.empty()) WARN("the stack's earlier start-ups:\n" + tries);
    INFO(up.output);
    REQUIRE(up.exit_code == 0);
  }
  ~Stack() {
    Run(env + parallax::testing::SourceDir() + "/scripts/parallax down");
    // PARALLAX_E2E_KEEP=1 keeps the logs and configs for a look afterwards.
    if (parallax::testing::Env("PARALLAX_E2E_KEEP").empty()) std::filesystem::remove_all(home);
  }
  std::string Secret() const {
    std::ifstream in(home + "/secrets/jwt-hs256.secret");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string Psql(const std::string& sql) const {
    Ran r = Run("psql postgresql://postgres@127.0.0.1:" + std::to_string(55433 + g_offset) + "/parallax -Atc \"" +
                sql + "\"");
    return r.output;
  }
};

std::string Token(const Stack& stack, const std::string& user, std::vector<parallax::auth::Role> roles,
                  std::vector<std::string> groups = {}) {
  auto issuer = parallax::auth::JwtIssuer::Create(stack.Secret());
  REQUIRE(issuer.ok());
  parallax::auth::TokenClaims claims;
  claims.subject = user;
  claims.roles = std::move(roles);
  claims.groups = std::move(groups);
  auto token = issuer->Issue(claims, std::chrono::system_clock::now());
  REQUIRE(token.ok());
  return *token;
}

template <typename Stub>
std::unique_ptr<Stub> Connect(int port) {
  return std::make_unique<Stub>(parallax::rpc::MakeChannel("127.0.0.1:" + std::to_string(port + g_offset)));
}

std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + 10s);
  parallax::auth::AttachBearer(ctx.get(), token);
  return ctx;
}

// Sends a phantom study by C-STORE and returns its Study Instance UID.
std::string SendPhantom(const Stack& stack, const std::string& name, const std::string& args) {
  const std::string out = stack.home + "/studies/" + name;
  Ran synth = Run(parallax::testing::BinDir() + "/libs/phantom/tools/parallax-synth --out " + out + " " + args);
  INFO(synth.output);
  REQUIRE(synth.exit_code == 0);
  std::string study_dir;
  for (auto& e : std::filesystem::directory_iterator(out)) {
    if (e.is_directory()) study_dir = e.path().string();
  }
  REQUIRE(!study_dir.empty());
  Ran sent = Run("TCP_NODELAY=1 storescu -aet MODALITY -aec PARALLAX +sd +sp '*.dcm' 127.0.0.1 " +
                 std::to_string(11112 + g_offset) + " " + study_dir);
  INFO(sent.output);
  REQUIRE(sent.exit_code == 0);
  std::ifstream truth(study_dir + "/truth.json");
  return json::parse(truth).at("study_instance_uid").get<std::string>();
}

// The study's alerts, once there are some.
std::vector<alerting::Alert> AlertsOf(alerting::AlertRouting::Stub& routing, const std::string& token,
                                      const std::string& study_uid) {
  std::vector<alerting::Alert> out;
  WaitUntil(
      [&] {
        alerting::ListAlertsRequest request;
        request.set_study_instance_uid(study_uid);
        alerting::ListAlertsResponse response;
        auto ctx = As(token);
        if (!routing.ListAlerts(ctx.get(), request, &response).ok()) return false;
        out.assign(response.alerts().begin(), response.alerts().end());
        return !out.empty();
      },
      60s);
  return out;
}

// The report the EHR holds for a report id (status), "" when none.
std::string EhrReportStatus(const std::string& report_id) {
  json bundle = GetJson(Ehr() + "/fhir/DiagnosticReport?identifier=urn:parallax:id%7C" + report_id);
  if (!bundle.is_object() || !bundle.contains("entry") || bundle["entry"].empty()) return "";
  return bundle["entry"][0]["resource"].value("status", "");
}

}  // namespace

TEST_CASE("end to end: alert, review, escalation, report to the EHR and SR to the PACS, audit verified",
          "[e2e][db][pacs][slow]") {
  Stack stack;
  auto routing = Connect<alerting::AlertRouting::Stub>(50055);
  auto escalation = Connect<esc::Escalation::Stub>(50056);
  auto audit = Connect<parallax::audit::v1::Audit::Stub>(50057);
  const std::string service = Token(stack, "e2e-test", {esc::ROLE_INTEGRATION});
  const std::string ray = Token(stack, "dr.ray", {esc::ROLE_RADIOLOGIST}, {"general-radiology"});
  const std::string chest = Token(stack, "dr.chest", {esc::ROLE_THORACIC_RADIOLOGIST}, {"thoracic-radiology"});
  const std::string neuro = Token(stack, "dr.neuro", {esc::ROLE_NEURORADIOLOGIST}, {"neuroradiology"});
  const std::string senior = Token(stack, "dr.senior", {esc::ROLE_SENIOR_RADIOLOGIST}, {"senior-radiology"});
  const std::string auditor = Token(stack, "auditor", {esc::ROLE_AUDITOR});

  const std::string film = SendPhantom(stack, "ptx",
                                       "--kind chest_xray --seed 7001 --findings Pneumothorax:right --difficulty 0.1");
  const std::string head = SendPhantom(stack, "sdh", "--kind head_ct --seed 7002 --findings Subdural --difficulty 0.1");

  // 1. The positive film alerts thoracic radiology; the head CT neuroradiology.
  auto film_alerts = AlertsOf(*routing, service, film);
  REQUIRE(!film_alerts.empty());
  const alerting::Alert* ptx = nullptr;
  for (const auto& a : film_alerts) {
    if (a.finding().label() == "Pneumothorax") ptx = &a;
  }
  REQUIRE(ptx != nullptr);
  CHECK(ptx->target_group() == "thoracic-radiology");
  CHECK(ptx->finding().laterality() == parallax::common::v1::LATERALITY_RIGHT);
  auto head_alerts = AlertsOf(*routing, service, head);
  const alerting::Alert* ich = nullptr;
  for (const auto& a : head_alerts) {
    if (a.finding().label() == "Intracranial haemorrhage") ich = &a;
  }
  REQUIRE(ich != nullptr);
  CHECK(ich->target_group() == "neuroradiology");

  // 2. The EHR has each alert's Communication and the preliminary report.
  esc::GetReportResponse film_report;
  REQUIRE(WaitUntil(
      [&] {
        esc::GetReportRequest request;
        request.set_study_instance_uid(film);
        auto ctx = As(chest);
        return escalation->GetReport(ctx.get(), request, &film_report).ok();
      },
      30s));
  const std::string film_report_id = film_report.report().report_id();
  CHECK(WaitUntil([&] { return EhrReportStatus(film_report_id) == "preliminary"; }, 30s));
  CHECK(WaitUntil(
      [&] {
        json bundle = GetJson(Ehr() + "/fhir/Communication?identifier=urn:parallax:id%7C" + ptx->alert_id());
        return bundle.is_object() && bundle.contains("entry") && !bundle["entry"].empty();
      },
      30s));

  // 3. A general radiologist may not reject the haemorrhage; a neuroradiologist may, which opens a case.
  REQUIRE(WaitUntil(
      [&] {
        esc::GetReportRequest request;
        request.set_study_instance_uid(head);
        esc::GetReportResponse report;
        auto ctx = As(neuro);
        return escalation->GetReport(ctx.get(), request, &report).ok();
      },
      30s));
  esc::ReviewFindingRequest reject;
  reject.set_request_id("e2e-reject-1");
  reject.set_actor_user_id("dr.ray");
  *reject.mutable_study() = ich->study();
  *reject.mutable_finding() = ich->finding();
  reject.set_alert_id(ich->alert_id());
  reject.set_action(esc::REVIEW_ACTION_REJECT);
  reject.set_reject_reason(esc::REJECT_REASON_ARTEFACT);
  esc::ReviewFindingResponse reviewed;
  {
    auto ctx = As(ray);
    grpc::Status refused = escalation->ReviewFinding(ctx.get(), reject, &reviewed);
    CHECK(refused.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  reject.set_request_id("e2e-reject-2");
  reject.set_actor_user_id("dr.neuro");
  {
    auto ctx = As(neuro);
    grpc::Status ok = escalation->ReviewFinding(ctx.get(), reject, &reviewed);
    INFO(ok.error_message());
    REQUIRE(ok.ok());
  }
  REQUIRE(reviewed.has_opened_case());
  esc::ListCasesResponse cases;
  {
    esc::ListCasesRequest request;
    request.add_states(esc::CASE_STATE_OPEN);
    request.set_study_instance_uid(head);
    auto ctx = As(senior);
    REQUIRE(escalation->ListCases(ctx.get(), request, &cases).ok());
  }
  REQUIRE(cases.cases_size() == 1);
  CHECK(cases.cases(0).assigned_group() == "senior-radiology");

  // 4. The thoracic radiologist accepts the pneumothorax: final report in the EHR, SR in Orthanc.
  esc::ReviewFindingRequest accept;
  accept.set_request_id("e2e-accept-1");
  accept.set_actor_user_id("dr.chest");
  *accept.mutable_study() = ptx->study();
  *accept.mutable_finding() = ptx->finding();
  accept.set_alert_id(ptx->alert_id());
  accept.set_action(esc::REVIEW_ACTION_ACCEPT);
  {
    auto ctx = As(chest);
    grpc::Status ok = escalation->ReviewFinding(ctx.get(), accept, &reviewed);
    INFO(ok.error_message());
    REQUIRE(ok.ok());
  }
  CHECK(reviewed.report_triggered());
  CHECK(WaitUntil([&] { return EhrReportStatus(film_report_id) == "final"; }, 30s));
  // The review resolves the pneumothorax alert (escalation -> AlertRouting.ResolveAlerts
  // through its outbox): no more timers, and the EHR's Communication is completed.
  alerting::GetAlertResponse ptx_now;
  CHECK(WaitUntil(
      [&] {
        alerting::GetAlertRequest request;
        request.set_alert_id(ptx->alert_id());
        auto ctx = As(chest);
        return routing->GetAlert(ctx.get(), request, &ptx_now).ok() &&
               ptx_now.alert().state() == alerting::ALERT_STATE_RESOLVED;
      },
      30s));
  CHECK(ptx_now.alert().state() == alerting::ALERT_STATE_RESOLVED);
  CHECK(ptx_now.alert().resolution() == alerting::RESOLUTION_OUTCOME_ACCEPTED);
  CHECK(ptx_now.alert().resolved_by() == "dr.chest");
  CHECK_FALSE(ptx_now.alert().has_next_escalation_at());
  CHECK(ptx_now.history_size() > 0);
  if (ptx_now.history_size() > 0) {
    CHECK(ptx_now.history(ptx_now.history_size() - 1).kind() == alerting::ALERT_EVENT_KIND_RESOLVED);
  }
  std::string ptx_comm_status;
  CHECK(WaitUntil(
      [&] {
        json bundle = GetJson(Ehr() + "/fhir/Communication?identifier=urn:parallax:id%7C" + ptx->alert_id());
        if (!bundle.is_object() || !bundle.contains("entry") || bundle["entry"].empty()) return false;
        ptx_comm_status = bundle["entry"][0]["resource"].value("status", "");
        return ptx_comm_status == "completed";
      },
      30s));
  CHECK(ptx_comm_status == "completed");
  // The rejected (escalated) haemorrhage's alert is resolved too: a radiologist
  // acted on it; the senior's second read goes on as the case's Task.
  alerting::GetAlertResponse ich_now;
  CHECK(WaitUntil(
      [&] {
        alerting::GetAlertRequest request;
        request.set_alert_id(ich->alert_id());
        auto ctx = As(neuro);
        return routing->GetAlert(ctx.get(), request, &ich_now).ok() &&
               ich_now.alert().state() == alerting::ALERT_STATE_RESOLVED;
      },
      30s));
  CHECK(ich_now.alert().resolution() == alerting::RESOLUTION_OUTCOME_ESCALATED);
  // The final report links the heatmap, which the facade serves to a signed-in reader.
  {
    json bundle = GetJson(Ehr() + "/fhir/DiagnosticReport?identifier=urn:parallax:id%7C" + film_report_id);
    REQUIRE(bundle.contains("entry"));
    json forms = bundle["entry"][0]["resource"].value("presentedForm", json::array());
    std::string png_url;
    for (const json& form : forms) {
      if (form.value("contentType", "") == "image/png") png_url = form.value("url", "");
    }
    REQUIRE(!png_url.empty());
    auto anonymous = parallax::http::Fetch("GET", png_url, {}, "", 5s);
    REQUIRE(anonymous.ok());
    CHECK(anonymous->status == 401);
    auto png = parallax::http::Fetch("GET", png_url, {{"Authorization", "Bearer " + chest}}, "", 5s);
    REQUIRE(png.ok());
    CHECK(png->status == 200);
    CHECK(png->body.rfind("\x89PNG", 0) == 0);
  }
  CHECK(WaitUntil(
      [&] {
        json found = nullptr;
        auto r = parallax::http::Fetch("POST", Orthanc() + "/tools/find", {{"Content-Type", "application/json"}},
                                       json{{"Level", "Series"}, {"Query", {{"Modality", "SR"}, {"StudyInstanceUID", film}}}}.dump(),
                                       5s);
        if (!r.ok() || r->status != 200) return false;
        found = json::parse(r->body, nullptr, false);
        return found.is_array() && !found.empty();
      },
      60s));

  // 5. The EHR goes down; the senior's decision waits in the outbox and arrives once it is back.
  REQUIRE(parallax::http::Fetch("POST", Ehr() + "/_control/down", {}, "", 5s).ok());
  esc::DecideCaseRequest decide;
  decide.set_request_id("e2e-decide-1");
  decide.set_actor_user_id("dr.senior");
  decide.set_case_id(cases.cases(0).case_id());
  decide.set_decision(esc::CASE_DECISION_CONFIRM_FINDING);
  decide.set_rationale("subdural collection confirmed");
  esc::DecideCaseResponse decided;
  {
    auto ctx = As(senior);
    grpc::Status ok = escalation->DecideCase(ctx.get(), decide, &decided);
    INFO(ok.error_message());
    REQUIRE(ok.ok());
  }
  CHECK(decided.report().status() == esc::REPORT_STATUS_FINAL);
  const std::string head_report_id = decided.report().report_id();
  std::this_thread::sleep_for(3s);
  CHECK(EhrReportStatus(head_report_id) != "final");
  json stats = GetJson(Ehr() + "/_stats");
  CHECK(stats.value("refused_while_down", 0) > 0);
  REQUIRE(parallax::http::Fetch("POST", Ehr() + "/_control/up", {}, "", 5s).ok());
  CHECK(WaitUntil([&] { return EhrReportStatus(head_report_id) == "final"; }, 90s));
  stats = GetJson(Ehr() + "/_stats");
  INFO(stats.dump());
  CHECK(stats.value("duplicate_identifiers", -1) == 0);
  CHECK(stats["resources"].value("Task", 0) == 1);

  // 6. The audit chain holds every step and verifies; an edited entry breaks it at that entry.
  parallax::audit::v1::VerifyResponse verdict;
  REQUIRE(WaitUntil(
      [&] {
        parallax::audit::v1::QueryRequest query;
        query.add_types(parallax::audit::v1::EVENT_TYPE_CASE_DECIDED);
        parallax::audit::v1::QueryResponse found;
        auto ctx = As(auditor);
        return audit->Query(ctx.get(), query, &found).ok() && found.events_size() == 1;
      },
      30s));
  {
    auto ctx = As(auditor);
    REQUIRE(audit->Verify(ctx.get(), parallax::audit::v1::VerifyRequest(), &verdict).ok());
  }
  CHECK(verdict.ok());
  CHECK(verdict.entries_checked() >= 8);
  {
    auto ctx = As(ray);  // not an auditor
    CHECK(audit->Verify(ctx.get(), parallax::audit::v1::VerifyRequest(), &verdict).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  // The audit log reaches the EHR as FHIR AuditEvents (audit exporter -> facade -> EHR).
  CHECK(WaitUntil(
      [&] {
        json s = GetJson(Ehr() + "/_stats");
        return s.is_object() && s["resources"].is_object() && s["resources"].value("AuditEvent", 0) > 0;
      },
      60s));
  stack.Psql("UPDATE audit.entries SET content = content || '\\x00'::bytea WHERE sequence = 3");
  {
    auto ctx = As(auditor);
    REQUIRE(audit->Verify(ctx.get(), parallax::audit::v1::VerifyRequest(), &verdict).ok());
  }
  CHECK(!verdict.ok());
  CHECK(verdict.first_broken_sequence() == 3);
}
