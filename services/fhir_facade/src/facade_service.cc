#include "facade_service.h"

#include <charconv>
#include <utility>

#include <absl/strings/str_cat.h>

#include "parallax/status/grpc_status.h"

namespace parallax::fhir_facade {
namespace {

namespace v1 = ::parallax::fhir::v1;

std::string ReportStatusCode(v1::ReportStatus status) {
  switch (status) {
    case v1::REPORT_STATUS_PRELIMINARY: return "preliminary";
    case v1::REPORT_STATUS_FINAL: return "final";
    case v1::REPORT_STATUS_AMENDED: return "amended";
    default: return "";
  }
}

v1::ResourceType ProtoType(const std::string& type) {
  if (type == "DiagnosticReport") return v1::RESOURCE_TYPE_DIAGNOSTIC_REPORT;
  if (type == "Observation") return v1::RESOURCE_TYPE_OBSERVATION;
  if (type == "Communication") return v1::RESOURCE_TYPE_COMMUNICATION;
  if (type == "Task") return v1::RESOURCE_TYPE_TASK;
  if (type == "AuditEvent") return v1::RESOURCE_TYPE_AUDIT_EVENT;
  return v1::RESOURCE_TYPE_UNSPECIFIED;
}

v1::OutboxState ProtoState(OutboxEntryState state) {
  switch (state) {
    case OutboxEntryState::kPending: return v1::OUTBOX_STATE_PENDING;
    case OutboxEntryState::kDelivering: return v1::OUTBOX_STATE_DELIVERING;
    case OutboxEntryState::kRetrying: return v1::OUTBOX_STATE_RETRYING;
    case OutboxEntryState::kDelivered: return v1::OUTBOX_STATE_DELIVERED;
    case OutboxEntryState::kDead: return v1::OUTBOX_STATE_DEAD;
    case OutboxEntryState::kSuperseded: return v1::OUTBOX_STATE_UNSPECIFIED;
  }
  return v1::OUTBOX_STATE_UNSPECIFIED;
}

std::optional<OutboxEntryState> EntryState(v1::OutboxState state) {
  switch (state) {
    case v1::OUTBOX_STATE_PENDING: return OutboxEntryState::kPending;
    case v1::OUTBOX_STATE_DELIVERING: return OutboxEntryState::kDelivering;
    case v1::OUTBOX_STATE_RETRYING: return OutboxEntryState::kRetrying;
    case v1::OUTBOX_STATE_DELIVERED: return OutboxEntryState::kDelivered;
    case v1::OUTBOX_STATE_DEAD: return OutboxEntryState::kDead;
    default: return std::nullopt;
  }
}

void SetTime(int64_t epoch_ms, google::protobuf::Timestamp* out) {
  if (epoch_ms <= 0) return;
  out->set_seconds(epoch_ms / 1000);
  out->set_nanos(static_cast<int32_t>(epoch_ms % 1000) * 1000000);
}

void FillReceipt(const PutResult& put, v1::OutboxReceipt* receipt) {
  receipt->set_resource_type(ProtoType(put.type));
  receipt->set_resource_id(put.id);
  receipt->set_version_id(std::to_string(put.version_id));
  if (put.outbox_entry_id > 0) receipt->set_outbox_entry_id(std::to_string(put.outbox_entry_id));
  receipt->set_duplicate(put.duplicate);
}

void FillEntry(const OutboxEntryInfo& info, v1::OutboxEntry* out) {
  out->set_outbox_entry_id(std::to_string(info.entry_id));
  out->set_resource_type(ProtoType(info.resource_type));
  out->set_resource_id(info.resource_id);
  out->set_version_id(std::to_string(info.version_id));
  out->set_state(ProtoState(info.state));
  out->set_attempts(info.attempts);
  SetTime(info.enqueued_at_ms, out->mutable_enqueued_at());
  SetTime(info.next_attempt_at_ms, out->mutable_next_attempt_at());
  SetTime(info.delivered_at_ms, out->mutable_delivered_at());
  out->set_last_http_status(info.last_http_status);
  out->set_last_error(info.last_error);
}

// A DiagnosticReport reference given either as our logical id or as the
// Parallax report id it derives from.
std::string ReportResourceId(const std::string& given) {
  if (given.empty()) return "";
  if (given.rfind("dr-", 0) == 0 && given.size() == 43 && IsValidLogicalId(given)) return given;
  return fhir::LogicalId("dr", given);
}

}  // namespace

FacadeService::FacadeService(ResourceStore* store, EhrOutbox* outbox, ingest_client::StudySource* studies,
                             FacadeServiceOptions options)
    : store_(store), outbox_(outbox), studies_(studies), options_(std::move(options)) {}

absl::StatusOr<common::v1::StudyManifest> FacadeService::ManifestFor(const common::v1::StudyManifest& given,
                                                                     const std::string& study_uid, bool required) {
  if (!given.study_instance_uid().empty()) {
    if (!study_uid.empty() && given.study_instance_uid() != study_uid) {
      return absl::InvalidArgumentError("the manifest is for another study than the request's study");
    }
    return given;
  }
  if (study_uid.empty() || studies_ == nullptr) {
    if (!required) return common::v1::StudyManifest();
    return absl::UnavailableError(
        "the request has no manifest and no ingest service is configured to read it from");
  }
  auto manifest =
      studies_->GetStudy(study_uid, std::chrono::system_clock::now() + options_.ingest_timeout);
  if (manifest.ok()) return manifest;
  if (manifest.status().code() == absl::StatusCode::kNotFound) {
    if (!required) return common::v1::StudyManifest();
    return absl::FailedPreconditionError(absl::StrCat("ingest does not know study ", study_uid));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot read the study's manifest from ingest: ", manifest.status().message()));
}

ResourceWrite FacadeService::Write(const std::string& type, const std::string& id, Json resource,
                                   const std::string& study_uid) {
  ResourceWrite w;
  w.type = type;
  w.id = id;
  w.keys = StandardKeys(type, resource, options_.settings.parallax_identifier_system,
                        options_.settings.patient_identifier_system);
  w.keys.study_instance_uid = study_uid;
  w.resource = std::move(resource);
  return w;
}

absl::StatusOr<v1::PublishReportResponse> FacadeService::Publish(const v1::PublishReportRequest& request) {
  if (request.report_id().empty()) return absl::InvalidArgumentError("report_id is required");
  const std::string& study_uid = request.study().study_instance_uid();
  if (study_uid.empty()) return absl::InvalidArgumentError("study.study_instance_uid is required");
  const std::string status = ReportStatusCode(request.status());
  if (status.empty()) return absl::InvalidArgumentError("status must be preliminary, final or amended");
  auto manifest = ManifestFor(request.manifest(), study_uid, /*required=*/true);
  if (!manifest.ok()) return manifest.status();
  v1::PublishReportRequest report = request;
  *report.mutable_manifest() = *std::move(manifest);

  fhir::ReportIds ids;
  ids.diagnostic_report = fhir::LogicalId("dr", report.report_id());
  ids.imaging_study = fhir::LogicalId("is", study_uid);
  for (int i = 0; i < report.observations_size(); ++i) {
    const std::string& finding_id = report.observations(i).finding().finding_id();
    ids.observations.push_back(
        fhir::LogicalId("obs", report.report_id() + "/" + (finding_id.empty() ? std::to_string(i) : finding_id)));
  }
  std::vector<ResourceWrite> writes;
  writes.push_back(Write("ImagingStudy", ids.imaging_study,
                         fhir::BuildImagingStudy(report.manifest(), ids.imaging_study, options_.settings), study_uid));
  for (int i = 0; i < report.observations_size(); ++i) {
    writes.push_back(Write("Observation", ids.observations[i],
                           fhir::BuildObservation(report, i, ids, options_.settings), study_uid));
  }
  writes.push_back(Write("DiagnosticReport", ids.diagnostic_report,
                         fhir::BuildDiagnosticReport(report, ids, options_.settings), study_uid));

  auto check = [&](store::Transaction& tx) -> absl::Status {
    auto current = store_->Current(tx, "DiagnosticReport", ids.diagnostic_report, /*lock=*/true);
    if (!current.ok()) return current.status();
    const std::string before = current->has_value() ? (*current)->status : "";
    const bool finalised = before == "final" || before == "amended";
    if (status == "amended" && !finalised) {
      return absl::FailedPreconditionError(absl::StrCat(
          "report ", report.report_id(), " cannot be amended before a final version was published"));
    }
    if (status == "preliminary" && finalised) {
      return absl::FailedPreconditionError(
          absl::StrCat("report ", report.report_id(), " is already ", before, "; a preliminary version is refused"));
    }
    if (status == "final" && before == "amended") {
      return absl::FailedPreconditionError(
          absl::StrCat("report ", report.report_id(), " is already amended; publish another amendment instead"));
    }
    return absl::OkStatus();
  };
  auto results = store_->PutAll(writes, check);
  if (!results.ok()) return results.status();
  v1::PublishReportResponse response;
  FillReceipt(results->back(), response.mutable_report());
  for (size_t i = 1; i + 1 < results->size(); ++i) FillReceipt((*results)[i], response.add_observations());
  return response;
}

absl::StatusOr<v1::PublishCommunicationResponse> FacadeService::Publish(
    const v1::PublishCommunicationRequest& request) {
  if (request.alert_id().empty()) return absl::InvalidArgumentError("alert_id is required");
  if (!request.has_finding()) return absl::InvalidArgumentError("finding is required");
  const std::string& study_uid = request.study().study_instance_uid();
  auto manifest = ManifestFor(request.manifest(), study_uid, /*required=*/false);
  if (!manifest.ok()) return manifest.status();
  v1::PublishCommunicationRequest alert = request;
  *alert.mutable_manifest() = *std::move(manifest);
  const std::string id = fhir::LogicalId("comm", alert.alert_id());
  auto put = store_->Put(Write("Communication", id,
                               fhir::BuildCommunication(alert, id, ReportResourceId(alert.diagnostic_report_id()),
                                                        options_.settings),
                               study_uid));
  if (!put.ok()) return put.status();
  v1::PublishCommunicationResponse response;
  FillReceipt(*put, response.mutable_communication());
  return response;
}

absl::StatusOr<v1::PublishTaskResponse> FacadeService::Publish(const v1::PublishTaskRequest& request) {
  if (request.case_id().empty()) return absl::InvalidArgumentError("case_id is required");
  if (request.status() == v1::TASK_STATUS_UNSPECIFIED) return absl::InvalidArgumentError("status is required");
  const std::string& study_uid = request.study().study_instance_uid();
  auto manifest = ManifestFor(common::v1::StudyManifest(), study_uid, /*required=*/false);
  if (!manifest.ok()) return manifest.status();
  const std::string id = fhir::LogicalId("task", request.case_id());
  Json task = manifest->study_instance_uid().empty() ? fhir::BuildTask(request, id, options_.settings)
                                                     : fhir::BuildTask(request, id, *manifest, options_.settings);
  auto put = store_->Put(Write("Task", id, std::move(task), study_uid));
  if (!put.ok()) return put.status();
  v1::PublishTaskResponse response;
  FillReceipt(*put, response.mutable_task());
  return response;
}

absl::StatusOr<v1::PublishAuditEventResponse> FacadeService::Publish(const v1::PublishAuditEventRequest& request) {
  const audit::v1::AuditEvent& event = request.event();
  if (event.sequence() <= 0) return absl::InvalidArgumentError("event.sequence is required (a recorded entry)");
  if (event.type() == audit::v1::EVENT_TYPE_UNSPECIFIED) return absl::InvalidArgumentError("event.type is required");
  const std::string id = fhir::LogicalId("audit", std::to_string(event.sequence()));
  ResourceWrite w = Write("AuditEvent", id, fhir::BuildAuditEvent(event, id, options_.settings),
                          event.subject().study_instance_uid());
  // Audit events reference nothing of ours: they need not wait behind a study.
  w.order_key = "AuditEvent/" + id;
  auto put = store_->Put(w);
  if (!put.ok()) return put.status();
  v1::PublishAuditEventResponse response;
  FillReceipt(*put, response.mutable_audit_event());
  return response;
}

absl::StatusOr<v1::GetOutboxStatusResponse> FacadeService::OutboxStatus(const v1::GetOutboxStatusRequest& request) {
  v1::GetOutboxStatusResponse response;
  auto counts = outbox_->Counts();
  if (!counts.ok()) return counts.status();
  response.set_pending(counts->pending);
  response.set_delivering(counts->delivering);
  response.set_retrying(counts->retrying);
  response.set_dead(counts->dead);
  response.set_delivered(counts->delivered);
  SetTime(counts->oldest_open_enqueued_at_ms, response.mutable_oldest_pending_enqueued_at());
  SetTime(counts->last_delivered_at_ms, response.mutable_last_delivered_at());
  for (const std::string& text : request.outbox_entry_ids()) {
    int64_t id = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return absl::NotFoundError(absl::StrCat("no outbox entry '", text.substr(0, 32), "'"));
    }
    auto info = outbox_->Get(id);
    if (!info.ok()) return info.status();
    OutboxEntryInfo shown = *info;
    // A superseded entry goes to the EHR as the version that replaced it:
    // show that one's state.
    for (int hops = 0; shown.state == OutboxEntryState::kSuperseded && shown.superseded_by > 0 && hops < 100; ++hops) {
      auto next = outbox_->Get(shown.superseded_by);
      if (!next.ok()) return next.status();
      shown.state = next->state;
      shown.superseded_by = next->superseded_by;
      shown.delivered_at_ms = next->delivered_at_ms;
      shown.next_attempt_at_ms = next->next_attempt_at_ms;
      shown.last_http_status = next->last_http_status;
      shown.last_error = absl::StrCat("superseded by outbox entry ", next->entry_id, " (version ", next->version_id,
                                      ")", next->last_error.empty() ? "" : ": ", next->last_error);
    }
    FillEntry(shown, response.add_entries());
  }
  if (auto state = EntryState(request.state()); state.has_value()) {
    auto listed = outbox_->List(*state, request.limit() > 0 ? request.limit() : 50);
    if (!listed.ok()) return listed.status();
    for (const OutboxEntryInfo& info : *listed) FillEntry(info, response.add_entries());
  }
  return response;
}

grpc::Status FacadeService::PublishReport(grpc::ServerContext* ctx, const v1::PublishReportRequest* request,
                                          v1::PublishReportResponse* response) {
  if (options_.authorize_call) {
    if (absl::Status a = options_.authorize_call(ctx); !a.ok()) return status::ToGrpc(a);
  }
  auto published = Publish(*request);
  if (published.ok() && options_.on_published) options_.on_published("report", request->study().study_instance_uid());
  return status::Respond(std::move(published), response);
}

grpc::Status FacadeService::PublishCommunication(grpc::ServerContext* ctx, const v1::PublishCommunicationRequest* request,
                                                 v1::PublishCommunicationResponse* response) {
  if (options_.authorize_call) {
    if (absl::Status a = options_.authorize_call(ctx); !a.ok()) return status::ToGrpc(a);
  }
  auto published = Publish(*request);
  if (published.ok() && options_.on_published) options_.on_published("alert", request->study().study_instance_uid());
  return status::Respond(std::move(published), response);
}

grpc::Status FacadeService::PublishTask(grpc::ServerContext* ctx, const v1::PublishTaskRequest* request,
                                        v1::PublishTaskResponse* response) {
  if (options_.authorize_call) {
    if (absl::Status a = options_.authorize_call(ctx); !a.ok()) return status::ToGrpc(a);
  }
  auto published = Publish(*request);
  if (published.ok() && options_.on_published) options_.on_published("case", request->study().study_instance_uid());
  return status::Respond(std::move(published), response);
}

grpc::Status FacadeService::PublishAuditEvent(grpc::ServerContext* ctx, const v1::PublishAuditEventRequest* request,
                                              v1::PublishAuditEventResponse* response) {
  if (options_.authorize_call) {
    if (absl::Status a = options_.authorize_call(ctx); !a.ok()) return status::ToGrpc(a);
  }
  return status::Respond(Publish(*request), response);
}

grpc::Status FacadeService::GetOutboxStatus(grpc::ServerContext* ctx, const v1::GetOutboxStatusRequest* request,
                                            v1::GetOutboxStatusResponse* response) {
  if (options_.authorize_call) {
    if (absl::Status a = options_.authorize_call(ctx); !a.ok()) return status::ToGrpc(a);
  }
  return status::Respond(OutboxStatus(*request), response);
}

}  // namespace parallax::fhir_facade
