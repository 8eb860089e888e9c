#include "workspace/workspace_api.h"

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/auth/grpc_auth.h"
#include "parallax/auth/roles.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::fhir_facade::workspace {

http::Response JsonResponse(int code, const Json& body) {
  http::Response r = http::Response::Make(code, body.dump(), "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

http::Response ErrorResponse(const absl::Status& status) {
  int code = 500;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: code = 400; break;
    case absl::StatusCode::kUnauthenticated: code = 401; break;
    case absl::StatusCode::kPermissionDenied: code = 403; break;
    case absl::StatusCode::kNotFound: code = 404; break;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kAlreadyExists: code = 409; break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted: code = 503; break;
    default: break;
  }
  http::Response r = JsonResponse(code, {{"error", std::string(status.message())}});
  if (code == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

WorkspaceApi::WorkspaceApi(WorkspaceBackends backends, const auth::ServiceAuth* auth,
                           std::optional<auth::JwtIssuer> issuer, const LocalIdentities* identities,
                           StudyKeys* keys, ChangeFeed* feed,
                           WorkspaceOptions options)
    : backends_(backends),
      auth_(auth),
      issuer_(std::move(issuer)),
      identities_(identities),
      keys_(keys),
      feed_(feed),
      options_(options) {}

void WorkspaceApi::AddRoutes(http::Router& router) {
  auto bind = [this](http::Response (WorkspaceApi::*handler)(const http::Request&)) {
    return [this, handler](const http::Request& r) { return (this->*handler)(r); };
  };
  router.Add("POST", "/api/session", bind(&WorkspaceApi::SignIn));
  router.Add("GET", "/api/me", bind(&WorkspaceApi::Me));
  router.Add("GET", "/api/events", bind(&WorkspaceApi::Events));
  router.Add("GET", "/api/worklist", bind(&WorkspaceApi::Worklist));
  router.Add("GET", "/api/studies/{key}", bind(&WorkspaceApi::Study));
  router.Add("GET", "/api/studies/{key}/series/{series}/slices/{slice}", bind(&WorkspaceApi::Slice));
  router.Add("GET", "/api/findings/{finding}/heatmap/{n}", bind(&WorkspaceApi::Heatmap));
  router.Add("POST", "/api/findings/{finding}/review", bind(&WorkspaceApi::Review));
  router.Add("POST", "/api/alerts/{alert}/acknowledge", bind(&WorkspaceApi::Acknowledge));
  router.Add("GET", "/api/cases", bind(&WorkspaceApi::Cases));
  router.Add("POST", "/api/cases/{case}/decision", bind(&WorkspaceApi::Decide));
  router.Add("GET", "/api/department", bind(&WorkspaceApi::Department));
}

void WorkspaceApi::OnPublished(std::string_view kind, const std::string& study_instance_uid) {
  if (study_instance_uid.empty()) return;
  feed_->Publish(std::string(kind), keys_->KeyOf(study_instance_uid));
}

absl::StatusOr<WorkspaceApi::Caller> WorkspaceApi::Authenticate(const http::Request& request) const {
  const std::string_view header = request.Header("Authorization");
  auto principal = auth_->AuthenticateHeader(header);
  if (!principal.ok()) {
    return absl::UnauthenticatedError("sign in first: the request has no valid bearer token");
  }
  Caller caller;
  caller.principal = std::move(*principal);
  caller.token = std::string(header.substr(header.find(' ') + 1));
  return caller;
}

void WorkspaceApi::Prepare(grpc::ClientContext* ctx, const Caller& caller) const {
  ctx->set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
  auth::AttachBearer(ctx, caller.token);
}

absl::StatusOr<escalation::v1::Report> WorkspaceApi::Report(const Caller& caller, const std::string& study_uid) const {
  if (backends_.escalation == nullptr) return absl::UnavailableError("no escalation service is configured");
  escalation::v1::GetReportRequest request;
  request.set_study_instance_uid(study_uid);
  escalation::v1::GetReportResponse response;
  grpc::ClientContext ctx;
  Prepare(&ctx, caller);
  absl::Status s = status::FromGrpc(backends_.escalation->GetReport(&ctx, request, &response));
  if (s.code() == absl::StatusCode::kNotFound) return escalation::v1::Report();  // not reported yet
  if (!s.ok()) return s;
  return response.report();
}

absl::StatusOr<std::vector<alerting::v1::Alert>> WorkspaceApi::Alerts(const Caller& caller,
                                                                       const std::string& study_uid) const {
  if (backends_.alerting == nullptr) return absl::UnavailableError("no alert routing service is configured");
  std::vector<alerting::v1::Alert> out;
  alerting::v1::ListAlertsRequest request;
  request.set_study_instance_uid(study_uid);
  request.set_page_size(500);
  for (int page = 0; page < 20; ++page) {
    alerting::v1::ListAlertsResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, caller);
    if (absl::Status s = status::FromGrpc(backends_.alerting->ListAlerts(&ctx, request, &response)); !s.ok()) {
      return s;
    }
    out.insert(out.end(), response.alerts().begin(), response.alerts().end());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return out;
}

absl::StatusOr<std::string> WorkspaceApi::ResolveStudy(const Caller& caller, const std::string& key) {
  if (auto uid = keys_->StudyOf(key)) return *uid;
  // Not handed out by this process yet (e.g. after a restart): the key is
  // deterministic, so look through the studies triage holds.
  if (backends_.triage != nullptr) {
    triage::v1::ListWorklistRequest request;
    request.set_limit(5000);
    triage::v1::ListWorklistResponse response;
    grpc::ClientContext ctx;
    Prepare(&ctx, caller);
    if (absl::Status s = status::FromGrpc(backends_.triage->ListWorklist(&ctx, request, &response)); !s.ok()) {
      return s;
    }
    for (const auto& e : response.entries()) keys_->KeyOf(e.study_instance_uid());
    if (auto uid = keys_->StudyOf(key)) return *uid;
  }
  return absl::NotFoundError("no study has this key");
}

void WorkspaceApi::RememberFinding(const std::string& finding_id, const std::string& study_uid) {
  std::lock_guard<std::mutex> lock(mu_);
  finding_studies_[finding_id] = study_uid;
}

std::optional<std::string> WorkspaceApi::StudyOfFinding(const std::string& finding_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = finding_studies_.find(finding_id);
  if (it == finding_studies_.end()) return std::nullopt;
  return it->second;
}

Json WorkspaceApi::MeJson(const auth::Principal& p) const {
  Json roles = Json::array();
  for (auth::Role r : p.roles) roles.push_back(auth::RoleName(r));
  const LocalAccount* account = identities_ != nullptr ? identities_->Account(p.user_id) : nullptr;
  const bool reviewer =
      p.HasAnyRole({escalation::v1::ROLE_RADIOLOGIST, escalation::v1::ROLE_THORACIC_RADIOLOGIST,
                    escalation::v1::ROLE_NEURORADIOLOGIST, escalation::v1::ROLE_SENIOR_RADIOLOGIST,
                    escalation::v1::ROLE_DEPARTMENT_HEAD});
  return {{"user", p.user_id},
          {"display_name", account != nullptr && !account->display_name.empty() ? account->display_name : p.user_id},
          {"roles", roles},
          {"groups", p.groups},
          {"expires_at", google::protobuf::util::TimeUtil::ToString(
                             google::protobuf::util::TimeUtil::SecondsToTimestamp(p.expires_at_unix))},
          {"can",
           {{"review", reviewer},
            {"decide_cases",
             p.HasAnyRole({escalation::v1::ROLE_SENIOR_RADIOLOGIST, escalation::v1::ROLE_DEPARTMENT_HEAD})},
            {"department", p.HasAnyRole({escalation::v1::ROLE_DEPARTMENT_HEAD, escalation::v1::ROLE_AUDITOR,
                                         escalation::v1::ROLE_ADMIN})}}}};
}

http::Response WorkspaceApi::SignIn(const http::Request& request) {
  if (!issuer_ || identities_ == nullptr) {
    return ErrorResponse(absl::NotFoundError(
        "local sign-in is not configured here: use a token from the hospital's identity provider"));
  }
  const Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("user") || !body["user"].is_string() ||
      !body.contains("password") || !body["password"].is_string()) {
    return ErrorResponse(absl::InvalidArgumentError("send {\"user\": \"…\", \"password\": \"…\"}"));
  }
  const std::string user = body["user"].get<std::string>();
  const bool verified = identities_->Verify(user, body["password"].get<std::string>());
  const LocalAccount* account = identities_->Account(user);
  if (!verified || account == nullptr) {
    log::Info("workspace sign-in refused", {{"reason", "unknown user or wrong password"}});
    return ErrorResponse(absl::UnauthenticatedError("unknown user or wrong password"));
  }
  auth::TokenClaims claims;
  claims.subject = user;
  claims.roles = account->roles;
  claims.groups = account->groups;
  claims.ttl = options_.session_ttl;
  const auto now = std::chrono::system_clock::now();
  auto token = issuer_->Issue(claims, now);
  if (!token.ok()) return ErrorResponse(token.status());
  auto principal = auth_->AuthenticateHeader("Bearer " + *token);
  if (!principal.ok()) return ErrorResponse(absl::InternalError("the issued token does not verify"));
  log::Info("workspace sign-in", {{"user", user}});
  return JsonResponse(200, {{"token", *token},
                            {"expires_at", google::protobuf::util::TimeUtil::ToString(
                                               google::protobuf::util::TimeUtil::SecondsToTimestamp(
                                                   principal->expires_at_unix))},
                            {"me", MeJson(*principal)}});
}

http::Response WorkspaceApi::Me(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  return JsonResponse(200, MeJson(caller->principal));
}

http::Response WorkspaceApi::Events(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  int64_t after = 0;
  if (auto a = request.QueryParam("after"); a && !a->empty() && !absl::SimpleAtoi(*a, &after)) {
    return ErrorResponse(absl::InvalidArgumentError("after must be a sequence number"));
  }
  const ChangeBatch batch = feed_->Wait(after, options_.events_wait);
  Json events = Json::array();
  for (const ChangeEvent& e : batch.events) {
    events.push_back({{"seq", e.seq}, {"kind", e.kind}, {"study_key", e.study_key}});
  }
  return JsonResponse(200, {{"seq", batch.seq}, {"events", events}, {"reset", batch.reset}});
}

}  // namespace parallax::fhir_facade::workspace
