// Reviews, acknowledgements and escalation cases (API.md). Every action goes
// to its owning service with the caller's own token: escalation and alert
// routing decide whether the caller may, and audit it.
#include <random>

#include <absl/strings/str_cat.h>

#include "parallax/status/grpc_status.h"
#include "workspace/workspace_api.h"

namespace parallax::fhir_facade::workspace {
namespace {

// A request id for the service's idempotency when the browser sent none.
std::string NewRequestId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat("ws-", absl::Hex(rng()), absl::Hex(rng()));
}

absl::StatusOr<Json> Body(const http::Request& request) {
  Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  return body;
}

std::string Text(const Json& body, const char* key) {
  return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : "";
}

// A FindingModification from {"subtype", "laterality", "zone", "area_cm2", "volume_ml"}.
absl::StatusOr<escalation::v1::FindingModification> Modification(const Json& body) {
  escalation::v1::FindingModification m;
  if (!body.contains("modification") || body["modification"].is_null()) return m;
  const Json& j = body["modification"];
  if (!j.is_object()) return absl::InvalidArgumentError("modification must be an object");
  if (j.contains("subtype") && j["subtype"].is_string()) m.set_subtype(j["subtype"].get<std::string>());
  if (j.contains("zone") && j["zone"].is_string()) m.set_zone(j["zone"].get<std::string>());
  if (j.contains("laterality") && j["laterality"].is_string() && !j["laterality"].get<std::string>().empty()) {
    common::v1::Laterality l;
    if (!ParseLaterality(j["laterality"].get<std::string>(), &l)) {
      return absl::InvalidArgumentError("laterality must be left, right, bilateral, midline or not_applicable");
    }
    m.set_laterality(l);
  }
  for (const char* key : {"area_cm2", "volume_ml"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_number() || j[key].get<double>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(key, " must be a number of at least 0"));
    }
    if (std::string(key) == "area_cm2") m.set_area_cm2(j[key].get<double>());
    else m.set_volume_ml(j[key].get<double>());
  }
  return m;
}

}  // namespace

http::Response WorkspaceApi::Review(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  auto body = Body(request);
  if (!body.ok()) return ErrorResponse(body.status());
  if (backends_.escalation == nullptr) return ErrorResponse(absl::UnavailableError("no escalation service is configured"));
  const std::string finding_id(request.PathParam("finding"));
  const std::string action = Text(*body, "action");
  escalation::v1::ReviewFindingRequest review;
  if (action == "accept") review.set_action(escalation::v1::REVIEW_ACTION_ACCEPT);
  else if (action == "reject") review.set_action(escalation::v1::REVIEW_ACTION_REJECT);
  else if (action == "modify") review.set_action(escalation::v1::REVIEW_ACTION_MODIFY);
  else return ErrorResponse(absl::InvalidArgumentError("action must be accept, reject or modify"));

  // The study: from the body's key, else from a study view served before.
  std::optional<std::string> study_uid;
  if (const std::string key = Text(*body, "study_key"); !key.empty()) {
    auto uid = ResolveStudy(*caller, key);
    if (!uid.ok()) return ErrorResponse(uid.status());
    study_uid = *uid;
  } else {
    study_uid = StudyOfFinding(finding_id);
  }
  if (!study_uid) return ErrorResponse(absl::NotFoundError("open the study before reviewing its findings"));
  auto report = Report(*caller, *study_uid);
  if (!report.ok()) return ErrorResponse(report.status());
  const escalation::v1::ReportedFinding* reported = nullptr;
  for (const auto& f : report->findings()) {
    if (f.finding().finding_id() == finding_id) reported = &f;
  }
  if (reported == nullptr) {
    return ErrorResponse(absl::FailedPreconditionError(
        "this finding is not in the study's current report (a newer analysis replaced it): reload the study"));
  }
  if (review.action() == escalation::v1::REVIEW_ACTION_REJECT) {
    const std::string reason = Text(*body, "reason");
    const std::string code = Text(*body, "reason_code");
    escalation::v1::RejectReason r = escalation::v1::REJECT_REASON_OTHER;
    if (!code.empty()) {
      bool known = false;
      for (int v = escalation::v1::RejectReason_MIN; v <= escalation::v1::RejectReason_MAX; ++v) {
        if (!escalation::v1::RejectReason_IsValid(v) || v == 0) continue;
        if (EnumText(escalation::v1::RejectReason_Name(static_cast<escalation::v1::RejectReason>(v)),
                     "REJECT_REASON_") == code) {
          r = static_cast<escalation::v1::RejectReason>(v);
          known = true;
        }
      }
      if (!known) return ErrorResponse(absl::InvalidArgumentError("unknown reason_code"));
    }
    if (r == escalation::v1::REJECT_REASON_OTHER && reason.empty()) {
      return ErrorResponse(absl::InvalidArgumentError("a rejection needs a reason"));
    }
    review.set_reject_reason(r);
    review.set_reason_text(reason);
  }
  auto modification = Modification(*body);
  if (!modification.ok()) return ErrorResponse(modification.status());
  if (review.action() == escalation::v1::REVIEW_ACTION_MODIFY) *review.mutable_modification() = *modification;

  auto alerts = Alerts(*caller, *study_uid);
  if (!alerts.ok()) return ErrorResponse(alerts.status());
  for (const auto& a : *alerts) {
    if (a.finding().finding_id() == finding_id) review.set_alert_id(a.alert_id());
  }
  const std::string request_id = Text(*body, "request_id");
  review.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  review.set_actor_user_id(caller->principal.user_id);
  *review.mutable_study() = report->study();
  *review.mutable_finding() = reported->finding();
  escalation::v1::ReviewFindingResponse reviewed;
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, *caller);
    if (absl::Status s = status::FromGrpc(backends_.escalation->ReviewFinding(&ctx, review, &reviewed)); !s.ok()) {
      return ErrorResponse(s);
    }
  }
  OnPublished("report", *study_uid);
  auto after = Report(*caller, *study_uid);
  if (!after.ok()) return ErrorResponse(after.status());
  std::string outcome = "pending";
  for (const auto& f : after->findings()) {
    if (f.finding().finding_id() == finding_id) outcome = OutcomeText(f.outcome());
  }
  return JsonResponse(200, {{"outcome", outcome},
                            {"report", ReportSummaryJson(*after)},
                            {"case_id", reviewed.opened_case().case_id()}});
}

http::Response WorkspaceApi::Acknowledge(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  if (backends_.alerting == nullptr) return ErrorResponse(absl::UnavailableError("no alert routing service is configured"));
  alerting::v1::AcknowledgeAlertRequest ack;
  ack.set_alert_id(std::string(request.PathParam("alert")));
  ack.set_actor_user_id(caller->principal.user_id);
  alerting::v1::AcknowledgeAlertResponse acked;
  grpc::ClientContext ctx;
  Prepare(&ctx, *caller);
  if (absl::Status s = status::FromGrpc(backends_.alerting->AcknowledgeAlert(&ctx, ack, &acked)); !s.ok()) {
    return ErrorResponse(s);
  }
  OnPublished("alert", acked.alert().study().study_instance_uid());
  return JsonResponse(200, {{"state", AlertStateText(acked.alert().state())},
                            {"acknowledged_by", acked.alert().acknowledged_by()}});
}

http::Response WorkspaceApi::Cases(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  if (backends_.escalation == nullptr) return ErrorResponse(absl::UnavailableError("no escalation service is configured"));
  escalation::v1::ListCasesRequest list;
  const std::string state = request.QueryParam("state").value_or("open");
  if (state == "open") list.add_states(escalation::v1::CASE_STATE_OPEN);
  else if (state == "decided") list.add_states(escalation::v1::CASE_STATE_DECIDED);
  else if (state != "any") return ErrorResponse(absl::InvalidArgumentError("state must be open, decided or any"));
  list.set_page_size(200);
  escalation::v1::ListCasesResponse listed;
  grpc::ClientContext ctx;
  Prepare(&ctx, *caller);
  if (absl::Status s = status::FromGrpc(backends_.escalation->ListCases(&ctx, list, &listed)); !s.ok()) {
    return ErrorResponse(s);
  }
  Json cases = Json::array();
  for (const auto& c : listed.cases()) {
    RememberFinding(c.finding().finding_id(), c.study().study_instance_uid());
    cases.push_back(CaseJson(c, keys_->KeyOf(c.study().study_instance_uid())));
  }
  return JsonResponse(200, {{"cases", cases}});
}

http::Response WorkspaceApi::Decide(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  auto body = Body(request);
  if (!body.ok()) return ErrorResponse(body.status());
  if (backends_.escalation == nullptr) return ErrorResponse(absl::UnavailableError("no escalation service is configured"));
  escalation::v1::DecideCaseRequest decide;
  const std::string decision = Text(*body, "decision");
  if (decision == "confirm") decide.set_decision(escalation::v1::CASE_DECISION_CONFIRM_FINDING);
  else if (decision == "uphold_rejection") decide.set_decision(escalation::v1::CASE_DECISION_UPHOLD_REJECTION);
  else if (decision == "modify") decide.set_decision(escalation::v1::CASE_DECISION_MODIFY);
  else return ErrorResponse(absl::InvalidArgumentError("decision must be confirm, uphold_rejection or modify"));
  auto modification = Modification(*body);
  if (!modification.ok()) return ErrorResponse(modification.status());
  if (decide.decision() == escalation::v1::CASE_DECISION_MODIFY) *decide.mutable_modification() = *modification;
  const std::string request_id = Text(*body, "request_id");
  decide.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  decide.set_actor_user_id(caller->principal.user_id);
  decide.set_case_id(std::string(request.PathParam("case")));
  decide.set_rationale(Text(*body, "rationale"));
  escalation::v1::DecideCaseResponse decided;
  grpc::ClientContext ctx;
  Prepare(&ctx, *caller);
  if (absl::Status s = status::FromGrpc(backends_.escalation->DecideCase(&ctx, decide, &decided)); !s.ok()) {
    return ErrorResponse(s);
  }
  const std::string& study_uid = decided.decided_case().study().study_instance_uid();
  OnPublished("case", study_uid);
  return JsonResponse(200, {{"case", CaseJson(decided.decided_case(), keys_->KeyOf(study_uid))},
                            {"report", ReportSummaryJson(decided.report())}});
}

}  // namespace parallax::fhir_facade::workspace
