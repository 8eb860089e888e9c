// ICH volume on head CT phantoms of known haemorrhage volume, written as
// DICOM and read back through the analyzer's own path (headers ->
// SelectSeries -> ReadPixels in HU -> EstimateIchVolume).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <cstdio>
#include <string>
#include <vector>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/inference/ich_volume.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/inference/series_selection.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/temp_dir.h"

namespace {

namespace inf = parallax::inference;
namespace ph = parallax::phantom;

inf::ModelManifest HeadCtManifest() {
  inf::ModelManifest m;
  m.id = "test.head_ct";
  m.applies_to.modality = {"CT"};
  m.applies_to.body_part = {"HEAD"};
  m.input = {.channels = 1, .height = 32, .width = 32, .depth = 1, .windows = {{40, 80}}};
  return m;
}

struct Case {
  std::vector<std::string> findings;
  double difficulty;
};

// 20 studies: each subtype at four sizes (difficulty drives the size: 0.1
// large .. 0.7 small), and two mixed studies.
std::vector<Case> Cases() {
  std::vector<Case> cases;
  const std::vector<double> difficulties = {0.1, 0.3, 0.5, 0.7};
  for (const std::string& label : ph::HeadCtLabels()) {
    for (double d : difficulties) {
      if (cases.size() >= 18) break;
      cases.push_back({{label}, d});
    }
  }
  cases.push_back({{"Subdural", "Intraparenchymal"}, 0.3});
  cases.push_back({{"Intraparenchymal", "Intraventricular"}, 0.4});
  return cases;
}

struct Measured {
  double truth_ml = 0;
  double all_slices_ml = 0;    // every slice counted ("all slices positive")
  double truth_slices_ml = 0;  // only slices the truth masks touch (a perfect per-slice model)
};

Measured Measure(const Case& c, uint64_t seed, const parallax::testing::TempDir& dir) {
  ph::HeadCtOptions o;
  o.seed = seed;
  o.findings = c.findings;
  o.difficulty = c.difficulty;
  const ph::Study study = ph::MakeHeadCt(o);
  parallax::dicom::StudyIdentity id;
  id.uid_seed = seed;
  const std::string folder = (dir.path() / ("s" + std::to_string(seed))).string();
  auto written = parallax::dicom::WritePhantomStudy(study, id, folder);
  REQUIRE(written.ok());
  std::vector<parallax::dicom::InstanceHeader> headers;
  for (const auto& f : written->files) {
    auto h = parallax::dicom::ReadInstanceHeaderFromFile(f);
    REQUIRE(h.ok());
    headers.push_back(*h);
  }
  const auto selection = inf::SelectSeries(headers, HeadCtManifest());
  REQUIRE(selection.applies);
  const auto& s = selection.series.front();
  std::vector<parallax::dicom::PixelImage> slices;
  for (size_t idx : s.instances) {
    auto frames = parallax::dicom::ReadPixels(written->files[idx]);
    REQUIRE(frames.ok());
    slices.push_back(std::move(frames->front()));
  }
  Measured m;
  std::vector<uint8_t> all(slices.size(), 1), touched(slices.size(), 0);
  for (const auto& f : study.findings) {
    m.truth_ml += f.volume_ml;
    const size_t plane = static_cast<size_t>(f.mask.rows) * f.mask.columns;
    for (size_t k = 0; k < slices.size(); ++k) {
      for (size_t i = 0; i < plane && !touched[k]; ++i) touched[k] = f.mask.bits[k * plane + i];
    }
  }
  auto a = inf::EstimateIchVolume(slices, s.positions_mm, all);
  REQUIRE(a.ok());
  auto t = inf::EstimateIchVolume(slices, s.positions_mm, touched);
  REQUIRE(t.ok());
  m.all_slices_ml = a->volume_ml;
  m.truth_slices_ml = t->volume_ml;
  std::filesystem::remove_all(folder);
  return m;
}

}  // namespace

TEST_CASE("the ICH volume of 20 head CT phantoms is within 15% mean absolute percentage error",
          "[inference][slow]") {
  parallax::testing::TempDir dir;
  const auto cases = Cases();
  double ape_all = 0, ape_touched = 0;
  std::printf("%-36s %5s %9s %9s %9s\n", "findings", "diff", "truth mL", "all mL", "masked mL");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Measured m = Measure(cases[i], 7000 + i, dir);
    REQUIRE(m.truth_ml > 0);
    std::string names;
    for (const auto& f : cases[i].findings) names += (names.empty() ? "" : "+") + f;
    std::printf("%-36s %5.2f %9.2f %9.2f %9.2f\n", names.c_str(), cases[i].difficulty, m.truth_ml, m.all_slices_ml,
                m.truth_slices_ml);
    ape_all += std::abs(m.all_slices_ml - m.truth_ml) / m.truth_ml;
    ape_touched += std::abs(m.truth_slices_ml - m.truth_ml) / m.truth_ml;
  }
  const double mape_all = 100 * ape_all / cases.size();
  const double mape_touched = 100 * ape_touched / cases.size();
  std::printf("MAPE, every slice counted: %.1f%%; only slices with blood counted: %.1f%%\n", mape_all, mape_touched);
  CHECK(mape_all <= 15.0);
  CHECK(mape_touched <= 15.0);
}

TEST_CASE("a normal head CT phantom has almost no haemorrhage volume", "[inference][slow]") {
  parallax::testing::TempDir dir;
  ph::HeadCtOptions o;
  o.seed = 6100;
  const ph::Study study = ph::MakeHeadCt(o);
  parallax::dicom::StudyIdentity id;
  id.uid_seed = o.seed;
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.path().string());
  REQUIRE(written.ok());
  std::vector<parallax::dicom::PixelImage> slices;
  std::vector<double> positions;
  for (const auto& f : written->files) {
    auto h = parallax::dicom::ReadInstanceHeaderFromFile(f);
    REQUIRE(h.ok());
    positions.push_back(h->image_position_patient.at(2));
    slices.push_back(std::move(parallax::dicom::ReadPixels(f)->front()));
  }
  std::vector<uint8_t> all(slices.size(), 1);
  auto v = inf::EstimateIchVolume(slices, positions, all);
  REQUIRE(v.ok());
  std::printf("normal phantom: %.2f mL counted as blood\n", v->volume_ml);
  CHECK(v->volume_ml < 2.0);
  CHECK(v->slice_spacing_mm == Approx(5.0));
}

TEST_CASE("the ICH volume refuses mismatched inputs", "[inference]") {
  std::vector<parallax::dicom::PixelImage> slices(2);
  std::vector<double> positions = {0};
  std::vector<uint8_t> counted = {1, 1};
  auto v = inf::EstimateIchVolume(slices, positions, counted);
  CHECK(v.status().code() == absl::StatusCode::kInvalidArgument);
}
