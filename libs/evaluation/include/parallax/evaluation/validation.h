#pragma once
// A model's local validation on a labelled set: from one study-level
// probability per label and study (what the service decides on) plus the
// truth, the per-label report rows (AUC with bootstrap CI, results at the
// model's operating point, volume agreement).
//
// Thread-safe (pure functions).
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/evaluation/labelled_set.h"
#include "parallax/evaluation/report.h"

namespace parallax::evaluation {

struct ModelLabel {
  std::string name;
  double operating_point = 0.5;  // positive when probability >= operating_point
};

// What the model said about one study of the set.
struct StudyScores {
  size_t study = 0;                          // index into the labelled set
  std::vector<double> probabilities;         // one per ModelLabel, same order
  std::optional<double> measured_volume_ml;  // the model's volume measurement, if any
};

struct ValidationOptions {
  // A label that is positive when the truth has any finding (e.g.
  // "Intracranial haemorrhage" over the five subtypes); "" for none.
  std::string any_label;
  // The label whose row carries the volume comparison (measured vs the
  // truth's total volume, on studies with a true volume > 0); "" for none.
  std::string volume_label;
  int bootstrap_resamples = kDefaultBootstrapResamples;
  uint64_t bootstrap_seed = kDefaultBootstrapSeed;
};

struct ValidationResult {
  std::vector<LabelReport> rows;                      // model label order
  std::vector<std::pair<std::string, std::vector<RocPoint>>> roc;  // per label with both classes
  std::vector<std::string> notes;                     // e.g. "Hernia: no positives, AUC not defined"
};

// INVALID_ARGUMENT when a StudyScores has the wrong number of probabilities,
// a non-finite probability, or a study index outside `set`. A label without
// positives or without negatives gets a NaN AUC and a note, not an error.
absl::StatusOr<ValidationResult> Validate(const std::vector<ModelLabel>& labels,
                                          const std::vector<LabelledStudy>& set,
                                          const std::vector<StudyScores>& scores,
                                          const ValidationOptions& options = {});

}  // namespace parallax::evaluation
