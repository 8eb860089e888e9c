// parallax-fhir-facade: the FHIR R4 edge. Serves read/search over HTTP,
// takes Parallax results over gRPC (FhirFacade), and delivers the resources
// to the EHR through its PostgreSQL outbox.
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <memory>

#include "facade_config.h"
#include "facade_service.h"
#include "evidence_http.h"
#include "fhir_http.h"
#include "parallax/status/grpc_status.h"
#include "parallax/triage/v1/triage.grpc.pb.h"
#include "fhir_schema.h"
#include "ehr_delivery.h"
#include "parallax/http/server.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/process/termination.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/database.h"
#include "workspace/change_feed.h"
#include "workspace/static_files.h"
#include "workspace/workspace_api.h"

int main(int argc, char** argv) {
  namespace ff = parallax::fhir_facade;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else {
      std::cerr << "usage: parallax-fhir-facade [--config FILE]  (environment: PARALLAX_FHIR_FACADE_<KEY>)\n";
      return 2;
    }
  }
  ff::FacadeConfig config;
  if (absl::Status s = ff::LoadFacadeConfig(config_path, &config); !s.ok()) {
    std::cerr << "parallax-fhir-facade: " << s.message() << "\n";
    return 2;
  }
  parallax::log::Level level;
  parallax::log::ParseLevel(config.log_level, &level);
  parallax::log::Configure("fhir-facade", level);
  parallax::process::BlockTerminationSignals();
  auto fail = [](const absl::Status& st) {
    parallax::log::Error("fhir-facade cannot start", {{"error", std::string(st.message())}});
    std::cerr << "parallax-fhir-facade: " << st.message() << "\n";
    return 1;
  };

  auto exposer = parallax::metrics::MetricsExposer::Start(config.metrics_address);
  if (!exposer.ok()) return fail(exposer.status());
  auto db = parallax::store::Database::Open({config.database_url, config.database_pool_size});
  if (!db.ok()) return fail(db.status());
  if (absl::Status s = ff::MigrateFhirSchema(**db); !s.ok()) return fail(s);

  ff::OutboxOptions outbox_options;
  outbox_options.max_attempts = config.max_attempts;
  outbox_options.backoff_base = config.backoff_base;
  outbox_options.backoff_max = config.backoff_max;
  outbox_options.capacity = config.outbox_capacity;
  ff::EhrOutbox outbox(db->get(), outbox_options);
  ff::ResourceStore store(db->get(), &outbox);
  ff::OutboxMetrics metrics((*exposer)->registry());
  ff::OutboxGaugeRefresher gauges(&outbox, &metrics, std::chrono::seconds(5));
  gauges.Start();

  std::unique_ptr<ff::DeliveryWorker> delivery;
  if (config.ehr_base_url.empty()) {
    parallax::log::Warning("ehr_base_url is empty: resources are stored and queued but nothing is delivered to an EHR");
  } else {
    ff::DeliveryOptions d;
    d.ehr_base_url = config.ehr_base_url;
    d.request_timeout = config.delivery_timeout;
    d.poll_interval = config.poll_interval;
    d.workers = config.delivery_workers;
    d.worker_name = config.grpc_address + "/" + std::to_string(getpid());
    d.listen_url = config.database_url;
    delivery = std::make_unique<ff::DeliveryWorker>(&outbox, &metrics, d);
    if (absl::Status s = delivery->Start(); !s.ok()) return fail(s);
  }

  std::unique_ptr<parallax::ingest_client::IngestStudySource> studies;
  if (!config.ingest_address.empty()) {
    studies = std::make_unique<parallax::ingest_client::IngestStudySource>(
        parallax::rpc::MakeChannel(config.ingest_address));
  }
  parallax::fhir::Settings settings;
  settings.patient_identifier_system = config.patient_identifier_system;
  settings.accession_identifier_system = config.accession_identifier_system;
  settings.parallax_identifier_system = config.parallax_identifier_system;
  settings.organisation_name = config.organisation_name;
  settings.dicomweb_base_url = config.dicomweb_base_url;
  if (!config.triage_address.empty()) {
    settings.evidence_base_url =
        config.evidence_base_url.empty() ? "http://" + config.http_address + "/evidence" : config.evidence_base_url;
  }
  settings.dicom_timezone_offset = config.dicom_timezone_offset;
  auto auth = parallax::auth::ServiceAuth::Create(config.auth, "fhir-facade");
  if (!auth.ok()) return fail(auth.status());
  ff::FacadeServiceOptions service_options{settings, config.ingest_timeout};
  // Only Parallax services publish.
  service_options.authorize_call = [a = auth->get()](grpc::ServerContext* ctx) -> absl::Status {
    auto principal = a->Authenticate(*ctx);
    if (!principal.ok()) return principal.status();
    if (!principal->HasRole(parallax::escalation::v1::ROLE_INTEGRATION)) {
      return absl::PermissionDeniedError("only Parallax services may publish FHIR resources");
    }
    return absl::OkStatus();
  };
  // The workspace's live updates follow what is published here.
  namespace ws = ff::workspace;
  auto jwt_secret = parallax::auth::ReadSecretFile(config.auth.hs256_secret_file);
  if (!jwt_secret.ok()) return fail(jwt_secret.status());
  ws::StudyKeys study_keys(*jwt_secret);
  ws::ChangeFeed change_feed;
  std::function<void(std::string_view, const std::string&)> on_published;
  service_options.on_published = [&on_published](std::string_view kind, const std::string& study_uid) {
    if (on_published) on_published(kind, study_uid);
  };
  ff::FacadeService service(&store, &outbox, studies.get(), service_options);
  parallax::rpc::RpcServer rpc({config.grpc_address});
  rpc.Register(&service, "parallax.fhir.v1.FhirFacade");

  // Every FHIR read needs a valid bearer token (users from the identity
  // provider or parallax-token, services with their own); staff of any
  // Parallax role may read.
  ff::Authorizer authorize = [allow = config.http_allow_unauthenticated,
                              a = auth->get()](const parallax::http::Request& request) -> absl::Status {
    if (allow) return absl::OkStatus();
    return a->AuthenticateHeader(request.Header("Authorization")).status();
  };
  ff::FhirHttpApi api(&store, {"/fhir", config.public_base_url, settings}, authorize);
  const size_t colon = config.http_address.rfind(':');
  parallax::http::ServerOptions http_options;
  http_options.bind_address = config.http_address.substr(0, colon);
  http_options.port = std::atoi(config.http_address.substr(colon + 1).c_str());
  http_options.threads = config.http_threads;
  http_options.max_body_bytes = 1 << 20;
  // Heatmap PNGs from triage, for the reports' presentedForm links.
  std::unique_ptr<parallax::triage::v1::Triage::Stub> triage;
  if (!config.triage_address.empty()) {
    triage = parallax::triage::v1::Triage::NewStub(parallax::rpc::MakeChannel(config.triage_address));
  }
  ff::EvidenceHttp evidence(
      [t = triage.get(), a = auth->get()](const std::string& finding,
                                          const std::string& sop) -> absl::StatusOr<std::string> {
        if (t == nullptr) return absl::NotFoundError("no evidence holder is configured (triage_address)");
        parallax::triage::v1::GetEvidenceRequest request;
        request.set_finding_id(finding);
        request.set_source_sop_instance_uid(sop);
        request.set_include_png(true);
        parallax::triage::v1::GetEvidenceResponse response;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        a->Decorate(&ctx);
        if (absl::Status s = parallax::status::FromGrpc(t->GetEvidence(&ctx, request, &response)); !s.ok()) return s;
        if (response.objects().empty() || response.objects(0).overlay_png().empty()) {
          return absl::NotFoundError("no heatmap is stored for this finding and slice");
        }
        return response.objects(0).overlay_png();
      },
      authorize);
  // The radiologist's workspace: its JSON API over the services, passing
  // the user's token on, and its static files.
  auto stub_for = [](const std::string& address) {
    return address.empty() ? nullptr : parallax::rpc::MakeChannel(address);
  };
  auto escalation_channel = stub_for(config.escalation_address);
  auto alerting_channel = stub_for(config.alert_routing_address);
  auto audit_channel = stub_for(config.audit_address);
  auto escalation = escalation_channel ? parallax::escalation::v1::Escalation::NewStub(escalation_channel) : nullptr;
  auto alerting = alerting_channel ? parallax::alerting::v1::AlertRouting::NewStub(alerting_channel) : nullptr;
  auto audit = audit_channel ? parallax::audit::v1::Audit::NewStub(audit_channel) : nullptr;
  std::optional<ws::LocalIdentities> identities;
  std::optional<parallax::auth::JwtIssuer> issuer;
  if (!config.local_identity_file.empty()) {
    auto loaded = ws::LocalIdentities::Load(config.local_identity_file);
    if (!loaded.ok()) return fail(loaded.status());
    identities = std::move(*loaded);
    auto made = parallax::auth::JwtIssuer::Create(*jwt_secret);
    if (!made.ok()) return fail(made.status());
    issuer = std::move(*made);
  }
  parallax::audit_client::AuditRecorderOptions audit_options;
  audit_options.audit_address = config.audit_address;
  audit_options.service = "fhir-facade";
  std::unique_ptr<parallax::audit_client::AuditRecorder> recorder;
  if (!config.audit_address.empty()) {
    recorder = std::make_unique<parallax::audit_client::AuditRecorder>(db->get(), "fhir", audit_options);
    if (absl::Status s = recorder->Start(); !s.ok()) return fail(s);
  }
  ws::WorkspaceOptions workspace_options;
  workspace_options.session_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.session_ttl);
  workspace_options.events_wait = config.workspace_events_wait;
  ws::WorkspaceApi workspace({triage.get(), escalation.get(), alerting.get(), audit.get(), studies.get(), recorder.get()},
                             auth->get(),
                             issuer, identities ? &*identities : nullptr, &study_keys, &change_feed,
                             workspace_options);
  on_published = [&workspace](std::string_view kind, const std::string& study_uid) {
    workspace.OnPublished(kind, study_uid);
  };
  ws::StaticFiles web(config.web_root.empty() ? PARALLAX_DEFAULT_WEB_ROOT : config.web_root);
  parallax::http::Server http_server(
      http_options, api.MakeHandler([&](parallax::http::Router& router) {
        evidence.AddRoutes(router);
        workspace.AddRoutes(router);
        web.AddRoutes(router);
      }));
  if (absl::Status s = http_server.Start(); !s.ok()) return fail(s);
  // Publishing opens last, once the workspace's live updates are wired.
  if (absl::Status s = rpc.Start(); !s.ok()) return fail(s);

  parallax::log::Info("serving", {{"grpc", config.grpc_address},
                                  {"http", config.http_address},
                                  {"delivery", config.ehr_base_url.empty() ? "off" : "on"}});
  const int received = parallax::process::WaitForTerminationSignal();
  parallax::log::Info("stopping", {{"signal", received}});
  change_feed.Shutdown();
  http_server.Stop();
  rpc.Shutdown();
  on_published = nullptr;
  if (delivery) delivery->Stop();
  if (recorder) recorder->Stop();
  gauges.Stop();
  return 0;
}
