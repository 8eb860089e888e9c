#include "file_study_source.h"

#include <fstream>
#include <sstream>

#include <stdexcept>

#include "parallax/dicom/study_writer.h"
#include "parallax/ingest_client/manifest_headers.h"

namespace parallax::ingest_client::testing {

WrittenPhantom WritePhantom(const phantom::Study& study, uint64_t seed, const std::string& directory) {
  dicom::StudyIdentity id;
  id.uid_seed = seed;
  id.patient_id = "TEST-" + std::to_string(seed);
  auto written = dicom::WritePhantomStudy(study, id, directory);
  if (!written.ok()) throw std::runtime_error(std::string(written.status().message()));
  return {written->study_instance_uid, written->series_instance_uids.front(), written->files};
}

FileStudySource::FileStudySource(const std::vector<std::string>& files) {
  std::map<std::string, std::vector<dicom::InstanceHeader>> by_study;
  for (const std::string& f : files) {
    absl::StatusOr<dicom::InstanceHeader> h = dicom::ReadInstanceHeaderFromFile(f);
    if (!h.ok()) continue;
    paths_[h->sop_instance_uid] = f;
    by_study[h->study_instance_uid].push_back(*h);
  }
  for (auto& [uid, headers] : by_study) studies_[uid] = ManifestFromHeaders(headers);
}

absl::StatusOr<common::v1::StudyManifest> FileStudySource::GetStudy(const std::string& uid, Deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = studies_.find(uid);
  if (it == studies_.end()) return absl::NotFoundError("study " + uid + " is unknown");
  return it->second;
}

absl::StatusOr<std::string> FileStudySource::ReadInstance(const std::string& uid, Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  ++reads_;
  if (!cv_.wait_until(lock, deadline, [this] { return !held_; })) {
    return absl::DeadlineExceededError("read of " + uid + " passed its deadline");
  }
  if (auto o = overrides_.find(uid); o != overrides_.end()) return o->second;
  auto it = paths_.find(uid);
  if (it == paths_.end()) return absl::NotFoundError("instance " + uid + " is unknown");
  std::ifstream in(it->second, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

void FileStudySource::Override(const std::string& uid, std::string bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  overrides_[uid] = std::move(bytes);
}

void FileStudySource::Hold() {
  std::lock_guard<std::mutex> lock(mu_);
  held_ = true;
}

void FileStudySource::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = false;
  }
  cv_.notify_all();
}

int FileStudySource::reads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reads_;
}

}  // namespace parallax::ingest_client::testing
