#include "triage_service.h"

#include <absl/strings/str_cat.h>

#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "study_plan.h"
#include "urgency.h"

namespace parallax::triage {

absl::StatusOr<triage::v1::SubmitStudyResponse> TriageService::Submit(const triage::v1::SubmitStudyRequest& request) {
  const auto& study = request.study();
  if (study.study_instance_uid().empty()) return absl::InvalidArgumentError("study.study_instance_uid is required");
  if (study.generation() < 1) return absl::InvalidArgumentError("study.generation must be >= 1");
  const StudyPlan plan = PlanStudy(study, *models_);
  const int urgency = InitialUrgency(plan.setting, plan.modality, plan.head);
  std::vector<int> flags(plan.quality_flags.begin(), plan.quality_flags.end());
  const bool applies = !plan.models.empty();
  bool fresh = false;
  absl::Status s = db_->InTransaction([&](store::Transaction& txn) -> absl::Status {
    absl::StatusOr<bool> recorded =
        store_->RecordSubmission(txn, request, applies ? "queued" : "not_applicable",
                                 applies ? "" : plan.NotApplicableReason(), urgency, plan.modality,
                                 PatientSettingName(plan.setting), flags);
    if (!recorded.ok()) return recorded.status();
    fresh = *recorded;
    return absl::OkStatus();
  });
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("triage store: ", s.message()));
  triage::v1::SubmitStudyResponse response;
  if (applies) {
    // Enqueue even when the submission was already recorded: a crash between
    // the two leaves ingest retrying, and Enqueue is idempotent.
    absl::StatusOr<EnqueueResult> job =
        queue_->Enqueue(study.study_instance_uid(), study.generation(), urgency, request.SerializeAsString());
    if (!job.ok()) return absl::UnavailableError(absl::StrCat("triage queue: ", job.status().message()));
    fresh = fresh || job->newly_created;
    response.set_job_id(std::to_string(job->job_id));
  }
  response.set_newly_accepted(fresh);
  log::Info("study submitted", {{"study_uid", study.study_instance_uid()},
                                {"generation", static_cast<long long>(study.generation())},
                                {"models", static_cast<int>(plan.models.size())},
                                {"urgency", urgency},
                                {"new", fresh},
                                {"not_applicable", applies ? std::string() : plan.NotApplicableReason()}});
  return response;
}

grpc::Status TriageService::SubmitStudy(grpc::ServerContext*, const triage::v1::SubmitStudyRequest* request,
                                        triage::v1::SubmitStudyResponse* response) {
  return status::Respond(Submit(*request), response);
}

grpc::Status TriageService::GetStudyStatus(grpc::ServerContext*, const triage::v1::GetStudyStatusRequest* request,
                                           triage::v1::GetStudyStatusResponse* response) {
  return status::Respond(store_->Status(request->study_instance_uid()), response);
}

grpc::Status TriageService::ListWorklist(grpc::ServerContext*, const triage::v1::ListWorklistRequest* request,
                                         triage::v1::ListWorklistResponse* response) {
  auto r = store_->Worklist(*request);
  if (!r.ok()) return status::ToGrpc(r.status());
  for (auto& e : *r) *response->add_entries() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status TriageService::GetEvidence(grpc::ServerContext*, const triage::v1::GetEvidenceRequest* request,
                                        triage::v1::GetEvidenceResponse* response) {
  return status::Respond(store_->Evidence(*request), response);
}

}  // namespace parallax::triage
