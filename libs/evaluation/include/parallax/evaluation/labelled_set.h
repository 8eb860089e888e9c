#pragma once
// A labelled validation set: studies on disk with their ground truth, as a
// hospital points parallax-eval at its own data or Parallax at its phantoms.
//
// Two forms are read:
//   * a folder of study folders, each holding its DICOM files and a
//     truth.json (what parallax-synth writes; libs/phantom/ground_truth.h);
//   * a CSV file with a header row naming at least `study_dir` and `labels`:
//       study_dir,labels,volume_ml
//       ct-0001,Subdural;Subarachnoid,23.5
//       ct-0002,,
//     study_dir relative to the CSV's folder (or absolute); labels separated
//     by ';' (empty = normal); the optional volume_ml is the study's total
//     measured lesion volume (e.g. haemorrhage) in mL, empty when unknown.
//     Other columns are ignored (parallax-synth's manifest.csv reads as is,
//     its truth.json files then supply the volumes).
//
// Thread-safe (pure functions).
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::evaluation {

// A region of one finding, as a mask over the study's slices (the truth's
// slice index order): used for the Grad-CAM pointing game.
struct TruthMask {
  std::string label;
  int slices = 0, rows = 0, columns = 0;
  std::vector<std::pair<int64_t, int64_t>> runs;  // [start, length] over (slice, row, column)
};

struct LabelledStudy {
  std::string id;   // the study folder's name as given in the set; no patient data
  std::string dir;  // the folder holding the study's DICOM files
  std::vector<std::string> labels;     // the study's positive labels, as named by the truth
  std::optional<double> volume_ml;     // total lesion volume, when the truth has one
  std::vector<std::string> quality_defects;
  std::vector<TruthMask> masks;        // per finding, when the truth has masks
};

// Reads `path`: a folder (every sub-folder with a truth.json, by name) or a
// CSV file as above. Errors name the file and what is wrong: NOT_FOUND for a
// missing path or study folder, INVALID_ARGUMENT for a malformed truth.json
// or CSV row (with its line number), a CSV without the required columns, or
// a set with no studies.
absl::StatusOr<std::vector<LabelledStudy>> ReadLabelledSet(const std::string& path);

// Whether a truth label names a model label: equal, or equal ignoring case
// and treating '_' as ' ' ("Pleural_Thickening" == "pleural thickening").
bool SameLabel(const std::string& truth_label, const std::string& model_label);

// Whether `study` is positive for `model_label`. When `any_label` is that
// label (a union label such as "Intracranial haemorrhage" that the truth does
// not list), any truth label counts, and so does the label itself.
bool IsPositive(const LabelledStudy& study, const std::string& model_label,
                const std::string& any_label = "");

}  // namespace parallax::evaluation
