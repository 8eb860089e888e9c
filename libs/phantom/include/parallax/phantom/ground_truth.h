#pragma once
// The ground truth of a phantom study as JSON (truth.json beside its DICOM
// files), and back. Masks are stored run-length encoded over the flattened
// (slice, row, column) index, so a 3-D haemorrhage mask stays small.
//
//   {"kind": "head_ct", "seed": 7, "study_instance_uid": "2.25...",
//    "labels": ["Subdural"], "quality_defects": [],
//    "findings": [{"label": "Subdural", "laterality": "left", "zone": "frontal",
//                  "area_cm2": 0, "volume_ml": 23.4, "contrast": 30, "subtle": false,
//                  "mask": {"slices": 32, "rows": 512, "columns": 512,
//                           "runs": [[start, length], ...]}}]}
//
// Thread-safe (pure functions).
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/phantom/phantom.h"

namespace parallax::phantom {

struct GroundTruth {
  std::string kind;
  uint64_t seed = 0;
  std::string study_instance_uid;
  std::vector<std::string> labels;  // distinct finding labels; empty = normal
  std::vector<Finding> findings;
  std::vector<std::string> quality_defects;
};

// The JSON text of `study`'s truth, for the study written with `study_instance_uid`.
std::string GroundTruthJson(const Study& study, const std::string& study_instance_uid);

// Parses truth.json. INVALID_ARGUMENT naming the missing or malformed field.
absl::StatusOr<GroundTruth> ParseGroundTruth(const std::string& json_text);

// Run-length encoding of a mask's bits: [start, length] pairs of 1-runs.
std::vector<std::pair<int64_t, int64_t>> EncodeRuns(const Mask& mask);

// Parses a laterality name ("left", "right", "bilateral", "midline", "none").
bool ParseLaterality(const std::string& name, Laterality* out);

}  // namespace parallax::phantom
