#pragma once
// Where the stateless services (inference, explainability) get a stored
// study from: its manifest (headers of every instance) and the Part-10 bytes
// of the instances they read. IngestStudySource reads them from the ingest
// service over gRPC (Ingest.GetStudy, Ingest.ReadInstance); tests of logic
// may supply their own StudySource.
//
// Thread-safety: IngestStudySource is thread-safe (a gRPC stub is); an
// implementation of StudySource must be too.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/common/v1/study.pb.h"

namespace grpc {
class Channel;
}

namespace parallax::ingest_client {

using Deadline = std::chrono::system_clock::time_point;

class StudySource {
 public:
  virtual ~StudySource() = default;

  // The study's manifest. NOT_FOUND when the study is unknown; UNAVAILABLE
  // when the source cannot be reached (retryable); DEADLINE_EXCEEDED.
  virtual absl::StatusOr<common::v1::StudyManifest> GetStudy(const std::string& study_instance_uid,
                                                             Deadline deadline) = 0;

  // The complete Part-10 bytes of one instance. NOT_FOUND when unknown;
  // DATA_LOSS when fewer bytes arrive than announced; UNAVAILABLE;
  // DEADLINE_EXCEEDED.
  virtual absl::StatusOr<std::string> ReadInstance(const std::string& sop_instance_uid, Deadline deadline) = 0;

  // ReadInstance for each UID, in order, at most `parallel` at a time.
  // Returns the first failure (naming the SOP Instance UID).
  absl::StatusOr<std::vector<std::string>> ReadInstances(const std::vector<std::string>& sop_instance_uids,
                                                         Deadline deadline, int parallel = 4);
};

// Reads from the ingest service at the other end of `channel`.
class IngestStudySource final : public StudySource {
 public:
  explicit IngestStudySource(std::shared_ptr<grpc::Channel> channel);
  ~IngestStudySource() override;

  absl::StatusOr<common::v1::StudyManifest> GetStudy(const std::string& study_instance_uid,
                                                     Deadline deadline) override;
  absl::StatusOr<std::string> ReadInstance(const std::string& sop_instance_uid, Deadline deadline) override;

 private:
  struct Stub;
  std::unique_ptr<Stub> stub_;
};

}  // namespace parallax::ingest_client
