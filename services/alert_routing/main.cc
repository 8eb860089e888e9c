// parallax-alert-routing (recorder stage): records the analysed studies
// triage routes, until the alerts issue adds policy, alerts and timers.
#include <cstring>
#include <iostream>
#include <string>

#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "src/route_recorder.h"

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-alert-routing [--config FILE]  (environment: PARALLAX_ALERT_ROUTING_<KEY>)\n";
      return 2;
    }
  }
  std::string grpc_address = "127.0.0.1:50055", metrics_address = "127.0.0.1:9105",
              database_url = "postgresql://postgres@127.0.0.1:5432/parallax", log_level = "info";
  parallax::config::ConfigSchema schema;
  schema.Field("grpc_address", &grpc_address, "AlertRouting gRPC host:port");
  schema.Field("metrics_address", &metrics_address, "Prometheus metrics host:port");
  schema.Field("database_url", &database_url, "PostgreSQL URL");
  schema.Field("log_level", &log_level, "debug | info | warning | error");
  absl::Status s = parallax::config::LoadConfig(schema, config_path, "PARALLAX_ALERT_ROUTING");
  parallax::log::Level level;
  if (s.ok() && !parallax::log::ParseLevel(log_level, &level)) s = absl::InvalidArgumentError("config: bad log_level");
  if (!s.ok()) {
    std::cerr << "parallax-alert-routing: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Configure("alert-routing", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("alert-routing cannot start", {{"error", std::string(st.message())}});
    return 1;
  };
  auto exposer = parallax::metrics::MetricsExposer::Start(metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  auto db = parallax::store::Database::Open({database_url, 2});
  if (!db.ok()) return fail(db.status());
  parallax::alerting::RouteRecorder recorder(db->get());
  if (s = recorder.Migrate(); !s.ok()) return fail(s);
  parallax::rpc::RpcServer server({grpc_address});
  server.Register(&recorder, "parallax.alerting.v1.AlertRouting");
  if (s = server.Start(); !s.ok()) return fail(s);
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  return 0;
}
