// parallax-escalation: review of AI findings, escalation cases, reports and
// the user directory, with role-based access control.
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/auth/service_auth.h"
#include "parallax/config/config_schema.h"
#include "parallax/ingest_client/study_source.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "src/escalation_service.h"
#include "src/pacs_sr_sender.h"
#include "src/recorder_audit_trail.h"
#include "src/report_publisher.h"

namespace esc = parallax::escalation;

namespace {

// Users the directory is seeded with at start-up (a JSON array of User, as
// in escalation.proto's JSON mapping): the local stack's demo users, or a
// hospital's first admin.
absl::Status SeedUsers(esc::EscalationStore& store, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read seed_users_file " + path);
  std::stringstream text;
  text << in.rdbuf();
  parallax::escalation::v1::ListUsersResponse users;
  const std::string wrapped = "{\"users\": " + text.str() + "}";
  if (auto s = google::protobuf::util::JsonStringToMessage(wrapped, &users); !s.ok()) {
    return absl::InvalidArgumentError("seed_users_file " + path + ": " + std::string(s.message()));
  }
  return store.db()->InTransaction([&](parallax::store::Transaction& txn) -> absl::Status {
    for (const auto& user : users.users()) {
      auto r = store.UpsertUser(txn, user);
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-escalation [--config FILE]  (environment: PARALLAX_ESCALATION_<KEY>)\n";
      return 2;
    }
  }
  std::string grpc_address = "127.0.0.1:50056", metrics_address = "127.0.0.1:9106",
              database_url = "postgresql://postgres@127.0.0.1:5432/parallax", log_level = "info",
              facade_address = "127.0.0.1:50058", ingest_address = "127.0.0.1:50051",
              triage_address = "127.0.0.1:50052", audit_address = "127.0.0.1:50057",
              alert_routing_address = "127.0.0.1:50055", seed_users_file,
              override_rights =
                  "Intracranial haemorrhage:neuroradiologist|senior_radiologist|department_head, "
                  "Epidural:neuroradiologist|senior_radiologist|department_head, "
                  "Subdural:neuroradiologist|senior_radiologist|department_head, "
                  "Pneumothorax:thoracic_radiologist|senior_radiologist|department_head, "
                  "*:senior_radiologist|department_head";
  esc::EscalationOptions options;
  std::chrono::milliseconds case_due{30 * 60 * 1000};
  parallax::auth::AuthConfig auth_config;
  parallax::config::ConfigSchema schema;
  schema.Field("grpc_address", &grpc_address, "Escalation gRPC host:port");
  schema.Field("metrics_address", &metrics_address, "Prometheus metrics host:port");
  schema.Field("database_url", &database_url, "PostgreSQL URL");
  schema.Field("log_level", &log_level, "debug | info | warning | error");
  schema.Field("facade_address", &facade_address, "FHIR facade gRPC host:port (reports, tasks)");
  schema.Field("ingest_address", &ingest_address, "ingest gRPC host:port (source images, SR to the PACS)");
  schema.Field("triage_address", &triage_address, "triage gRPC host:port (heatmap objects)");
  schema.Field("audit_address", &audit_address, "audit gRPC host:port");
  schema.Field("alert_routing_address", &alert_routing_address,
               "alert routing gRPC host:port (resolves the alerts of reviewed findings)");
  schema.Field("case_group", &options.case_group, "group that receives escalation cases");
  schema.Field("case_due", &case_due, "time a senior has to decide a case");
  schema.Field("override_rights", &override_rights,
               "label:role|role,... roles that may reject or modify a critical finding (\"*\" = any label)");
  schema.Field("seed_users_file", &seed_users_file, "JSON array of users upserted at start-up; empty = none");
  parallax::auth::BindAuthConfig(schema, &auth_config);
  absl::Status s = parallax::config::LoadConfig(schema, config_path, "PARALLAX_ESCALATION");
  parallax::log::Level level;
  if (s.ok() && !parallax::log::ParseLevel(log_level, &level)) s = absl::InvalidArgumentError("config: bad log_level");
  auto rights = esc::ParseOverrideRights(override_rights);
  if (s.ok() && !rights.ok()) s = rights.status();
  if (!s.ok()) {
    std::cerr << "parallax-escalation: " << s.message() << "\n";
    return 2;
  }
  options.case_due = std::chrono::duration_cast<std::chrono::minutes>(case_due);
  parallax::log::Configure("escalation", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("escalation cannot start", {{"error", std::string(st.message())}});
    return 1;
  };
  auto auth = parallax::auth::ServiceAuth::Create(auth_config, "escalation");
  if (!auth.ok()) return fail(auth.status());
  auto exposer = parallax::metrics::MetricsExposer::Start(metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  auto db = parallax::store::Database::Open({database_url, 6});
  if (!db.ok()) return fail(db.status());
  esc::EscalationStore store(db->get());
  if (s = store.Migrate(); !s.ok()) return fail(s);
  if (s = store.ReplaceOverrideRights(*rights); !s.ok()) return fail(s);
  if (!seed_users_file.empty()) {
    if (s = SeedUsers(store, seed_users_file); !s.ok()) return fail(s);
  }
  parallax::audit_client::AuditRecorderOptions audit_options;
  audit_options.audit_address = audit_address;
  audit_options.service = "escalation";
  parallax::audit_client::AuditRecorder recorder(db->get(), "escalation", audit_options);
  if (s = recorder.Start(); !s.ok()) return fail(s);
  esc::RecorderAuditTrail trail(&recorder);

  const auto decorate = [a = auth->get()](grpc::ClientContext* ctx) { a->Decorate(ctx); };
  auto facade = parallax::fhir::v1::FhirFacade::NewStub(parallax::rpc::MakeChannel(facade_address));
  auto ingest_channel = parallax::rpc::MakeChannel(ingest_address);
  auto ingest = parallax::ingest::v1::Ingest::NewStub(ingest_channel);
  auto triage = parallax::triage::v1::Triage::NewStub(parallax::rpc::MakeChannel(triage_address));
  parallax::ingest_client::IngestStudySource source(ingest_channel);
  esc::PacsSrSender sr(&source, ingest.get(), triage.get(), decorate);
  auto alert_routing =
      parallax::alerting::v1::AlertRouting::NewStub(parallax::rpc::MakeChannel(alert_routing_address));
  esc::ReportPublisher publisher(&store, facade.get(), &sr, &trail, decorate, {}, alert_routing.get());
  esc::EscalationService service(
      &store, &trail,
      [a = auth->get()](grpc::ServerContext* ctx) { return a->Authenticate(*ctx); }, options,
      [&publisher] { publisher.Poke(); }, std::chrono::system_clock::now, [&publisher] { publisher.DeliverDue(); });
  publisher.Start();
  parallax::rpc::RpcServer server({grpc_address});
  server.Register(&service, "parallax.escalation.v1.Escalation");
  if (s = server.Start(); !s.ok()) return fail(s);
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  server.Shutdown();
  publisher.Stop();
  recorder.Stop();
  return 0;
}
