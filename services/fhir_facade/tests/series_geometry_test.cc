// The workspace's slice geometry: reading order and the registered match of
// prior slices to current slices (series_geometry.h), and the comparison's
// JSON (workspace_json.h).
#include <catch2/catch.hpp>

#include <cmath>

#include "workspace/series_geometry.h"
#include "workspace/workspace_json.h"

namespace {

namespace common = parallax::common::v1;
namespace ws = parallax::fhir_facade::workspace;

// An axial series of `n` 256 x 256 slices, 1 mm pixels, `step` mm apart,
// starting at z = z0, listed in reverse so that the order must be worked out.
common::SeriesManifest Axial(int n, double z0, double step, const std::string& prefix) {
  common::SeriesManifest s;
  for (int k = n - 1; k >= 0; --k) {
    common::InstanceManifest* i = s.add_instances();
    i->set_sop_instance_uid(prefix + std::to_string(k));
    i->set_instance_number(n - k);  // against the position, on purpose
    for (double v : {1.0, 0.0, 0.0, 0.0, 1.0, 0.0}) i->add_image_orientation_patient(v);
    for (double v : {-127.5, -127.5, z0 + k * step}) i->add_image_position_patient(v);
    i->add_pixel_spacing(1.0);
    i->add_pixel_spacing(1.0);
    i->set_rows(256);
    i->set_columns(256);
  }
  return s;
}

std::vector<double> Translation(double x, double y, double z) {
  return {1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1};
}

}  // namespace

TEST_CASE("workspace: a series reads in order of position along its slice normal", "[workspace]") {
  const auto series = Axial(5, 10, 5, "s");
  const auto ordered = ws::Ordered(series);
  REQUIRE(ordered.size() == 5);
  for (int k = 0; k < 5; ++k) CHECK(ordered[k]->sop_instance_uid() == "s" + std::to_string(k));
}

TEST_CASE("workspace: each current slice is matched to the prior slice the registration puts it on",
          "[workspace]") {
  const auto current = Axial(20, 0, 5, "c");
  const auto prior = Axial(20, 0, 5, "p");
  SECTION("the identity keeps each slice") {
    const auto map = ws::MatchPriorSlices(ws::Ordered(current), ws::Ordered(prior), Translation(0, 0, 0));
    REQUIRE(map.size() == 20);
    for (int k = 0; k < 20; ++k) CHECK(map[k] == k);
  }
  SECTION("the patient lay 10 mm further up in the prior: two slices on, clamped at the ends") {
    const auto map = ws::MatchPriorSlices(ws::Ordered(current), ws::Ordered(prior), Translation(3, -2, 10));
    REQUIRE(map.size() == 20);
    CHECK(map[0] == 2);
    CHECK(map[10] == 12);
    CHECK(map[17] == 19);
    CHECK(map[19] == 19);
  }
  SECTION("a prior of thicker slices maps several current slices to one") {
    const auto thick = Axial(10, 0, 10, "t");
    const auto map = ws::MatchPriorSlices(ws::Ordered(current), ws::Ordered(thick), Translation(0, 0, 0));
    REQUIRE(map.size() == 20);
    CHECK(map[0] == 0);
    CHECK(map[4] == 2);   // z = 20 mm is the thick series' 3rd slice
    CHECK(map[6] == 3);   // z = 30 mm
  }
  SECTION("a rotation about the volume's centre moves the off-centre slices") {
    // 90 degrees about x through (0, 0, 47.5): z -> -y, so every current
    // slice centre (x = y = 0) lands at the prior's centre depth.
    const double c = 47.5;
    const std::vector<double> rotate = {1, 0, 0, 0, 0, 0, -1, c, 0, 1, 0, c, 0, 0, 0, 1};
    const auto map = ws::MatchPriorSlices(ws::Ordered(current), ws::Ordered(prior), rotate);
    REQUIRE(map.size() == 20);
    CHECK(map.front() == map.back());
    CHECK(std::abs(map.front() - 9.5) <= 0.5);
  }
  SECTION("a malformed matrix gives no map") {
    CHECK(ws::MatchPriorSlices(ws::Ordered(current), ws::Ordered(prior), {1, 0, 0}).empty());
  }
}

TEST_CASE("workspace: films without geometry are matched image by image", "[workspace]") {
  common::SeriesManifest film;
  film.add_instances()->set_sop_instance_uid("f0");
  common::SeriesManifest prior_film;
  prior_film.add_instances()->set_sop_instance_uid("g0");
  const auto map = ws::MatchPriorSlices(ws::Ordered(film), ws::Ordered(prior_film), Translation(4, 1, 0));
  REQUIRE(map.size() == 1);
  CHECK(map[0] == 0);
}

TEST_CASE("workspace: a finding's comparison reads as change, dates, sizes and registration", "[workspace]") {
  common::PriorComparison c;
  c.set_change(common::CHANGE_CLASS_LARGER);
  c.set_prior_study_instance_uid("1.2.3");
  c.set_prior_study_date("20260301");
  c.set_interval_days(216);
  c.set_prior_size(5.4);
  c.set_current_size(17.9);
  c.set_unit("mL");
  c.set_sizes_compared(true);
  c.set_registration_residual(0.04);
  for (double v : Translation(1, 2, 3)) c.add_current_to_prior(v);
  c.set_note("5.40 mL -> 17.90 mL in 216 days");
  const auto j = ws::ComparisonJson(c, "KEY");
  CHECK(j["change"] == "larger");
  CHECK(j["prior_key"] == "KEY");
  CHECK(j["prior_date"] == "2026-03-01");
  CHECK(j["interval_days"] == 216);
  CHECK(j["prior_size"] == 5.4);
  CHECK(j["current_size"] == 17.9);
  CHECK(j["unit"] == "mL");
  CHECK(j["registered"] == true);
  CHECK(j["registration_residual"] == 0.04);
  CHECK(j.dump().find("1.2.3") == std::string::npos);  // the UID stays out of the browser

  common::PriorComparison none;
  none.set_note("prior studies could not be looked up");
  const auto k = ws::ComparisonJson(none, "");
  CHECK(k["change"] == "not_compared");
  CHECK(k["prior_size"].is_null());
  CHECK(k["registered"] == false);
  CHECK(k["prior_date"] == "");
}
