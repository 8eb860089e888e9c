// parallax-inference: loads every model of the model directory, warms them
// up, and serves Inference.Analyze / ListModels / RegisterPrior. Refuses to start (exit 1)
// with a message naming the broken model.
#include <cstring>
#include <iostream>

#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "src/inference_config.h"
#include "src/inference_service.h"
#include "src/loaded_models.h"

int main(int argc, char** argv) {
  namespace svc = parallax::inference_service;
  std::string config_path, device;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
    else {
      std::cerr << "usage: parallax-inference [--config FILE] [--device cpu|cuda|cuda:N]"
                   "  (environment: PARALLAX_INFERENCE_<KEY>)\n";
      return 2;
    }
  }
  svc::InferenceConfig config;
  absl::Status s = svc::LoadInferenceConfig(config_path, &config);
  if (s.ok() && !device.empty()) config.device = device;
  if (!s.ok()) {
    std::cerr << "parallax-inference: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Level level;
  parallax::log::ParseLevel(config.log_level, &level);
  parallax::log::Configure("inference", level);
  parallax::process::BlockTerminationSignals();

  auto fail = [](const absl::Status& st) {
    parallax::log::Error("inference cannot start", {{"error", std::string(st.message())}});
    std::cerr << "parallax-inference: " << st.message() << "\n";
    return 1;
  };
  auto models = svc::LoadModels(config.model_dir, {.device = config.device,
                                                   .intra_op_threads = config.intra_op_threads,
                                                   .batch_size = config.batch_size});
  if (!models.ok()) return fail(models.status());
  for (const svc::LoadedModel& m : *models) {
    parallax::log::Info("model loaded", {{"model", m.model->manifest().id},
                                         {"version", m.model->manifest().version},
                                         {"device", m.model->device()},
                                         {"warmup_ms", static_cast<long long>(m.warmup_seconds * 1000)}});
  }
  auto exposer = parallax::metrics::MetricsExposer::Start(config.metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  parallax::ingest_client::IngestStudySource source(parallax::rpc::MakeChannel(config.ingest_address));
  svc::InferenceService service(*models, source,
                                {.max_concurrent = config.max_concurrent_analyses,
                                 .instance_read_parallelism = config.instance_read_parallelism,
                                 .replica = config.replica.empty() ? config.grpc_address : config.replica,
                                 .registration_threads = config.intra_op_threads},
                                &(*exposer)->registry());
  parallax::rpc::RpcServer server({config.grpc_address});
  server.Register(&service, "parallax.inference.v1.Inference");
  s = server.Start();
  if (!s.ok()) return fail(s);
  parallax::log::Info("serving", {{"address", config.grpc_address}, {"models", static_cast<int>(models->size())}});
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  return 0;
}
