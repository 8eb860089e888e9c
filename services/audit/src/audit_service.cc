#include "audit_service.h"

#include <algorithm>

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/audit_client/event_id.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::audit {
namespace {

namespace v1 = audit::v1;

// The log itself (entries, verification, the review list) is for auditors
// and administrators; the department's aggregate figures, which name no
// study, are also for the department head.
bool MayRead(const std::vector<std::string>& roles, bool aggregate) {
  return std::any_of(roles.begin(), roles.end(), [aggregate](const std::string& r) {
    return r == "auditor" || r == "admin" || (aggregate && r == "department_head");
  });
}

std::string Needed(bool aggregate) {
  return aggregate ? "the role auditor, admin or department_head" : "the role auditor or admin";
}

void AddAttribute(v1::AuditEvent& e, const std::string& key, const std::string& value) {
  v1::Attribute* a = e.add_attributes();
  a->set_key(key);
  a->set_value(value);
}

}  // namespace

AuditService::AuditService(AuditServiceDeps deps) : deps_(std::move(deps)) {}

grpc::Status AuditService::Authorize(grpc::ServerContext* context, std::string_view action, bool aggregate) {
  absl::StatusOr<std::vector<std::string>> roles =
      deps_.caller_roles ? deps_.caller_roles(context)
                         : absl::StatusOr<std::vector<std::string>>(
                               absl::PermissionDeniedError("no caller authorisation is configured"));
  if (roles.ok() && MayRead(*roles, aggregate)) return grpc::Status::OK;

  const bool unauthenticated = !roles.ok() && roles.status().code() == absl::StatusCode::kUnauthenticated;
  const std::string user_id = deps_.caller_user_id ? deps_.caller_user_id(context) : "";
  v1::AuditEvent refusal;
  refusal.set_event_id(audit_client::NewEventId());
  refusal.set_type(v1::EVENT_TYPE_ACCESS_REFUSED);
  *refusal.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  refusal.set_service("audit");
  v1::Actor* actor = refusal.mutable_actor();
  actor->set_kind(user_id.empty() ? v1::ACTOR_KIND_EXTERNAL_SYSTEM : v1::ACTOR_KIND_USER);
  actor->set_user_id(user_id);
  if (user_id.empty()) actor->set_system_id(unauthenticated ? "unauthenticated" : "unidentified");
  if (roles.ok()) {
    for (const std::string& r : *roles) actor->add_roles(r);
  }
  actor->set_network_address(context ? context->peer() : "");
  refusal.set_outcome(v1::OUTCOME_DENIED);
  AddAttribute(refusal, "action", std::string(action));
  AddAttribute(refusal, "reason", roles.ok() ? Needed(aggregate) + " required"
                                             : std::string(absl::StatusCodeToString(roles.status().code())));
  auto recorded = deps_.log->Record(refusal);
  if (recorded.ok()) {
    if (deps_.metrics && !recorded->duplicate()) {
      deps_.metrics->Recorded(v1::EVENT_TYPE_ACCESS_REFUSED);
      deps_.metrics->SetHead(recorded->sequence());
    }
    if (deps_.recorded && !recorded->duplicate()) deps_.recorded(recorded->sequence());
  } else {
    log::Error("could not record a refused access", {{"action", std::string(action)},
                                                     {"error", std::string(recorded.status().message())}});
  }
  if (unauthenticated) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the call carries no valid credentials");
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat(std::string(action), " needs ", Needed(aggregate)));
}

grpc::Status AuditService::Record(grpc::ServerContext* context, const v1::RecordRequest* request,
                                  v1::RecordResponse* response) {
  auto recorded = deps_.log->Record(request->event());
  if (!recorded.ok()) return status::ToGrpc(recorded.status());
  if (deps_.metrics && !recorded->duplicate()) {
    deps_.metrics->Recorded(request->event().type());
    deps_.metrics->SetHead(recorded->sequence());
  }
  if (deps_.recorded && !recorded->duplicate()) deps_.recorded(recorded->sequence());
  *response = std::move(*recorded);
  return grpc::Status::OK;
}

grpc::Status AuditService::Query(grpc::ServerContext* context, const v1::QueryRequest* request,
                                 v1::QueryResponse* response) {
  if (grpc::Status s = Authorize(context, "Audit.Query"); !s.ok()) return s;
  auto result = deps_.query->Query(*request);
  if (!result.ok()) return status::ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

void AuditService::ObserveVerify(const v1::VerifyResponse& verdict) {
  if (!deps_.metrics) return;
  if (!verdict.ok()) deps_.metrics->VerifyFailed();
  deps_.metrics->SetHead(verdict.head_sequence());
}

grpc::Status AuditService::Verify(grpc::ServerContext* context, const v1::VerifyRequest* request,
                                  v1::VerifyResponse* response) {
  if (grpc::Status s = Authorize(context, "Audit.Verify"); !s.ok()) return s;
  auto verdict = deps_.log->Verify(request->from_sequence(), request->to_sequence());
  if (!verdict.ok()) return status::ToGrpc(verdict.status());
  ObserveVerify(*verdict);
  if (!verdict->ok()) {
    log::Error("audit chain is broken", {{"first_broken_sequence", static_cast<long long>(verdict->first_broken_sequence())},
                                         {"reason", v1::BreakReason_Name(verdict->reason())}});
  }
  *response = std::move(*verdict);
  return grpc::Status::OK;
}

absl::StatusOr<v1::VerifyResponse> AuditService::VerifyNow() {
  auto verdict = deps_.log->Verify();
  if (verdict.ok()) ObserveVerify(*verdict);
  return verdict;
}

grpc::Status AuditService::GetAnalytics(grpc::ServerContext* context, const v1::GetAnalyticsRequest* request,
                                        v1::GetAnalyticsResponse* response) {
  if (grpc::Status s = Authorize(context, "Audit.GetAnalytics", /*aggregate=*/true); !s.ok()) return s;
  auto result = deps_.analytics->GetAnalytics(*request);
  if (!result.ok()) return status::ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status AuditService::GetReviewList(grpc::ServerContext* context, const v1::GetReviewListRequest* request,
                                         v1::GetReviewListResponse* response) {
  if (grpc::Status s = Authorize(context, "Audit.GetReviewList"); !s.ok()) return s;
  auto result = deps_.analytics->GetReviewList(*request);
  if (!result.ok()) return status::ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace parallax::audit
