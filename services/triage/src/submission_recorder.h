#pragma once
// Triage at its first stage: records each submitted study (schema `triage`)
// so nothing ingest hands over is lost, idempotently per (study, generation).
// The analysis queue of the triage issue builds on these rows.
// Thread-safe.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/store/database.h"
#include "parallax/triage/v1/triage.grpc.pb.h"

namespace parallax::triage {

class SubmissionRecorder final : public triage::v1::Triage::Service {
 public:
  explicit SubmissionRecorder(store::Database* db) : db_(db) {}

  absl::Status Migrate();

  grpc::Status SubmitStudy(grpc::ServerContext* ctx, const triage::v1::SubmitStudyRequest* request,
                           triage::v1::SubmitStudyResponse* response) override;
  grpc::Status GetStudyStatus(grpc::ServerContext* ctx, const triage::v1::GetStudyStatusRequest* request,
                              triage::v1::GetStudyStatusResponse* response) override;
  grpc::Status ListWorklist(grpc::ServerContext* ctx, const triage::v1::ListWorklistRequest* request,
                            triage::v1::ListWorklistResponse* response) override;

 private:
  store::Database* db_;
};

}  // namespace parallax::triage
