// parallax-triage (thin recorder stage): records the studies ingest submits.
#include <cstring>
#include <iostream>

#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "src/submission_recorder.h"
#include "src/triage_config.h"

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-triage [--config FILE]  (environment: PARALLAX_TRIAGE_<KEY>)\n";
      return 2;
    }
  }
  parallax::triage::TriageConfig config;
  absl::Status s = parallax::triage::LoadTriageConfig(config_path, &config);
  if (!s.ok()) {
    std::cerr << "parallax-triage: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Level level;
  parallax::log::ParseLevel(config.log_level, &level);
  parallax::log::Configure("triage", level);
  parallax::process::BlockTerminationSignals();

  auto exposer = parallax::metrics::MetricsExposer::Start(config.metrics_address);
  if (!exposer.ok()) { parallax::log::Error("triage cannot start", {{"error", std::string(exposer.status().message())}}); return 1; }
  auto db = parallax::store::Database::Open({config.database_url, config.database_pool_size});
  if (!db.ok()) { parallax::log::Error("triage cannot start", {{"error", std::string(db.status().message())}}); return 1; }
  parallax::triage::SubmissionRecorder recorder(db->get());
  s = recorder.Migrate();
  if (!s.ok()) { parallax::log::Error("triage cannot start", {{"error", std::string(s.message())}}); return 1; }
  parallax::rpc::RpcServer server({config.grpc_address});
  server.Register(&recorder, "parallax.triage.v1.Triage");
  s = server.Start();
  if (!s.ok()) { parallax::log::Error("triage cannot start", {{"error", std::string(s.message())}}); return 1; }
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  return 0;
}
