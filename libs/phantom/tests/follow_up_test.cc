// Follow-up pairs: same patient, a known rigid shift, a lesion changed by its class.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/follow_up.h"
#include "parallax/phantom/ground_truth.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::phantom;

namespace {

// A study's first series as a volume (films: one slice), in patient mm as the
// DICOM writer places it: voxel (i, j, k) at ((i - n/2) px, (j - n/2) px, k dz);
// films in detector mm ((c + 0.5 - n/2) px, (r + 0.5 - n/2) px).
struct Volume {
  int n = 0, ns = 0;
  double px = 1, dz = 1;
  bool film = false;
  std::vector<float> v;
  float at(int i, int j, int k) const { return v[(size_t(k) * n + j) * n + i]; }
  // Continuous voxel indices of a point (mm).
  std::array<double, 3> Index(const std::array<double, 3>& p) const {
    const double off = film ? 0.5 : 0.0;
    return {p[0] / px + n * 0.5 - off, p[1] / px + n * 0.5 - off, film ? 0.0 : p[2] / dz};
  }
  std::array<double, 3> Point(int i, int j, int k) const {
    const double off = film ? 0.5 : 0.0;
    return {(i + off - n * 0.5) * px, (j + off - n * 0.5) * px, film ? 0.0 : k * dz};
  }
  // Trilinear (films: bilinear) sample; NaN outside.
  double Sample(const std::array<double, 3>& p) const {
    const auto c = Index(p);
    if (c[0] < 0 || c[1] < 0 || c[2] < 0 || c[0] > n - 1 || c[1] > n - 1 || c[2] > ns - 1) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    const int i0 = std::min(int(c[0]), n - 2), j0 = std::min(int(c[1]), n - 2);
    const int k0 = ns > 1 ? std::min(int(c[2]), ns - 2) : 0, k1 = ns > 1 ? k0 + 1 : 0;
    const double ax = c[0] - i0, ay = c[1] - j0, az = ns > 1 ? c[2] - k0 : 0;
    auto plane = [&](int k) {
      return (1 - ay) * ((1 - ax) * at(i0, j0, k) + ax * at(i0 + 1, j0, k)) +
             ay * ((1 - ax) * at(i0, j0 + 1, k) + ax * at(i0 + 1, j0 + 1, k));
    };
    return (1 - az) * plane(k0) + az * plane(k1);
  }
};

Volume VolumeOf(const Study& s, bool film) {
  Volume vol;
  const auto& images = s.series.at(0).images;
  vol.n = images.at(0).columns;
  vol.ns = static_cast<int>(images.size());
  vol.px = images[0].pixel_spacing_mm[0];
  vol.dz = film ? 1 : s.series[0].info.slice_spacing_mm;
  vol.film = film;
  for (const Image& img : images) vol.v.insert(vol.v.end(), img.pixels.begin(), img.pixels.end());
  return vol;
}

// Box (mm) around every lesion voxel of both studies, the prior's moved into
// the current by the shift, grown by `margin`.
struct Box {
  std::array<double, 3> lo{1e9, 1e9, 1e9}, hi{-1e9, -1e9, -1e9};
  void Add(const std::array<double, 3>& p) {
    for (int a = 0; a < 3; ++a) lo[a] = std::min(lo[a], p[a]), hi[a] = std::max(hi[a], p[a]);
  }
  bool Contains(const std::array<double, 3>& p, double margin) const {
    for (int a = 0; a < 3; ++a) {
      if (p[a] < lo[a] - margin || p[a] > hi[a] + margin) return false;
    }
    return true;
  }
};
Box LesionBox(const FollowUpPair& pair, const Volume& geometry) {
  Box box;
  auto add = [&](const Study& s, bool moved) {
    for (const Finding& f : s.findings) {
      for (int k = 0; k < f.mask.slices; ++k) {
        for (int j = 0; j < f.mask.rows; ++j) {
          for (int i = 0; i < f.mask.columns; ++i) {
            if (!f.mask.bits[(size_t(k) * f.mask.rows + j) * f.mask.columns + i]) continue;
            const auto p = geometry.Point(i, j, k);
            box.Add(moved ? pair.shift.Apply(p) : p);
          }
        }
      }
    }
  };
  add(pair.prior, true);
  add(pair.current, false);
  return box;
}

// Mean of min(|current - prior moved by `shift`|, cap) over current voxels
// whose value lies in [lo, hi], away from the lesions (edges count: a
// misplaced edge costs up to `cap`, noise much less).
struct Window {
  double lo, hi, cap;
};
double MovedDifference(const Volume& prior, const Volume& current, const RigidShift& shift, const Box& lesions,
                       double margin, Window w, int step) {
  const double lo = w.lo, hi = w.hi;
  std::vector<double> diffs;
  for (int k = 0; k < current.ns; ++k) {
    for (int j = 0; j < current.n; j += step) {
      for (int i = 0; i < current.n; i += step) {
        const double c = current.at(i, j, k);
        if (c < lo || c > hi) continue;
        const auto p = current.Point(i, j, k);
        if (lesions.Contains(p, margin)) continue;
        const double q = prior.Sample(shift.Invert(p));
        if (std::isnan(q)) continue;
        diffs.push_back(std::min(std::abs(c - q), w.cap));
      }
    }
  }
  REQUIRE(diffs.size() > 1000);
  double sum = 0;
  for (double d : diffs) sum += d;
  return sum / static_cast<double>(diffs.size());
}

struct Residual {
  double at_truth = 0, unshifted = 0;
  std::array<double, 3> translation_error{0, 0, 0};  // best offset from the truth found per axis, mm
  double rotation_error_deg = 0;                       // best offset about z (films) / the largest axis
};

// How far from the truth's shift the best-matching shift lies: per axis, the
// offset in [-1.5, 1.5] mm (0.25 mm steps) minimising the moved difference,
// and the same for the rotation angles in [-1.5, 1.5] degrees.
Residual MeasureResidual(const FollowUpPair& pair, bool film, double margin, Window w, int step) {
  const Volume prior = VolumeOf(pair.prior, film), current = VolumeOf(pair.current, film);
  const Box box = LesionBox(pair, current);
  Residual r;
  r.at_truth = MovedDifference(prior, current, pair.shift, box, margin, w, step);
  r.unshifted = MovedDifference(prior, current, RigidShift{}, box, margin, w, step);
  for (int axis = 0; axis < (film ? 2 : 3); ++axis) {
    double best = r.at_truth, best_offset = 0;
    for (int s = -6; s <= 6; ++s) {
      if (s == 0) continue;
      RigidShift trial = pair.shift;
      trial.translation_mm[axis] += 0.25 * s;
      const double e = MovedDifference(prior, current, trial, box, margin, w, step);
      if (e < best) best = e, best_offset = 0.25 * s;
    }
    r.translation_error[axis] = best_offset;
  }
  for (int axis = film ? 2 : 0; axis < 3; ++axis) {
    double best = r.at_truth, best_offset = 0;
    for (int s = -3; s <= 3; ++s) {
      if (s == 0) continue;
      RigidShift trial = pair.shift;
      trial.rotation_deg[axis] += 0.5 * s;
      const double e = MovedDifference(prior, current, trial, box, margin, w, step);
      if (e < best) best = e, best_offset = 0.5 * s;
    }
    r.rotation_error_deg = std::max(r.rotation_error_deg, std::abs(best_offset));
  }
  return r;
}

std::array<double, 3> Centroid(const Mask& m, const Volume& geometry) {
  std::array<double, 3> sum{0, 0, 0};
  double count = 0;
  for (int k = 0; k < m.slices; ++k) {
    for (int j = 0; j < m.rows; ++j) {
      for (int i = 0; i < m.columns; ++i) {
        if (!m.bits[(size_t(k) * m.rows + j) * m.columns + i]) continue;
        const auto p = geometry.Point(i, j, k);
        for (int a = 0; a < 3; ++a) sum[a] += p[a];
        count += 1;
      }
    }
  }
  REQUIRE(count > 0);
  return {sum[0] / count, sum[1] / count, sum[2] / count};
}

double Distance(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

FollowUpOptions SmallOptions(const std::string& kind, uint64_t seed, Change change) {
  FollowUpOptions o;
  o.kind = kind;
  o.seed = seed;
  o.changes = {change};
  if (kind == "head_ct") o.size = 256;
  if (kind == "brain_mri") o.size = 160;
  if (kind == "chest_xray") o.size = 512;
  return o;
}

int Run(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a rigid shift maps prior points to current points and back", "[phantom][follow_up]") {
  RigidShift s;
  s.translation_mm = {3, -2, 1.5};
  s.rotation_deg = {1, -2, 3};
  s.centre_mm = {0, 0, 80};
  const std::array<double, 3> p{40, -25, 10};
  const auto q = s.Apply(p);
  const auto back = s.Invert(q);
  for (int a = 0; a < 3; ++a) CHECK(back[a] == Approx(p[a]).margin(1e-9));
  const auto m = s.Matrix();
  for (int a = 0; a < 3; ++a) CHECK(m[a][0] * p[0] + m[a][1] * p[1] + m[a][2] * p[2] + m[a][3] == Approx(q[a]));
  // The centre moves by the translation only.
  const auto c = s.Apply(s.centre_mm);
  CHECK(c[0] == Approx(3));
  CHECK(c[1] == Approx(-2));
  CHECK(c[2] == Approx(81.5));
  // A rotation about z alone turns +x towards +y.
  RigidShift z;
  z.rotation_deg = {0, 0, 90};
  const auto turned = z.Apply({1, 0, 0});
  CHECK(turned[0] == Approx(0).margin(1e-12));
  CHECK(turned[1] == Approx(1));
}

TEST_CASE("the follow-up options leave a study unchanged at their defaults", "[phantom][follow_up]") {
  HeadCtOptions o;
  o.seed = 5;
  o.size = 96;
  o.slices = 12;
  o.findings = {"Intraparenchymal"};
  const Study plain = MakeHeadCt(o);
  o.finding_scale = {1.0};
  o.acquisition_seed = 5;  // = the seed
  const Study explicit_defaults = MakeHeadCt(o);
  REQUIRE(plain.series[0].images.size() == explicit_defaults.series[0].images.size());
  for (size_t i = 0; i < plain.series[0].images.size(); ++i) {
    CHECK(plain.series[0].images[i].pixels == explicit_defaults.series[0].images[i].pixels);
  }
  CHECK(plain.findings[0].mask.bits == explicit_defaults.findings[0].mask.bits);
  // ...and a shift does change it.
  o.patient_shift.translation_mm = {2, 0, 0};
  CHECK(MakeHeadCt(o).series[0].images[6].pixels != plain.series[0].images[6].pixels);
}

TEST_CASE("head CT follow-up pairs change the lesion by their class", "[phantom][follow_up]") {
  const uint64_t seed = 21;
  std::array<double, 3> shift{};
  for (Change change : {Change::kNew, Change::kLarger, Change::kStable, Change::kSmaller, Change::kResolved}) {
    INFO(ChangeName(change));
    auto pair = MakeFollowUpPair(SmallOptions("head_ct", seed, change));
    REQUIRE(pair.ok());
    REQUIRE(pair->changes.size() == 1);
    const FindingChange& c = pair->changes[0];
    CHECK(c.label == "Intraparenchymal");
    CHECK(c.change == change);
    CHECK(pair->size_unit == "mL");
    // Present in the study or studies its class says, and absent from the other.
    CHECK(pair->prior.findings.size() == (change == Change::kNew ? 0u : 1u));
    CHECK(pair->current.findings.size() == (change == Change::kResolved ? 0u : 1u));
    CHECK((c.prior_index >= 0) == (change != Change::kNew));
    CHECK((c.current_index >= 0) == (change != Change::kResolved));
    CHECK(ClassifyChange(c.prior_size, c.current_size) == change);
    if (c.prior_size > 0 && c.current_size > 0) {
      const double ratio = c.current_size / c.prior_size;
      if (change == Change::kLarger) CHECK(ratio >= 1.8);
      if (change == Change::kSmaller) CHECK(ratio <= 1 / 1.8);
      if (change == Change::kStable) CHECK(ratio == Approx(1).epsilon(0.1));
      // The measured change follows the requested one.
      CHECK(ratio == Approx(c.requested_ratio).epsilon(0.25));
    }
    // Same patient: the shift depends on the seed only.
    if (change == Change::kNew) shift = pair->shift.translation_mm;
    CHECK(pair->shift.translation_mm == shift);
    // Months apart.
    CHECK(pair->interval_days >= 60);
    CHECK(pair->interval_days <= 540);
    // Small motion.
    const auto& t = pair->shift.translation_mm;
    CHECK(std::sqrt(t[0] * t[0] + t[1] * t[1] + t[2] * t[2]) <= 5.0 + 1e-9);
    for (double a : pair->shift.rotation_deg) CHECK(std::abs(a) <= 1.7 + 1e-9);
  }
}

TEST_CASE("a stable head CT lesion moves with the patient and keeps its size", "[phantom][follow_up]") {
  auto pair = MakeFollowUpPair(SmallOptions("head_ct", 33, Change::kStable));
  REQUIRE(pair.ok());
  const Volume geometry = VolumeOf(pair->current, false);
  const auto prior_c = Centroid(pair->prior.findings.at(0).mask, geometry);
  const auto current_c = Centroid(pair->current.findings.at(0).mask, geometry);
  INFO("translation " << pair->shift.translation_mm[0] << " " << pair->shift.translation_mm[1] << " "
                      << pair->shift.translation_mm[2]);
  CHECK(Distance(pair->shift.Apply(prior_c), current_c) < 1.5);
  // Without the shift it would not fit as well (the shift is large enough to see).
  CHECK(Distance(prior_c, current_c) > Distance(pair->shift.Apply(prior_c), current_c));
}

TEST_CASE("the head CT anatomy of a pair differs by exactly the truth's shift", "[phantom][follow_up]") {
  FollowUpOptions o = SmallOptions("head_ct", 8, Change::kLarger);
  o.slices = 64;
  o.slice_thickness_mm = 2.5;
  const auto t0 = std::chrono::steady_clock::now();
  auto pair = MakeFollowUpPair(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(pair.ok());
  // Everything from fat to dense bone (stored = HU + 1024), 10 mm away from the lesion.
  const Residual r = MeasureResidual(*pair, false, 10, {1024 - 150, 1024 + 2000, 300}, 2);
  std::printf("follow-up head CT 256x256x64 pair: %.2f s; mean clipped |diff| at truth %.2f HU, unshifted %.2f HU; "
              "best offset from truth (mm) %.2f %.2f %.2f, rotation %.1f deg\n",
              seconds, r.at_truth, r.unshifted, r.translation_error[0], r.translation_error[1],
              r.translation_error[2], r.rotation_error_deg);
  CHECK(r.unshifted > 1.1 * r.at_truth);  // the shift is real (bone texture keeps interpolation error high)
  for (double e : r.translation_error) CHECK(std::abs(e) <= 0.5);
  CHECK(r.rotation_error_deg <= 0.5);
}

// With a shift of whole voxels there is nothing to interpolate: every voxel
// of the current study must equal the prior's voxel it moved from, up to the
// two studies' independent noise, and a stable lesion's mask must be the
// prior's moved mask, bit for bit.
void CheckWholeVoxelShift(const std::string& kind, int di, int dj, int dk, double noise_limit) {
  INFO(kind);
  FollowUpOptions o = SmallOptions(kind, 17, Change::kStable);
  if (kind != "chest_xray") o.slices = 16;
  const bool film = kind == "chest_xray";
  // The pixel spacing is the seed's; learn it from an unshifted pair.
  o.shift = RigidShift{};
  auto probe = MakeFollowUpPair(o);
  REQUIRE(probe.ok());
  const Volume g = VolumeOf(probe->prior, film);
  RigidShift shift;
  shift.translation_mm = {di * g.px, dj * g.px, film ? 0.0 : dk * g.dz};
  o.shift = shift;
  auto pair = MakeFollowUpPair(o);
  REQUIRE(pair.ok());
  const Volume prior = VolumeOf(pair->prior, film), current = VolumeOf(pair->current, film);
  int64_t compared = 0, beyond_noise = 0;
  double sum = 0;
  for (int k = 0; k < current.ns; ++k) {
    const int pk = k - dk;
    if (pk < 0 || pk >= prior.ns) continue;
    for (int j = 0; j < current.n; ++j) {
      const int pj = j - dj;
      if (pj < 0 || pj >= prior.n) continue;
      for (int i = 0; i < current.n; ++i) {
        const int pi = i - di;
        if (pi < 0 || pi >= prior.n) continue;
        const double d = std::abs(double(current.at(i, j, k)) - prior.at(pi, pj, pk));
        ++compared;
        sum += d;
        beyond_noise += d > noise_limit;
      }
    }
  }
  REQUIRE(compared > 10000);
  const double fraction = double(beyond_noise) / double(compared);
  std::printf("%s whole-voxel shift (%d, %d, %d): mean |diff| %.2f, %.4f%% beyond %.0f\n", kind.c_str(), di, dj, dk,
              sum / compared, 100 * fraction, noise_limit);
  CHECK(fraction < 0.005);
  // The stable lesion moved with the patient, voxel for voxel.
  const Mask& pm = pair->prior.findings.at(0).mask;
  const Mask& cm = pair->current.findings.at(0).mask;
  int64_t mismatched = 0, inside = 0;
  for (int k = 0; k < cm.slices; ++k) {
    for (int j = 0; j < cm.rows; ++j) {
      for (int i = 0; i < cm.columns; ++i) {
        const int pi = i - di, pj = j - dj, pk = film ? 0 : k - dk;
        const bool was = pi >= 0 && pj >= 0 && pk >= 0 && pi < pm.columns && pj < pm.rows && pk < pm.slices &&
                         pm.bits[(size_t(pk) * pm.rows + pj) * pm.columns + pi];
        const bool is = cm.bits[(size_t(k) * cm.rows + j) * cm.columns + i];
        mismatched += was != is;
        inside += is;
      }
    }
  }
  REQUIRE(inside > 0);
  CHECK(mismatched == 0);
  // Shifting by the opposite amount does not match (the comparison can fail).
  int64_t wrong = 0, wrong_compared = 0;
  for (int k = 0; k < current.ns; ++k) {
    const int pk = k + dk;
    if (pk < 0 || pk >= prior.ns) continue;
    for (int j = 0; j < current.n; j += 2) {
      const int pj = j + dj;
      if (pj < 0 || pj >= prior.n) continue;
      for (int i = 0; i < current.n; i += 2) {
        const int pi = i + di;
        if (pi < 0 || pi >= prior.n) continue;
        ++wrong_compared;
        wrong += std::abs(double(current.at(i, j, k)) - prior.at(pi, pj, pk)) > noise_limit;
      }
    }
  }
  CHECK(double(wrong) / double(wrong_compared) > 4 * fraction + 0.01);
}

TEST_CASE("a whole-voxel shift reproduces the prior voxel for voxel, up to noise", "[phantom][follow_up]") {
  CheckWholeVoxelShift("head_ct", 3, -2, 1, 30);      // HU; noise SD 4 per study
  CheckWholeVoxelShift("brain_mri", -2, 3, -1, 110);  // Rician sigma 14 per study
  CheckWholeVoxelShift("chest_xray", 4, -3, 0, 200);  // stored units; noise grows with density
}

TEST_CASE("brain MRI follow-up pairs change the tumour by class and shift exactly", "[phantom][follow_up]") {
  for (Change change : {Change::kNew, Change::kLarger, Change::kSmaller, Change::kResolved}) {
    INFO(ChangeName(change));
    FollowUpOptions o = SmallOptions("brain_mri", 12, change);
    o.slices = 12;
    auto pair = MakeFollowUpPair(o);
    REQUIRE(pair.ok());
    const FindingChange& c = pair->changes.at(0);
    CHECK(c.label == "Enhancing tumour");
    CHECK(pair->prior.findings.size() == (change == Change::kNew ? 0u : 1u));
    CHECK(pair->current.findings.size() == (change == Change::kResolved ? 0u : 1u));
    CHECK(ClassifyChange(c.prior_size, c.current_size) == change);
    if (change == Change::kLarger) CHECK(c.current_size / c.prior_size >= 1.8);
    if (change == Change::kSmaller) CHECK(c.current_size / c.prior_size <= 1 / 1.8);
  }
  FollowUpOptions o = SmallOptions("brain_mri", 12, Change::kStable);
  o.slices = 48;
  o.slice_thickness_mm = 2.5;
  const auto t0 = std::chrono::steady_clock::now();
  auto pair = MakeFollowUpPair(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(pair.ok());
  const FindingChange& c = pair->changes.at(0);
  CHECK(c.current_size / c.prior_size == Approx(1).epsilon(0.1));
  // T1 signal of the head, 25 mm from the tumour (its oedema is outside the mask).
  const Residual r = MeasureResidual(*pair, false, 25, {150, 4095, 500}, 2);
  std::printf("follow-up brain MRI 160x160x48 pair: %.2f s; mean clipped |diff| at truth %.1f, unshifted %.1f; "
              "best offset from truth (mm) %.2f %.2f %.2f, rotation %.1f deg\n",
              seconds, r.at_truth, r.unshifted, r.translation_error[0], r.translation_error[1],
              r.translation_error[2], r.rotation_error_deg);
  CHECK(r.unshifted > 1.5 * r.at_truth);
  for (double e : r.translation_error) CHECK(std::abs(e) <= 0.5);
  CHECK(r.rotation_error_deg <= 0.5);
}

TEST_CASE("chest film follow-up pairs change the nodule by class and shift exactly", "[phantom][follow_up]") {
  for (Change change : {Change::kNew, Change::kLarger, Change::kStable, Change::kSmaller, Change::kResolved}) {
    INFO(ChangeName(change));
    auto pair = MakeFollowUpPair(SmallOptions("chest_xray", 4, change));
    REQUIRE(pair.ok());
    const FindingChange& c = pair->changes.at(0);
    CHECK(c.label == "Nodule");
    CHECK(pair->size_unit == "cm2");
    CHECK(pair->prior.findings.size() == (change == Change::kNew ? 0u : 1u));
    CHECK(pair->current.findings.size() == (change == Change::kResolved ? 0u : 1u));
    CHECK(ClassifyChange(c.prior_size, c.current_size) == change);
    CHECK(pair->shift.translation_mm[2] == 0);
    CHECK(pair->shift.rotation_deg[0] == 0);
    CHECK(pair->shift.rotation_deg[1] == 0);
    if (change == Change::kStable) CHECK(c.current_size / c.prior_size == Approx(1).epsilon(0.1));
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto pair = MakeFollowUpPair(SmallOptions("chest_xray", 4, Change::kStable));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(pair.ok());
  const Volume geometry = VolumeOf(pair->current, true);
  CHECK(Distance(pair->shift.Apply(Centroid(pair->prior.findings[0].mask, geometry)),
                 Centroid(pair->current.findings[0].mask, geometry)) < 0.5);
  const Residual r = MeasureResidual(*pair, true, 10, {0, 4095, 400}, 2);
  std::printf("follow-up chest 512x512 pair: %.2f s; mean clipped |diff| at truth %.1f, unshifted %.1f; best offset "
              "from truth (mm) %.2f %.2f, rotation %.1f deg\n",
              seconds, r.at_truth, r.unshifted, r.translation_error[0], r.translation_error[1],
              r.rotation_error_deg);
  CHECK(r.unshifted > 1.5 * r.at_truth);
  CHECK(std::abs(r.translation_error[0]) <= 0.5);
  CHECK(std::abs(r.translation_error[1]) <= 0.5);
  CHECK(r.rotation_error_deg <= 0.5);
}

TEST_CASE("follow-up pairs are deterministic from the seed", "[phantom][follow_up]") {
  FollowUpOptions o = SmallOptions("head_ct", 3, Change::kLarger);
  o.size = 96;
  o.slices = 12;
  o.findings = {"Intraparenchymal", "Subdural"};
  o.changes = {Change::kLarger, Change::kNew};
  auto a = MakeFollowUpPair(o), b = MakeFollowUpPair(o);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->shift.translation_mm == b->shift.translation_mm);
  CHECK(a->shift.rotation_deg == b->shift.rotation_deg);
  CHECK(a->interval_days == b->interval_days);
  CHECK(PairTruthJson(FollowUpTruthOf(*a)) == PairTruthJson(FollowUpTruthOf(*b)));
  for (size_t i = 0; i < a->current.series[0].images.size(); ++i) {
    CHECK(a->prior.series[0].images[i].pixels == b->prior.series[0].images[i].pixels);
    CHECK(a->current.series[0].images[i].pixels == b->current.series[0].images[i].pixels);
  }
  // The current study has its own noise: the same patient is not the same picture.
  CHECK(a->prior.series[0].images[0].pixels != a->current.series[0].images[0].pixels);
  o.seed = 4;
  auto c = MakeFollowUpPair(o);
  REQUIRE(c.ok());
  CHECK(c->shift.translation_mm != a->shift.translation_mm);
}

TEST_CASE("a normal follow-up pair has no finding at either time and still a shift and an interval",
          "[phantom][follow_up]") {
  for (const std::string kind : {"head_ct", "brain_mri", "chest_xray"}) {
    INFO(kind);
    FollowUpOptions o = SmallOptions(kind, 11, Change::kNew);
    o.normal = true;
    o.findings = {FollowUpLabels(kind)[0]};  // ignored
    auto pair = MakeFollowUpPair(o);
    REQUIRE(pair.ok());
    CHECK(pair->changes.empty());
    CHECK(pair->prior.findings.empty());
    CHECK(pair->current.findings.empty());
    CHECK(pair->interval_days >= 60);
    CHECK(pair->shift.translation_mm != std::array<double, 3>{0, 0, 0});
    // The same patient, moved: not the same picture.
    CHECK(pair->prior.series[0].images[0].pixels != pair->current.series[0].images[0].pixels);
  }
}

TEST_CASE("follow-up requests it cannot honour are refused by name", "[phantom][follow_up]") {
  FollowUpOptions o;
  o.kind = "bone_xray";
  CHECK(MakeFollowUpPair(o).status().code() == absl::StatusCode::kInvalidArgument);
  o.kind = "head_ct";
  o.findings = {"Subarachnoid"};
  auto bad = MakeFollowUpPair(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("Subarachnoid") != std::string::npos);
  o.findings = {"Epidural", "Subdural"};
  o.changes = {Change::kNew, Change::kNew, Change::kNew};
  CHECK(MakeFollowUpPair(o).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("pair truth round-trips and malformed fields are named", "[phantom][follow_up]") {
  FollowUpTruth t;
  t.kind = "brain_mri";
  t.seed = 9;
  t.patient_id = "PHANTOM-FU-9";
  t.prior_study_uid = "2.25.1";
  t.current_study_uid = "2.25.2";
  t.prior_study_date = "20250110";
  t.current_study_date = AddDays("20250110", 200);
  t.interval_days = 200;
  t.size_unit = "mL";
  t.shift.translation_mm = {1.25, -3, 0.5};
  t.shift.rotation_deg = {0.5, 0, -1.2};
  t.shift.centre_mm = {0, 0, 57.5};
  FindingChange c;
  c.label = "Enhancing tumour";
  c.change = Change::kSmaller;
  c.prior_index = 0;
  c.current_index = 0;
  c.prior_size = 20;
  c.current_size = 8;
  c.requested_ratio = 0.4;
  t.changes = {c};
  CHECK(t.current_study_date == "20250729");
  CHECK(AddDays("20240228", 2) == "20240301");  // leap year

  auto back = ParsePairTruth(PairTruthJson(t));
  REQUIRE(back.ok());
  CHECK(back->kind == "brain_mri");
  CHECK(back->interval_days == 200);
  CHECK(back->shift.translation_mm == t.shift.translation_mm);
  CHECK(back->shift.rotation_deg == t.shift.rotation_deg);
  CHECK(back->shift.centre_mm == t.shift.centre_mm);
  REQUIRE(back->changes.size() == 1);
  CHECK(back->changes[0].change == Change::kSmaller);
  CHECK(back->changes[0].prior_size == 20);
  CHECK(back->changes[0].current_size == 8);

  auto named = [](const std::string& text, const std::string& field) {
    auto r = ParsePairTruth(text);
    INFO(field);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(std::string(r.status().message()).find("'" + field) != std::string::npos);
  };
  nlohmann::json doc = nlohmann::json::parse(PairTruthJson(t));
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json d = doc;
    edit(d);
    return d.dump();
  };
  named(with([](auto& d) { d["shift"]["translation_mm"] = {1, 2}; }), "shift.translation_mm");
  named(with([](auto& d) { d["shift"].erase("rotation_deg"); }), "shift.rotation_deg");
  named(with([](auto& d) { d["changes"][0]["change"] = "bigger"; }), "changes[0].change");
  named(with([](auto& d) { d["changes"][0]["current_volume_ml"] = -1; }), "changes[0].current_volume_ml");
  named(with([](auto& d) { d["changes"][0]["prior_index"] = -1; }), "changes[0].change");  // smaller without prior
  named(with([](auto& d) { d["interval_days"] = "soon"; }), "interval_days");
  named(with([](auto& d) { d["prior"]["study_date"] = "2025-01-10"; }), "prior.study_date");
  named(with([](auto& d) { d["size_unit"] = "cc"; }), "size_unit");
  CHECK_FALSE(ParsePairTruth("[").ok());
}

TEST_CASE("a follow-up study's truth.json carries its role, changes and shift", "[phantom][follow_up]") {
  FollowUpOptions o = SmallOptions("chest_xray", 6, Change::kSmaller);
  o.size = 256;
  auto pair = MakeFollowUpPair(o);
  REQUIRE(pair.ok());
  FollowUpTruth t = FollowUpTruthOf(*pair);
  t.role = "current";
  t.prior_study_uid = "2.25.10";
  t.current_study_uid = "2.25.11";
  t.prior_study_date = "20250101";
  t.current_study_date = AddDays("20250101", pair->interval_days);
  auto truth = ParseGroundTruth(GroundTruthJson(pair->current, "2.25.11", t));
  REQUIRE(truth.ok());
  REQUIRE(truth->follow_up.has_value());
  CHECK(truth->follow_up->role == "current");
  CHECK(truth->follow_up->prior_study_uid == "2.25.10");
  CHECK(truth->follow_up->shift.translation_mm == pair->shift.translation_mm);
  REQUIRE(truth->finding_changes.size() == 1);
  REQUIRE(truth->finding_changes[0].has_value());
  CHECK(*truth->finding_changes[0] == Change::kSmaller);
  CHECK(truth->findings[0].area_cm2 == Approx(pair->changes[0].current_size));
  // A plain truth.json has neither.
  auto plain = ParseGroundTruth(GroundTruthJson(pair->current, "2.25.11"));
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->follow_up.has_value());
  CHECK(plain->finding_changes.empty());
  // A malformed role or change is named.
  auto bad_role = nlohmann::json::parse(GroundTruthJson(pair->current, "2.25.11", t));
  bad_role["follow_up"]["role"] = "later";
  auto r1 = ParseGroundTruth(bad_role.dump());
  REQUIRE_FALSE(r1.ok());
  CHECK(std::string(r1.status().message()).find("follow_up.role") != std::string::npos);
  auto bad_change = nlohmann::json::parse(GroundTruthJson(pair->current, "2.25.11", t));
  bad_change["findings"][0]["change"] = 3;
  auto r2 = ParseGroundTruth(bad_change.dump());
  REQUIRE_FALSE(r2.ok());
  CHECK(std::string(r2.status().message()).find("findings[].change") != std::string::npos);
}

TEST_CASE("parallax-synth --follow-up writes pairs that parse, with a manifest row each", "[phantom][follow_up]") {
  parallax::testing::TempDir dir;
  const std::string tool = parallax::testing::BinDir() + "/libs/phantom/tools/parallax-synth";
  const std::string out = (dir.path() / "pairs").string();
  std::string log;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = Run(tool + " --kind head_ct --out " + out + " --seed 70 --count 2 --follow-up larger", &log);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(log);
  REQUIRE(rc == 0);
  std::printf("parallax-synth --follow-up: 2 head CT pairs (512x512x32, DICOM) in %.2f s\n", seconds);
  for (int seed : {70, 71}) {
    const auto pair_dir = std::filesystem::path(out) / ("head_ct-fu-" + std::to_string(seed));
    auto pair = ParsePairTruth(ReadFile(pair_dir / "pair.json"));
    REQUIRE(pair.ok());
    CHECK(pair->kind == "head_ct");
    CHECK(pair->seed == uint64_t(seed));
    REQUIRE(pair->changes.size() == 1);
    CHECK(pair->changes[0].change == Change::kLarger);
    CHECK(pair->changes[0].current_size / pair->changes[0].prior_size >= kLargerRatio);
    CHECK(pair->prior_study_uid != pair->current_study_uid);
    CHECK(pair->current_study_date == AddDays(pair->prior_study_date, pair->interval_days));
    CHECK(pair->prior_study_date < pair->current_study_date);
    auto prior = ParseGroundTruth(ReadFile(pair_dir / pair->prior_dir / "truth.json"));
    auto current = ParseGroundTruth(ReadFile(pair_dir / pair->current_dir / "truth.json"));
    REQUIRE(prior.ok());
    REQUIRE(current.ok());
    CHECK(prior->study_instance_uid == pair->prior_study_uid);
    CHECK(current->study_instance_uid == pair->current_study_uid);
    REQUIRE(current->follow_up.has_value());
    CHECK(current->follow_up->role == "current");
    CHECK(current->follow_up->prior_study_uid == pair->prior_study_uid);
    CHECK(current->findings.at(0).volume_ml == Approx(pair->changes[0].current_size));
    CHECK(prior->findings.at(0).volume_ml == Approx(pair->changes[0].prior_size));
    CHECK(std::filesystem::exists(pair_dir / "prior" / "01-0001.dcm"));
    CHECK(std::filesystem::exists(pair_dir / "current" / "01-0001.dcm"));
  }
  const std::string manifest = ReadFile(std::filesystem::path(out) / "manifest.csv");
  CHECK(manifest.rfind("pair_dir,prior_study_instance_uid,current_study_instance_uid,interval_days,changes\n", 0) == 0);
  CHECK(std::count(manifest.begin(), manifest.end(), '\n') == 3);
  CHECK(manifest.find("head_ct-fu-71,") != std::string::npos);
  CHECK(manifest.find("Intraparenchymal:larger") != std::string::npos);

  // A bad class is a usage error naming it.
  log.clear();
  CHECK(Run(tool + " --kind head_ct --out " + out + " --follow-up bigger", &log) == 2);
  CHECK(log.find("bigger") != std::string::npos);
}
