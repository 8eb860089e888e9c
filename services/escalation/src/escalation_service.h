#pragma once
// The Escalation gRPC service: the radiologist's review of AI findings
// (accept / reject / modify), escalation of a rejected critical finding to a
// senior as a case, the senior's decision, the study's report, and the user
// directory. Every action is authorised (rbac.h) against the caller the
// authenticated channel names, merged with the directory, and recorded in the
// audit trail in the same transaction; every refusal is recorded too.
// Reports and tasks leave through the outbox (report_publisher.h), so a
// facade or PACS outage delays them and never loses them. Thread-safe.
#include <chrono>
#include <functional>
#include <string>

#include <absl/status/statusor.h>

#include "audit_trail.h"
#include "escalation_store.h"
#include "parallax/auth/principal.h"
#include "parallax/escalation/v1/escalation.grpc.pb.h"
#include "rbac.h"

namespace parallax::escalation {

// Who the channel says is calling (the verified bearer token), before the
// directory is consulted.
using TokenIdentity = auth::Principal;

struct EscalationOptions {
  std::string case_group = "senior-radiology";  // who receives escalation cases
  std::chrono::minutes case_due{30};            // time a senior has to decide
};

class EscalationService final : public v1::Escalation::Service {
 public:
  using Authenticate = std::function<absl::StatusOr<TokenIdentity>(grpc::ServerContext*)>;
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // Everything must outlive the service. `on_outbox` is called after a
  // commit that enqueued work for the publisher. `publish_now` delivers the
  // outbox synchronously: OpenReport calls it before answering, so the
  // preliminary report reaches the facade before the alert's Communication
  // that is `about` it (alert routing publishes that after OpenReport).
  EscalationService(EscalationStore* store, AuditTrail* audit, Authenticate authenticate, EscalationOptions options,
                    std::function<void()> on_outbox = [] {}, Clock clock = std::chrono::system_clock::now,
                    std::function<void()> publish_now = {});

  // The RPCs without gRPC, for tests: the caller is given.
  absl::StatusOr<v1::ReviewFindingResponse> Review(const TokenIdentity& who, const v1::ReviewFindingRequest& request);
  absl::StatusOr<v1::OpenReportResponse> Open(const TokenIdentity& who, const v1::OpenReportRequest& request);
  absl::StatusOr<v1::DecideCaseResponse> Decide(const TokenIdentity& who, const v1::DecideCaseRequest& request);
  absl::StatusOr<v1::ListCasesResponse> Cases(const TokenIdentity& who, const v1::ListCasesRequest& request);
  absl::StatusOr<v1::GetReportResponse> Report(const std::string& study_uid);
  absl::StatusOr<v1::UpsertUserResponse> Upsert(const TokenIdentity& who, const v1::UpsertUserRequest& request);
  absl::StatusOr<v1::ListUsersResponse> Users(const TokenIdentity& who, const v1::ListUsersRequest& request);

  grpc::Status ReviewFinding(grpc::ServerContext* ctx, const v1::ReviewFindingRequest* request,
                             v1::ReviewFindingResponse* response) override;
  grpc::Status OpenReport(grpc::ServerContext* ctx, const v1::OpenReportRequest* request,
                          v1::OpenReportResponse* response) override;
  grpc::Status ListCases(grpc::ServerContext* ctx, const v1::ListCasesRequest* request,
                         v1::ListCasesResponse* response) override;
  grpc::Status DecideCase(grpc::ServerContext* ctx, const v1::DecideCaseRequest* request,
                          v1::DecideCaseResponse* response) override;
  grpc::Status GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* request,
                         v1::GetReportResponse* response) override;
  grpc::Status UpsertUser(grpc::ServerContext* ctx, const v1::UpsertUserRequest* request,
                          v1::UpsertUserResponse* response) override;
  grpc::Status ListUsers(grpc::ServerContext* ctx, const v1::ListUsersRequest* request,
                         v1::ListUsersResponse* response) override;

  // The report of a study as it stands (findings with outcomes), inside or
  // outside a transaction. NOT_FOUND when the study has no report.
  static absl::StatusOr<v1::Report> BuildReport(EscalationStore* store, store::Transaction* txn,
                                                const std::string& study_uid);

 private:
  // The caller merged with the directory: token roles and groups plus the
  // directory's, override labels from the directory, inactive when the
  // directory says so. PERMISSION_DENIED when the request's actor is not
  // the authenticated caller.
  absl::StatusOr<Caller> Resolve(const TokenIdentity& who, const std::string& actor_user_id);
  // Records an ACCESS_REFUSED event (best effort beyond the durable outbox)
  // and returns `refusal`.
  absl::Status Refuse(const Caller& caller, const std::string& action, const audit::v1::Subject& subject,
                      const absl::Status& refusal);
  // After a review or decision: when every positive finding is settled,
  // issues the next report version (final, or amended when it was final)
  // and enqueues it. Returns whether a report was triggered.
  absl::StatusOr<bool> SettleReport(store::Transaction& txn, const std::string& study_uid);
  audit::v1::AuditEvent Event(audit::v1::EventType type, const Caller& caller) const;

  EscalationStore* store_;
  AuditTrail* audit_;
  Authenticate authenticate_;
  EscalationOptions options_;
  std::function<void()> on_outbox_;
  Clock clock_;
  std::function<void()> publish_now_;
};

}  // namespace parallax::escalation
