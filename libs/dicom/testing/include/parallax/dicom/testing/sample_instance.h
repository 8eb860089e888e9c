#pragma once
// Writes small, valid DICOM Part-10 files for tests: a 64x64 16-bit image
// (or an SR without pixels) with plausible headers. Synthetic identities
// only. Thread-compatible.
#include <string>

#include <absl/status/status.h>

namespace parallax::dicom::testing {

struct SampleInstance {
  std::string sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";  // CT Image Storage
  std::string study_uid;     // generated when empty
  std::string series_uid;    // generated when empty
  std::string sop_instance_uid;  // generated when empty
  std::string modality = "CT";
  std::string body_part = "HEAD";
  std::string patient_id = "PHANTOM-0001";
  std::string transfer_syntax_uid = "1.2.840.10008.1.2.1";  // explicit VR little endian
  int instance_number = 1;
  int rows = 64;
  int columns = 64;
  bool omit_study_uid = false;   // write an instance without StudyInstanceUID
  bool omit_sop_instance_uid = false;
};

// Writes `sample` to `path`. Returns INTERNAL with DCMTK's message on failure.
absl::Status WriteSampleInstance(const SampleInstance& sample, const std::string& path);

// A new UID under Parallax's test root.
std::string NewUid();

}  // namespace parallax::dicom::testing
