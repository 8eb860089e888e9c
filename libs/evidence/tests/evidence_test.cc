#include "parallax/evidence/evidence.h"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace ev = parallax::evidence;

namespace {

constexpr std::array<double, 6> kAxial{1, 0, 0, 0, 1, 0};
constexpr std::array<double, 6> kAxialFlipped{-1, 0, 0, 0, 1, 0};

// A slices x rows x columns input with a "body" disk (value 100 on 0) whose
// centre column is `body_column`, and the heatmap 1 inside the box
// [r0, r1] x [c0, c1] on slices [s0, s1] (0 elsewhere).
ev::EvidenceInput BoxInput(int slices, int rows, int columns, int s0, int s1, int r0, int r1, int c0, int c1,
                           double body_column) {
  ev::EvidenceInput in;
  in.body_region = ev::BodyRegion::kOther;
  in.geometry.rows = rows;
  in.geometry.columns = columns;
  in.geometry.slices = slices;
  const size_t plane = static_cast<size_t>(rows) * columns;
  in.heatmap.assign(plane * slices, 0.f);
  in.image.assign(plane * slices, 0.f);
  for (int s = 0; s < slices; ++s) {
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < columns; ++c) {
        const size_t i = s * plane + static_cast<size_t>(r) * columns + c;
        const double dr = r - (rows - 1) / 2.0, dc = c - body_column;
        if (dr * dr + dc * dc < 0.16 * rows * rows) in.image[i] = 100;
        if (s >= s0 && s <= s1 && r >= r0 && r <= r1 && c >= c0 && c <= c1) in.heatmap[i] = 1;
      }
    }
  }
  return in;
}

}  // namespace

TEST_CASE("evidence: the region is the box around the peak with its centroid, area and bounding box", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 10, 19, 40, 49, 31.5);
  in.geometry.pixel_spacing_mm = std::array<double, 2>{0.5, 0.8};
  in.heatmap[static_cast<size_t>(15) * 64 + 45] = 1.0f;  // peak inside
  in.heatmap[static_cast<size_t>(12) * 64 + 42] = 0.9f;
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  const ev::Region& r = e->region;
  CHECK(r.voxel_count == 100);
  CHECK(r.min_row == 10);
  CHECK(r.max_row == 19);
  CHECK(r.min_column == 40);
  CHECK(r.max_column == 49);
  CHECK(r.centroid_row == Approx(14.5));
  CHECK(r.centroid_column == Approx(44.5));
  CHECK(r.peak_row == 10);  // first maximum in row-major order
  CHECK(r.peak_value == 1.0f);
  REQUIRE(e->area_cm2.has_value());
  CHECK(*e->area_cm2 == Approx(100 * 0.5 * 0.8 / 100));
  CHECK_FALSE(e->volume_ml.has_value());
}

TEST_CASE("evidence: only the component containing the peak counts, pixels below threshold x peak do not", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 10, 19, 40, 49, 31.5);
  // A second, weaker blob elsewhere and a halo below the threshold.
  for (int r = 40; r < 50; ++r) {
    for (int c = 10; c < 15; ++c) in.heatmap[static_cast<size_t>(r) * 64 + c] = 0.8f;
  }
  for (int c = 30; c < 40; ++c) in.heatmap[static_cast<size_t>(15) * 64 + c] = 0.3f;
  auto e = ev::DescribeEvidence(in, {.threshold = 0.5});
  REQUIRE(e.ok());
  CHECK(e->region.voxel_count == 100);
  // A lower threshold joins the halo to the box.
  e = ev::DescribeEvidence(in, {.threshold = 0.25});
  REQUIRE(e.ok());
  CHECK(e->region.voxel_count == 110);
}

TEST_CASE("evidence: a threshold outside (0, 1) and malformed inputs are INVALID_ARGUMENT", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 32, 32, 0, 0, 5, 8, 5, 8, 15.5);
  for (double t : {0.0, 1.0, -0.2, 1.5, std::nan("")}) {
    INFO(t);
    CHECK(ev::DescribeEvidence(in, {.threshold = t}).status().code() == absl::StatusCode::kInvalidArgument);
  }
  ev::EvidenceInput bad = in;
  bad.heatmap.pop_back();
  CHECK(ev::DescribeEvidence(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.image.resize(10);
  CHECK(ev::DescribeEvidence(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.geometry.pixel_spacing_mm = std::array<double, 2>{0, 1};
  CHECK(ev::DescribeEvidence(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.geometry.positions = {{0, 0, 0}, {0, 0, 1}};
  CHECK(ev::DescribeEvidence(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.heatmap[3] = std::nanf("");
  CHECK(ev::DescribeEvidence(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  std::fill(bad.heatmap.begin(), bad.heatmap.end(), 0.f);
  CHECK(ev::DescribeEvidence(bad).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("evidence: CT / MR laterality follows ImageOrientationPatient, not the screen", "[evidence]") {
  // Box on the image right (columns 40..49 of 64), body centred.
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 40, 49, 31.5);
  in.geometry.pixel_spacing_mm = std::array<double, 2>{1, 1};
  in.geometry.orientation = kAxial;  // columns run to the patient's left
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kLeft);
  CHECK(e->left_fraction == Approx(1));
  in.geometry.orientation = kAxialFlipped;  // columns run to the patient's right
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kRight);
  CHECK(std::string(ev::SideName(e->laterality)) == "right");
}

TEST_CASE("evidence: the midline is the body's, not x = 0 or the image centre", "[evidence]") {
  // Body centred at column 44 (patient shifted on the table); a box at
  // columns 34..41 is on the image right of the centre but on the patient's
  // right of the body's midline.
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 34, 41, 44);
  in.geometry.pixel_spacing_mm = std::array<double, 2>{1, 1};
  in.geometry.orientation = kAxial;
  in.geometry.positions = {{500, -32, 0}};  // x far from 0
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kRight);
  REQUIRE(e->region.centroid_patient_mm.has_value());
  CHECK((*e->region.centroid_patient_mm)[0] == Approx(500 + 37.5));
  CHECK((*e->region.centroid_patient_mm)[1] == Approx(-32 + 24.5));
}

TEST_CASE("evidence: a region across the midline is MIDLINE when narrow and BILATERAL when wide", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 29, 34, 31.5);  // 6 mm wide, centred
  in.geometry.pixel_spacing_mm = std::array<double, 2>{1, 1};
  in.geometry.orientation = kAxial;
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kMidline);
  in = BoxInput(1, 64, 64, 0, 0, 20, 29, 16, 47, 31.5);  // 32 mm wide, centred
  in.geometry.pixel_spacing_mm = std::array<double, 2>{1, 1};
  in.geometry.orientation = kAxial;
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kBilateral);
}

TEST_CASE("evidence: two separate blobs on opposite sides are BILATERAL", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 44, 53, 31.5);
  for (int r = 20; r < 28; ++r) {
    for (int c = 10; c < 18; ++c) in.heatmap[static_cast<size_t>(r) * 64 + c] = 0.9f;
  }
  in.geometry.orientation = kAxial;
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->region.voxel_count == 100);
  CHECK(e->laterality == ev::Side::kBilateral);
}

TEST_CASE("evidence: film laterality follows PatientOrientation L vs R", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 44, 53, 31.5);
  in.body_region = ev::BodyRegion::kChestFilm;
  in.geometry.pixel_spacing_mm = std::array<double, 2>{0.5, 0.5};
  in.geometry.patient_orientation = {"L", "F"};
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kLeft);
  in.geometry.patient_orientation = {"R", "F"};
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kRight);
  // Rows 8..14 of 64 with the fallback lung field (rows 5..46): upper zone,
  // and upside down (rows run to the head) the lower zone.
  in = BoxInput(1, 64, 64, 0, 0, 8, 14, 44, 53, 31.5);
  in.body_region = ev::BodyRegion::kChestFilm;
  in.geometry.patient_orientation = {"R", "F"};
  in.image.clear();
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->zone == "right upper zone");
  in.geometry.patient_orientation = {"R", "H"};
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->zone == "right lower zone");
}

TEST_CASE("evidence: unknown orientation leaves the side unspecified with a reason", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 44, 53, 31.5);
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kUnspecified);
  CHECK_FALSE(e->laterality_reason.empty());
  in.geometry.patient_orientation = {"A", "F"};  // lateral view
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kUnspecified);
  CHECK(e->laterality_reason.find("left-right") != std::string::npos);
  in.geometry.patient_orientation.clear();
  in.geometry.orientation = std::array<double, 6>{0, 1, 0, 0, 0, -1};  // sagittal
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kUnspecified);
  CHECK(e->laterality_reason.find("sagittal") != std::string::npos);
}

TEST_CASE("evidence: bone films take the side from the Laterality attribute", "[evidence]") {
  ev::EvidenceInput in = BoxInput(1, 64, 64, 0, 0, 20, 29, 44, 53, 31.5);
  in.body_region = ev::BodyRegion::kBoneFilm;
  in.geometry.patient_orientation = {"L", "F"};
  in.geometry.laterality_attribute = "R";
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kRight);
  in.geometry.laterality_attribute = "";
  e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ev::Side::kUnspecified);
}

TEST_CASE("evidence: volume sums slices times the slice spacing, from the attribute or the positions", "[evidence]") {
  ev::EvidenceInput in = BoxInput(5, 32, 32, 1, 3, 10, 19, 20, 24, 15.5);  // 3 slices x 50 pixels
  in.geometry.pixel_spacing_mm = std::array<double, 2>{0.5, 0.5};
  in.geometry.orientation = kAxial;
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->region.first_slice == 1);
  CHECK(e->region.last_slice == 3);
  CHECK(e->region.voxel_count == 150);
  CHECK(e->region.centroid_slice == Approx(2));
  CHECK(*e->area_cm2 == Approx(50 * 0.25 / 100));
  CHECK_FALSE(e->volume_ml.has_value());  // no slice spacing: never a guess
  in.geometry.slice_spacing_mm = 2.5;
  e = ev::DescribeEvidence(in);
  REQUIRE(e->volume_ml.has_value());
  CHECK(*e->volume_ml == Approx(150 * 0.25 * 2.5 / 1000));
  in.geometry.slice_spacing_mm.reset();
  for (int s = 0; s < 5; ++s) in.geometry.positions.push_back({-8, -8, 10.0 + 4.0 * s});
  e = ev::DescribeEvidence(in);
  REQUIRE(e->volume_ml.has_value());
  CHECK(*e->volume_ml == Approx(150 * 0.25 * 4.0 / 1000));
  REQUIRE(e->region.centroid_patient_mm.has_value());
  CHECK((*e->region.centroid_patient_mm)[2] == Approx(18));
  // Slices are joined only through adjacent slices.
  ev::EvidenceInput gap = BoxInput(5, 32, 32, 0, 4, 10, 19, 20, 24, 15.5);
  for (size_t i = 2 * 32 * 32; i < 3 * 32 * 32; ++i) gap.heatmap[i] = 0;
  e = ev::DescribeEvidence(gap);
  REQUIRE(e.ok());
  CHECK(e->region.last_slice == 1);
}

TEST_CASE("evidence: without pixel spacing there is no area, volume or brain compartment", "[evidence]") {
  ev::EvidenceInput in = BoxInput(3, 32, 32, 0, 2, 10, 19, 20, 24, 15.5);
  in.body_region = ev::BodyRegion::kHeadCt;
  in.geometry.slice_spacing_mm = 5;
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK_FALSE(e->area_cm2.has_value());
  CHECK_FALSE(e->volume_ml.has_value());
  CHECK(e->zone.empty());
  CHECK_FALSE(e->zone_reason.empty());
}

TEST_CASE("evidence: resampling to the image keeps pixel centres aligned", "[evidence]") {
  // 2 x 2 -> 4 x 4: original centre (r + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
  auto out = ev::ResampleHeatmapToImage({0, 1, 0, 1}, 2, 2, 4, 4);
  REQUIRE(out.ok());
  const std::vector<float> row{0, 0.25f, 0.75f, 1};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) CHECK((*out)[static_cast<size_t>(r) * 4 + c] == Approx(row[static_cast<size_t>(c)]));
  }
  auto same = ev::ResampleHeatmapToImage({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, 2, 3, 2, 3);
  REQUIRE(same.ok());
  CHECK((*same)[4] == Approx(0.5f));
  CHECK(ev::ResampleHeatmapToImage({0, 1}, 2, 2, 4, 4).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ev::ResampleHeatmapToImage({0}, 1, 1, 0, 4).status().code() == absl::StatusCode::kInvalidArgument);
}
