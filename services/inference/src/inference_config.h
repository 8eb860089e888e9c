#pragma once
// Inference's configuration: typed struct, JSON file plus
// PARALLAX_INFERENCE_* environment overrides, validated at start-up.
#include <string>

#include <absl/status/status.h>

namespace parallax::inference_service {

struct InferenceConfig {
  std::string grpc_address = "127.0.0.1:50053";    // Inference gRPC host:port
  std::string metrics_address = "127.0.0.1:9103";  // Prometheus /metrics
  std::string ingest_address = "127.0.0.1:50051";  // where instances are read from
  std::string model_dir = "models";                // <id>.json + <id>.pt per model
  std::string device = "cpu";                      // cpu | cuda | cuda:N
  int intra_op_threads = 1;                        // LibTorch threads per analysis (>= 1)
  int max_concurrent_analyses = 2;                 // beyond this, RESOURCE_EXHAUSTED (retry elsewhere)
  int batch_size = 16;                             // CT/MR slices per model call
  int instance_read_parallelism = 4;               // concurrent ReadInstance streams per analysis
  std::string replica = "";                        // name in responses; "" = host:port
  std::string log_level = "info";                  // debug | info | warning | error
};

// Loads `path` (optional) and the environment, then validates.
// INVALID_ARGUMENT naming the field on a bad value or an unknown key.
absl::Status LoadInferenceConfig(const std::string& path, InferenceConfig* config);

}  // namespace parallax::inference_service
