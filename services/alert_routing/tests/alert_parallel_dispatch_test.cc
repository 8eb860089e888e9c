// Parallel delivery of the alert outbox (alert_dispatcher.h) on a real
// PostgreSQL, against in-process fake Escalation and FhirFacade gRPC services
// that take a while per call (as the real ones do: OpenReport also publishes
// the preliminary report): different studies go out in parallel, a study's
// items stay in order, and two dispatchers on one database (two replicas)
// deliver each item exactly once. Also the claim and lease rules of
// AlertStore::ClaimNext directly.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "alert_dispatcher.h"
#include "alert_test_support.h"
#include "parallax/rpc/rpc_server.h"

namespace parallax::alerting {
namespace {

using namespace parallax::alerting::testing;
using namespace std::chrono_literals;
using Json = nlohmann::json;

// Every successful call, per study in arrival order, plus what was in
// flight at once.
struct SlowLog {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> per_study;  // "open", "alert", "reminder", "escalated"
  std::map<std::string, int> opened;                          // study -> OpenReport calls
  std::map<std::string, int> communications;                  // alert id -> PublishCommunication calls
  std::map<std::string, int> by_replica;                      // x-replica -> calls
  std::map<std::string, int> study_in_flight;
  int in_flight = 0, max_in_flight = 0;
  int study_overlaps = 0;  // a call for a study while another call for it was in flight
  size_t total_communications = 0;

  void Enter(const std::string& study, grpc::ServerContext* ctx) {
    std::lock_guard<std::mutex> lock(mu);
    max_in_flight = std::max(max_in_flight, ++in_flight);
    if (study_in_flight[study]++ > 0) ++study_overlaps;
    auto it = ctx->client_metadata().find("x-replica");
    if (it != ctx->client_metadata().end()) ++by_replica[std::string(it->second.data(), it->second.size())];
  }
  void Leave(const std::string& study) {
    std::lock_guard<std::mutex> lock(mu);
    --in_flight;
    --study_in_flight[study];
  }
  size_t Communications() {
    std::lock_guard<std::mutex> lock(mu);
    return total_communications;
  }
};

// Sleeps `delay` (plus up to `jitter`) per call.
struct Latency {
  std::chrono::milliseconds delay{10};
  std::chrono::milliseconds jitter{0};
  std::mutex mu;
  std::mt19937 rng{42};
  void Wait() {
    std::chrono::milliseconds d = delay;
    if (jitter.count() > 0) {
      std::lock_guard<std::mutex> lock(mu);
      d += std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, jitter.count())(rng));
    }
    std::this_thread::sleep_for(d);
  }
};

class SlowEscalation final : public escalation::v1::Escalation::Service {
 public:
  SlowEscalation(SlowLog* log, Latency* latency) : log_(log), latency_(latency) {}
  grpc::Status OpenReport(grpc::ServerContext* ctx, const escalation::v1::OpenReportRequest* request,
                          escalation::v1::OpenReportResponse* response) override {
    const std::string study = request->study().study_instance_uid();
    log_->Enter(study, ctx);
    latency_->Wait();
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->per_study[study].push_back("open");
      ++log_->opened[study];
    }
    log_->Leave(study);
    response->mutable_report()->set_report_id("rpt-" + study);
    response->set_newly_opened(true);
    return grpc::Status::OK;
  }

 private:
  SlowLog* log_;
  Latency* latency_;
};

class SlowFacade final : public fhir::v1::FhirFacade::Service {
 public:
  SlowFacade(SlowLog* log, Latency* latency) : log_(log), latency_(latency) {}
  // The first `refuse` Communications for `refuse_study` are refused.
  std::string refuse_study;
  std::atomic<int> refuse{0};
  grpc::Status PublishCommunication(grpc::ServerContext* ctx, const fhir::v1::PublishCommunicationRequest* request,
                                    fhir::v1::PublishCommunicationResponse* response) override {
    const std::string study = request->study().study_instance_uid();
    log_->Enter(study, ctx);
    latency_->Wait();
    if (study == refuse_study && refuse.fetch_sub(1) > 0) {
      log_->Leave(study);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "facade busy");
    }
    const std::string& text = request->payload_text();
    const std::string kind = text.rfind("Reminder", 0) == 0 ? "reminder" : text.rfind("Escalated", 0) == 0 ? "escalated"
                                                                                                          : "alert";
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->per_study[study].push_back(kind);
      ++log_->communications[request->alert_id()];
      ++log_->total_communications;
    }
    log_->Leave(study);
    response->mutable_communication()->set_resource_type(fhir::v1::RESOURCE_TYPE_COMMUNICATION);
    response->mutable_communication()->set_resource_id("comm-" + request->alert_id().substr(4, 8));
    return grpc::Status::OK;
  }

 private:
  SlowLog* log_;
  Latency* latency_;
};

constexpr char kPolicy[] = R"(version: 1
groups:
  neuroradiology: Neuroradiologist on duty
  senior-radiology: Senior radiologist on call
rules:
  - id: ich-any
    labels: [Intracranial haemorrhage]
    critical: true
    notify: [neuroradiology]
    priority: critical
    fhir_priority: stat
    ack_timeout: 1h
    escalate:
      - {group: senior-radiology, after: 2h}
)";

v1::RouteRequest HeadCtStudy(const std::string& study) {
  v1::RouteRequest r = Analysis(study, 1, {Haemorrhage("f-ich-1", 45.8)});
  *r.mutable_manifest() = HeadCtManifest(study);
  return r;
}

// The slow fakes, the service on a fresh database, and dispatchers on it
// (each with its own connection pool, as a replica would have).
struct SlowStack {
  SlowLog log;
  Latency latency;
  SlowEscalation escalation{&log, &latency};
  SlowFacade facade{&log, &latency};
  rpc::RpcServer server{{"127.0.0.1:0"}};
  std::unique_ptr<AlertFixture> fx;
  std::unique_ptr<escalation::v1::Escalation::Stub> escalation_stub;
  std::unique_ptr<fhir::v1::FhirFacade::Stub> facade_stub;
  struct Replica {
    std::unique_ptr<store::Database> db;
    std::unique_ptr<AlertStore> store;
    std::unique_ptr<AlertDispatcher> dispatcher;
  };
  std::vector<std::unique_ptr<Replica>> replicas;

  explicit SlowStack(std::chrono::milliseconds delay, std::chrono::milliseconds jitter = 0ms) {
    latency.delay = delay;
    latency.jitter = jitter;
    server.Register(&escalation, "parallax.escalation.v1.Escalation");
    server.Register(&facade, "parallax.fhir.v1.FhirFacade");
    REQUIRE(server.Start().ok());
    fx = std::make_unique<AlertFixture>(PolicyFromYaml(kPolicy));
    auto channel = rpc::MakeChannel(absl::StrCat("127.0.0.1:", server.port()));
    escalation_stub = escalation::v1::Escalation::NewStub(channel);
    facade_stub = fhir::v1::FhirFacade::NewStub(channel);
  }
  ~SlowStack() {
    for (auto& r : replicas) r->dispatcher->Stop();
  }

  AlertDispatcher* AddDispatcher(const std::string& name, int workers) {
    auto r = std::make_unique<Replica>();
    auto opened = store::Database::Open({fx->url, workers + 2});
    REQUIRE(opened.ok());
    r->db = std::move(*opened);
    r->store = std::make_unique<AlertStore>(r->db.get());
    AlertDispatcher::Options options;
    options.poll = 2000ms;  // wake-ups come from Poke
    options.backoff_base = 20ms;
    options.backoff_max = 100ms;
    options.workers = workers;
    r->dispatcher = std::make_unique<AlertDispatcher>(
        r->store.get(), &fx->policy, escalation_stub.get(), facade_stub.get(),
        [name](grpc::ClientContext* ctx) { ctx->AddMetadata("x-replica", name); }, options);
    replicas.push_back(std::move(r));
    return replicas.back()->dispatcher.get();
  }

  void PokeAll() {
    for (auto& r : replicas) r->dispatcher->Poke();
  }

  // Routes the study and returns its alert id.
  std::string Route(const std::string& study) {
    auto routed = fx->service->RouteAnalysis(Service(), HeadCtStudy(study));
    INFO(routed.status().message());
    REQUIRE(routed.ok());
    REQUIRE(routed->changes_size() == 1);
    return routed->changes(0).alert().alert_id();
  }

  // A timer notification for the alert, as RunTimers enqueues it.
  void EnqueueNotify(const std::string& study, const std::string& alert_id, const std::string& action) {
    Json item{{"alert_id", alert_id}, {"action", action}};
    if (action == "escalate") item["group"] = "senior-radiology";
    const absl::Status s = fx->db->InTransaction([&](store::Transaction& txn) {
      return fx->store->Enqueue(txn, OutboxKind::kNotify, study, 1, item.dump());
    });
    INFO(s.message());
    REQUIRE(s.ok());
  }

  int64_t Pending() { return fx->store->PendingCount().value_or(-1); }
};

std::string StudyUid(const std::string& prefix, int i) { return absl::StrCat("1.2.840.", prefix, ".", i); }

TEST_CASE("twenty studies routed at once reach the facade in well under the time one delivery thread needs",
          "[alert_dispatcher][parallel][db]") {
  constexpr int kStudies = 20;
  // Serial reference, in the same test: the same 20 studies delivered by one
  // worker, each study ~2 calls of 10 ms plus PostgreSQL commits.
  double serial_ms = 0;
  {
    SlowStack s(10ms);
    for (int i = 0; i < kStudies; ++i) s.Route(StudyUid("70", i));
    AlertDispatcher* d = s.AddDispatcher("serial", 1);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(d->DeliverDue() == kStudies);
    serial_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    CHECK(s.log.Communications() == static_cast<size_t>(kStudies));
    CHECK(s.log.max_in_flight == 1);
  }
  // Four workers, woken by the service's Poke, 20 Routes from 4 threads.
  SlowStack s(10ms);
  AlertDispatcher* d = s.AddDispatcher("parallel", 4);
  s.fx->on_outbox = [&] { d->Poke(); };
  d->Start();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = t; i < kStudies; i += 4) {
        auto routed = s.fx->service->RouteAnalysis(Service(), HeadCtStudy(StudyUid("71", i)));
        CHECK(routed.ok());
      }
    });
  }
  for (std::thread& t : callers) t.join();
  REQUIRE(Eventually([&] { return s.log.Communications() == static_cast<size_t>(kStudies); }));
  const double parallel_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  WARN("20 studies: one worker " << serial_ms << " ms (delivery alone), four workers " << parallel_ms
                                 << " ms (Routes included), most calls in flight at once " << s.log.max_in_flight);
  CHECK(parallel_ms < 0.6 * serial_ms);
  CHECK(s.log.max_in_flight > 1);
  REQUIRE(Eventually([&] { return s.Pending() == 0; }));
  std::lock_guard<std::mutex> lock(s.log.mu);
  CHECK(s.log.opened.size() == static_cast<size_t>(kStudies));
  for (const auto& [study, n] : s.log.opened) CHECK(n == 1);
  for (const auto& [alert, n] : s.log.communications) CHECK(n == 1);
  CHECK(s.log.study_overlaps == 0);
}

TEST_CASE("a study's route, reminder and escalation go out in that order while other studies go out in parallel",
          "[alert_dispatcher][parallel][db]") {
  constexpr int kStudies = 6;
  SlowStack s(2ms, 12ms);  // uneven call times, so a later item would overtake if it could
  std::vector<std::string> studies, alerts;
  for (int i = 0; i < kStudies; ++i) {
    studies.push_back(StudyUid("72", i));
    alerts.push_back(s.Route(studies.back()));
  }
  for (int i = 0; i < kStudies; ++i) {
    s.EnqueueNotify(studies[i], alerts[i], "renotify");
    s.EnqueueNotify(studies[i], alerts[i], "escalate");
  }
  // The first study's alert Communication is refused twice: its route item
  // is retried, and its reminder and escalation must wait behind it.
  s.facade.refuse_study = studies[0];
  s.facade.refuse = 2;
  REQUIRE(s.Pending() == 3 * kStudies);
  AlertDispatcher* d = s.AddDispatcher("order", 4);
  d->Start();
  d->Poke();
  REQUIRE(Eventually([&] { return s.Pending() == 0; }));
  CHECK(s.facade.refuse.load() < 0);  // both refusals happened
  std::lock_guard<std::mutex> lock(s.log.mu);
  for (int i = 0; i < kStudies; ++i) {
    INFO("study " << i);
    CHECK(s.log.per_study[studies[i]] == std::vector<std::string>{"open", "alert", "reminder", "escalated"});
    CHECK(s.log.communications[alerts[i]] == 3);
  }
  CHECK(s.log.study_overlaps == 0);  // never two items of one study at once
  CHECK(s.log.max_in_flight > 1);    // but studies in parallel
  for (int i = 0; i < kStudies; ++i) {
    auto got = s.fx->service->Get(alerts[i]);
    REQUIRE(got.ok());
    CHECK(got->alert().notification_count() == 3);
  }
}

TEST_CASE("two dispatchers on one database share the outbox and deliver each item exactly once",
          "[alert_dispatcher][parallel][db]") {
  constexpr int kStudies = 24;
  SlowStack s(5ms, 5ms);
  AlertDispatcher* a = s.AddDispatcher("replica-a", 3);
  AlertDispatcher* b = s.AddDispatcher("replica-b", 3);
  s.fx->on_outbox = [&] { s.PokeAll(); };  // each replica hears every commit (as through NOTIFY)
  a->Start();
  b->Start();
  std::vector<std::string> alerts(kStudies);
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&, t] {
      for (int i = t; i < kStudies; i += 3) {
        const std::string study = StudyUid("73", i);
        auto routed = s.fx->service->RouteAnalysis(Service(), HeadCtStudy(study));
        CHECK(routed.ok());
        if (!routed.ok()) continue;
        alerts[i] = routed->changes(0).alert().alert_id();
        Json item{{"alert_id", alerts[i]}, {"action", "renotify"}};
        CHECK(s.fx->db
                  ->InTransaction([&](store::Transaction& txn) {
                    return s.fx->store->Enqueue(txn, OutboxKind::kNotify, study, 1, item.dump());
                  })
                  .ok());
        s.PokeAll();
      }
    });
  }
  for (std::thread& t : callers) t.join();
  REQUIRE(Eventually([&] { return s.Pending() == 0 && s.log.Communications() >= 2u * kStudies; }));
  std::this_thread::sleep_for(200ms);  // a duplicate delivery would show up now
  std::lock_guard<std::mutex> lock(s.log.mu);
  CHECK(s.log.total_communications == 2u * kStudies);
  CHECK(s.log.opened.size() == static_cast<size_t>(kStudies));
  for (const auto& [study, n] : s.log.opened) CHECK(n == 1);
  for (int i = 0; i < kStudies; ++i) {
    INFO("study " << i);
    CHECK(s.log.communications[alerts[i]] == 2);
    CHECK(s.log.per_study[StudyUid("73", i)] == std::vector<std::string>{"open", "alert", "reminder"});
  }
  CHECK(s.log.study_overlaps == 0);
  WARN("calls by replica-a " << s.log.by_replica["replica-a"] << ", by replica-b " << s.log.by_replica["replica-b"]);
  CHECK(s.log.by_replica["replica-a"] > 0);
  CHECK(s.log.by_replica["replica-b"] > 0);
}

TEST_CASE("only a study's oldest undelivered item can be claimed, and a lapsed lease passes to the next claimer",
          "[alert_store][parallel][db]") {
  AlertFixture fx(PolicyFromYaml(kPolicy));
  auto enqueue = [&](const std::string& study, OutboxKind kind) {
    REQUIRE(fx.db->InTransaction([&](store::Transaction& txn) {
                    return fx.store->Enqueue(txn, kind, study, 1, "{}");
                  }).ok());
  };
  enqueue("1.2.840.74.1", OutboxKind::kRoute);
  enqueue("1.2.840.74.1", OutboxKind::kNotify);
  enqueue("1.2.840.74.2", OutboxKind::kRoute);

  auto first = fx.store->ClaimNext("w1", 60s);
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  CHECK((*first)->study_uid == "1.2.840.74.1");
  CHECK((*first)->kind == OutboxKind::kRoute);
  CHECK((*first)->lease_owner == "w1");
  // Study 1's second item waits behind the first, leased or not.
  auto second = fx.store->ClaimNext("w2", 60s);
  REQUIRE(second.ok());
  REQUIRE(second->has_value());
  CHECK((*second)->study_uid == "1.2.840.74.2");
  auto none = fx.store->ClaimNext("w3", 60s);
  REQUIRE(none.ok());
  CHECK(!none->has_value());
  CHECK(!fx.store->ClaimNext("", 60s).ok());

  // Once the first is delivered, study 1's next item is claimable.
  REQUIRE(fx.store->MarkDelivered(**first).ok());
  auto third = fx.store->ClaimNext("w3", 200ms);
  REQUIRE(third.ok());
  REQUIRE(third->has_value());
  CHECK((*third)->study_uid == "1.2.840.74.1");
  CHECK((*third)->kind == OutboxKind::kNotify);
  CHECK(!fx.store->ClaimNext("w4", 60s)->has_value());  // under w3's lease

  // w3 stalls past its lease: w4 takes the item over, and w3's writes are
  // refused from then on.
  std::this_thread::sleep_for(300ms);
  auto next = fx.store->NextClaimableAt();
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK(**next <= std::chrono::system_clock::now());
  auto taken = fx.store->ClaimNext("w4", 60s);
  REQUIRE(taken.ok());
  REQUIRE(taken->has_value());
  CHECK((*taken)->id == (*third)->id);
  OutboxItem stale = **third;
  stale.done.insert("comm");
  CHECK(fx.store->SaveProgress(stale).code() == absl::StatusCode::kAborted);
  CHECK(fx.store->MarkDelivered(stale).code() == absl::StatusCode::kAborted);
  CHECK(fx.store->MarkRetry(stale, 1, 10ms, "late").code() == absl::StatusCode::kAborted);
  OutboxItem owned = **taken;
  owned.done.insert("comm");
  CHECK(fx.store->SaveProgress(owned).ok());
  // A failed item is released and claimable again after its delay.
  REQUIRE(fx.store->MarkRetry(owned, 1, 150ms, "facade down").ok());
  CHECK(!fx.store->ClaimNext("w5", 60s)->has_value());
  std::this_thread::sleep_for(200ms);
  auto again = fx.store->ClaimNext("w5", 60s);
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->id == owned.id);
  CHECK((*again)->done.count("comm") == 1);  // progress kept
  CHECK((*again)->attempts == 1);
}

}  // namespace
}  // namespace parallax::alerting
