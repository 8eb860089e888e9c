#include <catch2/catch.hpp>

#include <cmath>

#include "parallax/evaluation/validation.h"

using namespace parallax::evaluation;

namespace {

LabelledStudy Study(std::string id, std::vector<std::string> labels, std::optional<double> volume = {}) {
  LabelledStudy s;
  s.id = std::move(id);
  s.labels = std::move(labels);
  s.volume_ml = volume;
  return s;
}

}  // namespace

TEST_CASE("validation scores each label against the truth at its operating point") {
  const std::vector<LabelledStudy> set = {Study("n1", {}), Study("n2", {}), Study("sdh", {"Subdural"}, 20.0),
                                          Study("edh", {"Epidural"}, 40.0)};
  const std::vector<ModelLabel> labels = {{"Any haemorrhage", 0.5}, {"Subdural", 0.5}};
  const std::vector<StudyScores> scores = {
      {0, {0.1, 0.1}, 0.0}, {1, {0.6, 0.2}, 1.0}, {2, {0.9, 0.8}, 18.0}, {3, {0.7, 0.4}, 50.0}};
  ValidationOptions opts;
  opts.any_label = "Any haemorrhage";
  opts.volume_label = "Any haemorrhage";
  opts.bootstrap_resamples = 200;
  auto r = Validate(labels, set, scores, opts);
  REQUIRE(r.ok());
  REQUIRE(r->rows.size() == 2);
  const auto& any = r->rows[0];
  CHECK(any.positives == 2);
  CHECK(any.negatives == 2);
  CHECK(any.auc.estimate == Approx(1.0));
  CHECK(any.at_operating_point.false_positives == 1);  // n2 at 0.6
  CHECK(any.at_operating_point.false_alerts_per_1000_negatives == Approx(500.0));
  REQUIRE(any.volume.has_value());
  CHECK(any.volume->n == 2);
  CHECK(any.volume->mean_absolute_ml == Approx((2.0 + 10.0) / 2));
  CHECK(any.volume->mean_absolute_percent == Approx((10.0 + 25.0) / 2));
  const auto& sdh = r->rows[1];
  CHECK(sdh.positives == 1);
  CHECK(sdh.negatives == 3);
  CHECK(sdh.at_operating_point.true_positives == 1);
  CHECK(sdh.at_operating_point.false_positives == 0);
  CHECK_FALSE(sdh.volume.has_value());
  CHECK(r->roc.size() == 2);
}

TEST_CASE("a label without positives gets a note and no AUC, and bad scores are refused") {
  const std::vector<LabelledStudy> set = {Study("n1", {}), Study("n2", {})};
  const std::vector<ModelLabel> labels = {{"Fracture", 0.5}};
  auto r = Validate(labels, set, {{0, {0.2}}, {1, {0.3}}});
  REQUIRE(r.ok());
  CHECK(std::isnan(r->rows[0].auc.estimate));
  REQUIRE(r->notes.size() == 1);
  CHECK_THAT(r->notes[0], Catch::Contains("Fracture") && Catch::Contains("no positive"));
  CHECK(Validate(labels, set, {{0, {0.2, 0.3}}}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Validate(labels, set, {{5, {0.2}}}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Validate(labels, set, {{0, {NAN}}}).status().code() == absl::StatusCode::kInvalidArgument);
}
