#pragma once
// Writes a synthetic phantom study (libs/phantom) as DICOM Part-10 files
// with plausible headers: DX for radiographs, CT (rescaled to HU) and MR for
// volumes; deterministic UIDs from the identity's seed, so the same study
// written twice gives byte-identical files. Thread-compatible.
#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/phantom/phantom.h"

namespace parallax::dicom {

// Who the phantom "patient" is and when the study was done. Synthetic only.
struct StudyIdentity {
  uint64_t uid_seed = 1;          // drives every UID of the study
  std::string patient_id = "PHANTOM-1";
  std::string patient_name = "PHANTOM^ONE";
  std::string patient_sex = "O";
  std::string patient_birth_date = "19700101";
  std::string study_date = "20261204";
  std::string study_time = "101500";
  std::string accession_number = "PX0001";
  std::string study_description;  // default: from the study kind
};

struct WrittenStudy {
  std::string study_instance_uid;
  std::vector<std::string> series_instance_uids;
  std::vector<std::string> files;  // absolute paths, series by series, in slice order
};

// Writes every series of `study` under `directory` (created if needed) as
// <series index>-<image index>.dcm. INTERNAL with DCMTK's message on failure.
absl::StatusOr<WrittenStudy> WritePhantomStudy(const phantom::Study& study, const StudyIdentity& identity,
                                               const std::string& directory);

}  // namespace parallax::dicom
