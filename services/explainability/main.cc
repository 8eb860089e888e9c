// parallax-explainability: loads every model of the model directory for
// Grad-CAM and serves Explainability.Explain. Refuses to start (exit 1) with
// a message naming a broken model.
#include <cstring>
#include <iostream>

#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "src/explainability_config.h"
#include "src/explainability_service.h"

int main(int argc, char** argv) {
  namespace svc = parallax::explainability;
  std::string config_path, device;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
    else {
      std::cerr << "usage: parallax-explainability [--config FILE] [--device cpu|cuda|cuda:N]"
                   "  (environment: PARALLAX_EXPLAINABILITY_<KEY>)\n";
      return 2;
    }
  }
  svc::ExplainabilityConfig config;
  absl::Status s = svc::LoadExplainabilityConfig(config_path, &config);
  if (!s.ok()) {
    std::cerr << "parallax-explainability: " << s.message() << "\n";
    return 2;
  }
  if (!device.empty()) config.device = device;
  parallax::log::Level level;
  parallax::log::ParseLevel(config.log_level, &level);
  parallax::log::Configure("explainability", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("explainability cannot start", {{"error", std::string(st.message())}});
    std::cerr << "parallax-explainability: " << st.message() << "\n";
    return 1;
  };
  auto models = svc::LoadExplainableModels(config.model_dir, config.device, config.intra_op_threads);
  if (!models.ok()) return fail(models.status());
  auto exposer = parallax::metrics::MetricsExposer::Start(config.metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  parallax::ingest_client::IngestStudySource source(parallax::rpc::MakeChannel(config.ingest_address));
  svc::ExplainabilityService service(
      *models, source,
      {.max_concurrent = config.max_concurrent_explanations,
       .max_slices = config.max_slices_per_explanation,
       .default_method = config.default_method == "hirescam"  ? parallax::inference::CamMethod::kHiResCam
                         : config.default_method == "gradcam" ? parallax::inference::CamMethod::kGradCam
                                                              : parallax::inference::CamMethod::kLayerCam,
       .instance_read_parallelism = 4},
      &(*exposer)->registry());
  parallax::rpc::RpcServer server({config.grpc_address});
  server.Register(&service, "parallax.explainability.v1.Explainability");
  s = server.Start();
  if (!s.ok()) return fail(s);
  parallax::log::Info("serving", {{"address", config.grpc_address}, {"models", static_cast<int>(models->size())}});
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  return 0;
}
