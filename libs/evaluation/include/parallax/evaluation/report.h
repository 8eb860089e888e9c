#pragma once
// The per-label results of a validation run as JSON (for machines) and as a
// Markdown table (for the hospital's validation record).
//
// JSON: {"labels": [{"label": "Subdural", "positives": 40, "negatives": 2000,
//   "auc": {"estimate": 0.93, "lower": 0.89, "upper": 0.96},
//   "operating_point": {"threshold": 0.71, "sensitivity": 0.85, "specificity": 0.999,
//     "true_positives": 34, "false_positives": 2, "true_negatives": 1998,
//     "false_negatives": 6, "false_alerts_per_1000_negatives": 1.0},
//   "volume": {"mean_absolute_ml": 2.1, "mean_absolute_percent": 9.5, "n": 38}}]}
// "volume" is absent when the label has no volume comparison; NaN and
// infinite numbers are written as null.
//
// Thread-safe (pure functions).
#include <optional>
#include <string>
#include <vector>

#include "parallax/evaluation/metrics.h"

namespace parallax::evaluation {

// One label's results.
struct LabelReport {
  std::string label;
  int positives = 0;
  int negatives = 0;
  Interval auc;
  OperatingPointResult at_operating_point;
  std::optional<VolumeError> volume;  // only for labels with a measured volume
};

// The JSON text above, rows in the given order.
std::string ReportJson(const std::vector<LabelReport>& rows);

// A Markdown table, a header row then one row per label in the given order;
// a NaN reads "n/a", "|" in a label is escaped.
std::string ReportMarkdown(const std::vector<LabelReport>& rows);

}  // namespace parallax::evaluation
