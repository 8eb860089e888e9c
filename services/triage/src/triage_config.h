#pragma once
// Triage's configuration (thin recorder stage): typed struct, JSON file plus
// PARALLAX_TRIAGE_* environment overrides, validated at start-up.
#include <string>

#include <absl/status/status.h>

namespace parallax::triage {

struct TriageConfig {
  std::string grpc_address = "127.0.0.1:50052";    // Triage gRPC host:port
  std::string metrics_address = "127.0.0.1:9102";  // Prometheus /metrics
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/parallax";
  int database_pool_size = 4;                      // PostgreSQL connections
  std::string log_level = "info";                  // debug | info | warning | error
};

// Loads `path` (optional) and the environment, then validates.
absl::Status LoadTriageConfig(const std::string& path, TriageConfig* config);

}  // namespace parallax::triage
