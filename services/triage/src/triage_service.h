#pragma once
// The Triage gRPC service: SubmitStudy plans the study from its headers
// (study_plan.h), records it, scores its urgency and enqueues an analysis job
// (job_queue.h); a study no model applies to is recorded as not applicable
// with every model's reason, never dropped. GetStudyStatus and ListWorklist
// read triage.studies. Thread-safe.
#include <vector>

#include "job_queue.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/triage/v1/triage.grpc.pb.h"
#include "triage_store.h"

namespace parallax::triage {

class TriageService final : public triage::v1::Triage::Service {
 public:
  // Everything must outlive the service.
  TriageService(store::Database* db, TriageStore* store, JobQueue* queue,
                const std::vector<inference::ModelManifest>* models)
      : db_(db), store_(store), queue_(queue), models_(models) {}

  // SubmitStudy without gRPC. INVALID_ARGUMENT without a study UID or with a
  // generation < 1; UNAVAILABLE when the store is down (ingest retries).
  absl::StatusOr<triage::v1::SubmitStudyResponse> Submit(const triage::v1::SubmitStudyRequest& request);

  grpc::Status SubmitStudy(grpc::ServerContext* ctx, const triage::v1::SubmitStudyRequest* request,
                           triage::v1::SubmitStudyResponse* response) override;
  grpc::Status GetStudyStatus(grpc::ServerContext* ctx, const triage::v1::GetStudyStatusRequest* request,
                              triage::v1::GetStudyStatusResponse* response) override;
  grpc::Status ListWorklist(grpc::ServerContext* ctx, const triage::v1::ListWorklistRequest* request,
                            triage::v1::ListWorklistResponse* response) override;
  grpc::Status GetEvidence(grpc::ServerContext* ctx, const triage::v1::GetEvidenceRequest* request,
                           triage::v1::GetEvidenceResponse* response) override;

 private:
  store::Database* db_;
  TriageStore* store_;
  JobQueue* queue_;
  const std::vector<inference::ModelManifest>* models_;
};

}  // namespace parallax::triage
