#pragma once
// Finds the prior studies of a study ingest holds, for comparison: first in
// ingest's own index, then, when a PACS is configured for priors, on that
// PACS by C-FIND; optionally retrieves the most relevant prior by C-GET into
// ingest's own store, indexed like a received study but of origin
// prior_retrieval, so it is never handed to triage (study_index.h).
//
// The rules (see also FindPriorStudies in ingest.proto):
//   same patient  equal Patient ID and Issuer of Patient ID; an empty
//                 Patient ID matches nothing. On the PACS the C-FIND carries
//                 the Patient ID only (query_retrieve.h has no issuer): the
//                 prior PACS is taken to be one patient-id domain.
//   same kind     one of the prior's image series (not SR, KO, PR, SEG, ...)
//                 has a modality of the current study's image series and,
//                 when both studies name body parts for those series, the
//                 body part sets meet (exact, case-insensitive; no synonyms).
//   earlier       the prior's day is before the current one; a study's day
//                 is its Study Date, or the UTC day it was first received
//                 when it has no valid date; when neither has a Study Date,
//                 first received earlier. Within lookback_days.
//   most relevant most recent first (day, then Study Time, then received).
// A study both in the index and on the PACS is LOCAL. The PACS never fails
// a search: what went wrong goes to the result's pacs_note.
//
// Time: the C-FIND is bounded by the query timeouts (connect, association,
// each response); per-study series look-ups stop when the query budget is
// spent (those studies are then judged by Modalities In Study only); the
// C-GET by the retrieve timeout per message.
//
// Thread-safe: searches run concurrently; two searches never retrieve the
// same study at the same time (the second one reports it as in progress).
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "ingest_config.h"
#include "instance_receiver.h"
#include "parallax/audit_client/audit_recorder.h"
#include "parallax/dicom/query_retrieve.h"
#include "study_index.h"

namespace parallax::ingest {

struct PriorSearch {
  std::string study_instance_uid;  // the current study; ingest must hold it
  int max_results = 0;             // 0 = 10; 1..100
  int lookback_days = 0;           // 0 = 5 years (1826 days); 1..36600
  bool retrieve = false;           // C-GET the most relevant prior when it is not held locally
  // The caller's deadline (gRPC's), when it has one. The PACS phase is cut
  // to answer before it with what the index holds: no PACS query or
  // retrieval is started with less than a second left, and each DIMSE
  // timeout is at most the time left. A retrieval under way finishes (what
  // it stores is durable and serves the next search).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

enum class PriorSource { kLocal, kPacs };

struct Prior {
  std::string study_instance_uid;
  std::string study_date;                // YYYYMMDD or empty
  std::vector<std::string> modalities;   // of its image series
  std::vector<std::string> body_parts;   // of its image series; may be empty
  PriorSource source = PriorSource::kLocal;
  bool held_locally = false;             // in ingest's store now
  int instance_count = 0;                // held locally; for a PACS prior not held, the PACS's count (0 = unknown)
  int interval_days = 0;                 // current day minus prior day
};

struct PriorSearchResult {
  std::vector<Prior> priors;  // most relevant first
  bool pacs_configured = false;  // ingest has a prior PACS to ask
  bool pacs_consulted = false;  // the PACS answered the study query
  std::string pacs_note;        // for a person; never patient data
};

// Days since 1970-01-01 of a valid YYYYMMDD date; false when `date` is not
// one (wrong length, not digits, or no such day).
bool ParseStudyDay(const std::string& date, int* days_since_epoch);
// YYYYMMDD of a day since 1970-01-01.
std::string FormatStudyDay(int days_since_epoch);
// True for modalities of non-image series (SR, KO, PR, SEG, REG, ...).
bool IsNonImageModality(const std::string& modality);

class PriorFinder {
 public:
  // `index` and `store` must outlive the finder. With `pacs.enabled` false
  // only the index is searched.
  // `audit` (may be null) records each retrieval (EVENT_TYPE_PRIOR_RETRIEVED).
  PriorFinder(StudyIndex* index, InstanceReceiver* receiver, PriorPacsSettings pacs,
              audit_client::AuditRecorder* audit = nullptr);

  // The priors of search.study_instance_uid by the rules above.
  // INVALID_ARGUMENT when the UID is invalid or max_results / lookback_days
  // is out of range; NOT_FOUND when ingest does not hold the study;
  // UNAVAILABLE when the index cannot be read. Every PACS or retrieval
  // problem is OK with a pacs_note.
  absl::StatusOr<PriorSearchResult> Find(const PriorSearch& search);

 private:
  // Makes one instance received by C-GET durable and indexed (origin
  // prior_retrieval), the way a C-STORE is: staging file, rename, fsync,
  // then the index row. A resend of an indexed instance is OK.
  absl::Status StoreRetrieved(const dicom::RetrievedInstance& instance, const std::string& study_instance_uid);
  // Records a retrieval in the audit trail (when there is a recorder).
  void RecordRetrieval(const std::string& prior_uid, const std::string& current_uid, int completed, int failed);
  bool BeginRetrieval(const std::string& study_instance_uid);
  void EndRetrieval(const std::string& study_instance_uid);

  StudyIndex* index_;
  InstanceReceiver* receiver_;  // stores what C-GET brings, as a C-STORE would
  PriorPacsSettings pacs_;
  audit_client::AuditRecorder* audit_;
  std::mutex mu_;
  std::set<std::string> retrieving_;  // guarded by mu_
};

}  // namespace parallax::ingest
