// MeasureLesion on lesions of known size: synthetic spheres and discs, and
// the phantom follow-up pairs' lesions (libs/phantom: the mask is the truth),
// the explanation's peak stood in by a point of the truth mask.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "parallax/evidence/lesion_size.h"
#include "parallax/phantom/follow_up.h"

namespace ev = parallax::evidence;
namespace ph = parallax::phantom;

namespace {

// A noisy volume (or film) with a bright ball of radius `r_mm` at the centre.
ev::LesionSizeInput Ball(int slices, int size, double pixel_mm, double slice_mm, double r_mm, float contrast,
                         float noise_sd, uint64_t seed) {
  ev::LesionSizeInput in;
  in.rows = in.columns = size;
  in.slices = slices;
  in.pixel_spacing_mm = {pixel_mm, pixel_mm};
  in.slice_spacing_mm = slices > 1 ? slice_mm : 0;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, noise_sd);
  const double c = size / 2.0, cz = slices / 2.0;
  for (int z = 0; z < slices; ++z) {
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        const double dz = slices > 1 ? (z + 0.5 - cz) * slice_mm : 0, dy = (y + 0.5 - c) * pixel_mm,
                     dx = (x + 0.5 - c) * pixel_mm;
        const bool in_ball = dx * dx + dy * dy + dz * dz <= r_mm * r_mm;
        in.image.push_back(1000 + (in_ball ? contrast : 0) + noise(rng));
      }
    }
  }
  in.peak_slice = slices / 2;
  in.peak_row = in.peak_column = size / 2 + 2;  // a little off the centre, as a Grad-CAM peak is
  return in;
}

// The phantom series where `label` shows: T1 POST for an enhancing tumour,
// FLAIR for a non-enhancing lesion; the film itself.
size_t SeriesOf(const std::string& label) { return ev::MeasuringSeries(label, {"T1_POST_CONTRAST", "FLAIR"}); }

// The input from one study of a pair, the peak at the truth mask's voxel
// nearest its centroid moved by `offset_mm` along the rows (staying in the mask).
ev::LesionSizeInput FromStudy(const ph::Study& study, const ph::Finding& f, const std::string& label,
                              double offset_mm) {
  const ph::Series& s = study.series.at(SeriesOf(label));
  ev::LesionSizeInput in;
  in.rows = s.images.front().rows;
  in.columns = s.images.front().columns;
  in.slices = static_cast<int>(s.images.size());
  in.pixel_spacing_mm = s.images.front().pixel_spacing_mm;
  in.slice_spacing_mm = in.slices > 1 ? s.info.slice_spacing_mm : 0;
  for (const ph::Image& im : s.images) {
    for (int16_t p : im.pixels) in.image.push_back(static_cast<float>(p * s.info.rescale_slope + s.info.rescale_intercept));
  }
  double cz = 0, cy = 0, cx = 0;
  int64_t count = 0;
  const size_t plane = static_cast<size_t>(in.rows) * in.columns;
  for (size_t i = 0; i < f.mask.bits.size(); ++i) {
    if (!f.mask.bits[i]) continue;
    cz += static_cast<double>(i / plane);
    cy += static_cast<double>((i % plane) / in.columns);
    cx += static_cast<double>(i % in.columns);
    ++count;
  }
  cz /= count, cy /= count, cx /= count;
  cy += offset_mm / in.pixel_spacing_mm[0];
  double best = 1e300;
  for (size_t i = 0; i < f.mask.bits.size(); ++i) {
    if (!f.mask.bits[i]) continue;
    const double z = static_cast<double>(i / plane), y = static_cast<double>((i % plane) / in.columns),
                 x = static_cast<double>(i % in.columns);
    const double d = std::pow((z - cz) * in.slice_spacing_mm, 2) + std::pow((y - cy) * in.pixel_spacing_mm[0], 2) +
                     std::pow((x - cx) * in.pixel_spacing_mm[1], 2);
    if (d < best) {
      best = d;
      in.peak_slice = static_cast<int>(z), in.peak_row = static_cast<int>(y), in.peak_column = static_cast<int>(x);
    }
  }
  return in;
}

double SizeOf(const ev::LesionSize& s) { return s.volume_ml ? *s.volume_ml : s.area_cm2.value_or(0); }

// The chest follow-up pair of `seed` whose one nodule shrinks.
ph::FollowUpPair ShrinkingNodule(uint64_t seed) {
  ph::FollowUpOptions fo;
  fo.kind = "chest_xray";
  fo.findings = {"Nodule"};
  fo.changes = {ph::Change::kSmaller};
  fo.seed = seed;
  auto pair = ph::MakeFollowUpPair(fo);
  REQUIRE(pair.ok());
  return *std::move(pair);
}

}  // namespace

TEST_CASE("a bright ball in noise is measured within 10 percent of its volume", "[lesion_size]") {
  for (double r : {6.0, 10.0, 16.0}) {
    const ev::LesionSizeInput in = Ball(40, 128, 1.0, 2.0, r, 300, 30, 7);
    auto s = ev::MeasureLesion(in);
    REQUIRE(s.ok());
    INFO("radius " << r << " reason " << s->reason);
    REQUIRE(s->measurable);
    const double truth = 4.0 / 3.0 * M_PI * r * r * r / 1000.0;
    CHECK(*s->volume_ml == Approx(truth).epsilon(0.10));
    CHECK(s->contrast_sd > 5);
  }
}

TEST_CASE("a bright disc on a film is measured within 10 percent of its area", "[lesion_size]") {
  const ev::LesionSizeInput in = Ball(1, 400, 0.35, 0, 12, 200, 20, 9);
  auto s = ev::MeasureLesion(in);
  REQUIRE(s.ok());
  REQUIRE(s->measurable);
  REQUIRE_FALSE(s->volume_ml.has_value());
  CHECK(*s->area_cm2 == Approx(M_PI * 1.2 * 1.2).epsilon(0.10));
}

TEST_CASE("a dark lesion is measured when the polarity says darker", "[lesion_size]") {
  ev::LesionSizeInput in = Ball(30, 96, 1.0, 2.0, 9, -250, 25, 11);
  auto bright = ev::MeasureLesion(in);
  REQUIRE(bright.ok());
  in.polarity = ev::LesionPolarity::kDarker;
  auto dark = ev::MeasureLesion(in);
  REQUIRE(dark.ok());
  REQUIRE(dark->measurable);
  CHECK(*dark->volume_ml == Approx(4.0 / 3.0 * M_PI * 729 / 1000.0).epsilon(0.10));
  // Looked for as a bright lesion, the dark ball is noise.
  CHECK((!bright->measurable || *bright->volume_ml < 0.2 * *dark->volume_ml));
}

TEST_CASE("noise alone is not a measurable lesion", "[lesion_size]") {
  const ev::LesionSizeInput in = Ball(30, 96, 1.0, 2.0, 0, 0, 25, 13);
  auto s = ev::MeasureLesion(in);
  REQUIRE(s.ok());
  CHECK_FALSE(s->measurable);
  CHECK_FALSE(s->reason.empty());
  CHECK_FALSE(s->volume_ml.has_value());
}

TEST_CASE("a lesion size refuses inputs it cannot measure", "[lesion_size]") {
  ev::LesionSizeInput in = Ball(4, 32, 1.0, 2.0, 5, 300, 30, 1);
  ev::LesionSizeInput bad = in;
  bad.image.pop_back();
  CHECK(ev::MeasureLesion(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.peak_row = 32;
  CHECK(ev::MeasureLesion(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.slice_spacing_mm = 0;
  CHECK(ev::MeasureLesion(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.pixel_spacing_mm = {0, 1};
  CHECK(ev::MeasureLesion(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = in;
  bad.region.assign(7, 1);
  CHECK(ev::MeasureLesion(bad).status().code() == absl::StatusCode::kInvalidArgument);
  ev::LesionSizeOptions o;
  o.fraction = 1;
  CHECK(ev::MeasureLesion(in, o).status().code() == absl::StatusCode::kInvalidArgument);
}

// The phantom lesions that follow-up pairs scale: each study of "larger" and
// "smaller" pairs measured, the measured size within the tolerance of the
// truth mask's and the measured ratio of the pair in the truth's class.
struct Case {
  std::string kind, label;
  double tolerance;  // |measured / truth - 1| at most this ...
  int min_within;    // ... for at least this many of the 16 studies
  int min_classes;   // pairs (of 8) whose measured ratio is in the truth's class
};

TEST_CASE("phantom MR lesions and film nodules are measured within tolerance of their truth masks",
          "[lesion_size][phantom]") {
  const Case cases[] = {
      // Solid tumours within 10%; a ring-enhancing tumour whose rim is
      // broken on a slice is under-measured (its core not enclosed there).
      {"brain_mri", "Enhancing tumour", 0.30, 10, 8},
      {"brain_mri", "Non-enhancing lesion", 0.10, 16, 8},
      // Films: a projected sphere thins towards its edge, and ribs and the
      // mediastinum around it are not noise; one nodule lies on the heart's
      // edge and is not measurable at its larger size.
      {"chest_xray", "Nodule", 0.35, 12, 6},
      {"chest_xray", "Mass", 0.35, 15, 8},
  };
  for (const Case& c : cases) {
    int measured = 0, total = 0, within = 0, classes_right = 0, pairs = 0;
    for (uint64_t seed = 4101; seed < 4105; ++seed) {
      for (ph::Change change : {ph::Change::kLarger, ph::Change::kSmaller}) {
        ph::FollowUpOptions fo;
        fo.kind = c.kind;
        fo.findings = {c.label};
        fo.changes = {change};
        fo.seed = seed;
        auto pair = ph::MakeFollowUpPair(fo);
        if (!pair.ok()) continue;  // the generator refuses seeds whose lesion is too small to measure
        const ph::FindingChange& tc = pair->changes.at(0);
        double sizes[2] = {0, 0};
        const ph::Study* studies[2] = {&pair->prior, &pair->current};
        const int index[2] = {tc.prior_index, tc.current_index};
        const double truth[2] = {tc.prior_size, tc.current_size};
        for (int t = 0; t < 2; ++t) {
          const ph::Finding& f = studies[t]->findings.at(static_cast<size_t>(index[t]));
          const ev::LesionSizeInput in = FromStudy(*studies[t], f, c.label, 2.0);
          ev::ImageGeometry g;
          g.rows = in.rows;
          g.columns = in.columns;
          g.slices = in.slices;
          g.pixel_spacing_mm = in.pixel_spacing_mm;
          if (in.slices > 1) g.slice_spacing_mm = in.slice_spacing_mm;
          auto s = ev::MeasureLesionAtPeak(c.kind == "brain_mri" ? ev::BodyRegion::kBrainMr : ev::BodyRegion::kChestFilm,
                                           g, in.image, in.peak_slice, in.peak_row, in.peak_column);
          REQUIRE(s.ok());
          ++total;
          std::printf("%-22s seed %llu %-8s %s truth %7.2f measured %7.2f (%s) contrast %.1f median %.0f sd %.0f "
                      "level %.0f thr %.0f seed-peak (%d %d %d) limit %d\n",
                      c.label.c_str(), static_cast<unsigned long long>(seed), ph::ChangeName(change),
                      t ? "current" : "prior  ", truth[t], SizeOf(*s), s->measurable ? "ok" : s->reason.c_str(),
                      s->contrast_sd, s->normal_median, s->normal_sd, s->level, s->threshold,
                      s->seed_slice - in.peak_slice, s->seed_row - in.peak_row, s->seed_column - in.peak_column,
                      s->reached_limit);
          if (!s->measurable) continue;
          ++measured;
          sizes[t] = SizeOf(*s);
          if (std::abs(sizes[t] / truth[t] - 1) <= c.tolerance) ++within;
        }
        ++pairs;
        if (sizes[0] > 0 && sizes[1] > 0 && ph::ClassifyChange(sizes[0], sizes[1]) == change) ++classes_right;
      }
    }
    INFO(c.label << ": " << measured << "/" << total << " measurable, " << within << " within "
                 << c.tolerance * 100 << "%, " << classes_right << "/" << pairs << " pair classes right");
    REQUIRE(pairs == 8);
    CHECK(measured >= c.min_within);
    CHECK(within >= c.min_within);
    CHECK(classes_right >= c.min_classes);
  }
}

TEST_CASE("a finding is measured on the series that shows it", "[lesion_size]") {
  const std::vector<std::string> roles = {"T1_POST_CONTRAST", "FLAIR"};
  CHECK(ev::MeasuringSeries("Enhancing tumour", roles) == 0);
  CHECK(ev::MeasuringSeries("Metastases", roles) == 0);
  CHECK(ev::MeasuringSeries("Non-enhancing lesion", roles) == 1);
  CHECK(ev::MeasuringSeries("White matter lesions", roles) == 1);
  CHECK(ev::MeasuringSeries("Non-enhancing lesion", {"FLAIR", "T1_POST_CONTRAST"}) == 0);
  CHECK(ev::MeasuringSeries("Enhancing tumour", {"FLAIR", "T1_POST_CONTRAST"}) == 1);
  CHECK(ev::MeasuringSeries("Nodule", {""}) == 0);
}

TEST_CASE("a lesion at the peak needs the image's spacing", "[lesion_size]") {
  ev::ImageGeometry g;
  g.rows = g.columns = 16;
  g.slices = 2;
  std::vector<float> image(512, 1.0f);
  CHECK(ev::MeasureLesionAtPeak(ev::BodyRegion::kBrainMr, g, image, 0, 8, 8).status().code() ==
        absl::StatusCode::kInvalidArgument);
  g.pixel_spacing_mm = std::array<double, 2>{1, 1};
  CHECK(ev::MeasureLesionAtPeak(ev::BodyRegion::kBrainMr, g, image, 0, 8, 8).status().code() ==
        absl::StatusCode::kInvalidArgument);  // a volume without slice spacing or positions
  g.slice_spacing_mm = 5;
  auto flat = ev::MeasureLesionAtPeak(ev::BodyRegion::kBrainMr, g, image, 0, 8, 8);
  REQUIRE(flat.ok());
  CHECK_FALSE(flat->measurable);
}

TEST_CASE("a film nodule beside the mediastinum is measured from the last region told apart from its surroundings",
          "[lesion_size][phantom]") {
  // Follow-up seed 700139: a nodule at the left upper lung's medial edge,
  // crossed by ribs, 2-3 cm from the mediastinum. The refined threshold
  // lets the region run along a rib, and the shell beyond that region lies
  // on the mediastinum (contrast ~1 sd). Without the fall-back (or the
  // growth guard or the darker half's spread, which also catch it) neither
  // time is measurable and a shrinking nodule reads "stable, size not
  // compared".
  const auto pair = ShrinkingNodule(700139);
  const ph::FindingChange& tc = pair.changes.at(0);
  const ph::Study* studies[2] = {&pair.prior, &pair.current};
  const int index[2] = {tc.prior_index, tc.current_index};
  const double truth[2] = {tc.prior_size, tc.current_size};
  double sizes[2] = {0, 0};
  for (int t = 0; t < 2; ++t) {
    const ph::Finding& f = studies[t]->findings.at(static_cast<size_t>(index[t]));
    const ev::LesionSizeInput in = FromStudy(*studies[t], f, "Nodule", 2.0);
    ev::LesionSizeOptions o = ev::LesionSizeOptionsFor(ev::BodyRegion::kChestFilm, in.image);
    REQUIRE(o.fall_back_to_separated_region);
    auto s = ev::MeasureLesion(in, o);
    REQUIRE(s.ok());
    INFO((t ? "current" : "prior") << " truth " << truth[t] << " cm2, measured " << SizeOf(*s) << " ("
                                   << s->reason << ") contrast " << s->contrast_sd);
    CHECK(s->measurable);
    CHECK(SizeOf(*s) == Approx(truth[t]).epsilon(0.5));
    sizes[t] = SizeOf(*s);
    // None of the film's guards against the mediastinum (this fall-back,
    // max_refine_growth, spread_below_median; each alone measures it here):
    // not measurable.
    o.fall_back_to_separated_region = false;
    o.max_refine_growth = 0;
    o.spread_below_median = false;
    auto without = ev::MeasureLesion(in, o);
    REQUIRE(without.ok());
    CHECK_FALSE(without->measurable);
  }
  CHECK(ph::ClassifyChange(sizes[0], sizes[1]) == ph::Change::kSmaller);
}

TEST_CASE("a film nodule whose refined region runs into the mediastinum keeps the region before the leak",
          "[lesion_size][phantom]") {
  // Follow-up seed 2200141: a shrinking nodule beside the mediastinum. At
  // the current time the refined threshold falls just low enough to join
  // the mediastinum: the region jumps from ~0.2 to ~2.7 thousand mm2 and
  // back from pass to pass, and ended on the leak ("larger" for a nodule
  // that shrank).
  const auto pair = ShrinkingNodule(2200141);
  const ph::FindingChange& tc = pair.changes.at(0);
  const ph::Finding& f = pair.current.findings.at(static_cast<size_t>(tc.current_index));
  const ev::LesionSizeInput in = FromStudy(pair.current, f, "Nodule", 2.0);
  ev::LesionSizeOptions o = ev::LesionSizeOptionsFor(ev::BodyRegion::kChestFilm, in.image);
  REQUIRE(o.max_refine_growth == 3);
  auto s = ev::MeasureLesion(in, o);
  REQUIRE(s.ok());
  INFO("truth " << tc.current_size << " cm2, measured " << SizeOf(*s) << " (" << s->reason << ")");
  REQUIRE(s->measurable);
  CHECK(SizeOf(*s) == Approx(tc.current_size).epsilon(0.5));
  o.max_refine_growth = 0;
  auto unguarded = ev::MeasureLesion(in, o);
  REQUIRE(unguarded.ok());
  INFO("without the guard: " << SizeOf(*unguarded));
  CHECK(SizeOf(*unguarded) > 5 * tc.current_size);
}
