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
// A study of a follow-up pair (follow_up.h) has two more, optional, parts:
// "follow_up" (the pair's truth, see PairTruthJson below, plus "role":
// "prior" or "current") and a "change" in each finding ("new", "larger",
// "stable", "smaller"; a resolved finding is absent from the current study
// and listed only in follow_up.changes). Readers that ignore them still work.
//
// Thread-safe (pure functions).
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/phantom/phantom.h"
#include "parallax/phantom/rigid_shift.h"

namespace parallax::phantom {

// How a finding changed from the prior study to the current one. The rule,
// on r = current size / prior size (volume in mL for CT and MR, area in cm2
// for films): absent before = new, absent now = resolved, r >= 1.5 =
// larger, r <= 0.67 = smaller, otherwise stable. The generator draws size
// changes of 2-3x so a class is never at the edge of measurement noise.
enum class Change { kNew, kLarger, kStable, kSmaller, kResolved };
const char* ChangeName(Change c);
bool ParseChange(const std::string& name, Change* out);
inline constexpr double kLargerRatio = 1.5;
inline constexpr double kSmallerRatio = 0.67;
// The class of sizes measured at both times (0 = absent).
Change ClassifyChange(double prior_size, double current_size);

// One finding of a follow-up pair at both times.
struct FindingChange {
  std::string label;
  Change change = Change::kStable;
  int prior_index = -1;      // into the prior study's findings; -1 = absent then
  int current_index = -1;    // into the current study's findings; -1 = absent now
  double prior_size = 0;     // measured from the mask, in the pair's size_unit; 0 = absent
  double current_size = 0;
  double requested_ratio = 1;  // the size factor the generator was asked for (current / prior)
};

// The truth of a follow-up pair: pair.json beside the two study folders.
struct FollowUpTruth {
  std::string kind;                 // head_ct, brain_mri, chest_xray
  uint64_t seed = 0;
  std::string role;                 // in a study's truth.json: "prior" or "current"; "" in pair.json
  std::string patient_id;
  std::string prior_study_uid, current_study_uid;
  std::string prior_study_date, current_study_date;  // YYYYMMDD
  std::string prior_dir, current_dir;                // folder names beside pair.json
  int interval_days = 0;            // current date - prior date
  std::string size_unit;            // "mL" (CT, MR) or "cm2" (films)
  // current = R (prior - centre) + centre + translation, in patient (volumes)
  // or detector (films) millimetres; see rigid_shift.h.
  RigidShift shift;
  std::vector<FindingChange> changes;
};

struct GroundTruth {
  std::string kind;
  uint64_t seed = 0;
  std::string study_instance_uid;
  std::vector<std::string> labels;  // distinct finding labels; empty = normal
  std::vector<Finding> findings;
  std::vector<std::string> quality_defects;
  // Follow-up studies only: the pair's truth, and each finding's change
  // (parallel to findings; empty when the truth has none).
  std::optional<FollowUpTruth> follow_up;
  std::vector<std::optional<Change>> finding_changes;
};

// The JSON text of `study`'s truth, for the study written with `study_instance_uid`.
std::string GroundTruthJson(const Study& study, const std::string& study_instance_uid);

// The same for one study of a follow-up pair: adds "follow_up" (with
// follow_up.role) and each finding's "change" (matched by index for the role).
std::string GroundTruthJson(const Study& study, const std::string& study_instance_uid,
                            const FollowUpTruth& follow_up);

// Parses truth.json. INVALID_ARGUMENT naming the missing or malformed field.
absl::StatusOr<GroundTruth> ParseGroundTruth(const std::string& json_text);

// pair.json:
//   {"kind": "head_ct", "seed": 7, "patient_id": "PHANTOM-FU-7", "interval_days": 183,
//    "prior": {"study_instance_uid": "2.25...", "study_date": "20250301", "dir": "prior"},
//    "current": {...}, "size_unit": "mL",
//    "shift": {"translation_mm": [x, y, z], "rotation_deg": [rx, ry, rz], "centre_mm": [x, y, z],
//              "matrix": [[4 x 4, prior -> current]], "frame": "..."},
//    "changes": [{"label": "Intraparenchymal", "change": "larger", "prior_index": 0,
//                 "current_index": 0, "prior_volume_ml": 4.1, "current_volume_ml": 10.3,
//                 "ratio": 2.5, "requested_ratio": 2.4}]}
// (films: "prior_area_cm2" / "current_area_cm2").
std::string PairTruthJson(const FollowUpTruth& truth);
// INVALID_ARGUMENT naming the missing or malformed field (e.g. 'shift.translation_mm',
// 'changes[0].change').
absl::StatusOr<FollowUpTruth> ParsePairTruth(const std::string& json_text);

// Run-length encoding of a mask's bits: [start, length] pairs of 1-runs.
std::vector<std::pair<int64_t, int64_t>> EncodeRuns(const Mask& mask);

// Parses a laterality name ("left", "right", "bilateral", "midline", "none").
bool ParseLaterality(const std::string& name, Laterality* out);

}  // namespace parallax::phantom
