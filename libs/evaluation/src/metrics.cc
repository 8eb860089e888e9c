#include "parallax/evaluation/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <absl/status/status.h>

namespace parallax::evaluation {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The scores of each class, ascending.
struct SortedClasses {
  std::vector<double> positives;
  std::vector<double> negatives;
};

absl::StatusOr<SortedClasses> SplitAndSort(std::span<const LabelledScore> data) {
  SortedClasses out;
  for (size_t i = 0; i < data.size(); ++i) {
    if (!std::isfinite(data[i].score)) {
      return absl::InvalidArgumentError("score of study #" + std::to_string(i) +
                                        " is not a finite number");
    }
    (data[i].positive ? out.positives : out.negatives).push_back(data[i].score);
  }
  std::sort(out.positives.begin(), out.positives.end());
  std::sort(out.negatives.begin(), out.negatives.end());
  return out;
}

absl::Status RequireBothClasses(const SortedClasses& classes, size_t n) {
  if (classes.positives.empty() || classes.negatives.empty()) {
    return absl::InvalidArgumentError(
        "AUC needs both positive and negative studies; the data has " +
        std::to_string(classes.positives.size()) + " positive and " +
        std::to_string(classes.negatives.size()) + " negative of " + std::to_string(n));
  }
  return absl::OkStatus();
}

// Mann-Whitney AUC where positive i appears pos_count[i] times and negative j
// neg_count[j] times (both score arrays ascending). Counts twice the wins in
// integers (a win 2, a tie 1), so the result is exact up to the final division.
double WeightedAuc(const std::vector<double>& pos, const std::vector<int>& pos_count,
                   const std::vector<double>& neg, const std::vector<int>& neg_count) {
  int64_t total_pos = 0, total_neg = 0;
  for (int c : pos_count) total_pos += c;
  for (int c : neg_count) total_neg += c;
  int64_t twice_wins = 0;
  int64_t below = 0, below_or_equal = 0;  // weighted negatives < s and <= s
  size_t lt = 0, le = 0;
  for (size_t i = 0; i < pos.size(); ++i) {
    const double s = pos[i];
    while (lt < neg.size() && neg[lt] < s) below += neg_count[lt++];
    while (le < neg.size() && neg[le] <= s) below_or_equal += neg_count[le++];
    twice_wins += static_cast<int64_t>(pos_count[i]) * (below + below_or_equal);
  }
  return static_cast<double>(twice_wins) / (2.0 * static_cast<double>(total_pos) *
                                            static_cast<double>(total_neg));
}

// splitmix64: small, fast, and the same sequence on every platform (unlike
// the std distributions, whose algorithms are implementation-defined).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (multiply-shift; bias < n / 2^64).
  size_t Below(size_t n) {
    return static_cast<size_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

 private:
  uint64_t state_;
};

// Type-7 (linear interpolation) quantile of ascending `sorted`.
double Quantile(const std::vector<double>& sorted, double p) {
  const double h = (static_cast<double>(sorted.size()) - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double Ratio(int numerator, int denominator) {
  return denominator == 0 ? kNaN : static_cast<double>(numerator) / denominator;
}

}  // namespace

absl::StatusOr<double> Auc(std::span<const LabelledScore> data) {
  auto classes = SplitAndSort(data);
  if (!classes.ok()) return classes.status();
  if (auto s = RequireBothClasses(*classes, data.size()); !s.ok()) return s;
  return WeightedAuc(classes->positives, std::vector<int>(classes->positives.size(), 1),
                     classes->negatives, std::vector<int>(classes->negatives.size(), 1));
}

std::vector<RocPoint> RocCurve(std::span<const LabelledScore> data) {
  auto classes = SplitAndSort(data);
  if (!classes.ok() || !RequireBothClasses(*classes, data.size()).ok()) return {};
  const auto& pos = classes->positives;
  const auto& neg = classes->negatives;
  const double n_pos = static_cast<double>(pos.size());
  const double n_neg = static_cast<double>(neg.size());

  std::vector<double> thresholds(pos);
  thresholds.insert(thresholds.end(), neg.begin(), neg.end());
  std::sort(thresholds.begin(), thresholds.end(), std::greater<>());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());

  std::vector<RocPoint> curve;
  curve.reserve(thresholds.size() + 1);
  curve.push_back({std::numeric_limits<double>::infinity(), 0.0, 1.0});
  for (double t : thresholds) {
    // Studies called positive: score >= t.
    const double tp = static_cast<double>(pos.end() - std::lower_bound(pos.begin(), pos.end(), t));
    const double fp = static_cast<double>(neg.end() - std::lower_bound(neg.begin(), neg.end(), t));
    curve.push_back({t, tp / n_pos, 1.0 - fp / n_neg});
  }
  return curve;
}

absl::StatusOr<Interval> AucWithBootstrapCi(std::span<const LabelledScore> data, int n_resamples,
                                            uint64_t seed) {
  if (n_resamples < 1) {
    return absl::InvalidArgumentError("bootstrap needs at least 1 resample, got " +
                                      std::to_string(n_resamples));
  }
  auto classes = SplitAndSort(data);
  if (!classes.ok()) return classes.status();
  if (auto s = RequireBothClasses(*classes, data.size()); !s.ok()) return s;
  const auto& pos = classes->positives;
  const auto& neg = classes->negatives;

  Interval out;
  out.estimate = WeightedAuc(pos, std::vector<int>(pos.size(), 1), neg,
                             std::vector<int>(neg.size(), 1));

  SplitMix64 rng(seed);
  std::vector<int> pos_count(pos.size()), neg_count(neg.size());
  std::vector<double> aucs;
  aucs.reserve(static_cast<size_t>(n_resamples));
  for (int r = 0; r < n_resamples; ++r) {
    std::fill(pos_count.begin(), pos_count.end(), 0);
    std::fill(neg_count.begin(), neg_count.end(), 0);
    for (size_t i = 0; i < pos.size(); ++i) ++pos_count[rng.Below(pos.size())];
    for (size_t i = 0; i < neg.size(); ++i) ++neg_count[rng.Below(neg.size())];
    aucs.push_back(WeightedAuc(pos, pos_count, neg, neg_count));
  }
  std::sort(aucs.begin(), aucs.end());
  out.lower = Quantile(aucs, 0.025);
  out.upper = Quantile(aucs, 0.975);
  return out;
}

OperatingPointResult AtThreshold(std::span<const LabelledScore> data, double threshold) {
  OperatingPointResult r;
  r.threshold = threshold;
  for (const LabelledScore& s : data) {
    const bool called = s.score >= threshold;  // false for a NaN score
    if (s.positive) {
      ++(called ? r.true_positives : r.false_negatives);
    } else {
      ++(called ? r.false_positives : r.true_negatives);
    }
  }
  const int positives = r.true_positives + r.false_negatives;
  const int negatives = r.false_positives + r.true_negatives;
  r.sensitivity = Ratio(r.true_positives, positives);
  r.specificity = Ratio(r.true_negatives, negatives);
  r.false_alerts_per_1000_negatives =
      negatives == 0 ? kNaN : 1000.0 * r.false_positives / negatives;
  return r;
}

absl::StatusOr<OperatingPointResult> CalibrateOperatingPoint(std::span<const LabelledScore> data,
                                                             double max_false_alerts_per_1000) {
  if (!(max_false_alerts_per_1000 >= 0)) {
    return absl::InvalidArgumentError(
        "maximum false alerts per 1000 negatives must be a number >= 0, got " +
        std::to_string(max_false_alerts_per_1000));
  }
  auto classes = SplitAndSort(data);
  if (!classes.ok()) return classes.status();
  const auto& neg = classes->negatives;
  if (neg.empty()) {
    return absl::InvalidArgumentError(
        "calibrating false alerts per 1000 negatives needs negative studies; the data has none");
  }
  // The largest false-positive count allowed; the tiny slack keeps e.g.
  // 1.2 per 1000 of 2000 (2.4000000000000004) from rounding down wrongly.
  const double allowed_fp = max_false_alerts_per_1000 * static_cast<double>(neg.size()) / 1000.0;
  const auto fp_at = [&](double t) {
    return static_cast<double>(neg.end() - std::lower_bound(neg.begin(), neg.end(), t));
  };
  const auto within = [&](double t) { return fp_at(t) <= allowed_fp * (1 + 1e-12); };

  std::vector<double> candidates(classes->positives);
  candidates.insert(candidates.end(), neg.begin(), neg.end());
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  // False alerts fall as the threshold rises: the first candidate within the
  // budget is the lowest.
  const auto it = std::partition_point(candidates.begin(), candidates.end(),
                                       [&](double t) { return !within(t); });
  const double threshold =
      it != candidates.end()
          ? *it
          : std::nextafter(candidates.back(), std::numeric_limits<double>::infinity());
  return AtThreshold(data, threshold);
}

VolumeError CompareVolumes(std::span<const std::pair<double, double>> predicted_true) {
  double sum_abs = 0, sum_percent = 0;
  int n = 0;
  for (const auto& [predicted, truth] : predicted_true) {
    if (!std::isfinite(predicted) || !std::isfinite(truth) || !(truth > 0)) continue;
    const double abs_error = std::fabs(predicted - truth);
    sum_abs += abs_error;
    sum_percent += 100.0 * abs_error / truth;
    ++n;
  }
  if (n == 0) return {kNaN, kNaN, 0};
  return {sum_abs / n, sum_percent / n, n};
}

}  // namespace parallax::evaluation
