// parallax-audit: the append-only, hash-chained audit log every service
// records into (Audit.Record), and the Query / Verify / analytics surface for
// auditors and admins.
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "parallax/auth/roles.h"
#include "parallax/auth/service_auth.h"
#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "src/analytics.h"
#include "src/audit_exporter.h"
#include "src/audit_log.h"
#include "src/audit_metrics.h"
#include "src/audit_query.h"
#include "src/audit_service.h"

int main(int argc, char** argv) {
  namespace au = parallax::audit;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-audit [--config FILE]  (environment: PARALLAX_AUDIT_<KEY>)\n";
      return 2;
    }
  }
  std::string grpc_address = "127.0.0.1:50057", metrics_address = "127.0.0.1:9107",
              facade_address = "127.0.0.1:50058",
              database_url = "postgresql://postgres@127.0.0.1:5432/parallax", log_level = "info";
  int database_pool_size = 8;
  std::chrono::milliseconds verify_interval = std::chrono::hours(1);
  parallax::config::ConfigSchema schema;
  schema.Field("grpc_address", &grpc_address, "Audit gRPC host:port");
  schema.Field("metrics_address", &metrics_address, "Prometheus metrics host:port");
  schema.Field("database_url", &database_url, "PostgreSQL URL (schema audit)");
  schema.Field("database_pool_size", &database_pool_size, "PostgreSQL connections");
  schema.Field("verify_interval", &verify_interval, "how often the whole chain is verified (0 = never)");
  schema.Field("facade_address", &facade_address,
               "FHIR facade gRPC host:port the log is exported to as AuditEvents (empty = no export)");
  schema.Field("log_level", &log_level, "debug | info | warning | error");
  parallax::auth::AuthConfig auth_config;
  parallax::auth::BindAuthConfig(schema, &auth_config);
  absl::Status s = parallax::config::LoadConfig(schema, config_path, "PARALLAX_AUDIT");
  parallax::log::Level level;
  if (s.ok() && !parallax::log::ParseLevel(log_level, &level)) s = absl::InvalidArgumentError("config: bad log_level");
  if (s.ok() && database_pool_size < 1) s = absl::InvalidArgumentError("config: database_pool_size must be at least 1");
  if (!s.ok()) {
    std::cerr << "parallax-audit: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Configure("audit", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("audit cannot start", {{"error", std::string(st.message())}});
    std::cerr << "parallax-audit: " << st.message() << "\n";
    return 1;
  };

  auto auth = parallax::auth::ServiceAuth::Create(auth_config, "audit");
  if (!auth.ok()) return fail(auth.status());
  auto exposer = parallax::metrics::MetricsExposer::Start(metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  auto db = parallax::store::Database::Open({database_url, database_pool_size});
  if (!db.ok()) return fail(db.status());
  au::AuditLog log(db->get());
  if (s = log.Migrate(); !s.ok()) return fail(s);
  au::AuditQuery query(db->get());
  au::AuditAnalytics analytics(db->get());
  au::AuditMetrics metrics((*exposer)->registry());
  if (auto head = log.Head(); head.ok()) metrics.SetHead(head->sequence);

  // Every entry, in order, to the EHR as a FHIR AuditEvent (via the facade).
  au::AuditExporterOptions export_options;
  export_options.facade_address = facade_address;
  au::AuditExporter exporter(db->get(), export_options,
                             [a = auth->get()](grpc::ClientContext* ctx) { a->Decorate(ctx); }, &metrics);

  au::AuditServiceDeps deps;
  deps.log = &log;
  deps.query = &query;
  deps.analytics = &analytics;
  deps.metrics = &metrics;
  // Caller identity: the roles and user id of the verified bearer token.
  deps.caller_roles = [a = auth->get()](grpc::ServerContext* ctx) -> absl::StatusOr<std::vector<std::string>> {
    auto principal = a->Authenticate(*ctx);
    if (!principal.ok()) return principal.status();
    std::vector<std::string> roles;
    for (auto role : principal->roles) roles.push_back(parallax::auth::RoleName(role));
    return roles;
  };
  deps.caller_user_id = [a = auth->get()](grpc::ServerContext* ctx) {
    auto principal = a->Authenticate(*ctx);
    return principal.ok() ? principal->user_id : std::string();
  };
  if (!facade_address.empty()) deps.recorded = [&exporter](int64_t) { exporter.Poke(); };
  au::AuditService service(std::move(deps));

  parallax::rpc::RpcServer server({grpc_address});
  server.Register(&service, "parallax.audit.v1.Audit");
  if (s = server.Start(); !s.ok()) return fail(s);
  parallax::log::Info("serving", {{"address", grpc_address}});
  if (!facade_address.empty()) {
    if (s = exporter.Start(); !s.ok()) return fail(s);
    parallax::log::Info("exporting audit entries to the FHIR facade", {{"facade_address", facade_address}});
  } else {
    parallax::log::Warning("no facade_address: audit entries are not exported to the EHR");
  }

  // The periodic whole-chain check that feeds parallax_audit_verify_failures_total.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread verifier;
  if (verify_interval.count() > 0) {
    verifier = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      while (!cv.wait_for(lock, verify_interval, [&] { return stopping; })) {
        lock.unlock();
        auto verdict = service.VerifyNow();
        if (!verdict.ok()) {
          parallax::log::Warning("audit chain check could not run", {{"error", std::string(verdict.status().message())}});
        } else if (!verdict->ok()) {
          parallax::log::Error("audit chain is broken",
                               {{"first_broken_sequence", static_cast<long long>(verdict->first_broken_sequence())},
                                {"detail", verdict->detail()}});
        }
        lock.lock();
      }
    });
  }
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  exporter.Stop();
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  cv.notify_all();
  if (verifier.joinable()) verifier.join();
  return 0;
}
