#pragma once
// The study / series / instance index of ingest, in PostgreSQL schema
// `ingest`, plus the study stability state and the outbox towards triage.
// Only this class writes SQL against the ingest schema.
//
// Audit: when a study generation becomes stable, the same transaction that
// writes its triage outbox entry enqueues one EVENT_TYPE_STUDY_RECEIVED in
// the audit outbox (ingest.audit_outbox, libs/audit_client): subject study
// UID + generation, actor the calling AE title (EXTERNAL_SYSTEM) or the
// service itself when the study came by STOW-RS only, attributes
// "instances", "modalities", "sources" and, when several AEs sent
// instances, "calling_aes". Never patient data. Its event_id is derived from
// (study, generation), so a sweep run twice records it once.
//
// Thread-safe: every method runs in its own transaction on a pooled connection.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/store/database.h"

namespace parallax::ingest {

struct IndexedInstance {
  std::string relative_path;
  int64_t size_bytes = 0;
  std::string source;      // "dimse" or "stow"
  std::string calling_ae;  // DIMSE calling AE or "" for STOW
};

// How a study came to ingest (ingest.studies.origin). A study is "received"
// when a sender (C-STORE, STOW-RS) brought it, and "prior_retrieval" when
// ingest itself fetched it from a PACS as the prior of another study: such a
// study becomes stable like any other but is never enqueued for triage (it
// is old and not to be analysed or alerted on) and records no
// STUDY_RECEIVED. The origin is set by whoever creates the study row and
// never changes afterwards.
inline constexpr char kStudyOriginReceived[] = "received";
inline constexpr char kStudyOriginPriorRetrieval[] = "prior_retrieval";

// Instance source of a prior retrieved by C-GET (ingest.instances.source).
inline constexpr char kSourceCGet[] = "c-get";

// One series of a StudySummary.
struct SeriesSummary {
  std::string modality;
  std::string body_part_examined;
  int64_t instance_count = 0;
};

// What prior matching needs to know about an indexed study. Carries the
// patient id: never log it.
struct StudySummary {
  std::string study_instance_uid;
  std::string patient_id;
  std::string issuer_of_patient_id;
  std::string study_date;            // as received, normally YYYYMMDD; may be empty
  std::string study_time;
  double first_received_epoch = 0;   // seconds since 1970 (UTC)
  std::string origin;                // kStudyOriginReceived or kStudyOriginPriorRetrieval
  int64_t instance_count = 0;
  std::vector<SeriesSummary> series;
};

struct OutboxEntry {
  int64_t id = 0;
  std::string study_instance_uid;
  int64_t generation = 0;
  int attempts = 0;
};

// Every migration of the `ingest` schema, in order (the audit outbox last).
std::vector<store::Migration> IngestMigrations();

// The event_id of STUDY_RECEIVED for one study generation.
std::string StudyReceivedEventId(const std::string& study_instance_uid, int64_t generation);

class StudyIndex {
 public:
  // `audit` (schema "ingest") receives the STUDY_RECEIVED events; when null,
  // the index keeps its own recorder that only enqueues (events then wait
  // in the outbox until a recorder with an audit address delivers them).
  // db and audit must outlive the index.
  explicit StudyIndex(store::Database* db, audit_client::AuditRecorder* audit = nullptr);

  // Creates or upgrades the `ingest` schema (IngestMigrations()).
  absl::Status Migrate();

  // True when the instance is already indexed.
  absl::StatusOr<bool> Contains(const std::string& sop_instance_uid);

  // Indexes one durable instance; a study that was stable becomes receiving
  // again (its generation advances). A new study row gets `study_origin`
  // (kStudyOriginReceived or kStudyOriginPriorRetrieval); an existing one
  // keeps its origin. Returns false when the instance was already indexed
  // (a concurrent resend). UNAVAILABLE when PostgreSQL is down.
  absl::StatusOr<bool> Add(const dicom::InstanceHeader& header, const IndexedInstance& stored,
                           const std::string& study_origin = kStudyOriginReceived);

  // Marks studies with no new instance for `quiet` as stable, enqueues them
  // for triage and records their STUDY_RECEIVED audit events, all in one
  // transaction (none of it happens when any part fails). Studies of origin
  // kStudyOriginPriorRetrieval are marked stable too but neither enqueued
  // nor audited; their number goes to `skipped_prior_retrievals` when given.
  // Returns the number of studies enqueued for triage. Store errors as
  // parallax/store/database.h.
  absl::StatusOr<int> MarkStableStudies(std::chrono::milliseconds quiet, int* skipped_prior_retrievals = nullptr);

  // Runs `deliver` on up to `limit` due outbox entries, each locked against
  // other dispatchers. OK from deliver marks the entry sent; an error
  // schedules a retry after a backoff (1 s doubling, capped at max_backoff)
  // and records the error text. Returns how many were delivered.
  absl::StatusOr<int> DispatchDue(int limit, std::chrono::milliseconds max_backoff,
                                  const std::function<absl::Status(const OutboxEntry&)>& deliver);

  // Entries not yet delivered (for the outbox depth metric).
  absl::StatusOr<int64_t> OutboxDepth();

  // The study with its series and instances. NOT_FOUND when unknown.
  absl::StatusOr<common::v1::StudyManifest> LoadManifest(const std::string& study_instance_uid);

  // The summary of one study (patient, date, origin, series with their
  // modality, body part and instance count). NOT_FOUND when unknown;
  // UNAVAILABLE when PostgreSQL is down.
  absl::StatusOr<StudySummary> LoadStudySummary(const std::string& study_instance_uid);

  // Summaries of the studies whose Patient ID and Issuer of Patient ID
  // equal the given ones, newest first received first, at most `limit`.
  // An empty `patient_id` matches nothing (empty list). UNAVAILABLE when
  // PostgreSQL is down.
  absl::StatusOr<std::vector<StudySummary>> StudiesOfPatient(const std::string& patient_id,
                                                             const std::string& issuer_of_patient_id, int limit);

  // Relative store path and size of an instance. NOT_FOUND when unknown.
  absl::StatusOr<IndexedInstance> FindInstance(const std::string& sop_instance_uid);

 private:
  store::Database* db_;
  std::unique_ptr<audit_client::AuditRecorder> own_audit_;  // when none was given
  audit_client::AuditRecorder* audit_;
};

}  // namespace parallax::ingest
