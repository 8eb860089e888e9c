#include "inference_config.h"

#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"

namespace parallax::inference_service {

absl::Status LoadInferenceConfig(const std::string& path, InferenceConfig* c) {
  config::ConfigSchema s;
  s.Field("grpc_address", &c->grpc_address, "Inference gRPC host:port");
  s.Field("metrics_address", &c->metrics_address, "Prometheus metrics host:port");
  s.Field("ingest_address", &c->ingest_address, "Ingest gRPC host:port (instances are read there)");
  s.Field("model_dir", &c->model_dir, "directory of <id>.json + <id>.pt models");
  s.Field("device", &c->device, "cpu | cuda | cuda:N");
  s.Field("intra_op_threads", &c->intra_op_threads, "LibTorch threads per analysis");
  s.Field("max_concurrent_analyses", &c->max_concurrent_analyses, "analyses at once before RESOURCE_EXHAUSTED");
  s.Field("batch_size", &c->batch_size, "slices per model call");
  s.Field("instance_read_parallelism", &c->instance_read_parallelism, "concurrent instance reads per analysis");
  s.Field("replica", &c->replica, "replica name reported in responses");
  s.Field("log_level", &c->log_level, "debug | info | warning | error");
  absl::Status st = config::LoadConfig(s, path, "PARALLAX_INFERENCE");
  if (!st.ok()) return st;
  if (c->model_dir.empty()) return absl::InvalidArgumentError("config: model_dir is required");
  if (c->intra_op_threads < 1) return absl::InvalidArgumentError("config: intra_op_threads must be at least 1");
  if (c->max_concurrent_analyses < 1) {
    return absl::InvalidArgumentError("config: max_concurrent_analyses must be at least 1");
  }
  if (c->batch_size < 1) return absl::InvalidArgumentError("config: batch_size must be at least 1");
  if (c->instance_read_parallelism < 1) {
    return absl::InvalidArgumentError("config: instance_read_parallelism must be at least 1");
  }
  log::Level level;
  if (!log::ParseLevel(c->log_level, &level)) {
    return absl::InvalidArgumentError("config: log_level must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

}  // namespace parallax::inference_service
