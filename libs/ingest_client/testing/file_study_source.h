#pragma once
// A StudySource over Part-10 files on disk, for unit tests of the services'
// logic (the real path, ingest over gRPC, is tested end to end in tests/).
// Optionally blocks reads until released, to test capacity limits and
// deadlines. Thread-safe.
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "parallax/ingest_client/study_source.h"
#include "parallax/phantom/phantom.h"

namespace parallax::ingest_client::testing {

// A phantom study written as Part-10 files (dicom::WritePhantomStudy) for a
// FileStudySource: its UIDs and the files, series by series.
struct WrittenPhantom {
  std::string study_uid;
  std::string series_uid;  // the first series
  std::vector<std::string> files;
};

// Writes `study` under `directory` with UIDs and patient id drawn from
// `seed`. Throws std::runtime_error naming DCMTK's message on failure (tests only).
WrittenPhantom WritePhantom(const phantom::Study& study, uint64_t seed, const std::string& directory);

class FileStudySource final : public StudySource {
 public:
  // Indexes `files` by their headers (read now); a file that is not
  // readable DICOM is skipped.
  explicit FileStudySource(const std::vector<std::string>& files);

  absl::StatusOr<common::v1::StudyManifest> GetStudy(const std::string& study_instance_uid,
                                                     Deadline deadline) override;
  absl::StatusOr<std::string> ReadInstance(const std::string& sop_instance_uid, Deadline deadline) override;

  // Replaces the bytes served for one instance (e.g. with corrupt data).
  void Override(const std::string& sop_instance_uid, std::string bytes);
  // While held, ReadInstance waits (until Release() or its deadline).
  void Hold();
  void Release();
  int reads() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int reads_ = 0;
  std::map<std::string, common::v1::StudyManifest> studies_;
  std::map<std::string, std::string> paths_;
  std::map<std::string, std::string> overrides_;
};

}  // namespace parallax::ingest_client::testing
