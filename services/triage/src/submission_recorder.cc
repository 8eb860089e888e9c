#include "submission_recorder.h"

#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "parallax/store/migrations.h"

namespace parallax::triage {
namespace {

const std::vector<store::Migration>& Migrations() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "submitted studies", R"sql(
CREATE TABLE triage.submissions (
  study_uid        text NOT NULL,
  generation       bigint NOT NULL,
  submission_id    text NOT NULL,
  series_count     integer NOT NULL,
  instance_count   integer NOT NULL,
  manifest         bytea NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (study_uid, generation)
);
)sql"},
  };
  return kMigrations;
}

// bytea parameter in PostgreSQL's hex format.
std::string HexBytea(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace

absl::Status SubmissionRecorder::Migrate() { return store::ApplyMigrations(*db_, "triage", Migrations()); }

grpc::Status SubmissionRecorder::SubmitStudy(grpc::ServerContext*, const triage::v1::SubmitStudyRequest* request,
                                             triage::v1::SubmitStudyResponse* response) {
  const auto& study = request->study();
  if (study.study_instance_uid().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "study.study_instance_uid is required");
  }
  if (study.generation() < 1) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "study.generation must be >= 1");
  int instances = 0;
  for (const auto& series : study.series()) instances += series.instances_size();
  auto rows = db_->Exec(
      "INSERT INTO triage.submissions (study_uid, generation, submission_id, series_count, instance_count, manifest) "
      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (study_uid, generation) DO NOTHING",
      {study.study_instance_uid(), static_cast<long long>(study.generation()), request->submission_id(),
       study.series_size(), instances, HexBytea(study.SerializeAsString())});
  if (!rows.ok()) return status::ToGrpc(absl::UnavailableError("triage store: " + std::string(rows.status().message())));
  response->set_newly_accepted(rows->affected_rows() == 1);
  response->set_job_id(study.study_instance_uid() + "/" + std::to_string(study.generation()));
  log::Info("study submitted", {{"study_uid", study.study_instance_uid()},
                                {"generation", static_cast<long long>(study.generation())},
                                {"series", study.series_size()},
                                {"instances", instances},
                                {"new", response->newly_accepted()}});
  return grpc::Status::OK;
}

grpc::Status SubmissionRecorder::GetStudyStatus(grpc::ServerContext*,
                                                const triage::v1::GetStudyStatusRequest* request,
                                                triage::v1::GetStudyStatusResponse* response) {
  auto rows = db_->Exec(
      "SELECT generation FROM triage.submissions WHERE study_uid = $1 ORDER BY generation DESC LIMIT 1",
      {request->study_instance_uid()});
  if (!rows.ok()) return status::ToGrpc(absl::UnavailableError(std::string(rows.status().message())));
  if (rows->empty()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "study was never submitted");
  response->set_study_instance_uid(request->study_instance_uid());
  response->set_generation((*rows)[0].GetInt64(0).value_or(0));
  response->set_state(triage::v1::ANALYSIS_STATE_QUEUED);
  response->set_reason("recorded; analysis arrives with the triage issue");
  return grpc::Status::OK;
}

grpc::Status SubmissionRecorder::ListWorklist(grpc::ServerContext*, const triage::v1::ListWorklistRequest* request,
                                              triage::v1::ListWorklistResponse* response) {
  const int limit = request->limit() > 0 ? std::min(request->limit(), 500) : 100;
  auto rows = db_->Exec(
      "SELECT DISTINCT ON (study_uid) study_uid, generation, received_at FROM triage.submissions "
      "ORDER BY study_uid, generation DESC LIMIT $1",
      {limit});
  if (!rows.ok()) return status::ToGrpc(absl::UnavailableError(std::string(rows.status().message())));
  for (const auto& row : *rows) {
    auto* entry = response->add_entries();
    entry->set_study_instance_uid(row.Get(0).value_or(""));
    entry->set_generation(row.GetInt64(1).value_or(0));
    entry->set_state(triage::v1::ANALYSIS_STATE_QUEUED);
  }
  return grpc::Status::OK;
}

}  // namespace parallax::triage
