#pragma once
// The real triage service (and, on request, inference, explainability and
// the alert-routing recorder) on their own databases and ports, for tests
// that follow a study from ingest to its stored analysis; and small waiting
// helpers.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ingest_fixture.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/testing/fresh_database.h"
#include "analysis_worker.h"
#include "explainability_service.h"
#include "inference_service.h"
#include "loaded_models.h"
#include "parallax/testing/environment.h"
#include "route_dispatcher.h"
#include "alert_policy.h"
#include "alert_service.h"
#include "alert_store.h"
#include "parallax/audit_client/audit_recorder.h"
#include "prior_comparison.h"
#include "study_plan.h"
#include "triage_service.h"
#include "triage_store.h"

namespace parallax::testing {

using namespace std::chrono_literals;
using parallax::ingest::testing::IngestFixture;

inline std::string DecodeBase64(const std::string& in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// Sends every .dcm file under `dir` to `f`'s ingest with DCMTK's storescu;
// REQUIREs success.
inline void SendFolder(IngestFixture& f, const std::string& dir) {
  auto sent = parallax::ingest::testing::Run("TCP_NODELAY=1 storescu -aec PARALLAX +sd +sp '*.dcm' 127.0.0.1 " +
                                             std::to_string(f.config().dicom_port) + " " + dir);
  INFO(sent.output);
  REQUIRE(sent.exit_code == 0);
}

// The finding of `label` in an analysis; FAILs when there is none.
inline const parallax::common::v1::Finding& FindingOf(const parallax::alerting::v1::RouteRequest& r,
                                                     const std::string& label) {
  for (const auto& f : r.findings()) {
    if (f.label() == label) return f;
  }
  FAIL("no finding " << label);
  throw std::logic_error("unreachable");
}

// The real triage service on its own database and port; with
// StartAnalysis(), also real inference and explainability services (the
// shipped models, in-process gRPC servers reading from ingest), the route
// recorder, and analysis workers.
class RunningTriage {
 public:
  explicit RunningTriage(const std::string& address) {
    auto db = parallax::store::Database::Open({parallax::store::testing::FreshDatabaseUrl("triage"), 8});
    REQUIRE(db.ok());
    db_ = std::move(*db);
    auto models = parallax::triage::LoadManifests(ModelsDir());
    REQUIRE(models.ok());
    manifests_ = std::move(*models);
    store_ = std::make_unique<parallax::triage::TriageStore>(db_.get());
    REQUIRE(store_->Migrate().ok());
    queue_ = std::make_unique<parallax::triage::JobQueue>(db_.get(), parallax::triage::JobQueueOptions{});
    service_ = std::make_unique<parallax::triage::TriageService>(db_.get(), store_.get(), queue_.get(), &manifests_);
    server_ = std::make_unique<parallax::rpc::RpcServer>(parallax::rpc::RpcServerOptions{address});
    server_->Register(service_.get(), "parallax.triage.v1.Triage");
    REQUIRE(server_->Start().ok());
  }
  ~RunningTriage() {
    stop_ = true;
    if (waker_) waker_->Shutdown();
    for (std::thread& t : threads_) t.join();
    if (dispatcher_) dispatcher_.reset();
    if (services_) services_->Shutdown();
    server_->Shutdown();
  }

  static std::string ModelsDir() { return parallax::testing::SourceDir() + "/models"; }

  // Starts inference + explainability (reading from ingest at
  // `ingest_address`; inference through `inference_source` instead when
  // given), the alert-routing recorder and `workers` workers.
  void StartAnalysis(const std::string& ingest_address, int workers = 1,
                     parallax::ingest_client::StudySource* inference_source = nullptr) {
    source_ = std::make_unique<parallax::ingest_client::IngestStudySource>(parallax::rpc::MakeChannel(ingest_address));
    inference_ = std::make_unique<parallax::inference_service::InferenceService>(
        InferenceModels(), inference_source != nullptr ? *inference_source : *source_,
        parallax::inference_service::InferenceServiceOptions{.max_concurrent = 4, .instance_read_parallelism = 4,
                                                             .replica = "test"},
        nullptr);
    explainability_ = std::make_unique<parallax::explainability::ExplainabilityService>(
        ExplainModels(), *source_, parallax::explainability::ExplainabilityServiceOptions{}, nullptr);
    auto routing_db = parallax::store::Database::Open({parallax::store::testing::FreshDatabaseUrl("alerting"), 2});
    REQUIRE(routing_db.ok());
    routing_db_ = std::move(*routing_db);
    // The real alert routing with the shipped policy; its dispatcher is not
    // started (no escalation or facade here) and its audit events stay in
    // its outbox.
    alert_store_ = std::make_unique<parallax::alerting::AlertStore>(routing_db_.get());
    REQUIRE(alert_store_->Migrate().ok());
    auto policy = parallax::alerting::LoadAlertPolicy(SourceDir() + "/config/alert_policy.yaml", {});
    REQUIRE(policy.ok());
    policy_ = std::make_unique<parallax::alerting::AlertPolicy>(*std::move(policy));
    alert_audit_ = std::make_unique<parallax::audit_client::AuditRecorder>(
        routing_db_.get(), "alerting", parallax::audit_client::AuditRecorderOptions{});
    recorder_ = std::make_unique<parallax::alerting::AlertService>(
        alert_store_.get(), policy_.get(), alert_audit_.get(),
        [](grpc::ServerContext*) -> absl::StatusOr<parallax::auth::Principal> {
          parallax::auth::Principal triage;
          triage.user_id = "triage";
          triage.roles = {parallax::escalation::v1::ROLE_INTEGRATION};
          return triage;
        });
    services_ = std::make_unique<parallax::rpc::RpcServer>(parallax::rpc::RpcServerOptions{"127.0.0.1:0"});
    services_->Register(inference_.get(), "parallax.inference.v1.Inference");
    services_->Register(explainability_.get(), "parallax.explainability.v1.Explainability");
    services_->Register(recorder_.get(), "parallax.alerting.v1.AlertRouting");
    REQUIRE(services_->Start().ok());
    services_address_ = "127.0.0.1:" + std::to_string(services_->port());
    auto waker = parallax::triage::JobWaker::Open(db_url(), "triage_jobs");
    REQUIRE(waker.ok());
    waker_ = std::move(*waker);
    if (prior_options_) {
      auto channel = parallax::rpc::MakeChannel(services_address_);
      priors_ = std::make_unique<parallax::triage::PriorComparer>(parallax::rpc::MakeChannel(ingest_address), channel,
                                                                  channel, store_.get(), &manifests_, *prior_options_);
    }
    for (int i = 0; i < workers; ++i) AddWorker();
    dispatcher_ = std::make_unique<parallax::triage::RouteDispatcher>(
        store_.get(), parallax::rpc::MakeChannel(services_address_), std::chrono::milliseconds(100));
    dispatcher_->Start();
  }

  // Before StartAnalysis: the workers compare each analysed study with the
  // patient's prior (through ingest) under `options`.
  void CompareWithPriors(parallax::triage::PriorComparisonOptions options) { prior_options_ = std::move(options); }

  // One more in-process analysis worker thread (after StartAnalysis).
  void AddWorker() {
    auto channel = parallax::rpc::MakeChannel(services_address_);
    parallax::triage::AnalysisWorkerOptions o;
    o.worker_id = "test-worker-" + std::to_string(workers_.size());
    o.analyze_timeout = std::chrono::seconds(120);
    o.explain_timeout = std::chrono::seconds(120);
    o.idle_poll = std::chrono::milliseconds(500);
    workers_.push_back(std::make_unique<parallax::triage::AnalysisWorker>(
        queue_.get(), waker_.get(), store_.get(), &manifests_, channel, channel, o, nullptr, priors_.get()));
    threads_.emplace_back([this, w = workers_.back().get()] { w->Run(stop_); });
  }

  // host:port of the in-process inference, explainability and alert-routing services.
  const std::string& services_address() const { return services_address_; }

  // The manifest triage received for the latest generation of `study_uid`.
  parallax::common::v1::StudyManifest LatestManifest(const std::string& study_uid) {
    auto rows = db_->Exec(
        "SELECT encode(manifest, 'base64') FROM triage.submissions WHERE study_uid = $1 "
        "ORDER BY generation DESC LIMIT 1",
        {study_uid});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    std::string b64 = *(*rows)[0].Get(0);
    std::string clean;
    for (char c : b64) if (c != '\n') clean += c;
    std::string bytes = DecodeBase64(clean);
    parallax::common::v1::StudyManifest m;
    REQUIRE(m.ParseFromString(bytes));
    return m;
  }

  // (generation, instance_count) of each submission of `study_uid`.
  std::vector<std::pair<int64_t, int64_t>> Submissions(const std::string& study_uid) {
    auto rows = db_->Exec(
        "SELECT generation, instance_count FROM triage.submissions WHERE study_uid = $1 ORDER BY generation",
        {study_uid});
    REQUIRE(rows.ok());
    std::vector<std::pair<int64_t, int64_t>> out;
    for (auto& r : *rows) out.emplace_back(*r.GetInt64(0), *r.GetInt64(1));
    return out;
  }

  // The study's status once its state is no longer queued or running; FAILs after `limit`.
  parallax::triage::v1::GetStudyStatusResponse WaitForOutcome(const std::string& study_uid,
                                                              std::chrono::milliseconds limit) {
    parallax::triage::v1::GetStudyStatusResponse status;
    const bool done = WaitForCondition(
        [&] {
          auto s = store_->Status(study_uid);
          if (!s.ok()) return false;
          status = *s;
          return s->state() != parallax::triage::v1::ANALYSIS_STATE_QUEUED &&
                 s->state() != parallax::triage::v1::ANALYSIS_STATE_RUNNING;
        },
        limit);
    if (!done) FAIL("study not analysed in time; state " << status.state());
    return status;
  }

  // Rows the alert-routing recorder holds for the study.
  int64_t Routed(const std::string& study_uid) {
    auto rows = routing_db_->Exec("SELECT count(*) FROM alerting.routed WHERE study_uid = $1", {study_uid});
    REQUIRE(rows.ok());
    return *(*rows)[0].GetInt64(0);
  }

  parallax::store::Database& db() { return *db_; }
  parallax::triage::TriageStore& store() { return *store_; }
  parallax::triage::JobQueue& queue() { return *queue_; }
  const std::vector<parallax::inference::ModelManifest>& manifests() const { return manifests_; }
  std::string db_url() const { return db_->options().url; }

 private:
  template <class Pred>
  static bool WaitForCondition(Pred pred, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pred();
  }
  static const std::vector<parallax::inference_service::LoadedModel>& InferenceModels() {
    static const auto models = [] {
      auto m = parallax::inference_service::LoadModels(ModelsDir(), {});
      REQUIRE(m.ok());
      return std::move(*m);
    }();
    return models;
  }
  static const std::vector<parallax::explainability::ExplainableModel>& ExplainModels() {
    static const auto models = [] {
      auto m = parallax::explainability::LoadExplainableModels(ModelsDir(), "cpu", 1);
      REQUIRE(m.ok());
      return std::move(*m);
    }();
    return models;
  }

  std::unique_ptr<parallax::store::Database> db_;
  std::vector<parallax::inference::ModelManifest> manifests_;
  std::unique_ptr<parallax::triage::TriageStore> store_;
  std::unique_ptr<parallax::triage::JobQueue> queue_;
  std::unique_ptr<parallax::triage::TriageService> service_;
  std::unique_ptr<parallax::rpc::RpcServer> server_;
  std::unique_ptr<parallax::ingest_client::IngestStudySource> source_;
  std::unique_ptr<parallax::inference_service::InferenceService> inference_;
  std::unique_ptr<parallax::explainability::ExplainabilityService> explainability_;
  std::unique_ptr<parallax::store::Database> routing_db_;
  std::unique_ptr<parallax::alerting::AlertStore> alert_store_;
  std::unique_ptr<parallax::alerting::AlertPolicy> policy_;
  std::unique_ptr<parallax::audit_client::AuditRecorder> alert_audit_;
  std::unique_ptr<parallax::alerting::AlertService> recorder_;
  std::unique_ptr<parallax::rpc::RpcServer> services_;
  std::string services_address_;
  std::unique_ptr<parallax::triage::JobWaker> waker_;
  std::optional<parallax::triage::PriorComparisonOptions> prior_options_;
  std::unique_ptr<parallax::triage::PriorComparer> priors_;
  std::vector<std::unique_ptr<parallax::triage::AnalysisWorker>> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<parallax::triage::RouteDispatcher> dispatcher_;
  std::atomic<bool> stop_{false};
};

inline std::string StudyUid(IngestFixture& f) {
  auto rows = f.db().Exec("SELECT study_uid FROM ingest.studies");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return *(*rows)[0].Get(0);
}

template <class Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}


}  // namespace parallax::testing
