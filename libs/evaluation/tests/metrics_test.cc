#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "parallax/evaluation/metrics.h"

using namespace parallax::evaluation;

namespace {

std::vector<LabelledScore> Make(const std::vector<double>& positives,
                                const std::vector<double>& negatives) {
  std::vector<LabelledScore> data;
  for (double s : positives) data.push_back({s, true});
  for (double s : negatives) data.push_back({s, false});
  return data;
}

// 3 positives, 4 negatives, two ties across the classes. Pairs won:
// 0.9 beats all 4; 0.7 ties 0.7 and beats 3 (3.5); 0.4 ties 0.4 and beats 2 (2.5).
// AUC = 10 / 12.
std::vector<LabelledScore> HandExample() {
  return Make({0.9, 0.7, 0.4}, {0.7, 0.4, 0.2, 0.1});
}

// A deterministic synthetic set: positives ~ U(0.3, 1), negatives ~ U(0, 0.7).
std::vector<LabelledScore> Synthetic(int n_pos, int n_neg, uint64_t seed) {
  uint64_t state = seed;
  const auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  std::vector<LabelledScore> data;
  for (int i = 0; i < n_pos; ++i) data.push_back({0.3 + 0.7 * uniform(), true});
  for (int i = 0; i < n_neg; ++i) data.push_back({0.7 * uniform(), false});
  return data;
}

}  // namespace

TEST_CASE("AUC is 1 for perfect separation, 0 reversed, 0.5 for identical scores",
          "[evaluation]") {
  auto perfect = Auc(Make({0.8, 0.9, 0.95}, {0.1, 0.2, 0.3, 0.79}));
  REQUIRE(perfect.ok());
  CHECK(*perfect == 1.0);

  auto reversed = Auc(Make({0.1, 0.2}, {0.8, 0.9}));
  REQUIRE(reversed.ok());
  CHECK(*reversed == 0.0);

  auto identical = Auc(Make({0.5, 0.5, 0.5}, {0.5, 0.5}));
  REQUIRE(identical.ok());
  CHECK(*identical == 0.5);
}

TEST_CASE("AUC matches a hand-computed example with ties exactly", "[evaluation]") {
  auto auc = Auc(HandExample());
  REQUIRE(auc.ok());
  CHECK(*auc == 10.0 / 12.0);
}

TEST_CASE("AUC refuses data without both classes or with a non-finite score", "[evaluation]") {
  auto no_positives = Auc(Make({}, {0.1, 0.2}));
  REQUIRE_FALSE(no_positives.ok());
  CHECK(no_positives.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(no_positives.status().message()), Catch::Contains("0 positive"));

  auto no_negatives = Auc(Make({0.1, 0.2}, {}));
  REQUIRE_FALSE(no_negatives.ok());
  CHECK(no_negatives.status().code() == absl::StatusCode::kInvalidArgument);

  CHECK_FALSE(Auc({}).ok());

  auto nan = Auc(Make({0.9, std::nan("")}, {0.1}));
  REQUIRE_FALSE(nan.ok());
  CHECK_THAT(std::string(nan.status().message()), Catch::Contains("#1"));
}

TEST_CASE("ROC curve runs from nothing called to everything called", "[evaluation]") {
  const auto data = HandExample();
  const auto curve = RocCurve(data);
  // +infinity, then the 5 distinct scores 0.9, 0.7, 0.4, 0.2, 0.1.
  REQUIRE(curve.size() == 6);
  CHECK(std::isinf(curve[0].threshold));
  CHECK(curve[0].sensitivity == 0.0);
  CHECK(curve[0].specificity == 1.0);
  CHECK(curve[1].threshold == 0.9);
  CHECK(curve[1].sensitivity == Approx(1.0 / 3));
  CHECK(curve[1].specificity == 1.0);
  CHECK(curve[2].threshold == 0.7);
  CHECK(curve[2].sensitivity == Approx(2.0 / 3));
  CHECK(curve[2].specificity == Approx(0.75));
  CHECK(curve.back().threshold == 0.1);
  CHECK(curve.back().sensitivity == 1.0);
  CHECK(curve.back().specificity == 0.0);
  for (size_t i = 1; i < curve.size(); ++i) {
    CHECK(curve[i].threshold < curve[i - 1].threshold);
    CHECK(curve[i].sensitivity >= curve[i - 1].sensitivity);
    CHECK(curve[i].specificity <= curve[i - 1].specificity);
  }
  CHECK(RocCurve(Make({0.3}, {})).empty());
}

TEST_CASE("bootstrap CI contains the estimate, is deterministic, narrows with more data",
          "[evaluation]") {
  const auto small = Synthetic(20, 40, 7);
  auto a = AucWithBootstrapCi(small, 2000, 42);
  REQUIRE(a.ok());
  CHECK(a->estimate == *Auc(small));
  CHECK(a->lower <= a->estimate);
  CHECK(a->estimate <= a->upper);
  CHECK(a->lower < a->upper);
  CHECK(a->lower >= 0.0);
  CHECK(a->upper <= 1.0);

  auto again = AucWithBootstrapCi(small, 2000, 42);
  REQUIRE(again.ok());
  CHECK(again->lower == a->lower);
  CHECK(again->upper == a->upper);

  auto other_seed = AucWithBootstrapCi(small, 2000, 43);
  REQUIRE(other_seed.ok());
  CHECK((other_seed->lower != a->lower || other_seed->upper != a->upper));

  const auto large = Synthetic(200, 400, 7);
  auto b = AucWithBootstrapCi(large, 2000, 42);
  REQUIRE(b.ok());
  CHECK(b->lower <= b->estimate);
  CHECK(b->estimate <= b->upper);
  CHECK((b->upper - b->lower) < 0.6 * (a->upper - a->lower));

  auto defaults = AucWithBootstrapCi(small);
  REQUIRE(defaults.ok());
  CHECK(defaults->lower <= defaults->estimate);

  CHECK(AucWithBootstrapCi(small, 0, 1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(AucWithBootstrapCi(Make({0.4}, {}), 100, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("AtThreshold counts a hand example, calling score >= threshold", "[evaluation]") {
  const auto data = HandExample();
  const auto r = AtThreshold(data, 0.5);
  CHECK(r.threshold == 0.5);
  CHECK(r.true_positives == 2);   // 0.9, 0.7
  CHECK(r.false_negatives == 1);  // 0.4
  CHECK(r.false_positives == 1);  // 0.7
  CHECK(r.true_negatives == 3);   // 0.4, 0.2, 0.1
  CHECK(r.sensitivity == Approx(2.0 / 3));
  CHECK(r.specificity == Approx(0.75));
  CHECK(r.false_alerts_per_1000_negatives == Approx(250.0));

  const auto at_tie = AtThreshold(data, 0.4);  // >=: both 0.4s are called
  CHECK(at_tie.true_positives == 3);
  CHECK(at_tie.false_positives == 2);

  const auto negatives_only = AtThreshold(Make({}, {0.1, 0.9}), 0.5);
  CHECK(std::isnan(negatives_only.sensitivity));
  CHECK(negatives_only.false_alerts_per_1000_negatives == Approx(500.0));
}

TEST_CASE("CalibrateOperatingPoint finds the lowest threshold within the false-alert budget",
          "[evaluation]") {
  // 2000 negatives at 0/2000 ... 1999/2000; the three highest are 0.9985,
  // 0.999, 0.9995. 1.2 per 1000 of 2000 allows 2 false alerts, so the
  // threshold must lie above 0.9985: the lowest observed score there is the
  // positive 0.9986.
  std::vector<double> negatives;
  for (int i = 0; i < 2000; ++i) negatives.push_back(i / 2000.0);
  const auto data = Make({0.5, 0.95, 0.9986, 0.9991, 0.9999}, negatives);

  auto op = CalibrateOperatingPoint(data, 1.2);
  REQUIRE(op.ok());
  CHECK(op->false_positives <= 2);
  CHECK(op->false_positives == 2);
  CHECK(op->threshold == 0.9986);
  CHECK(op->true_positives == 3);
  CHECK(op->sensitivity == Approx(0.6));
  CHECK(op->false_alerts_per_1000_negatives == Approx(1.0));

  // Lowest: every lower observed score exceeds the budget.
  for (const LabelledScore& s : data) {
    if (s.score < op->threshold) {
      INFO("score " << s.score);
      REQUIRE(AtThreshold(data, s.score).false_alerts_per_1000_negatives > 1.2);
    }
  }

  // A budget met exactly (2 of 2000 = 1.0 per 1000) is within it.
  auto exact = CalibrateOperatingPoint(data, 1.0);
  REQUIRE(exact.ok());
  CHECK(exact->threshold == 0.9986);

  // A generous budget reaches down the scores.
  auto loose = CalibrateOperatingPoint(data, 100.0);  // 200 false alerts
  REQUIRE(loose.ok());
  CHECK(loose->false_positives == 200);
  CHECK(loose->threshold == 1800 / 2000.0);
}

TEST_CASE("CalibrateOperatingPoint with no room calls nothing, and refuses bad input",
          "[evaluation]") {
  const auto data = Make({0.5}, {0.2, 0.9});
  auto none = CalibrateOperatingPoint(data, 0.0);
  REQUIRE(none.ok());
  CHECK(none->threshold > 0.9);
  CHECK(none->false_positives == 0);
  CHECK(none->true_positives == 0);

  CHECK(CalibrateOperatingPoint(Make({0.5}, {}), 1.0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CalibrateOperatingPoint(data, -1.0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CalibrateOperatingPoint(data, std::nan("")).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CompareVolumes averages absolute and percentage errors over true > 0",
          "[evaluation]") {
  const std::vector<std::pair<double, double>> pairs = {
      {12, 10}, {8, 10}, {30, 20},  // errors 2, 2, 10 ml; 20%, 20%, 50%
      {5, 0},                        // no true volume: skipped
      {std::nan(""), 4},             // no prediction: skipped
  };
  const VolumeError e = CompareVolumes(pairs);
  CHECK(e.n == 3);
  CHECK(e.mean_absolute_ml == Approx(14.0 / 3));
  CHECK(e.mean_absolute_percent == Approx(30.0));

  const VolumeError empty = CompareVolumes({});
  CHECK(empty.n == 0);
  CHECK(std::isnan(empty.mean_absolute_ml));
}
