// parallax-triage: accepts stable studies from ingest, plans and queues
// their analysis, and runs the analysis workers (Inference, Explainability,
// then the analysed study to AlertRouting through an outbox).
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <thread>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "src/analysis_worker.h"
#include "src/prior_comparison.h"
#include "src/route_dispatcher.h"
#include "src/study_plan.h"
#include "src/triage_config.h"
#include "src/triage_metrics.h"
#include "src/triage_service.h"

int main(int argc, char** argv) {
  namespace tr = parallax::triage;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-triage [--config FILE]  (environment: PARALLAX_TRIAGE_<KEY>)\n";
      return 2;
    }
  }
  tr::TriageConfig config;
  absl::Status s = tr::LoadTriageConfig(config_path, &config);
  if (!s.ok()) {
    std::cerr << "parallax-triage: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Level level;
  parallax::log::ParseLevel(config.log_level, &level);
  parallax::log::Configure("triage", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("triage cannot start", {{"error", std::string(st.message())}});
    std::cerr << "parallax-triage: " << st.message() << "\n";
    return 1;
  };

  auto models = tr::LoadManifests(config.model_dir);
  if (!models.ok()) return fail(models.status());
  auto exposer = parallax::metrics::MetricsExposer::Start(config.metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  auto db = parallax::store::Database::Open({config.database_url, config.database_pool_size});
  if (!db.ok()) return fail(db.status());
  parallax::audit_client::AuditRecorderOptions audit_options;
  audit_options.audit_address = config.audit_address;
  audit_options.service = "triage";
  audit_options.registry = &(*exposer)->registry();
  parallax::audit_client::AuditRecorder audit(db->get(), "triage", audit_options);
  tr::TriageStore store(db->get(), &audit);
  if (s = store.Migrate(); !s.ok()) return fail(s);
  if (config.audit_address.empty()) {
    parallax::log::Warning("no audit_address: audit events stay in the triage.audit_outbox table");
  } else if (s = audit.Start(); !s.ok()) {
    return fail(s);
  }
  tr::JobQueueOptions queue_options;
  queue_options.lease_duration = config.lease;
  queue_options.max_attempts = config.max_attempts;
  queue_options.backoff_base = config.backoff_base;
  tr::JobQueue queue(db->get(), queue_options);
  tr::TriageMetrics metrics((*exposer)->registry());

  std::unique_ptr<tr::JobWaker> waker;
  std::unique_ptr<tr::PriorComparer> priors;
  std::vector<std::unique_ptr<tr::AnalysisWorker>> workers;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  if (config.workers > 0) {
    auto w = tr::JobWaker::Open(config.database_url, queue_options.notify_channel);
    if (!w.ok()) return fail(w.status());
    waker = std::move(*w);
    const std::string prefix = config.worker_name.empty()
                                   ? std::string(config.grpc_address) + "/" + std::to_string(getpid())
                                   : config.worker_name;
    auto inference = parallax::rpc::MakeChannel(config.inference_address);
    auto explainability = parallax::rpc::MakeChannel(config.explainability_address);
    if (!config.ingest_address.empty()) {
      tr::PriorComparisonOptions po;
      po.budget = config.prior_budget;
      po.find_timeout = config.prior_find_timeout;
      po.lookback_days = config.prior_lookback_days;
      po.retrieve = config.prior_retrieve;
      po.register_prior = config.prior_register;
      po.rule.larger_ratio = config.change_larger_ratio;
      po.rule.smaller_ratio = config.change_smaller_ratio;
      po.rule.persistence_probability = config.change_persistence_probability;
      po.rule.subtypes_through_summary = config.change_subtypes_through_summary;
      po.rule.label_families = config.change_label_family_list;
      priors = std::make_unique<tr::PriorComparer>(parallax::rpc::MakeChannel(config.ingest_address), inference,
                                                   explainability, &store, &*models, po);
    } else {
      parallax::log::Warning("no ingest_address: studies are not compared with priors");
    }
    for (int i = 0; i < config.workers; ++i) {
      tr::AnalysisWorkerOptions o;
      o.worker_id = prefix + "#" + std::to_string(i);
      o.analyze_timeout = config.analyze_timeout;
      o.explain_timeout = config.explain_timeout;
      o.dicom_evidence = config.dicom_evidence;
      workers.push_back(std::make_unique<tr::AnalysisWorker>(&queue, waker.get(), &store, &*models, inference,
                                                             explainability, o, &metrics, priors.get()));
    }
    for (auto& worker : workers) threads.emplace_back([&stop, w = worker.get()] { w->Run(stop); });
  }
  std::unique_ptr<parallax::auth::ServiceAuth> auth;
  if (!config.auth.hs256_secret_file.empty()) {
    auto created = parallax::auth::ServiceAuth::Create(config.auth, "triage");
    if (!created.ok()) return fail(created.status());
    auth = *std::move(created);
  }
  std::unique_ptr<tr::RouteDispatcher> dispatcher;
  if (!config.alert_routing_address.empty()) {
    std::function<void(grpc::ClientContext*)> decorate;
    if (auth) decorate = [a = auth.get()](grpc::ClientContext* ctx) { a->Decorate(ctx); };
    dispatcher = std::make_unique<tr::RouteDispatcher>(&store, parallax::rpc::MakeChannel(config.alert_routing_address),
                                                       std::chrono::milliseconds(500),
                                                       std::chrono::milliseconds(5000), decorate);
    dispatcher->Start();
  }

  tr::TriageService service(db->get(), &store, &queue, &*models);
  parallax::rpc::RpcServer server({config.grpc_address});
  server.Register(&service, "parallax.triage.v1.Triage");
  // Stops the workers (whose threads must be joined before they go away).
  auto stop_workers = [&] {
    stop = true;
    if (waker) waker->Shutdown();
    for (std::thread& t : threads) t.join();
    audit.Stop();
  };
  if (s = server.Start(); !s.ok()) {
    stop_workers();
    return fail(s);
  }
  parallax::log::Info("serving", {{"address", config.grpc_address},
                                  {"models", static_cast<int>(models->size())},
                                  {"workers", config.workers}});
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  stop_workers();
  return 0;
}
