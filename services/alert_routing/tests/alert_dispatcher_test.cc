// The dispatcher against in-process fake Escalation and FhirFacade gRPC
// services and an in-process webhook receiver (libs/http), on a real
// PostgreSQL: report first, then Communications about it; retries while the
// facade is down; pages without patient data; timers that re-send and
// escalate an unacknowledged alert.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "alert_dispatcher.h"
#include "alert_test_support.h"
#include "prior_comparison_fixture.h"
#include "alert_timers.h"
#include "parallax/http/server.h"
#include "parallax/rpc/rpc_server.h"

namespace parallax::alerting {
namespace {

using namespace parallax::alerting::testing;
using Json = nlohmann::json;

// Calls in arrival order, shared by both fakes.
struct CallLog {
  std::mutex mu;
  std::vector<std::string> calls;
  std::vector<escalation::v1::OpenReportRequest> opened;
  std::vector<fhir::v1::PublishCommunicationRequest> communications;
  std::vector<std::string> authorizations;
  void Add(const std::string& call) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(call);
  }
  size_t Communications() {
    std::lock_guard<std::mutex> lock(mu);
    return communications.size();
  }
  size_t Opened() {
    std::lock_guard<std::mutex> lock(mu);
    return opened.size();
  }
};

std::string Authorization(grpc::ServerContext* ctx) {
  auto it = ctx->client_metadata().find("authorization");
  return it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
}

class FakeEscalation final : public escalation::v1::Escalation::Service {
 public:
  explicit FakeEscalation(CallLog* log) : log_(log) {}
  std::atomic<bool> newer_generation{false};
  grpc::Status OpenReport(grpc::ServerContext* ctx, const escalation::v1::OpenReportRequest* request,
                          escalation::v1::OpenReportResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->opened.push_back(*request);
      log_->authorizations.push_back(Authorization(ctx));
      log_->calls.push_back("open:" + request->study().study_instance_uid());
    }
    if (newer_generation) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "older generation");
    response->mutable_report()->set_report_id("rpt-" + request->study().study_instance_uid());
    response->set_newly_opened(true);
    return grpc::Status::OK;
  }

 private:
  CallLog* log_;
};

class FakeFacade final : public fhir::v1::FhirFacade::Service {
 public:
  explicit FakeFacade(CallLog* log) : log_(log) {}
  std::atomic<bool> down{false};
  std::atomic<int> refused{0};
  grpc::Status PublishCommunication(grpc::ServerContext* ctx, const fhir::v1::PublishCommunicationRequest* request,
                                    fhir::v1::PublishCommunicationResponse* response) override {
    if (down) {
      ++refused;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "facade down");
    }
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->communications.push_back(*request);
      log_->authorizations.push_back(Authorization(ctx));
      log_->calls.push_back("comm:" + request->alert_id() + ":" + request->recipient_group());
    }
    response->mutable_communication()->set_resource_type(fhir::v1::RESOURCE_TYPE_COMMUNICATION);
    response->mutable_communication()->set_resource_id("comm-" + request->alert_id().substr(4, 8));
    return grpc::Status::OK;
  }

 private:
  CallLog* log_;
};

// Policy with a webhook for neuroradiology and the short timers of the
// timer test (ack 1s, re-send after 1s once, senior-radiology after 2s).
std::string TestPolicy(int webhook_port) {
  return absl::StrCat(R"(version: 1
groups:
  neuroradiology:
    description: Neuroradiologist on duty
    webhook: http://127.0.0.1:)", webhook_port, R"(/hooks/neuroradiology
  neurosurgery: Neurosurgical registrar on call
  senior-radiology: Senior radiologist on call
rules:
  - id: ich-any
    labels: [Intracranial haemorrhage]
    critical: true
    notify: [neuroradiology]
    priority: critical
    fhir_priority: stat
    ack_timeout: 1s
    renotify_every: 1s
    max_renotify: 1
    escalate:
      - {group: senior-radiology, after: 2s}
  - id: ich-large
    labels: [Intracranial haemorrhage]
    when: {min_volume_ml: 40}
    notify: [neurosurgery]
    priority: critical
    ack_timeout: 1s
    escalate:
      - {group: senior-radiology, after: 2s}
)");
}

struct Webhooks {
  std::mutex mu;
  std::vector<std::string> bodies;
  std::atomic<int> status{200};
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return bodies.size();
  }
};

// The fakes, a webhook receiver, the service and a started dispatcher.
struct DispatchFixture {
  CallLog log;
  FakeEscalation escalation{&log};
  FakeFacade facade{&log};
  rpc::RpcServer server{{"127.0.0.1:0"}};
  Webhooks hooks;
  std::unique_ptr<http::Server> http;
  std::unique_ptr<AlertFixture> fx;
  std::unique_ptr<escalation::v1::Escalation::Stub> escalation_stub;
  std::unique_ptr<fhir::v1::FhirFacade::Stub> facade_stub;
  std::unique_ptr<AlertDispatcher> dispatcher;

  // listen: wake-ups come from PostgreSQL NOTIFY only (as for a commit by
  // another replica), not from the service's Poke.
  explicit DispatchFixture(bool listen = false) {
    server.Register(&escalation, "parallax.escalation.v1.Escalation");
    server.Register(&facade, "parallax.fhir.v1.FhirFacade");
    REQUIRE(server.Start().ok());
    http::Router router;
    router.Add("POST", "/hooks/{group}", [this](const http::Request& r) {
      std::lock_guard<std::mutex> lock(hooks.mu);
      hooks.bodies.push_back(r.body);
      return http::Response::Make(hooks.status, "ok");
    });
    http = std::make_unique<http::Server>(http::ServerOptions{}, std::move(router));
    REQUIRE(http->Start().ok());
    fx = std::make_unique<AlertFixture>(PolicyFromYaml(TestPolicy(http->port())));
    auto channel = rpc::MakeChannel(absl::StrCat("127.0.0.1:", server.port()));
    escalation_stub = escalation::v1::Escalation::NewStub(channel);
    facade_stub = fhir::v1::FhirFacade::NewStub(channel);
    AlertDispatcher::Options options;
    options.poll = std::chrono::milliseconds(2000);  // wake-ups must come from Poke, not the poll
    options.backoff_base = std::chrono::milliseconds(50);
    options.backoff_max = std::chrono::milliseconds(200);
    if (listen) options.listen_url = fx->url;
    dispatcher = std::make_unique<AlertDispatcher>(
        fx->store.get(), &fx->policy, escalation_stub.get(), facade_stub.get(),
        [](grpc::ClientContext* ctx) { ctx->AddMetadata("authorization", "Bearer test-service-token"); }, options);
    if (!listen) fx->on_outbox = [this] { dispatcher->Poke(); };
    dispatcher->Start();
  }
  ~DispatchFixture() {
    dispatcher->Stop();
    http->Stop();
  }
};

v1::RouteRequest HeadCt(const std::string& study, int64_t generation, double volume) {
  v1::RouteRequest r = Analysis(study, generation, {Haemorrhage("f-ich-" + std::to_string(generation), volume),
                                                    Finding("f-epi", "Epidural", 0.05, 0.5)});
  *r.mutable_manifest() = HeadCtManifest(study);
  return r;
}

TEST_CASE("the dispatcher opens the report, then publishes the alert's Communication about it within moments",
          "[alert_dispatcher][db]") {
  DispatchFixture d;
  const auto started = std::chrono::steady_clock::now();
  auto routed = d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.20", 1, 45.8));
  REQUIRE(routed.ok());
  REQUIRE(Eventually([&] { return d.log.Communications() == 1; }));
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  WARN("Route -> Communication at the facade: " << latency.count() << " ms");
  CHECK(latency < std::chrono::milliseconds(1000));  // woken by Poke, not by the 2 s poll

  const std::string alert_id = routed->changes(0).alert().alert_id();
  // The facade saw it; the dispatcher records it on the alert right after.
  REQUIRE(Eventually([&] { return d.fx->service->Get(alert_id)->alert().notification_count() == 1; }));
  std::lock_guard<std::mutex> lock(d.log.mu);
  REQUIRE(d.log.calls.size() == 2);
  CHECK(d.log.calls[0] == "open:1.2.840.20");
  CHECK(d.log.calls[1] == "comm:" + alert_id + ":neuroradiology");
  const escalation::v1::OpenReportRequest& open = d.log.opened[0];
  CHECK(open.findings_size() == 2);  // all findings, positive or not
  REQUIRE(open.critical_finding_ids_size() == 1);
  CHECK(open.critical_finding_ids(0) == "f-ich-1");
  CHECK(open.alert_ids().at("f-ich-1") == alert_id);
  CHECK(open.manifest().study_instance_uid() == "1.2.840.20");
  const fhir::v1::PublishCommunicationRequest& c = d.log.communications[0];
  CHECK(c.alert_id() == alert_id);
  CHECK(c.diagnostic_report_id() == "rpt-1.2.840.20");
  CHECK(c.priority() == fhir::v1::COMMUNICATION_PRIORITY_STAT);
  CHECK(c.recipient_group() == "neuroradiology");
  CHECK(c.finding().finding_id() == "f-ich-1");
  CHECK(c.has_sent());
  CHECK(c.payload_text() ==
        "Critical: intracranial haemorrhage (subdural), left, 45.8 mL, probability 0.94 \xE2\x80\x94 head CT; "
        "quality: none");
  CHECK(c.payload_text().find("PAT-4711") == std::string::npos);
  CHECK(c.payload_text().find("ACC-0815") == std::string::npos);
  for (const std::string& a : d.log.authorizations) CHECK(a == "Bearer test-service-token");
  // The Communication id is on the alert, with a NOTIFIED event.
  auto got = d.fx->service->Get(alert_id);
  REQUIRE(got.ok());
  CHECK(got->alert().fhir_communication_id() == "comm-" + alert_id.substr(4, 8));
  CHECK(got->alert().notification_count() == 1);
  CHECK(got->history(got->history_size() - 1).kind() == v1::ALERT_EVENT_KIND_NOTIFIED);
}

TEST_CASE("routed analyses reach the facade as Communications within 200 ms at the 95th percentile",
          "[alert_dispatcher][db]") {
  DispatchFixture d;
  std::vector<double> ms;
  for (int i = 0; i < 40; ++i) {
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.40." + std::to_string(i), 1, 45.8)).ok());
    REQUIRE(Eventually([&] { return d.log.Communications() == static_cast<size_t>(i + 1); }));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
  }
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2], p95 = ms[ms.size() * 95 / 100];
  WARN("Route -> Communication over 40 analyses: p50 " << p50 << " ms, p95 " << p95 << " ms, max " << ms.back()
                                                       << " ms");
  CHECK(p95 <= 200.0);
}

TEST_CASE("a commit the dispatcher was not poked for wakes it through NOTIFY", "[alert_dispatcher][db]") {
  DispatchFixture d(/*listen=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the listener connects
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.25", 1, 45.8)).ok());
  REQUIRE(Eventually([&] { return d.log.Communications() == 1; }));
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  WARN("Route -> Communication woken by NOTIFY: " << latency.count() << " ms");
  CHECK(latency < std::chrono::milliseconds(1000));  // the poll is 2 s
}

TEST_CASE("while the facade is down the dispatcher retries and delivers once it is back, opening the report once",
          "[alert_dispatcher][db]") {
  DispatchFixture d;
  d.facade.down = true;
  REQUIRE(d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.21", 1, 45.8)).ok());
  REQUIRE(Eventually([&] { return d.facade.refused >= 3; }));
  CHECK(d.log.Communications() == 0);
  auto pending = d.fx->store->PendingCount();
  REQUIRE(pending.ok());
  CHECK(*pending == 1);
  d.facade.down = false;
  REQUIRE(Eventually([&] { return d.log.Communications() == 1; }));
  CHECK(d.log.Opened() == 1);  // progress kept: the report was not opened again
  CHECK(d.log.communications[0].diagnostic_report_id() == "rpt-1.2.840.21");
  REQUIRE(Eventually([&] { return d.fx->store->PendingCount().value_or(-1) == 0; }));
}

TEST_CASE("a late delivery for an older generation is done when Escalation has a newer one", "[alert_dispatcher][db]") {
  DispatchFixture d;
  d.escalation.newer_generation = true;
  REQUIRE(d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.22", 1, 45.8)).ok());
  REQUIRE(Eventually([&] { return d.fx->store->PendingCount().value_or(-1) == 0; }));
  CHECK(d.log.Opened() == 1);
  CHECK(d.log.Communications() == 0);
}

TEST_CASE("the group's webhook receives the alert as JSON without patient data", "[alert_dispatcher][db]") {
  DispatchFixture d;
  d.hooks.status = 503;  // the pager is down at first
  auto routed = d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.23", 1, 45.8));
  REQUIRE(routed.ok());
  REQUIRE(Eventually([&] { return d.hooks.Count() >= 2; }));
  d.hooks.status = 200;
  REQUIRE(Eventually([&] { return d.fx->store->PendingCount().value_or(-1) == 0; }));
  CHECK(d.log.Communications() == 1);  // the Communication is not sent again for a webhook retry
  std::string body;
  {
    std::lock_guard<std::mutex> lock(d.hooks.mu);
    body = d.hooks.bodies.back();
  }
  const Json j = Json::parse(body);
  CHECK(j["alert_id"] == routed->changes(0).alert().alert_id());
  CHECK(j["label"] == "Intracranial haemorrhage");
  CHECK(j["subtype"] == "subdural");
  CHECK(j["priority"] == "critical");
  CHECK(j["groups"] == Json::array({"neuroradiology", "neurosurgery"}));
  CHECK(j["study_instance_uid"] == "1.2.840.23");
  CHECK(j["text"].get<std::string>().find("45.8 mL") != std::string::npos);
  CHECK(body.find("PAT-4711") == std::string::npos);
  CHECK(body.find("ACC-0815") == std::string::npos);
  CHECK(body.find("patient") == std::string::npos);
}

TEST_CASE("an unacknowledged alert is re-sent after its ack timeout and escalated to the senior after 2 s",
          "[alert_dispatcher][timers][db]") {
  DispatchFixture d;
  auto routed = d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.24", 1, 45.8));
  REQUIRE(routed.ok());
  const std::string id = routed->changes(0).alert().alert_id();
  AlertTimerLoop timers(
      [&] {
        auto n = d.fx->service->RunTimers();
        CHECK(n.ok());
      },
      std::chrono::milliseconds(100));
  timers.Start();
  REQUIRE(Eventually([&] { return d.fx->service->Get(id)->alert().state() == v1::ALERT_STATE_ESCALATED; },
                     std::chrono::seconds(6)));
  REQUIRE(Eventually([&] { return d.log.Communications() == 3; }));
  // The facade saw it; the dispatcher records it on the alert right after.
  REQUIRE(Eventually([&] { return d.fx->service->Get(id)->alert().notification_count() == 3; }));
  timers.Stop();

  auto got = d.fx->service->Get(id);
  REQUIRE(got.ok());
  std::vector<v1::AlertEventKind> kinds;
  for (const auto& e : got->history()) {
    if (e.kind() != v1::ALERT_EVENT_KIND_NOTIFIED) kinds.push_back(e.kind());
  }
  CHECK(kinds == std::vector<v1::AlertEventKind>{v1::ALERT_EVENT_KIND_CREATED, v1::ALERT_EVENT_KIND_RENOTIFIED,
                                                  v1::ALERT_EVENT_KIND_ESCALATED});
  CHECK(got->alert().escalation_level() == 1);
  CHECK(got->alert().notification_count() == 3);
  {
    std::lock_guard<std::mutex> lock(d.log.mu);
    CHECK(d.log.communications[1].recipient_group() == "neuroradiology");
    CHECK(d.log.communications[1].payload_text().rfind("Reminder (unacknowledged): Critical:", 0) == 0);
    CHECK(d.log.communications[2].recipient_group() == "senior-radiology");
    CHECK(d.log.communications[2].diagnostic_report_id() == "rpt-1.2.840.24");
  }
  const auto sent = d.fx->AuditEvents(audit::v1::EVENT_TYPE_ALERT_SENT);
  REQUIRE(sent.size() == 2);
  CHECK(Attribute(sent[1], "escalated_to") == "senior-radiology");

  // The senior group may now acknowledge it, which stops its timers.
  v1::AcknowledgeAlertRequest ack;
  ack.set_alert_id(id);
  auto acked = d.fx->service->Acknowledge(User("dr-on-call", {escalation::v1::ROLE_RADIOLOGIST}, {"senior-radiology"}),
                                          ack);
  INFO(acked.status().message());
  REQUIRE(acked.ok());
  CHECK(d.fx->service->RunTimers().value_or(-1) == 0);
}

}  // namespace
}  // namespace parallax::alerting

namespace parallax::alerting {
namespace {

// The Communications the facade received for one alert, in order.
std::vector<fhir::v1::PublishCommunicationRequest> CommunicationsOf(CallLog& log, const std::string& alert_id) {
  std::lock_guard<std::mutex> lock(log.mu);
  std::vector<fhir::v1::PublishCommunicationRequest> out;
  for (const auto& c : log.communications) {
    if (c.alert_id() == alert_id) out.push_back(c);
  }
  return out;
}

TEST_CASE("a resolved alert's Communication goes out again as completed, a withdrawn one as entered-in-error",
          "[alert_dispatcher][resolve][db]") {
  DispatchFixture d;
  auto routed = d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.80", 1, 45.8));
  REQUIRE(routed.ok());
  const std::string alert_id = routed->changes(0).alert().alert_id();
  REQUIRE(Eventually([&] { return d.fx->service->Get(alert_id)->alert().notification_count() == 1; }));
  auto first = CommunicationsOf(d.log, alert_id);
  REQUIRE(first.size() == 1);
  CHECK(first[0].status() == fhir::v1::COMMUNICATION_STATUS_IN_PROGRESS);

  v1::ResolveAlertsRequest resolve;
  resolve.set_study_instance_uid("1.2.840.80");
  resolve.add_finding_ids("f-ich-1");
  resolve.set_outcome(v1::RESOLUTION_OUTCOME_ACCEPTED);
  resolve.set_reviewer_user_id("dr.neuro");
  REQUIRE(d.fx->service->Resolve(Service("escalation"), resolve).ok());
  REQUIRE(Eventually([&] { return CommunicationsOf(d.log, alert_id).size() == 2; }));
  const auto updated = CommunicationsOf(d.log, alert_id)[1];
  CHECK(updated.status() == fhir::v1::COMMUNICATION_STATUS_COMPLETED);
  CHECK(updated.payload_text().rfind("Resolved (finding accepted): Critical: intracranial haemorrhage", 0) == 0);
  CHECK(updated.sent().seconds() == first[0].sent().seconds());  // still sent when it was sent
  CHECK(updated.diagnostic_report_id() == first[0].diagnostic_report_id());
  REQUIRE(Eventually([&] { return d.fx->store->PendingCount().value_or(-1) == 0; }));
  // An update, not a notification: no page, no count.
  CHECK(d.fx->service->Get(alert_id)->alert().notification_count() == 1);
  CHECK(d.hooks.Count() == 1);  // the first page only

  // A newer analysis without the haemorrhage withdraws the alert of another
  // study: its Communication follows as entered-in-error.
  auto other = d.fx->service->RouteAnalysis(Service(), HeadCt("1.2.840.81", 1, 45.8));
  REQUIRE(other.ok());
  const std::string other_id = other->changes(0).alert().alert_id();
  REQUIRE(Eventually([&] { return CommunicationsOf(d.log, other_id).size() == 1; }));
  v1::RouteRequest newer = Analysis("1.2.840.81", 2, {Finding("f-ich-2", "Intracranial haemorrhage", 0.05, 0.5)});
  REQUIRE(d.fx->service->RouteAnalysis(Service(), newer).ok());
  REQUIRE(Eventually([&] { return CommunicationsOf(d.log, other_id).size() == 2; }));
  const auto withdrawn = CommunicationsOf(d.log, other_id)[1];
  CHECK(withdrawn.status() == fhir::v1::COMMUNICATION_STATUS_ENTERED_IN_ERROR);
  CHECK(withdrawn.payload_text().rfind("Withdrawn", 0) == 0);
}


TEST_CASE("the alert text says how the finding changed since the prior study", "[alert_dispatcher]") {
  StoredAlert a;
  a.alert.set_priority(v1::ALERT_PRIORITY_URGENT);
  common::v1::Finding f = Haemorrhage("f-ich", 11.8);
  CHECK(ChangeText(f).empty());  // no comparison made: nothing said

  *a.alert.mutable_finding() = WithChange(f, common::v1::CHANGE_CLASS_STABLE, 12.1);
  CHECK(ChangeText(a.alert.finding()) == "stable since prior of 2026-06-01 (92 days): 12.1 mL -> 11.8 mL");
  CHECK(AlertText(a, nullptr) ==
        "Urgent: intracranial haemorrhage (subdural), left, 11.8 mL, stable since prior of 2026-06-01 (92 days): "
        "12.1 mL -> 11.8 mL, probability 0.94; quality: none");

  CHECK(ChangeText(WithChange(f, common::v1::CHANGE_CLASS_NEW, std::nullopt)) ==
        "new since prior of 2026-06-01 (92 days)");
  CHECK(ChangeText(WithChange(f, common::v1::CHANGE_CLASS_LARGER, 4.0)) ==
        "larger since prior of 2026-06-01 (92 days): 4.0 mL -> 11.8 mL");
  common::v1::Finding unmeasured = WithChange(f, common::v1::CHANGE_CLASS_STABLE, std::nullopt);
  CHECK(ChangeText(unmeasured) == "stable since prior of 2026-06-01 (92 days), size not compared");

  common::v1::Finding first = f;
  first.mutable_prior_comparison()->set_change(common::v1::CHANGE_CLASS_NO_PRIOR);
  first.mutable_prior_comparison()->set_interval_days(-1);
  CHECK(ChangeText(first) == "no prior available");
  *a.alert.mutable_finding() = first;
  CHECK_THAT(AlertText(a, nullptr), Catch::Contains("11.8 mL, no prior available, probability 0.94"));
}

TEST_CASE("the Communication of a haemorrhage compared with the prior says how it changed",
          "[alert_dispatcher][db]") {
  DispatchFixture d;
  v1::RouteRequest r = HeadCt("1.2.840.21", 1, 11.8);
  *r.mutable_findings(0) = WithChange(r.findings(0), common::v1::CHANGE_CLASS_STABLE, 12.1);
  auto routed = d.fx->service->RouteAnalysis(Service(), r);
  REQUIRE(routed.ok());
  REQUIRE(Eventually([&] { return d.log.Communications() == 1; }));
  std::lock_guard<std::mutex> lock(d.log.mu);
  const fhir::v1::PublishCommunicationRequest& c = d.log.communications[0];
  // The test policy has no change conditions: critical, as ich-any says.
  CHECK(c.finding().prior_comparison().change() == common::v1::CHANGE_CLASS_STABLE);
  CHECK(c.finding().prior_comparison().prior_study_instance_uid() == std::string(kPriorStudyUid));
  CHECK(c.payload_text() ==
        "Critical: intracranial haemorrhage (subdural), left, 11.8 mL, stable since prior of 2026-06-01 (92 days): "
        "12.1 mL -> 11.8 mL, probability 0.94 \xE2\x80\x94 head CT; quality: none");
}

}  // namespace
}  // namespace parallax::alerting
