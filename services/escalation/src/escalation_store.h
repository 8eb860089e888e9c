#pragma once
// The escalation service's state in PostgreSQL (schema `escalation`):
//   users            the directory: roles, routing groups, override labels
//   override_rights  per-condition override rights granted to roles
//   reports          one per study: generation, version, status, manifest
//   findings         every finding of the report's generations, with its
//                    critical mark, current (possibly modified) value and
//                    outcome; superseded when a newer generation arrives
//   reviews          accept / reject / modify, idempotent per request_id
//   cases            escalation cases; at most one open per finding
//   outbox           what must still reach the FHIR facade, the PACS and
//                    alert routing (ResolveAlerts of reviewed findings)
// Protos are stored serialized next to the columns that are queried. The
// service composes these calls inside its own transactions. Thread-safe.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/escalation/v1/escalation.pb.h"
#include "parallax/store/database.h"
#include "rbac.h"

namespace parallax::escalation {

struct StoredFinding {
  std::string finding_id;
  std::string study_uid;
  int64_t generation = 0;
  std::string label;
  bool critical = false;
  std::string alert_id;
  common::v1::Finding original;  // as the AI reported it
  common::v1::Finding current;   // after modifications
  v1::FindingOutcome outcome = v1::FINDING_OUTCOME_PENDING;
  std::string reviewer;
  std::string decided_by;
  bool superseded = false;
};

struct StoredReport {
  std::string report_id;
  std::string study_uid;
  int64_t generation = 0;
  int version = 0;
  v1::ReportStatus status = v1::REPORT_STATUS_UNSPECIFIED;
  common::v1::StudyManifest manifest;
  bool has_manifest = false;
  std::string sr_sop_instance_uid;
};

// Work for the report publisher.
enum class OutboxKind { kFhirReport = 1, kDicomSr = 2, kFhirTask = 3, kResolveAlerts = 4 };
struct OutboxItem {
  int64_t id = 0;
  OutboxKind kind = OutboxKind::kFhirReport;
  std::string study_uid;
  int version = 0;      // report version for reports and SRs
  std::string payload;  // serialized PublishTaskRequest (tasks) or ResolveAlertsRequest (alerts)
  int attempts = 0;
};

class EscalationStore {
 public:
  explicit EscalationStore(store::Database* db) : db_(db) {}

  absl::Status Migrate();
  store::Database* db() const { return db_; }

  // The directory.
  absl::StatusOr<std::optional<v1::User>> GetUser(const std::string& user_id);
  // Creates or replaces; returns the stored user and whether it was new.
  absl::StatusOr<std::pair<v1::User, bool>> UpsertUser(store::Transaction& txn, const v1::User& user);
  absl::StatusOr<int64_t> CountActiveAdmins(store::Transaction& txn, const std::string& except_user_id);
  absl::StatusOr<std::vector<v1::User>> ListUsers(const v1::ListUsersRequest& request, int64_t offset, int limit);

  // Replaces every override right with `rights`.
  absl::Status ReplaceOverrideRights(const OverrideRights& rights);
  absl::StatusOr<OverrideRights> LoadOverrideRights();

  // Reports and findings.
  absl::StatusOr<std::optional<StoredReport>> ReportForUpdate(store::Transaction& txn, const std::string& study_uid);
  absl::StatusOr<std::optional<StoredReport>> Report(const std::string& study_uid);
  absl::Status SaveReport(store::Transaction& txn, const StoredReport& report, bool insert);
  absl::Status InsertFinding(store::Transaction& txn, const StoredFinding& finding);
  absl::Status SaveFinding(store::Transaction& txn, const StoredFinding& finding);
  absl::StatusOr<std::optional<StoredFinding>> FindingForUpdate(store::Transaction& txn,
                                                                const std::string& finding_id);
  // The current (not superseded) findings of a study, in label order.
  absl::StatusOr<std::vector<StoredFinding>> CurrentFindings(store::Transaction* txn, const std::string& study_uid);
  // Marks the findings of generations below `generation` superseded.
  absl::Status SupersedeFindings(store::Transaction& txn, const std::string& study_uid, int64_t generation);

  // Reviews (idempotent per request id).
  absl::StatusOr<std::optional<v1::ReviewFindingResponse>> ReviewByRequest(store::Transaction& txn,
                                                                           const std::string& request_id);
  absl::Status InsertReview(store::Transaction& txn, const std::string& request_id,
                            const v1::ReviewFindingResponse& response);

  // Cases.
  absl::Status InsertCase(store::Transaction& txn, const v1::Case& c);
  absl::Status SaveCase(store::Transaction& txn, const v1::Case& c);
  absl::StatusOr<std::optional<v1::Case>> CaseForUpdate(store::Transaction& txn, const std::string& case_id);
  absl::StatusOr<std::optional<v1::Case>> OpenCaseOfFinding(store::Transaction& txn, const std::string& finding_id);
  absl::StatusOr<std::vector<v1::Case>> OpenCasesOfStudy(store::Transaction& txn, const std::string& study_uid);
  absl::StatusOr<std::vector<v1::Case>> ListCases(const v1::ListCasesRequest& request, int64_t offset, int limit);
  // DecideCase idempotency.
  absl::StatusOr<std::optional<v1::DecideCaseResponse>> DecisionByRequest(store::Transaction& txn,
                                                                          const std::string& request_id);
  absl::Status InsertDecision(store::Transaction& txn, const std::string& request_id,
                              const v1::DecideCaseResponse& response);

  // Outbox.
  absl::Status Enqueue(store::Transaction& txn, OutboxKind kind, const std::string& study_uid, int version,
                       const std::string& payload = "");
  // Due items, oldest first.
  absl::StatusOr<std::vector<OutboxItem>> DueItems(int limit);
  absl::Status MarkDelivered(int64_t id);
  absl::Status MarkRetry(int64_t id, int attempts, std::chrono::milliseconds delay, const std::string& error);
  absl::Status SetSrUid(const std::string& study_uid, const std::string& sop_instance_uid);
  absl::StatusOr<int64_t> PendingCount();

 private:
  store::Database* db_;
};

}  // namespace parallax::escalation
