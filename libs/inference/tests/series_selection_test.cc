// Series selection on headers only: which series a model applies to, and why not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "parallax/inference/model_manifest.h"
#include "parallax/inference/series_selection.h"

namespace {

namespace inf = parallax::inference;
using parallax::dicom::InstanceHeader;

inf::ModelManifest Manifest(std::vector<std::string> modality, std::vector<std::string> body,
                            std::vector<std::string> view = {}, std::vector<std::string> roles = {}) {
  inf::ModelManifest m;
  m.id = "test";
  m.applies_to = {std::move(modality), std::move(body), std::move(view)};
  m.input.channels = roles.empty() ? 1 : static_cast<int>(roles.size());
  m.input.series = std::move(roles);
  return m;
}

InstanceHeader Film(const std::string& uid, const std::string& view, const std::string& body = "CHEST") {
  InstanceHeader h;
  h.sop_instance_uid = uid;
  h.series_instance_uid = "1.2." + uid;
  h.modality = "DX";
  h.body_part_examined = body;
  h.view_position = view;
  h.rows = h.columns = 256;
  return h;
}

// An axial (or other) stack of `n` slices, `spacing` apart, written in a shuffled order.
std::vector<InstanceHeader> Stack(const std::string& series, const std::string& modality, int n, double spacing,
                                  double thickness, std::vector<double> orientation = {1, 0, 0, 0, 1, 0},
                                  const std::string& description = "") {
  std::vector<InstanceHeader> out;
  const double nx = orientation[1] * orientation[5] - orientation[2] * orientation[4];
  const double ny = orientation[2] * orientation[3] - orientation[0] * orientation[5];
  const double nz = orientation[0] * orientation[4] - orientation[1] * orientation[3];
  for (int k = 0; k < n; ++k) {
    InstanceHeader h;
    h.sop_instance_uid = series + "." + std::to_string(k + 1);
    h.series_instance_uid = series;
    h.modality = modality;
    h.body_part_examined = "HEAD";
    h.series_description = description;
    h.image_orientation_patient = orientation;
    h.image_position_patient = {10 + k * spacing * nx, -20 + k * spacing * ny, -50 + k * spacing * nz};
    h.slice_thickness = thickness;
    h.rows = h.columns = 512;
    h.pixel_spacing = {0.45, 0.45};
    // Instance numbers deliberately disagree with the position order.
    h.instance_number = (k * 7) % n + 1;
    out.push_back(h);
  }
  std::reverse(out.begin(), out.end());
  std::rotate(out.begin(), out.begin() + n / 3, out.end());
  return out;
}

std::vector<InstanceHeader> Join(std::vector<std::vector<InstanceHeader>> parts) {
  std::vector<InstanceHeader> all;
  for (auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

}  // namespace

TEST_CASE("a chest model refuses an MR study saying which modality it saw", "[inference]") {
  auto study = Stack("1.9", "MR", 10, 5, 5);
  auto s = inf::SelectSeries(study, Manifest({"DX", "CR"}, {"CHEST"}, {"PA", "AP"}));
  CHECK_FALSE(s.applies);
  CHECK(s.reason == "modality MR not in [DX, CR]");
  CHECK(s.series.empty());
}

TEST_CASE("a frontal chest film is chosen over a lateral, and PA over AP when listed first", "[inference]") {
  std::vector<InstanceHeader> study = {Film("1", "LL"), Film("2", "AP"), Film("3", "PA")};
  auto s = inf::SelectSeries(study, Manifest({"DX", "CR"}, {"chest"}, {"PA", "AP"}));
  REQUIRE(s.applies);
  REQUIRE(s.series.size() == 1);
  CHECK(s.series[0].instances == std::vector<size_t>{2});
  CHECK(s.body_part_source == "BodyPartExamined");

  std::vector<InstanceHeader> lateral_only = {Film("1", "LL")};
  auto l = inf::SelectSeries(lateral_only, Manifest({"DX", "CR"}, {"CHEST"}, {"PA", "AP"}));
  CHECK_FALSE(l.applies);
  CHECK(l.reason == "view position LL not in [PA, AP]");
}

TEST_CASE("an empty BodyPartExamined is read from the series description, and says so", "[inference]") {
  InstanceHeader h = Film("1", "pa", "");
  h.series_description = "Chest PA erect";
  std::vector<InstanceHeader> study = {h};
  auto s = inf::SelectSeries(study, Manifest({"dx"}, {"CHEST"}, {"PA"}));
  REQUIRE(s.applies);
  CHECK(s.body_part_source == "SeriesDescription");

  study[0].series_description = "";
  study[0].study_description = "XR THORAX 1 VIEW";
  s = inf::SelectSeries(study, Manifest({"DX"}, {"CHEST"}, {"PA"}));
  REQUIRE(s.applies);
  CHECK(s.body_part_source == "StudyDescription");

  study[0].study_description = "XR 1 VIEW";
  s = inf::SelectSeries(study, Manifest({"DX"}, {"CHEST"}, {"PA"}));
  CHECK_FALSE(s.applies);
  CHECK(s.reason.find("body part not stated") != std::string::npos);

  study[0].body_part_examined = "PELVIS";
  s = inf::SelectSeries(study, Manifest({"DX"}, {"CHEST"}, {"PA"}));
  CHECK(s.reason == "body part PELVIS not in [CHEST]");
}

TEST_CASE("CT picks the axial 2.5-5 mm series with the most slices, sorted by position", "[inference]") {
  auto thin = Stack("1.1", "CT", 120, 0.625, 0.625);                             // too thin
  auto thick = Stack("1.2", "CT", 32, 5, 5);                                     // eligible
  auto fewer = Stack("1.3", "CT", 20, 5, 5);                                     // eligible, fewer
  auto coronal = Stack("1.4", "CT", 60, 3, 3, {1, 0, 0, 0, 0, -1});              // not axial
  auto study = Join({thin, coronal, fewer, thick});
  auto s = inf::SelectSeries(study, Manifest({"CT"}, {"HEAD"}));
  REQUIRE(s.applies);
  REQUIRE(s.series.size() == 1);
  const auto& sel = s.series[0];
  CHECK(sel.series_instance_uid == "1.2");
  REQUIRE(sel.instances.size() == 32);
  CHECK(sel.slice_spacing_mm == Approx(5.0));
  for (size_t k = 0; k < sel.instances.size(); ++k) {
    // Slice k of the series was generated at z = -50 + 5k.
    CHECK(study[sel.instances[k]].sop_instance_uid == "1.2." + std::to_string(k + 1));
    CHECK(sel.positions_mm[k] == Approx(-50 + 5.0 * k));
  }
}

TEST_CASE("a tilted axial CT still counts as axial", "[inference]") {
  const double t = 20 * 3.14159265 / 180;
  auto study = Stack("1.5", "CT", 30, 5, 5, {1, 0, 0, 0, std::cos(t), std::sin(t)});
  auto s = inf::SelectSeries(study, Manifest({"CT"}, {"HEAD"}));
  REQUIRE(s.applies);
  CHECK(s.series[0].slice_spacing_mm == Approx(5.0));
}

TEST_CASE("CT without a usable axial series says what is missing", "[inference]") {
  auto thin = Stack("1.1", "CT", 120, 0.625, 0.625);
  auto s = inf::SelectSeries(thin, Manifest({"CT"}, {"HEAD"}));
  CHECK_FALSE(s.applies);
  CHECK(s.reason == "no axial series with 2.5–5 mm slices");

  auto sagittal = Stack("1.6", "CT", 40, 3, 3, {0, 1, 0, 0, 0, -1});
  s = inf::SelectSeries(sagittal, Manifest({"CT"}, {"HEAD"}));
  CHECK_FALSE(s.applies);
  CHECK(s.reason == "no axial series with 2.5–5 mm slices");

  auto duplicated = Stack("1.7", "CT", 20, 5, 5);
  duplicated.push_back(duplicated.front());
  duplicated.back().sop_instance_uid = "1.7.99";
  s = inf::SelectSeries(duplicated, Manifest({"CT"}, {"HEAD"}));
  CHECK_FALSE(s.applies);
  CHECK(s.reason.find("two slices at one position") != std::string::npos);
}

TEST_CASE("series roles are recognised from descriptions", "[inference]") {
  auto role = [](const std::string& description) {
    InstanceHeader h;
    h.series_description = description;
    auto r = inf::RecogniseSeriesRoles(h);
    return r.empty() ? std::string() : r.front();
  };
  CHECK(role("AX T1 POST GD") == "T1_POST_CONTRAST");
  CHECK(role("Ax T1+C") == "T1_POST_CONTRAST");
  CHECK(role("T1W_SE_CE") == "T1_POST_CONTRAST");
  CHECK(role("AX T1 PRE") == "T1");
  CHECK(role("AX FLAIR") == "FLAIR");
  CHECK(role("T2 FLAIR AX") == "FLAIR");
  CHECK(role("AX T2 TSE") == "T2");
  CHECK(role("DWI b1000") == "DWI");
  CHECK(role("localizer") == "");
}

TEST_CASE("a two-series MRI model takes one co-registered series per role", "[inference]") {
  auto t1 = Stack("2.1", "MR", 24, 5, 5, {1, 0, 0, 0, 1, 0}, "AX T1 POST GD");
  auto flair = Stack("2.2", "MR", 24, 5, 5, {1, 0, 0, 0, 1, 0}, "AX FLAIR");
  auto t2 = Stack("2.3", "MR", 30, 4, 4, {1, 0, 0, 0, 1, 0}, "AX T2");
  auto m = Manifest({"MR"}, {"BRAIN"}, {}, {"T1_POST_CONTRAST", "FLAIR"});
  auto study = Join({flair, t2, t1});
  auto s = inf::SelectSeries(study, m);
  REQUIRE(s.applies);
  REQUIRE(s.series.size() == 2);
  CHECK(s.series[0].role == "T1_POST_CONTRAST");
  CHECK(s.series[0].series_instance_uid == "2.1");
  CHECK(s.series[1].role == "FLAIR");
  CHECK(s.series[1].series_instance_uid == "2.2");
  for (size_t k = 0; k < 24; ++k) CHECK(s.series[0].positions_mm[k] == Approx(s.series[1].positions_mm[k]));

  auto no_flair = Join({t1, t2});
  s = inf::SelectSeries(no_flair, m);
  CHECK_FALSE(s.applies);
  CHECK(s.reason == "no FLAIR series");

  auto short_flair = Stack("2.4", "MR", 20, 5, 5, {1, 0, 0, 0, 1, 0}, "AX FLAIR");
  s = inf::SelectSeries(Join({t1, short_flair}), m);
  CHECK_FALSE(s.applies);
  CHECK(s.reason.find("not co-registered") != std::string::npos);
}

TEST_CASE("manifests accept series roles and volume z-score, naming a wrong field", "[inference]") {
  const std::string base = R"({"id":"x","version":"1","device_uid":"2.25.1",
    "applies_to":{"modality":["MR"],"body_part":["BRAIN"],"view_position":[]},
    "labels":[{"name":"a","code":{"system":"s","code":"c","display":"d"},"operating_point":0.5}],
    "input":)";
  auto parse = [&](const std::string& input) { return inf::ParseModelManifest(base + input + "}"); };
  auto ok = parse(R"({"channels":2,"height":8,"width":8,"depth":1,"normalisation":{"mode":"volume_zscore"},
                      "series":["T1_POST_CONTRAST","FLAIR"]})");
  REQUIRE(ok.ok());
  CHECK(ok->input.series == std::vector<std::string>{"T1_POST_CONTRAST", "FLAIR"});
  CHECK(ok->input.normalisation->mode == inf::NormalisationMode::kVolumeZScore);

  auto fixed = parse(R"({"channels":1,"height":8,"width":8,"depth":1,"normalisation":{"mean":1,"std":2}})");
  REQUIRE(fixed.ok());
  CHECK(fixed->input.normalisation->mode == inf::NormalisationMode::kFixed);
  CHECK(fixed->input.series.empty());

  auto bad_role = parse(R"({"channels":2,"height":8,"width":8,"depth":1,"normalisation":{"mode":"volume_zscore"},
                            "series":["T1_POST_CONTRAST","PD"]})");
  REQUIRE_FALSE(bad_role.ok());
  CHECK(std::string(bad_role.status().message()).find("input.series[1]") != std::string::npos);

  auto count = parse(R"({"channels":3,"height":8,"width":8,"depth":1,"normalisation":{"mode":"volume_zscore"},
                         "series":["T1_POST_CONTRAST","FLAIR"]})");
  REQUIRE_FALSE(count.ok());
  CHECK(std::string(count.status().message()).find("input.series must list one series role per channel") !=
        std::string::npos);

  auto mode = parse(R"({"channels":1,"height":8,"width":8,"depth":1,"normalisation":{"mode":"zscore"}})");
  REQUIRE_FALSE(mode.ok());
  CHECK(std::string(mode.status().message()).find("input.normalisation.mode") != std::string::npos);

  auto both = parse(R"({"channels":1,"height":8,"width":8,"depth":1,"normalisation":{"mode":"volume_zscore","mean":3}})");
  REQUIRE_FALSE(both.ok());
  CHECK(std::string(both.status().message()).find("input.normalisation.mean") != std::string::npos);
}
