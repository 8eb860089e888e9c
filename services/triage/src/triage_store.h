#pragma once
// Triage's tables (schema `triage`, migrations in one list):
//   v1 submissions  every SubmitStudy, idempotent per (study, generation)
//   v2 jobs         the analysis queue (job_queue.h)
//   v3 studies      one row per study: its latest generation's state,
//                   urgency, decision and flags (the worklist)
//      analyses     exactly one stored analysis per (study, generation)
//      evidence     heatmap PNGs and DICOM evidence per finding and slice
//      route_outbox analysed studies waiting for AlertRouting.Route
//   v4 findings     the findings of stored analyses
//   v5 audit_outbox audit events waiting for Audit.Record (libs/audit_client)
//
// Audit: StoreAnalysis of an analysed study enqueues one
// EVENT_TYPE_STUDY_ANALYSED in the same transaction (so it exists if and
// only if the analysis does): subject study UID, generation and the first
// model's id and version; attributes "decision", "urgency", "models" (every
// model that produced a result, id@version), "positive_labels" and
// "quality_flags" (each only when any), "superseded" ("true" when a newer
// generation was already queued). Its event_id is StudyAnalysedEventId, so
// a re-run of the same (study, generation) is recorded once. A
// not_applicable or failed outcome is no STUDY_ANALYSED (no model output
// to audit; it shows in triage's own status).
//
// Thread-safe (Database and AuditRecorder are).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/audit_client/audit_recorder.h"
#include "parallax/store/database.h"
#include "parallax/store/migrations.h"
#include "parallax/triage/v1/triage.pb.h"

namespace parallax::triage {

// Every migration of the triage schema, in order.
std::vector<store::Migration> TriageMigrations();

// The event_id of STUDY_ANALYSED for one study generation.
std::string StudyAnalysedEventId(const std::string& study_instance_uid, int64_t generation);

// One finding's visual evidence as stored.
struct StoredEvidence {
  std::string finding_id;
  std::string source_sop_instance_uid;
  std::string png;          // colour-mapped heatmap
  std::string overlay_png;  // heatmap over the image
  std::string dicom_sop_instance_uid;  // Secondary Capture, when made
  std::string dicom_part10;
};

// The analysis of one study generation as the worker stores it.
struct AnalysisRecord {
  std::string study_instance_uid;
  int64_t generation = 0;
  int64_t job_id = 0;
  std::string state;     // "analysed" | "not_applicable" | "failed"
  std::string reason;    // for not_applicable / failed
  std::string decision;  // "positive" | "negative" | "indeterminate" | ""
  int urgency = 0;
  std::vector<std::string> positive_labels;
  std::vector<int> quality_flags;
  alerting::v1::RouteRequest route;  // findings with their evidence, for alert routing
  std::string inference_response;    // serialized AnalyzeResponse
  double inference_ms = 0;
  double explain_ms = 0;
  double prior_ms = 0;               // the prior-study comparison (0 when none was made)
  std::vector<StoredEvidence> evidence;
  bool route_to_alerting = true;     // false for a superseded generation
};

class TriageStore {
 public:
  // `audit` (schema "triage") receives the STUDY_ANALYSED events; when null,
  // the store keeps its own recorder that only enqueues (events then wait in
  // triage.audit_outbox until a recorder with an audit address delivers
  // them). db and audit must outlive the store.
  explicit TriageStore(store::Database* db, audit_client::AuditRecorder* audit = nullptr);

  absl::Status Migrate();

  // Records a submission and the study row (state queued, or not_applicable
  // with `reason`), inside `txn`. Returns true when this (study, generation)
  // is new. A lower generation than the study's latest is recorded but does
  // not change the study row.
  absl::StatusOr<bool> RecordSubmission(store::Transaction& txn, const triage::v1::SubmitStudyRequest& request,
                                        const std::string& state, const std::string& reason, int urgency,
                                        const std::string& modality, const std::string& setting,
                                        const std::vector<int>& quality_flags);

  // Marks the study's `generation` running (when it is still the latest).
  absl::Status MarkRunning(const std::string& study_uid, int64_t generation);

  // Stores the analysis, its evidence, a route outbox entry and (state
  // "analysed") the STUDY_ANALYSED audit event inside `txn` (the job
  // queue's Complete transaction) and updates the study row when
  // `record.generation` is its latest. ALREADY_EXISTS when an analysis of
  // this (study, generation) is already stored; store errors as
  // Transaction::Exec. After an error the transaction is dead and nothing
  // of it commits (no audit event either).
  absl::Status StoreAnalysis(store::Transaction& txn, const AnalysisRecord& record);

  // Marks the study failed (dead-lettered) with a reason, when `generation`
  // is still its latest.
  absl::Status MarkFailed(const std::string& study_uid, int64_t generation, const std::string& reason);

  absl::StatusOr<triage::v1::GetStudyStatusResponse> Status(const std::string& study_uid);
  absl::StatusOr<std::vector<triage::v1::GetStudyStatusResponse>> Worklist(const triage::v1::ListWorklistRequest& r);

  // The stored analysis of (study, generation), as the RouteRequest handed to
  // alert routing. NOT_FOUND when none is stored.
  absl::StatusOr<alerting::v1::RouteRequest> Analysis(const std::string& study_uid, int64_t generation);
  absl::StatusOr<int64_t> CountAnalyses(const std::string& study_uid);

  // The stored evidence of one finding (every slice, or the one given),
  // with the PNGs and/or the Secondary Capture bytes as asked. NOT_FOUND
  // when the finding has none.
  absl::StatusOr<triage::v1::GetEvidenceResponse> Evidence(const triage::v1::GetEvidenceRequest& request);

  // Route outbox: the oldest undelivered entries, and marking one done/failed.
  struct OutboxEntry {
    int64_t id = 0;
    alerting::v1::RouteRequest request;
    int attempts = 0;
  };
  absl::StatusOr<std::vector<OutboxEntry>> PendingRoutes(int limit);
  absl::Status MarkRouted(int64_t id);
  absl::Status MarkRouteFailed(int64_t id, const std::string& error);

 private:
  store::Database* db_;
  std::unique_ptr<audit_client::AuditRecorder> own_audit_;  // when none was given
  audit_client::AuditRecorder* audit_;
};

}  // namespace parallax::triage
