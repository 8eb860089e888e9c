#pragma once
// The workspace's JSON API (services/fhir_facade/web/API.md): the
// radiologist's worklist, study view, review, escalation queue, department
// figures and live updates, over the services that own each part. The
// facade owns none of this state: it reads triage (worklist, evidence),
// ingest (images), escalation (reports, reviews, cases), alert routing
// (alerts) and audit (figures), and passes the caller's own bearer token on,
// so each service decides what the caller may see and do exactly as it does
// for any other client. The facade only checks that the token is valid.
//
// Handlers are spread over files by concern: workspace_api.cc (sign-in,
// identity, live updates, shared plumbing), study_views.cc (worklist, study,
// pixels, heatmaps), review_actions.cc (reviews, acknowledgements, cases),
// department_view.cc (figures).
//
// Thread-safety: thread-safe; the backends must be, and must outlive it.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>
#include <grpcpp/client_context.h>

#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/audit/v1/audit.grpc.pb.h"
#include "parallax/audit_client/audit_recorder.h"
#include "parallax/auth/jwt.h"
#include "parallax/auth/service_auth.h"
#include "parallax/escalation/v1/escalation.grpc.pb.h"
#include "parallax/http/router.h"
#include "parallax/ingest_client/study_source.h"
#include "parallax/triage/v1/triage.grpc.pb.h"
#include "workspace/change_feed.h"
#include "workspace/local_identity.h"
#include "workspace/study_keys.h"
#include "workspace/workspace_json.h"

namespace parallax::fhir_facade::workspace {

// The services behind the workspace; any may be null (its part of the API
// then answers 503 naming it).
struct WorkspaceBackends {
  triage::v1::Triage::StubInterface* triage = nullptr;
  escalation::v1::Escalation::StubInterface* escalation = nullptr;
  alerting::v1::AlertRouting::StubInterface* alerting = nullptr;
  audit::v1::Audit::StubInterface* audit = nullptr;
  ingest_client::StudySource* ingest = nullptr;
  // Records who opened which AI findings (FINDING_VIEWED); null = not recorded.
  audit_client::AuditRecorder* recorder = nullptr;
};

struct WorkspaceOptions {
  std::chrono::milliseconds call_timeout{5000};   // one call to a service
  std::chrono::milliseconds events_wait{25000};   // longest long-poll
  std::chrono::seconds session_ttl{8 * 3600};     // a signed-in session (a shift)
  int worklist_limit = 100;                       // studies in one worklist
};

class WorkspaceApi {
 public:
  // `auth` verifies bearer tokens; `issuer` and `identities` enable POST
  // /api/session (without them sign-in answers 404 and tokens come from the
  // hospital's identity provider). Pointers must outlive the API.
  WorkspaceApi(WorkspaceBackends backends, const auth::ServiceAuth* auth, std::optional<auth::JwtIssuer> issuer,
               const LocalIdentities* identities, StudyKeys* keys,
               ChangeFeed* feed, WorkspaceOptions options);

  // Adds the /api/... routes.
  void AddRoutes(http::Router& router);

  // Tells the browsers following /api/events that a study changed; the
  // facade calls it for every report, Communication and Task it publishes.
  void OnPublished(std::string_view kind, const std::string& study_instance_uid);

 private:
  struct Caller {
    auth::Principal principal;
    std::string token;
  };

  absl::StatusOr<Caller> Authenticate(const http::Request& request) const;
  // A client context with the call deadline and the caller's token.
  void Prepare(grpc::ClientContext* ctx, const Caller& caller) const;
  // The study a key stands for: the keys handed out so far, else a fresh
  // look through the worklist. NOT_FOUND when unknown.
  absl::StatusOr<std::string> ResolveStudy(const Caller& caller, const std::string& key);
  absl::StatusOr<escalation::v1::Report> Report(const Caller& caller, const std::string& study_uid) const;
  absl::StatusOr<std::vector<alerting::v1::Alert>> Alerts(const Caller& caller, const std::string& study_uid) const;
  void RememberFinding(const std::string& finding_id, const std::string& study_uid);
  // A finding's "comparison" of the study view, with the prior's key, series and slice map.
  Json PriorComparisonView(const common::v1::Finding& f, const std::string& study_uid,
                           const std::vector<const common::v1::SeriesManifest*>& image_series);
  std::optional<std::string> StudyOfFinding(const std::string& finding_id) const;
  Json MeJson(const auth::Principal& p) const;
  // FINDING_VIEWED for each positive finding the caller was shown.
  void RecordViewed(const Caller& caller, const escalation::v1::Report& report);

  // workspace_api.cc
  http::Response SignIn(const http::Request& request);
  http::Response Me(const http::Request& request);
  http::Response Events(const http::Request& request);
  // study_views.cc
  http::Response Worklist(const http::Request& request);
  http::Response Study(const http::Request& request);
  http::Response Slice(const http::Request& request);
  http::Response Heatmap(const http::Request& request);
  // review_actions.cc
  http::Response Review(const http::Request& request);
  http::Response Acknowledge(const http::Request& request);
  http::Response Cases(const http::Request& request);
  http::Response Decide(const http::Request& request);
  // department_view.cc
  http::Response Department(const http::Request& request);

  WorkspaceBackends backends_;
  const auth::ServiceAuth* auth_;
  std::optional<auth::JwtIssuer> issuer_;
  const LocalIdentities* identities_;
  StudyKeys* keys_;
  ChangeFeed* feed_;
  WorkspaceOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> finding_studies_;  // finding id -> study UID
};

// The JSON error body API.md describes, with the HTTP status for `status`'s
// code (400, 401, 403, 404, 409, 503, else 500).
http::Response ErrorResponse(const absl::Status& status);
http::Response JsonResponse(int code, const Json& body);

}  // namespace parallax::fhir_facade::workspace
