#include "parallax/evaluation/validation.h"

#include <cmath>
#include <limits>

namespace parallax::evaluation {

absl::StatusOr<ValidationResult> Validate(const std::vector<ModelLabel>& labels,
                                          const std::vector<LabelledStudy>& set,
                                          const std::vector<StudyScores>& scores,
                                          const ValidationOptions& options) {
  for (const auto& s : scores) {
    if (s.study >= set.size()) {
      return absl::InvalidArgumentError("scores name study " + std::to_string(s.study) + ", the set has " +
                                        std::to_string(set.size()));
    }
    if (s.probabilities.size() != labels.size()) {
      return absl::InvalidArgumentError("study " + set[s.study].id + " has " + std::to_string(s.probabilities.size()) +
                                        " probabilities for " + std::to_string(labels.size()) + " labels");
    }
    for (double p : s.probabilities) {
      if (!std::isfinite(p)) return absl::InvalidArgumentError("study " + set[s.study].id + " has a non-finite probability");
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ValidationResult result;
  for (size_t i = 0; i < labels.size(); ++i) {
    std::vector<LabelledScore> data;
    data.reserve(scores.size());
    for (const auto& s : scores) {
      data.push_back({s.probabilities[i], IsPositive(set[s.study], labels[i].name, options.any_label)});
    }
    LabelReport row;
    row.label = labels[i].name;
    for (const auto& d : data) (d.positive ? row.positives : row.negatives)++;
    row.at_operating_point = AtThreshold(data, labels[i].operating_point);
    if (row.positives > 0 && row.negatives > 0) {
      auto auc = AucWithBootstrapCi(data, options.bootstrap_resamples, options.bootstrap_seed);
      if (!auc.ok()) return auc.status();
      row.auc = *auc;
      result.roc.emplace_back(labels[i].name, RocCurve(data));
    } else {
      row.auc = {nan, nan, nan};
      result.notes.push_back(labels[i].name + ": " + (row.positives == 0 ? "no positive" : "no negative") +
                             " studies in the set, AUC not defined");
    }
    if (!options.volume_label.empty() && labels[i].name == options.volume_label) {
      std::vector<std::pair<double, double>> pairs;
      for (const auto& s : scores) {
        const auto& truth = set[s.study].volume_ml;
        if (!truth || *truth <= 0) continue;
        pairs.emplace_back(s.measured_volume_ml.value_or(nan), *truth);
      }
      row.volume = CompareVolumes(pairs);
      const int unmeasured = static_cast<int>(pairs.size()) - row.volume->n;
      if (unmeasured > 0) {
        result.notes.push_back(labels[i].name + ": " + std::to_string(unmeasured) +
                               " studies with a true volume had no measured volume (left out of the volume error)");
      }
    }
    result.rows.push_back(std::move(row));
  }
  return result;
}

}  // namespace parallax::evaluation
