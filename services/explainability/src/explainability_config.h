#pragma once
// Explainability's configuration: typed struct, JSON file plus
// PARALLAX_EXPLAINABILITY_* environment overrides, validated at start-up.
#include <string>

#include <absl/status/status.h>

namespace parallax::explainability {

struct ExplainabilityConfig {
  std::string grpc_address = "127.0.0.1:50054";    // Explainability gRPC host:port
  std::string metrics_address = "127.0.0.1:9104";  // Prometheus /metrics
  std::string ingest_address = "127.0.0.1:50051";  // where instances are read from
  std::string model_dir = "models";                // the same directory inference loads
  std::string device = "cpu";                      // cpu | cuda | cuda:N
  int intra_op_threads = 1;                        // LibTorch threads per explanation (>= 1)
  int max_concurrent_explanations = 2;             // beyond this, RESOURCE_EXHAUSTED
  int max_slices_per_explanation = 64;             // Grad-CAM passes one request may ask for
  std::string default_method = "layercam";         // layercam | gradcam | hirescam, when a request leaves it unset
  std::string log_level = "info";                  // debug | info | warning | error
};

// Loads `path` (optional) and the environment, then validates.
absl::Status LoadExplainabilityConfig(const std::string& path, ExplainabilityConfig* config);

}  // namespace parallax::explainability
