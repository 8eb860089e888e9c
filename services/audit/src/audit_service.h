#pragma once
// The Audit gRPC service (parallax.audit.v1.Audit): Record for services,
// Query, Verify, GetAnalytics and GetReviewList for auditors and admins.
//
// Authorisation is injected: `caller_roles` returns the authenticated
// caller's role names ("auditor", "admin", ...), or UNAUTHENTICATED /
// PERMISSION_DENIED when the call carries no acceptable identity. Query,
// Verify, GetAnalytics and GetReviewList need the role auditor or admin;
// every refusal answers PERMISSION_DENIED (UNAUTHENTICATED when the caller
// could not be identified) and is itself recorded as an ACCESS_REFUSED
// entry (attribute "action" = the RPC, e.g. "Audit.Query"). Without a
// caller_roles function every such call is refused. Record checks no role:
// services reach it over the internal network (mTLS or network policy is the
// boundary).
//
// Thread-safe: gRPC calls the handlers from many threads; the collaborators
// are thread-safe and must outlive the service.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include "analytics.h"
#include "audit_log.h"
#include "audit_metrics.h"
#include "audit_query.h"
#include "parallax/audit/v1/audit.grpc.pb.h"

namespace parallax::audit {

// The caller's role names, or UNAUTHENTICATED / PERMISSION_DENIED.
using CallerRoles = std::function<absl::StatusOr<std::vector<std::string>>(grpc::ServerContext*)>;
// The caller's user id for ACCESS_REFUSED entries ("" when unknown).
using CallerUserId = std::function<std::string(grpc::ServerContext*)>;
// Told the sequence of each new entry once it has committed (not for
// duplicates), e.g. to wake the FHIR exporter. Called on gRPC threads; must
// be quick and thread-safe.
using EntryRecorded = std::function<void(int64_t sequence)>;

struct AuditServiceDeps {
  AuditLog* log = nullptr;              // required
  AuditQuery* query = nullptr;          // required
  AuditAnalytics* analytics = nullptr;  // required
  CallerRoles caller_roles;             // empty = refuse every read
  CallerUserId caller_user_id;          // optional
  AuditMetrics* metrics = nullptr;      // optional
  EntryRecorded recorded;               // optional
};

class AuditService final : public audit::v1::Audit::Service {
 public:
  explicit AuditService(AuditServiceDeps deps);

  grpc::Status Record(grpc::ServerContext* context, const audit::v1::RecordRequest* request,
                      audit::v1::RecordResponse* response) override;
  grpc::Status Query(grpc::ServerContext* context, const audit::v1::QueryRequest* request,
                     audit::v1::QueryResponse* response) override;
  grpc::Status Verify(grpc::ServerContext* context, const audit::v1::VerifyRequest* request,
                      audit::v1::VerifyResponse* response) override;
  grpc::Status GetAnalytics(grpc::ServerContext* context, const audit::v1::GetAnalyticsRequest* request,
                            audit::v1::GetAnalyticsResponse* response) override;
  grpc::Status GetReviewList(grpc::ServerContext* context, const audit::v1::GetReviewListRequest* request,
                             audit::v1::GetReviewListResponse* response) override;

  // Verifies the whole chain (for the periodic check in main) and updates
  // the metrics. Returns the verdict; errors as AuditLog::Verify.
  absl::StatusOr<audit::v1::VerifyResponse> VerifyNow();

 private:
  // OK when the caller holds auditor or admin (with `aggregate`, the
  // department's figures, also department_head); otherwise records the
  // refusal of `action` and returns PERMISSION_DENIED (or UNAUTHENTICATED).
  grpc::Status Authorize(grpc::ServerContext* context, std::string_view action, bool aggregate = false);
  void ObserveVerify(const audit::v1::VerifyResponse& verdict);

  AuditServiceDeps deps_;
};

}  // namespace parallax::audit
