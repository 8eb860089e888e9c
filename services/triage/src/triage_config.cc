#include "triage_config.h"

#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"

namespace parallax::triage {

absl::Status LoadTriageConfig(const std::string& path, TriageConfig* c) {
  config::ConfigSchema s;
  s.Field("grpc_address", &c->grpc_address, "Triage gRPC host:port");
  s.Field("metrics_address", &c->metrics_address, "Prometheus metrics host:port");
  s.Field("database_url", &c->database_url, "PostgreSQL URL");
  s.Field("database_pool_size", &c->database_pool_size, "PostgreSQL connections");
  s.Field("log_level", &c->log_level, "debug | info | warning | error");
  absl::Status st = config::LoadConfig(s, path, "PARALLAX_TRIAGE");
  if (!st.ok()) return st;
  if (c->database_url.empty()) return absl::InvalidArgumentError("config: database_url is required");
  if (c->database_pool_size < 1) return absl::InvalidArgumentError("config: database_pool_size must be at least 1");
  log::Level level;
  if (!log::ParseLevel(c->log_level, &level)) {
    return absl::InvalidArgumentError("config: log_level must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

}  // namespace parallax::triage
