// The department's figures (API.md): audit's analytics over a window.
#include <absl/strings/numbers.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/status/grpc_status.h"
#include "workspace/workspace_api.h"

namespace parallax::fhir_facade::workspace {

http::Response WorkspaceApi::Department(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  if (backends_.audit == nullptr) return ErrorResponse(absl::UnavailableError("no audit service is configured"));
  int days = 30;
  if (auto d = request.QueryParam("days"); d && !d->empty() && (!absl::SimpleAtoi(*d, &days) || days < 1 || days > 3660)) {
    return ErrorResponse(absl::InvalidArgumentError("days must be a whole number from 1 to 3660"));
  }
  audit::v1::GetAnalyticsRequest analytics;
  const int64_t now = google::protobuf::util::TimeUtil::TimestampToSeconds(
      google::protobuf::util::TimeUtil::GetCurrentTime());
  *analytics.mutable_window_start() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(now - static_cast<int64_t>(days) * 86400);
  audit::v1::GetAnalyticsResponse figures;
  grpc::ClientContext ctx;
  Prepare(&ctx, *caller);
  if (absl::Status s = status::FromGrpc(backends_.audit->GetAnalytics(&ctx, analytics, &figures)); !s.ok()) {
    return ErrorResponse(s);
  }
  return JsonResponse(200, DepartmentJson(figures, days));
}

}  // namespace parallax::fhir_facade::workspace
