#pragma once
// The FhirFacade gRPC service (proto/parallax/fhir/v1/fhir_facade.proto):
// each Publish* call builds the FHIR resources (libs/fhir), stores them and
// enqueues them for the EHR in one transaction (ResourceStore::PutAll), and
// returns at once with the receipts; delivery happens in the background
// (ehr_delivery.h). GetOutboxStatus reports the outbox.
//
// Logical ids come from the business keys (fhir::LogicalId):
//   DiagnosticReport "dr-"    + report_id
//   Observation      "obs-"   + report_id "/" finding_id (or the index)
//   ImagingStudy     "is-"    + Study Instance UID
//   Communication    "comm-"  + alert_id
//   Task             "task-"  + case_id
//   AuditEvent       "audit-" + audit sequence
// so a republished report, alert, case or audit entry updates its resource
// (a new version), and an identical resend is a duplicate (nothing queued).
//
// Report status rules: amended needs a final (or amended) version before
// it; preliminary is refused once the report is final or amended; final is
// refused once it is amended (it would roll an amendment back). Each is
// FAILED_PRECONDITION and stores nothing.
//
// When a report has no manifest, it is read from ingest (StudySource
// GetStudy): UNAVAILABLE when ingest cannot be reached (or none is
// configured), FAILED_PRECONDITION when ingest does not know the study.
// Communication and Task read it too when a study is given and a
// StudySource is configured, for the patient reference (an unknown study
// there just leaves the patient out).
//
// ImagingStudy has no ResourceType in the proto: it is stored and delivered
// with the report but gets no receipt.
//
// Thread-safety: thread-safe (the store, outbox and StudySource are).
#include <chrono>
#include <functional>

#include "absl/status/statusor.h"
#include "ehr_outbox.h"
#include "parallax/fhir/resources.h"
#include "parallax/fhir/v1/fhir_facade.grpc.pb.h"
#include "parallax/ingest_client/study_source.h"
#include "resource_store.h"

namespace parallax::fhir_facade {

struct FacadeServiceOptions {
  fhir::Settings settings;
  // Deadline of one GetStudy call to ingest.
  std::chrono::milliseconds ingest_timeout{5000};
  // Checks the caller of each gRPC call (main: a Parallax service's bearer
  // token, role integration); OK when unset (tests of logic).
  std::function<absl::Status(grpc::ServerContext*)> authorize_call;
  // Told of each report ("report"), Communication ("alert") and Task
  // ("case") published, with its study; the workspace's live updates.
  std::function<void(std::string_view kind, const std::string& study_uid)> on_published;
};

class FacadeService final : public fhir::v1::FhirFacade::Service {
 public:
  // store and outbox must outlive the service; studies may be null (then a
  // report without a manifest is refused UNAVAILABLE).
  FacadeService(ResourceStore* store, EhrOutbox* outbox, ingest_client::StudySource* studies,
                FacadeServiceOptions options);

  // The RPCs without gRPC; errors as the proto says.
  absl::StatusOr<fhir::v1::PublishReportResponse> Publish(const fhir::v1::PublishReportRequest& request);
  absl::StatusOr<fhir::v1::PublishCommunicationResponse> Publish(const fhir::v1::PublishCommunicationRequest& request);
  absl::StatusOr<fhir::v1::PublishTaskResponse> Publish(const fhir::v1::PublishTaskRequest& request);
  absl::StatusOr<fhir::v1::PublishAuditEventResponse> Publish(const fhir::v1::PublishAuditEventRequest& request);
  absl::StatusOr<fhir::v1::GetOutboxStatusResponse> OutboxStatus(const fhir::v1::GetOutboxStatusRequest& request);

  grpc::Status PublishReport(grpc::ServerContext* context, const fhir::v1::PublishReportRequest* request,
                             fhir::v1::PublishReportResponse* response) override;
  grpc::Status PublishCommunication(grpc::ServerContext* context, const fhir::v1::PublishCommunicationRequest* request,
                                    fhir::v1::PublishCommunicationResponse* response) override;
  grpc::Status PublishTask(grpc::ServerContext* context, const fhir::v1::PublishTaskRequest* request,
                           fhir::v1::PublishTaskResponse* response) override;
  grpc::Status PublishAuditEvent(grpc::ServerContext* context, const fhir::v1::PublishAuditEventRequest* request,
                                 fhir::v1::PublishAuditEventResponse* response) override;
  grpc::Status GetOutboxStatus(grpc::ServerContext* context, const fhir::v1::GetOutboxStatusRequest* request,
                               fhir::v1::GetOutboxStatusResponse* response) override;

 private:
  // The request's manifest, else ingest's. `required`: refuse when neither
  // is available; otherwise an empty manifest.
  absl::StatusOr<common::v1::StudyManifest> ManifestFor(const common::v1::StudyManifest& given,
                                                        const std::string& study_uid, bool required);
  ResourceWrite Write(const std::string& type, const std::string& id, Json resource, const std::string& study_uid);

  ResourceStore* store_;
  EhrOutbox* outbox_;
  ingest_client::StudySource* studies_;
  FacadeServiceOptions options_;
};

}  // namespace parallax::fhir_facade
