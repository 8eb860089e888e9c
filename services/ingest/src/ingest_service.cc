#include "ingest_service.h"

#include "access_refusal_audit.h"
#include "ingest_grpc.h"
#include "parallax/audit_client/audit_recorder.h"
#include "ingest_metrics.h"
#include "instance_receiver.h"
#include "instance_store.h"
#include "parallax/dicom/storage_scp.h"
#include "parallax/http/server.h"
#include "parallax/log/log.h"
#include "parallax/metrics/metrics_exposer.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/status/grpc_status.h"
#include "parallax/store/database.h"
#include "parallax/triage/v1/triage.grpc.pb.h"
#include "stow_rs.h"
#include "study_index.h"
#include "triage_handoff.h"

namespace parallax::ingest {

struct IngestService::Parts {
  std::unique_ptr<metrics::MetricsExposer> exposer;
  std::unique_ptr<IngestMetrics> metrics;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<audit_client::AuditRecorder> audit;
  std::unique_ptr<AccessRefusalAuditor> refusals;
  std::unique_ptr<StudyIndex> index;
  std::unique_ptr<InstanceStore> store;
  std::unique_ptr<InstanceReceiver> receiver;
  std::unique_ptr<dicom::StorageScp> scp;
  std::unique_ptr<StowRs> stow;
  std::unique_ptr<http::Server> http;
  std::unique_ptr<IngestGrpc> grpc_service;
  std::unique_ptr<rpc::RpcServer> rpc;
  std::shared_ptr<triage::v1::Triage::Stub> triage;
  std::unique_ptr<TriageHandoff> handoff;
};

IngestService::IngestService(IngestConfig config) : config_(std::move(config)), parts_(std::make_unique<Parts>()) {}

IngestService::~IngestService() { Stop(); }

absl::Status IngestService::Start() {
  Parts& p = *parts_;
  auto exposer = metrics::MetricsExposer::Start(config_.metrics_address);
  if (!exposer.ok()) return exposer.status();
  p.exposer = std::move(*exposer);
  p.metrics = std::make_unique<IngestMetrics>(p.exposer->registry());

  auto db = store::Database::Open({config_.database_url, config_.database_pool_size});
  if (!db.ok()) return absl::UnavailableError("database: " + std::string(db.status().message()));
  p.db = std::move(*db);
  audit_client::AuditRecorderOptions audit_options;
  audit_options.audit_address = config_.audit_address;
  audit_options.service = "ingest";
  audit_options.registry = &p.exposer->registry();
  p.audit = std::make_unique<audit_client::AuditRecorder>(p.db.get(), "ingest", audit_options);
  p.index = std::make_unique<StudyIndex>(p.db.get(), p.audit.get());
  absl::Status s = p.index->Migrate();
  if (!s.ok()) return absl::Status(s.code(), "database migrations: " + std::string(s.message()));
  if (config_.audit_address.empty()) {
    log::Warning("no audit_address: audit events stay in the ingest.audit_outbox table");
  } else if (s = p.audit->Start(); !s.ok()) {
    return absl::Status(s.code(), "audit recorder: " + std::string(s.message()));
  }

  p.store = std::make_unique<InstanceStore>(InstanceStoreOptions{config_.store_root, config_.min_free_bytes});
  s = p.store->Open();
  if (!s.ok()) return s;
  // Refused associations: ACCESS_REFUSED, at most one per (AE, peer) a minute.
  p.refusals = std::make_unique<AccessRefusalAuditor>(p.audit.get());
  p.refusals->Start();
  p.receiver = std::make_unique<InstanceReceiver>(p.store.get(), p.index.get(), p.metrics.get(), p.refusals.get());

  auto pacs = PacsSettingsFromConfig(config_);
  if (!pacs.ok()) return pacs.status();
  p.grpc_service =
      std::make_unique<IngestGrpc>(p.index.get(), p.store.get(), p.receiver.get(), *std::move(pacs), p.audit.get());
  p.rpc = std::make_unique<rpc::RpcServer>(rpc::RpcServerOptions{config_.grpc_address});
  p.rpc->Register(p.grpc_service.get(), "parallax.ingest.v1.Ingest");
  s = p.rpc->Start();
  if (!s.ok()) return s;

  p.triage = triage::v1::Triage::NewStub(rpc::MakeChannel(config_.triage_address));
  auto deadline = config_.triage_deadline;
  auto stub = p.triage;
  p.handoff = std::make_unique<TriageHandoff>(
      TriageHandoffOptions{config_.stable_after, config_.stability_sweep_interval, config_.outbox_max_backoff},
      p.index.get(), p.metrics.get(),
      [stub, deadline](const common::v1::StudyManifest& manifest, const std::string& submission_id) {
        triage::v1::SubmitStudyRequest request;
        *request.mutable_study() = manifest;
        request.set_submission_id(submission_id);
        triage::v1::SubmitStudyResponse response;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + deadline);
        return status::FromGrpc(stub->SubmitStudy(&ctx, request, &response));
      });
  p.handoff->Start();

  p.stow = std::make_unique<StowRs>(p.receiver.get());
  http::Router router;
  p.stow->Register(router);
  http::ServerOptions http_options;
  http_options.bind_address = config_.http_address;
  http_options.port = config_.http_port;
  http_options.threads = config_.http_threads;
  http_options.max_body_bytes = static_cast<size_t>(config_.max_stow_bytes);
  p.http = std::make_unique<http::Server>(http_options, std::move(router));
  s = p.http->Start();
  if (!s.ok()) return s;

  dicom::StorageScpOptions scp_options;
  scp_options.ae_title = config_.ae_title;
  scp_options.port = config_.dicom_port;
  scp_options.allowed_calling_aes = config_.allowed_calling_aes;
  scp_options.max_associations = config_.max_associations;
  scp_options.dimse_timeout_seconds = config_.dimse_timeout_seconds;
  p.scp = std::make_unique<dicom::StorageScp>(scp_options, p.receiver.get());
  s = p.scp->Start();
  if (!s.ok()) return s;

  log::Info("ingest ready", {{"ae_title", config_.ae_title},
                             {"dicom_port", config_.dicom_port},
                             {"http_port", p.http->port()},
                             {"grpc_port", p.rpc->port()},
                             {"metrics_port", p.exposer->port()}});
  return absl::OkStatus();
}

void IngestService::Stop() {
  Parts& p = *parts_;
  if (p.scp) p.scp->Stop();
  if (p.refusals) p.refusals->Stop();  // records the refusals still counted
  if (p.http) p.http->Stop();
  if (p.handoff) p.handoff->Stop();
  if (p.rpc) p.rpc->Shutdown();
  if (p.audit) p.audit->Stop();
}

}  // namespace parallax::ingest
