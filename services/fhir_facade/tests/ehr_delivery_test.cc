// Delivery of the outbox to an EHR: the parallax-ehr-recorder test double as
// a real process and in-process, a real PostgreSQL. Idempotent conditional
// updates, retries with backoff through an outage, dead entries for refused
// resources.
#include "ehr_delivery.h"

#include <chrono>
#include <functional>
#include <thread>

#include <catch2/catch.hpp>
#include <prometheus/registry.h>

#include "ehr_recorder.h"
#include "parallax/http/client.h"
#include "parallax/http/server.h"
#include "recorder_process.h"
#include "store_fixture.h"

namespace parallax::fhir_facade {
namespace {

using testing::MakeWrite;
using testing::StoreFixture;
using nlohmann::json;

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

json GetJson(const std::string& url) {
  auto r = http::Fetch("GET", url, {}, "", std::chrono::seconds(5));
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

int64_t OpenEntries(EhrOutbox& outbox) {
  auto c = outbox.Counts();
  REQUIRE(c.ok());
  return c->pending + c->retrying + c->delivering;
}

// A recorder served in-process on a free port.
struct InProcessRecorder {
  EhrRecorder recorder{EhrRecorderOptions{"/fhir"}};
  std::unique_ptr<http::Server> server;
  InProcessRecorder() {
    http::Router router;
    recorder.AddRoutes(router);
    server = std::make_unique<http::Server>(http::ServerOptions{.port = 0, .threads = 4}, std::move(router));
    REQUIRE(server->Start().ok());
  }
  std::string fhir_base() const { return "http://127.0.0.1:" + std::to_string(server->port()) + "/fhir"; }
};

DeliveryOptions Options(const std::string& base, const std::string& listen_url = "") {
  DeliveryOptions o;
  o.ehr_base_url = base;
  o.request_timeout = std::chrono::milliseconds(2000);
  o.poll_interval = std::chrono::milliseconds(50);
  o.listen_url = listen_url;
  o.worker_name = "test";
  return o;
}

std::vector<ResourceWrite> ReportBatch(const std::string& status) {
  ResourceWrite study = MakeWrite("ImagingStudy", "is-1", "available");
  ResourceWrite obs1 = MakeWrite("Observation", "obs-1", status);
  ResourceWrite obs2 = MakeWrite("Observation", "obs-2", status);
  ResourceWrite dr = MakeWrite("DiagnosticReport", "dr-1", status);
  dr.resource["result"] = json::array({{{"reference", "Observation/obs-1"}}, {{"reference", "Observation/obs-2"}}});
  return {study, obs1, obs2, dr};
}

double CounterValue(prometheus::Registry& registry, const std::string& name) {
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) total += metric.counter.value;
  }
  return total;
}

TEST_CASE("the outbox delivers each resource once to a real parallax-ehr-recorder, references first",
          "[fhir_facade][db]") {
  StoreFixture f("fhir_delivery_process");
  testing::RecorderProcess ehr;
  prometheus::Registry registry;
  OutboxMetrics metrics(registry);
  DeliveryWorker worker(f.outbox.get(), &metrics, Options(ehr.fhir_base(), f.url));
  // Nothing is delivered before the worker runs; a preliminary and then a
  // final report are queued meanwhile, and an AuditEvent (no identifier).
  REQUIRE(f.store->PutAll(ReportBatch("preliminary")).ok());
  REQUIRE(f.store->PutAll(ReportBatch("final")).ok());
  ResourceWrite audit;
  audit.type = "AuditEvent";
  audit.id = "audit-1";
  audit.resource = {{"resourceType", "AuditEvent"}, {"recorded", "2026-12-04T10:00:00Z"}};
  audit.keys = StandardKeys("AuditEvent", audit.resource, "urn:parallax:id", "urn:parallax:patient-id");
  REQUIRE(f.store->Put(audit).ok());

  REQUIRE(worker.Start().ok());
  REQUIRE(WaitFor([&] { return OpenEntries(*f.outbox) == 0; }));
  worker.Stop();

  json recorded = GetJson(ehr.base() + "/_recorded");
  json stats = GetJson(ehr.base() + "/_stats");
  CHECK(stats["duplicate_identifiers"] == 0);
  CHECK(stats["resources"]["ImagingStudy"] == 1);
  CHECK(stats["resources"]["Observation"] == 2);
  CHECK(stats["resources"]["DiagnosticReport"] == 1);
  CHECK(stats["resources"]["AuditEvent"] == 1);
  // The preliminary versions were superseded before they were sent.
  CHECK(stats["creates"] == 5);
  CHECK(stats["updates"] == 0);
  json report = GetJson(ehr.fhir_base() + "/DiagnosticReport/dr-1");
  CHECK(report["status"] == "final");
  CHECK(GetJson(ehr.fhir_base() + "/AuditEvent/audit-1")["resourceType"] == "AuditEvent");

  // Observations reached the EHR before the report that references them.
  std::vector<std::string> order;
  for (const json& r : recorded) order.push_back(r["type"].get<std::string>());
  auto report_at = std::find(order.begin(), order.end(), "DiagnosticReport") - order.begin();
  auto last_obs = std::find(order.rbegin(), order.rend(), "Observation").base() - order.begin() - 1;
  CHECK(last_obs < report_at);
  for (const json& r : recorded) {
    CHECK(r["method"] == "PUT");
    if (r["type"] != "AuditEvent") CHECK(r["identifier"].get<std::string>().rfind("urn:parallax:id|biz-", 0) == 0);
  }
  CHECK(CounterValue(registry, "parallax_fhir_outbox_delivered_total") == 5);
}

TEST_CASE("an EHR outage delays delivery with backoff and loses nothing, then each resource arrives once",
          "[fhir_facade][db]") {
  StoreFixture f("fhir_delivery_outage");
  InProcessRecorder ehr;
  ehr.recorder.SetDown(true);
  prometheus::Registry registry;
  OutboxMetrics metrics(registry);
  DeliveryWorker worker(f.outbox.get(), &metrics, Options(ehr.fhir_base(), f.url));
  REQUIRE(worker.Start().ok());
  REQUIRE(f.store->PutAll(ReportBatch("preliminary")).ok());
  REQUIRE(f.store->Put(MakeWrite("Task", "task-1", "requested", "P-1", "other-study")).ok());

  // Both heads fail and back off (100, 200, 400 ms ...); nothing is dropped.
  REQUIRE(WaitFor([&] { return CounterValue(registry, "parallax_fhir_outbox_retries_total") >= 4; }));
  auto retrying = f.outbox->List(OutboxEntryState::kRetrying, 10);
  REQUIRE(retrying.ok());
  REQUIRE_FALSE(retrying->empty());
  for (const OutboxEntryInfo& e : *retrying) {
    CHECK(e.last_http_status == 503);
    CHECK(e.last_error == "EHR answered HTTP 503");
    CHECK(e.next_attempt_at_ms > 0);
  }
  CHECK(OpenEntries(*f.outbox) == 5);
  CHECK(ehr.recorder.Stats()["resources"].empty());

  // The report goes final during the outage.
  REQUIRE(f.store->PutAll(ReportBatch("final")).ok());
  ehr.recorder.SetDown(false);
  REQUIRE(WaitFor([&] { return OpenEntries(*f.outbox) == 0; }));
  worker.Stop();

  json stats = ehr.recorder.Stats();
  CHECK(stats["refused_while_down"].get<int>() >= 4);
  CHECK(stats["duplicate_identifiers"] == 0);
  CHECK(stats["resources"]["Observation"] == 2);
  CHECK(stats["resources"]["DiagnosticReport"] == 1);
  CHECK(stats["resources"]["ImagingStudy"] == 1);
  CHECK(stats["resources"]["Task"] == 1);
  CHECK(ehr.recorder.Get("DiagnosticReport", "dr-1")["status"] == "final");
  CHECK(ehr.recorder.Get("Observation", "obs-2")["status"] == "final");
  auto counts = f.outbox->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->dead == 0);
  // 5 entries first, then 3 new versions (the ImagingStudy was unchanged).
  CHECK(counts->delivered + counts->superseded == 8);
}

TEST_CASE("a resource the EHR refuses with 400 goes dead, is reported, and does not hold back its study",
          "[fhir_facade][db]") {
  StoreFixture f("fhir_delivery_dead");
  InProcessRecorder ehr;
  // The EHR already holds a resource with our Observation's identifier
  // under another id: a conditional update must then be refused (400).
  json clash = {{"resourceType", "Observation"},
                {"id", "someone-else"},
                {"identifier", json::array({{{"system", "urn:parallax:id"}, {"value", "biz-obs-1"}}})}};
  auto seeded = http::Fetch("PUT", ehr.fhir_base() + "/Observation/someone-else",
                            {{"Content-Type", "application/fhir+json"}}, clash.dump(), std::chrono::seconds(5));
  REQUIRE(seeded.ok());
  REQUIRE(seeded->status == 201);

  auto obs = f.store->Put(MakeWrite("Observation", "obs-1", "final", "PATIENT-SECRET-42"));
  auto dr = f.store->Put(MakeWrite("DiagnosticReport", "dr-1", "final", "PATIENT-SECRET-42"));
  REQUIRE((obs.ok() && dr.ok()));
  DeliveryWorker worker(f.outbox.get(), nullptr, Options(ehr.fhir_base()));
  auto first = worker.DeliverOne("test#0");
  REQUIRE(first.ok());
  CHECK(*first);
  auto dead = f.outbox->Get(obs->outbox_entry_id);
  REQUIRE(dead.ok());
  CHECK(dead->state == OutboxEntryState::kDead);
  CHECK(dead->attempts == 1);
  CHECK(dead->last_http_status == 400);
  CHECK(dead->last_error == "EHR refused the resource: HTTP 400 (OperationOutcome issue codes: invalid)");
  CHECK(dead->last_error.find("PATIENT-SECRET") == std::string::npos);

  auto second = worker.DeliverOne("test#0");
  REQUIRE(second.ok());
  CHECK(*second);
  CHECK(f.outbox->Get(dr->outbox_entry_id)->state == OutboxEntryState::kDelivered);
  auto listed = f.outbox->List(OutboxEntryState::kDead, 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].entry_id == obs->outbox_entry_id);
  CHECK(f.outbox->Counts()->dead == 1);
}

TEST_CASE("a timed-out delivery is retried and still leaves one resource at the EHR", "[fhir_facade][db]") {
  StoreFixture f("fhir_delivery_timeout");
  InProcessRecorder ehr;
  auto put = f.store->Put(MakeWrite("Communication", "comm-1", "completed"));
  REQUIRE(put.ok());
  auto slow = http::Fetch("POST", "http://127.0.0.1:" + std::to_string(ehr.server->port()) + "/_control/latency?ms=700",
                          {}, "", std::chrono::seconds(5));
  REQUIRE(slow.ok());
  DeliveryOptions options = Options(ehr.fhir_base());
  options.request_timeout = std::chrono::milliseconds(200);
  DeliveryWorker worker(f.outbox.get(), nullptr, options);
  REQUIRE(worker.DeliverOne("test#0").ok());
  auto entry = f.outbox->Get(put->outbox_entry_id);
  REQUIRE(entry.ok());
  CHECK(entry->state == OutboxEntryState::kRetrying);
  CHECK(entry->last_error.rfind("EHR timeout", 0) == 0);

  // The EHR did store the first attempt after all; the retry updates it.
  REQUIRE(http::Fetch("POST", "http://127.0.0.1:" + std::to_string(ehr.server->port()) + "/_control/latency?ms=0", {},
                      "", std::chrono::seconds(5)).ok());
  REQUIRE(WaitFor([&] {
    auto handled = worker.DeliverOne("test#0");
    return handled.ok() && f.outbox->Get(put->outbox_entry_id)->state == OutboxEntryState::kDelivered;
  }));
  json stats = ehr.recorder.Stats();
  CHECK(stats["resources"]["Communication"] == 1);
  CHECK(stats["duplicate_identifiers"] == 0);
}

TEST_CASE("an entry that keeps failing goes dead after max_attempts", "[fhir_facade][db]") {
  OutboxOptions options = StoreFixture::FastOutbox();
  options.max_attempts = 2;
  options.backoff_base = std::chrono::milliseconds(10);
  StoreFixture f("fhir_delivery_exhausted", options);
  InProcessRecorder ehr;
  ehr.recorder.SetDown(true);
  auto put = f.store->Put(MakeWrite("Task", "task-1", "requested"));
  REQUIRE(put.ok());
  DeliveryWorker worker(f.outbox.get(), nullptr, Options(ehr.fhir_base()));
  REQUIRE(WaitFor([&] {
    REQUIRE(worker.DeliverOne("test#0").ok());
    return f.outbox->Get(put->outbox_entry_id)->state == OutboxEntryState::kDead;
  }));
  auto entry = f.outbox->Get(put->outbox_entry_id);
  CHECK(entry->attempts == 2);
  CHECK(entry->last_http_status == 503);
}

TEST_CASE("a NOTIFY wakes an idle delivery worker long before its fallback poll", "[fhir_facade][db]") {
  StoreFixture f("fhir_delivery_notify");
  InProcessRecorder ehr;
  DeliveryOptions options = Options(ehr.fhir_base(), f.url);
  options.poll_interval = std::chrono::seconds(60);
  DeliveryWorker worker(f.outbox.get(), nullptr, options);
  REQUIRE(worker.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // worker idle, listener connected
  REQUIRE(f.store->Put(MakeWrite("Task", "task-1", "requested")).ok());
  CHECK(WaitFor([&] { return OpenEntries(*f.outbox) == 0; }, std::chrono::seconds(5)));
  worker.Stop();
  CHECK(ehr.recorder.Stats()["resources"]["Task"] == 1);
}

double GaugeValue(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) return family.metric[0].gauge.value;
  }
  return -1;
}

TEST_CASE("the pending and dead gauges follow the outbox without any delivery running", "[fhir_facade][db]") {
  StoreFixture f("fhir_outbox_gauges");
  prometheus::Registry registry;
  OutboxMetrics metrics(registry);
  OutboxGaugeRefresher gauges(f.outbox.get(), &metrics, std::chrono::milliseconds(20));
  REQUIRE(gauges.RefreshOnce());
  CHECK(GaugeValue(registry, "parallax_fhir_outbox_pending") == 0);
  REQUIRE(f.store->Put(MakeWrite("Task", "task-1", "requested")).ok());
  REQUIRE(f.store->Put(MakeWrite("Task", "task-2", "requested")).ok());
  gauges.Start();
  CHECK(WaitFor([&] { return GaugeValue(registry, "parallax_fhir_outbox_pending") == 2; }));
  auto claimed = f.outbox->Claim("test", std::chrono::seconds(30));
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  REQUIRE(f.outbox->Fail(**claimed, 400, "EHR refused the resource: HTTP 400", false).ok());
  CHECK(WaitFor([&] {
    return GaugeValue(registry, "parallax_fhir_outbox_dead") == 1 &&
           GaugeValue(registry, "parallax_fhir_outbox_pending") == 1;
  }));
  gauges.Stop();
}

TEST_CASE("the recorder implements conditional create and shows a non-idempotent client's duplicates",
          "[fhir_facade]") {
  InProcessRecorder ehr;
  const json obs = {{"resourceType", "Observation"},
                    {"identifier", json::array({{{"system", "urn:x"}, {"value", "1"}}})}};
  const http::Headers headers = {{"Content-Type", "application/fhir+json"}};
  auto post = [&](const http::Headers& h) {
    auto r = http::Fetch("POST", ehr.fhir_base() + "/Observation", h, obs.dump(), std::chrono::seconds(5));
    REQUIRE(r.ok());
    return r->status;
  };
  http::Headers conditional = headers;
  conditional.emplace_back("If-None-Exist", "identifier=urn:x|1");
  CHECK(post(conditional) == 201);
  CHECK(post(conditional) == 200);
  CHECK(ehr.recorder.Stats()["duplicate_identifiers"] == 0);
  CHECK(post(headers) == 201);  // a plain create does not check
  CHECK(ehr.recorder.Stats()["duplicate_identifiers"] == 1);
  CHECK(post(conditional) == 412);  // now two match
  auto down = http::Fetch("PUT", ehr.fhir_base() + "/Observation?identifier=urn:y%7C2", headers,
                          json{{"resourceType", "Task"}}.dump(), std::chrono::seconds(5));
  REQUIRE(down.ok());
  CHECK(down->status == 400);
}

}  // namespace
}  // namespace parallax::fhir_facade
