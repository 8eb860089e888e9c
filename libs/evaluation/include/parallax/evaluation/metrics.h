#pragma once
// Discrimination and agreement statistics for validating a model on a
// labelled set: one score (model probability) and one ground-truth flag per
// study. A study is called positive when its score >= the threshold.
//
// Scores must be finite: the functions returning a Status refuse NaN or
// infinite scores with INVALID_ARGUMENT naming the index; the others document
// what they do with them. Sensitivity is NaN when the data has no positives,
// specificity and the false-alert rate are NaN when it has no negatives.
//
// Thread-safe (pure functions; the bootstrap draws from its own seeded
// generator, so equal inputs and seed give equal results on every platform).
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::evaluation {

// One study: the model's probability and the ground truth.
struct LabelledScore {
  double score = 0;
  bool positive = false;
};

// One point of an ROC curve: the rates when positives are called at score >= threshold.
struct RocPoint {
  double threshold = 0;
  double sensitivity = 0;
  double specificity = 0;
};

// An estimate with a confidence interval.
struct Interval {
  double estimate = 0;
  double lower = 0;
  double upper = 0;
};

// The confusion counts and rates at one threshold.
struct OperatingPointResult {
  double threshold = 0;
  double sensitivity = 0;  // TP / positives; NaN without positives
  double specificity = 0;  // TN / negatives; NaN without negatives
  int true_positives = 0;
  int false_positives = 0;
  int true_negatives = 0;
  int false_negatives = 0;
  double false_alerts_per_1000_negatives = 0;  // 1000 * FP / negatives; NaN without negatives
};

// Agreement of predicted with true volumes over the pairs whose true volume is > 0.
struct VolumeError {
  double mean_absolute_ml = 0;       // mean |predicted - true|; NaN when n == 0
  double mean_absolute_percent = 0;  // mean 100 * |predicted - true| / true; NaN when n == 0
  int n = 0;                         // pairs used
};

inline constexpr int kDefaultBootstrapResamples = 2000;
inline constexpr uint64_t kDefaultBootstrapSeed = 1;

// Area under the ROC curve: the probability that a random positive scores
// above a random negative, ties counting 1/2 (Mann-Whitney U / (P * N)).
// INVALID_ARGUMENT when there are no positives or no negatives, or a score is
// not finite.
absl::StatusOr<double> Auc(std::span<const LabelledScore> data);

// The empirical ROC curve, by decreasing threshold: first +infinity (nothing
// called: sensitivity 0, specificity 1), then every distinct score; the last,
// the lowest score, calls everything (sensitivity 1, specificity 0). Empty
// when Auc would refuse the data (a class missing, a score not finite).
std::vector<RocPoint> RocCurve(std::span<const LabelledScore> data);

// AUC with a percentile-bootstrap 95% interval: `n_resamples` resamples, each
// drawing the positives and the negatives separately with replacement
// (stratified, so each keeps both classes), interval = 2.5th and 97.5th
// percentiles (linear interpolation). estimate = Auc(data). Deterministic for
// a seed. INVALID_ARGUMENT as Auc, and when n_resamples < 1.
absl::StatusOr<Interval> AucWithBootstrapCi(std::span<const LabelledScore> data,
                                            int n_resamples = kDefaultBootstrapResamples,
                                            uint64_t seed = kDefaultBootstrapSeed);

// Counts and rates when studies with score >= threshold are called positive.
// A NaN score is never called positive.
OperatingPointResult AtThreshold(std::span<const LabelledScore> data, double threshold);

// Calibrates an operating point: the lowest threshold, among the observed
// scores, at which false alerts per 1,000 negatives stay <= the maximum, with
// the counts there. When even the highest score raises too many alerts, the
// threshold is just above it (nothing called, sensitivity 0). INVALID_ARGUMENT
// when there are no negatives, a score is not finite, or the maximum is
// negative or NaN. Positives are optional (sensitivity is NaN without them).
absl::StatusOr<OperatingPointResult> CalibrateOperatingPoint(std::span<const LabelledScore> data,
                                                             double max_false_alerts_per_1000);

// Mean absolute and mean absolute percentage error of (predicted, true)
// volume pairs in ml, over the pairs whose true volume is > 0 and both values
// finite; the others are skipped (n counts the pairs used).
VolumeError CompareVolumes(std::span<const std::pair<double, double>> predicted_true);

}  // namespace parallax::evaluation
