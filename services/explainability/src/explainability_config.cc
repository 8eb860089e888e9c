#include "explainability_config.h"

#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"

namespace parallax::explainability {

absl::Status LoadExplainabilityConfig(const std::string& path, ExplainabilityConfig* c) {
  config::ConfigSchema s;
  s.Field("grpc_address", &c->grpc_address, "Explainability gRPC host:port");
  s.Field("metrics_address", &c->metrics_address, "Prometheus metrics host:port");
  s.Field("ingest_address", &c->ingest_address, "Ingest gRPC host:port");
  s.Field("model_dir", &c->model_dir, "directory of <id>.json + <id>.pt models");
  s.Field("device", &c->device, "cpu | cuda | cuda:N");
  s.Field("intra_op_threads", &c->intra_op_threads, "LibTorch threads per explanation");
  s.Field("max_concurrent_explanations", &c->max_concurrent_explanations, "explanations at once");
  s.Field("max_slices_per_explanation", &c->max_slices_per_explanation, "Grad-CAM passes per request");
  s.Field("default_method", &c->default_method, "layercam | gradcam | hirescam");
  s.Field("log_level", &c->log_level, "debug | info | warning | error");
  absl::Status st = config::LoadConfig(s, path, "PARALLAX_EXPLAINABILITY");
  if (!st.ok()) return st;
  if (c->model_dir.empty()) return absl::InvalidArgumentError("config: model_dir is required");
  if (c->intra_op_threads < 1) return absl::InvalidArgumentError("config: intra_op_threads must be at least 1");
  if (c->max_concurrent_explanations < 1) {
    return absl::InvalidArgumentError("config: max_concurrent_explanations must be at least 1");
  }
  if (c->max_slices_per_explanation < 1) {
    return absl::InvalidArgumentError("config: max_slices_per_explanation must be at least 1");
  }
  if (c->default_method != "gradcam" && c->default_method != "hirescam" && c->default_method != "layercam") {
    return absl::InvalidArgumentError("config: default_method must be layercam, gradcam or hirescam");
  }
  log::Level level;
  if (!log::ParseLevel(c->log_level, &level)) {
    return absl::InvalidArgumentError("config: log_level must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

}  // namespace parallax::explainability
