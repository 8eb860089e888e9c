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
// infinite numbers are written as null. With parallax-eval --pointing-game a
// label also has "pointing_game": {"hits": 30, "evaluated": 34,
//   "hit_rate": 0.882, "empty_maps": 1, "errors": 0, "without_mask": 0,
//   "tolerance_pixels": 0}, and the Markdown table gains a "Pointing game"
// column (only when some row has one).
//
// Thread-safe (pure functions).
#include <optional>
#include <string>
#include <vector>

#include "parallax/evaluation/metrics.h"

namespace parallax::evaluation {

// The Grad-CAM pointing game of one label over its true-positive studies
// (truth positive and the model positive at the operating point): a hit when
// the peak of the label's heatmap on the item with the highest probability,
// mapped to original pixels, lies inside a truth mask of the label (within
// tolerance_pixels, Chebyshev distance, when that is > 0).
struct PointingGame {
  int hits = 0;
  int evaluated = 0;         // true positives with a mask of the label; the rate's denominator
  int empty_maps = 0;        // of `evaluated`: no positive Grad-CAM evidence, counted as misses
  int errors = 0;            // of `evaluated`: Grad-CAM failed, counted as misses
  int without_mask = 0;      // true positives not evaluated: the truth has no mask for the label
  int tolerance_pixels = 0;
};

// One label's results.
struct LabelReport {
  std::string label;
  int positives = 0;
  int negatives = 0;
  Interval auc;
  OperatingPointResult at_operating_point;
  std::optional<VolumeError> volume;  // only for labels with a measured volume
  std::optional<PointingGame> pointing_game;  // only when the pointing game was run
};

// The JSON text above, rows in the given order.
std::string ReportJson(const std::vector<LabelReport>& rows);

// A Markdown table, a header row then one row per label in the given order;
// a NaN reads "n/a", "|" in a label is escaped.
std::string ReportMarkdown(const std::vector<LabelReport>& rows);

}  // namespace parallax::evaluation
