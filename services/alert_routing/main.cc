// parallax-alert-routing: applies the department's alert policy to analysed
// studies (AlertRouting gRPC), delivers alerts to Escalation, the FHIR facade
// and paging webhooks, and runs the acknowledgement timers.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/auth/grpc_auth.h"
#include "parallax/auth/jwt.h"
#include "parallax/config/config_schema.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "src/alert_dispatcher.h"
#include "src/alert_service.h"
#include "src/alert_timers.h"

namespace {

namespace al = parallax::alerting;

struct AlertRoutingConfig {
  std::string grpc_address = "127.0.0.1:50055";    // AlertRouting gRPC host:port
  std::string metrics_address = "127.0.0.1:9105";  // Prometheus metrics host:port
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/parallax";
  int database_pool_size = 8;                       // Route, acks, dispatcher, timers and the audit sender share it
  std::string log_level = "info";
  std::string policy_file;                          // required: the alert policy YAML
  std::string model_dir;                            // model manifests whose labels the policy may name
  std::string escalation_address = "127.0.0.1:50056";
  std::string facade_address = "127.0.0.1:50058";
  std::string audit_address = "127.0.0.1:50057";
  std::string jwt_hs256_secret_file;                // shared secret: verifies callers, signs our own calls
  std::string jwt_rs256_public_key_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  std::string jwt_role_claim = "roles";
  std::string jwt_role_map;
  std::chrono::milliseconds timer_period{1000};     // how often due timers are looked for
  std::chrono::milliseconds dispatch_poll{1000};    // outbox fallback poll (Poke and NOTIFY wake it at once)
  int dispatch_workers = 4;                         // studies delivered in parallel (each study's items in order)
  std::chrono::milliseconds dispatch_lease{30000};  // a claimed outbox item's lease (taken over after it ends)
};

// The labels of every model manifest (*.json) in `dir`.
absl::StatusOr<std::set<std::string>> KnownLabels(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat("model directory ", dir, " does not exist"));
  std::set<std::string> labels;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto m = parallax::inference::ParseModelManifest(text.str());
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model manifest ", entry.path().string(), ": ", m.status().message()));
    }
    for (const auto& l : m->labels) labels.insert(l.name);
  }
  return labels;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-alert-routing [--config FILE]  (environment: PARALLAX_ALERT_ROUTING_<KEY>)\n";
      return 2;
    }
  }
  AlertRoutingConfig c;
  parallax::config::ConfigSchema schema;
  schema.Field("grpc_address", &c.grpc_address, "AlertRouting gRPC host:port");
  schema.Field("metrics_address", &c.metrics_address, "Prometheus metrics host:port");
  schema.Field("database_url", &c.database_url, "PostgreSQL URL");
  schema.Field("database_pool_size", &c.database_pool_size, "PostgreSQL connections");
  schema.Field("log_level", &c.log_level, "debug | info | warning | error");
  schema.Field("policy_file", &c.policy_file, "alert routing policy (YAML), required");
  schema.Field("model_dir", &c.model_dir, "model directory whose manifests name the labels the policy may use");
  schema.Field("escalation_address", &c.escalation_address, "Escalation gRPC host:port (OpenReport)");
  schema.Field("facade_address", &c.facade_address, "FHIR facade gRPC host:port (PublishCommunication)");
  schema.Field("audit_address", &c.audit_address, "Audit gRPC host:port");
  schema.Field("jwt_hs256_secret_file", &c.jwt_hs256_secret_file, "HS256 shared secret file");
  schema.Field("jwt_rs256_public_key_file", &c.jwt_rs256_public_key_file, "identity provider's RS256 public key");
  schema.Field("jwt_issuer", &c.jwt_issuer, "required token issuer (empty: not checked)");
  schema.Field("jwt_audience", &c.jwt_audience, "required token audience (empty: not checked)");
  schema.Field("jwt_role_claim", &c.jwt_role_claim, "claim holding the roles");
  schema.Field("jwt_role_map", &c.jwt_role_map, "EXTERNAL=parallax_role, ...");
  schema.Field("timer_period", &c.timer_period, "how often acknowledgement timers are checked");
  schema.Field("dispatch_poll", &c.dispatch_poll, "outbox poll fallback");
  schema.Field("dispatch_workers", &c.dispatch_workers,
               "outbox delivery threads: different studies in parallel, each study's items in order (>= 1)");
  schema.Field("dispatch_lease", &c.dispatch_lease,
               "how long a claimed outbox item stays with its worker without progress before another may take it");
  absl::Status s = parallax::config::LoadConfig(schema, config_path, "PARALLAX_ALERT_ROUTING");
  parallax::log::Level level;
  if (s.ok() && !parallax::log::ParseLevel(c.log_level, &level)) s = absl::InvalidArgumentError("config: bad log_level");
  if (s.ok() && c.dispatch_workers < 1) s = absl::InvalidArgumentError("config: dispatch_workers must be at least 1");
  if (s.ok() && c.dispatch_lease < std::chrono::seconds(1)) {
    s = absl::InvalidArgumentError("config: dispatch_lease must be at least 1s");
  }
  if (s.ok() && c.policy_file.empty()) s = absl::InvalidArgumentError("config: policy_file is required");
  if (s.ok() && c.jwt_hs256_secret_file.empty()) {
    s = absl::InvalidArgumentError("config: jwt_hs256_secret_file is required (it signs alert routing's own calls)");
  }
  if (!s.ok()) {
    std::cerr << "parallax-alert-routing: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Configure("alert-routing", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("alert-routing cannot start", {{"error", std::string(st.message())}});
    std::cerr << "parallax-alert-routing: " << st.message() << "\n";
    return 1;
  };

  std::set<std::string> labels;
  if (!c.model_dir.empty()) {
    auto known = KnownLabels(c.model_dir);
    if (!known.ok()) return fail(known.status());
    labels = *std::move(known);
  } else {
    parallax::log::Warning("no model_dir: the policy's labels are not checked against the models", {});
  }
  auto policy = al::LoadAlertPolicy(c.policy_file, labels);
  if (!policy.ok()) return fail(policy.status());
  for (const auto& [name, group] : policy->groups) {
    if (!group.webhook_url.empty() && group.webhook_url.rfind("http://", 0) != 0) {
      parallax::log::Warning("webhook URL is not plain http; its pages will be skipped (https is not supported yet)",
                             {{"group", name}});
    }
  }

  auto verifier_options = parallax::auth::LoadVerifierOptions(c.jwt_hs256_secret_file, c.jwt_rs256_public_key_file,
                                                              c.jwt_issuer, c.jwt_audience, c.jwt_role_claim,
                                                              c.jwt_role_map);
  if (!verifier_options.ok()) return fail(verifier_options.status());
  auto verifier = parallax::auth::JwtVerifier::Create(*verifier_options);
  if (!verifier.ok()) return fail(verifier.status());
  auto secret = parallax::auth::ReadSecretFile(c.jwt_hs256_secret_file);
  if (!secret.ok()) return fail(secret.status());
  auto issuer = parallax::auth::JwtIssuer::Create(*secret);
  if (!issuer.ok()) return fail(issuer.status());

  // Our own calls carry a service token, re-minted every half hour.
  std::mutex token_mu;
  std::string token;
  std::chrono::system_clock::time_point token_minted{};
  auto decorate = [&](grpc::ClientContext* ctx) {
    std::lock_guard<std::mutex> lock(token_mu);
    const auto now = std::chrono::system_clock::now();
    if (token.empty() || now - token_minted > std::chrono::minutes(30)) {
      parallax::auth::TokenClaims claims;
      claims.subject = "alert-routing";
      claims.roles = {parallax::escalation::v1::ROLE_INTEGRATION};
      claims.ttl = std::chrono::hours(1);
      claims.issuer = c.jwt_issuer;
      claims.audience = c.jwt_audience;
      auto minted = issuer->Issue(claims, now);
      if (!minted.ok()) {
        parallax::log::Error("cannot mint the service token", {{"error", std::string(minted.status().message())}});
        return;
      }
      token = *std::move(minted);
      token_minted = now;
    }
    parallax::auth::AttachBearer(ctx, token);
  };

  auto exposer = parallax::metrics::MetricsExposer::Start(c.metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  auto db = parallax::store::Database::Open({c.database_url, c.database_pool_size});
  if (!db.ok()) return fail(db.status());
  al::AlertStore store(db->get());
  if (s = store.Migrate(); !s.ok()) return fail(s);
  al::AlertMetrics metrics((*exposer)->registry());

  parallax::audit_client::AuditRecorderOptions audit_options;
  audit_options.audit_address = c.audit_address;
  audit_options.service = "alert-routing";
  audit_options.registry = &(*exposer)->registry();
  parallax::audit_client::AuditRecorder audit(db->get(), "alerting", audit_options);
  if (s = audit.Start(); !s.ok()) return fail(s);

  auto escalation_stub = parallax::escalation::v1::Escalation::NewStub(parallax::rpc::MakeChannel(c.escalation_address));
  auto facade_stub = parallax::fhir::v1::FhirFacade::NewStub(parallax::rpc::MakeChannel(c.facade_address));
  al::AlertDispatcher::Options dispatch_options;
  dispatch_options.poll = c.dispatch_poll;
  dispatch_options.listen_url = c.database_url;
  dispatch_options.workers = c.dispatch_workers;
  dispatch_options.lease = c.dispatch_lease;
  al::AlertDispatcher dispatcher(&store, &*policy, escalation_stub.get(), facade_stub.get(), decorate,
                                 dispatch_options, &metrics);

  al::AlertService service(
      &store, &*policy, &audit,
      [&verifier](grpc::ServerContext* ctx) { return parallax::auth::AuthenticateCall(*ctx, *verifier); },
      [&dispatcher] { dispatcher.Poke(); }, &metrics);
  al::AlertTimerLoop timers(
      [&service] {
        auto n = service.RunTimers();
        if (!n.ok()) parallax::log::Warning("alert timer pass failed", {{"error", std::string(n.status().message())}});
      },
      c.timer_period);
  dispatcher.Start();
  timers.Start();

  parallax::rpc::RpcServer server({c.grpc_address});
  server.Register(&service, "parallax.alerting.v1.AlertRouting");
  if (s = server.Start(); !s.ok()) return fail(s);
  parallax::log::Info("serving", {{"address", c.grpc_address},
                                  {"policy", c.policy_file},
                                  {"rules", static_cast<int>(policy->rules.size())},
                                  {"groups", static_cast<int>(policy->groups.size())}});
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  timers.Stop();
  dispatcher.Stop();
  audit.Stop();
  return 0;
}
