#pragma once
// The study / series / instance index of ingest, in PostgreSQL schema
// `ingest`, plus the study stability state and the outbox towards triage.
// Only this class writes SQL against the ingest schema.
//
// Thread-safe: every method runs in its own transaction on a pooled connection.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

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

struct OutboxEntry {
  int64_t id = 0;
  std::string study_instance_uid;
  int64_t generation = 0;
  int attempts = 0;
};

class StudyIndex {
 public:
  explicit StudyIndex(store::Database* db) : db_(db) {}

  // Creates or upgrades the `ingest` schema.
  absl::Status Migrate();

  // True when the instance is already indexed.
  absl::StatusOr<bool> Contains(const std::string& sop_instance_uid);

  // Indexes one durable instance; a study that was stable becomes receiving
  // again (its generation advances). Returns false when the instance was
  // already indexed (a concurrent resend). UNAVAILABLE when PostgreSQL is down.
  absl::StatusOr<bool> Add(const dicom::InstanceHeader& header, const IndexedInstance& stored);

  // Marks studies with no new instance for `quiet` as stable and enqueues
  // them for triage, atomically. Returns the number of studies marked.
  absl::StatusOr<int> MarkStableStudies(std::chrono::milliseconds quiet);

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

  // Relative store path and size of an instance. NOT_FOUND when unknown.
  absl::StatusOr<IndexedInstance> FindInstance(const std::string& sop_instance_uid);

 private:
  store::Database* db_;
};

}  // namespace parallax::ingest
