#include "route_recorder.h"

#include <absl/strings/str_cat.h>

#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "parallax/store/bytea.h"
#include "parallax/store/migrations.h"

namespace parallax::alerting {

absl::Status RouteRecorder::Migrate() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "routed analyses", R"sql(
CREATE TABLE alerting.routed (
  study_uid      text NOT NULL,
  generation     bigint NOT NULL,
  positives      integer NOT NULL,
  urgency        integer NOT NULL,
  request        bytea NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (study_uid, generation)
);
)sql"},
  };
  return store::ApplyMigrations(*db_, "alerting", kMigrations);
}

absl::StatusOr<alerting::v1::RouteResponse> RouteRecorder::Record(const alerting::v1::RouteRequest& request) {
  if (request.study().study_instance_uid().empty()) return absl::InvalidArgumentError("study UID is required");
  int positives = 0;
  alerting::v1::RouteResponse response;
  for (const common::v1::Finding& f : request.findings()) {
    if (f.finding_id().empty() || f.label().empty()) {
      return absl::InvalidArgumentError("every finding needs a finding_id and a label");
    }
    alerting::v1::SuppressedFinding* s = response.add_suppressed();
    s->set_finding_id(f.finding_id());
    s->set_label(f.label());
    if (f.positive()) {
      ++positives;
      s->set_reason(alerting::v1::SUPPRESSION_REASON_NO_POLICY);
    } else {
      s->set_reason(alerting::v1::SUPPRESSION_REASON_BELOW_OPERATING_POINT);
    }
  }
  auto rows = db_->Exec(
      "INSERT INTO alerting.routed (study_uid, generation, positives, urgency, request) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (study_uid, generation) DO NOTHING",
      {request.study().study_instance_uid(), static_cast<long long>(request.study().generation()), positives,
       request.urgency(), store::ToByteaHex(request.SerializeAsString())});
  if (!rows.ok()) return absl::UnavailableError(absl::StrCat("alerting store: ", rows.status().message()));
  log::Info("analysis routed", {{"study", request.study().study_instance_uid()},
                                {"generation", static_cast<long long>(request.study().generation())},
                                {"positives", positives},
                                {"new", rows->affected_rows() == 1}});
  return response;
}

grpc::Status RouteRecorder::Route(grpc::ServerContext*, const alerting::v1::RouteRequest* request,
                                  alerting::v1::RouteResponse* response) {
  auto r = Record(*request);
  if (!r.ok()) return status::ToGrpc(r.status());
  *response = *std::move(r);
  return grpc::Status::OK;
}

}  // namespace parallax::alerting
