// Unit tests of the quality gate: the API contract, series geometry,
// over-exposure, and the DICOM path. The phantom detection rates are in
// phantom_rates_test.cc (slow).
#include "quality_test_support.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

using namespace quality_test;

TEST_CASE("quality gate: every check states its measurement, its threshold and a detail", "[quality]") {
  const auto st = ChestStudy(7, 0.5, "none");
  const auto a = AssessChest(st);
  REQUIRE(a.checks.size() >= 5);
  for (const auto& c : a.checks) {
    CHECK_FALSE(c.detail.empty());
    CHECK(std::isfinite(c.measured));
    CHECK(c.threshold > 0);
  }
  CHECK(a.Acceptable());
  CHECK(a.Find(Issue::kRotated) != nullptr);
  CHECK(a.Find(Issue::kMissingSlices) == nullptr);
  for (Issue i : kAllIssues) CHECK(std::string(pq::IssueName(i)) != "unknown");
}

TEST_CASE("quality gate: malformed input is INVALID_ARGUMENT, not a verdict", "[quality]") {
  pd::PixelImage empty;
  CHECK(pq::AssessRadiograph(empty).status().code() == absl::StatusCode::kInvalidArgument);
  pd::PixelImage short_values;
  short_values.rows = short_values.columns = 64;
  short_values.values.assign(100, 0.0f);
  CHECK(pq::AssessRadiograph(short_values).status().code() == absl::StatusCode::kInvalidArgument);

  pd::PixelImage slice;
  slice.rows = slice.columns = 64;
  slice.values.assign(64 * 64, 0.0f);
  std::vector<pd::PixelImage> slices(3, slice);
  std::vector<double> two_positions = {0, 5};
  CHECK(pq::AssessVolume(slices, two_positions, 5).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(pq::AssessVolume({}, {}, 5).status().code() == absl::StatusCode::kInvalidArgument);
  slices[1].rows = 32;
  slices[1].values.resize(32 * 64);
  std::vector<double> nan_position = {0, std::nan(""), 10};
  CHECK(pq::AssessVolume(slices, nan_position, 5).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<double> positions = {0, 5, 10};
  CHECK(pq::AssessVolume(slices, positions, 5).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("quality gate: series geometry: gaps, thick slices, too few slices and short coverage are flagged",
          "[quality]") {
  const auto v = HeadVolume(11, 0.5, "none");
  SECTION("a clean series passes; positions need not be sorted") {
    auto slices = v.slices;
    auto pos = v.positions_mm;
    std::reverse(slices.begin(), slices.end());
    std::reverse(pos.begin(), pos.end());
    const auto a = pq::AssessVolume(slices, pos, v.thickness_mm, HeadOptions());
    REQUIRE(a.ok());
    CHECK(a->Acceptable());
  }
  SECTION("one dropped slice is a gap of 2x the spacing, named at the image after it") {
    auto slices = v.slices;
    auto pos = v.positions_mm;
    slices.erase(slices.begin() + 20);
    pos.erase(pos.begin() + 20);
    const auto a = pq::AssessVolume(slices, pos, v.thickness_mm, HeadOptions());
    REQUIRE(a.ok());
    CHECK(a->FlaggedIssues() == std::vector<Issue>{Issue::kMissingSlices});
    CHECK(a->Find(Issue::kMissingSlices)->measured == Approx(2.0));
    CHECK(a->Find(Issue::kMissingSlices)->slice == 20);
  }
  SECTION("thickness, slice count and coverage limits") {
    pq::VolumeOptions o = HeadOptions();
    o.min_slices = 40;
    o.min_coverage_mm = 170;
    const auto a = pq::AssessVolume(v.slices, v.positions_mm, 7.5, o);
    REQUIRE(a.ok());
    CHECK(a->Flagged(Issue::kThickSlices));
    CHECK(a->Flagged(Issue::kIncompleteSeries));
    o.min_slices = 32;
    o.min_coverage_mm = 160;  // 31 spacings of 5 mm + one thickness
    const auto b = pq::AssessVolume(v.slices, v.positions_mm, 5.0, o);
    REQUIRE(b.ok());
    CHECK(b->Acceptable());
  }
}

TEST_CASE("quality gate: a burnt-out film (the lungs clipped to black) is over-exposed", "[quality]") {
  // The phantoms have no over-exposure defect: this simulates one by
  // saturating the darkest 40% of a clean film at the detector floor.
  int flagged = 0, clean_flagged = 0;
  for (int seed = kFirstTestSeed; seed < kFirstTestSeed + 5; ++seed) {
    const auto st = ChestStudy(seed, 0.5, "none");
    auto im = pq::ToPixelImage(st.series[0].images[0], st.series[0].info);
    clean_flagged += pq::AssessRadiograph(im)->Flagged(Issue::kOverexposed) ? 1 : 0;
    std::vector<float> sorted = im.values;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() * 4 / 10, sorted.end());
    const float cut = sorted[sorted.size() * 4 / 10];
    for (float& v : im.values) v = std::max(0.0f, (v - cut) * 1.5f);
    const auto a = pq::AssessRadiograph(im, {.bits_stored = 12});
    REQUIRE(a.ok());
    flagged += a->Flagged(Issue::kOverexposed) ? 1 : 0;
  }
  CHECK(flagged == 5);
  CHECK(clean_flagged == 0);
}

TEST_CASE("quality gate: through DICOM the gate sees the same pixels and gives the same verdict", "[quality]") {
  parallax::testing::TempDir dir("parallax-quality");
  SECTION("chest film") {
    const auto st = ChestStudy(kFirstTestSeed, 0.5, "rotation");
    const auto written = pd::WritePhantomStudy(st, {}, (dir.path() / "chest").string());
    REQUIRE(written.ok());
    const auto frames = pd::ReadPixels(written->files.at(0));
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 1);
    const auto direct = pq::ToPixelImage(st.series[0].images[0], st.series[0].info);
    CHECK(frames->at(0).values == direct.values);
    const auto a = pq::AssessRadiograph(frames->at(0));
    REQUIRE(a.ok());
    CHECK(a->FlaggedIssues() == std::vector<Issue>{Issue::kRotated});
  }
  SECTION("head CT") {
    pp::HeadCtOptions o;
    o.seed = kFirstTestSeed;
    o.size = 256;
    o.defects = {"missing_slices"};
    const auto st = pp::MakeHeadCt(o);
    const auto written = pd::WritePhantomStudy(st, {}, (dir.path() / "head").string());
    REQUIRE(written.ok());
    const auto direct = pq::ToVolume(st);
    std::vector<pd::PixelImage> slices;
    for (const auto& f : written->files) {
      auto frames = pd::ReadPixels(f);
      REQUIRE(frames.ok());
      slices.push_back(std::move(frames->at(0)));
    }
    REQUIRE(slices.size() == direct.slices.size());
    for (size_t i = 0; i < slices.size(); ++i) CHECK(slices[i].values == direct.slices[i].values);
    const auto a = pq::AssessVolume(slices, direct.positions_mm, direct.thickness_mm, HeadOptions());
    REQUIRE(a.ok());
    CHECK(a->FlaggedIssues() == std::vector<Issue>{Issue::kMissingSlices});
  }
}
