// Registration of real phantom follow-up pairs (libs/phantom MakeFollowUpPair)
// whose patient motion is known exactly: the estimated current -> prior
// transform is compared with the truth (pair.shift inverted) at points of
// the patient, and the figures are printed for the record.
#include "parallax/inference/registration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "parallax/phantom/follow_up.h"

namespace {

using parallax::inference::Matrix4;
using parallax::inference::Register;
using parallax::inference::RegistrationOptions;
using parallax::inference::RegistrationResult;
using parallax::inference::Resample;
using parallax::inference::TransformKind;
using parallax::inference::TransformPoint;
using parallax::inference::Volume;
namespace phantom = parallax::phantom;

// A phantom study's first series as the study writer places it
// (rigid_shift.h): volumes at ((i - n/2) s, (j - n/2) s, k * slice spacing)
// in patient mm; films at ((c + 0.5 - n/2) s, (r + 0.5 - n/2) s) in
// detector mm.
Volume VolumeOf(const phantom::Study& study) {
  const phantom::Series& series = study.series.at(0);
  const phantom::Image& first = series.images.at(0);
  Volume v;
  v.nx = first.columns;
  v.ny = first.rows;
  v.nz = static_cast<int>(series.images.size());
  const double sr = first.pixel_spacing_mm[0], sc = first.pixel_spacing_mm[1];
  v.spacing_mm = {sc, sr, series.info.slice_spacing_mm > 0 ? series.info.slice_spacing_mm : 1.0};
  if (v.nz == 1) {
    v.origin_mm = {(0.5 - v.nx / 2.0) * sc, (0.5 - v.ny / 2.0) * sr, 0};
  } else {
    const int k0 = first.slice_index >= 0 ? first.slice_index : 0;
    v.origin_mm = {-v.nx / 2.0 * sc, -v.ny / 2.0 * sr, k0 * v.spacing_mm[2]};
  }
  v.voxels.reserve(static_cast<size_t>(v.nx) * v.ny * v.nz);
  for (const phantom::Image& image : series.images) {
    for (int16_t p : image.pixels) v.voxels.push_back(static_cast<float>(p));
  }
  return v;
}

// Points of the patient in the current image: foreground voxel centres on a
// coarse lattice (every 8th column and row of each slice) for volumes, the
// central 80% of a film on the same lattice (a chest fills the film).
std::vector<std::array<double, 3>> PatientPoints(const Volume& v) {
  std::vector<float> sorted = v.voxels;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() * 99 / 100, sorted.end());
  const float p99 = sorted[sorted.size() * 99 / 100];
  const float lo = *std::min_element(v.voxels.begin(), v.voxels.end());
  const float threshold = lo + 0.15f * (p99 - lo);
  std::vector<std::array<double, 3>> points;
  for (int k = 0; k < v.nz; ++k) {
    for (int j = 0; j < v.ny; j += 8) {
      for (int i = 0; i < v.nx; i += 8) {
        if (v.IsFilm()) {
          if (i < v.nx / 10 || i > v.nx * 9 / 10 || j < v.ny / 10 || j > v.ny * 9 / 10) continue;
        } else if (v.voxels[(static_cast<size_t>(k) * v.ny + j) * v.nx + i] < threshold) {
          continue;
        }
        points.push_back(v.PointOf(i, j, k));
      }
    }
  }
  return points;
}

struct Error {
  double mean = 0, max = 0;
};

// Distance between where the truth and the estimate send each point.
Error RegistrationError(const phantom::RigidShift& truth, const Matrix4& current_to_prior,
                        const std::vector<std::array<double, 3>>& points) {
  Error e;
  for (const auto& p : points) {
    const auto t = truth.Invert(p);
    const auto q = TransformPoint(current_to_prior, p);
    const double d =
        std::sqrt((t[0] - q[0]) * (t[0] - q[0]) + (t[1] - q[1]) * (t[1] - q[1]) + (t[2] - q[2]) * (t[2] - q[2]));
    e.mean += d;
    e.max = std::max(e.max, d);
  }
  if (!points.empty()) e.mean /= static_cast<double>(points.size());
  return e;
}

// The error of doing nothing (the identity), for scale.
Error UnregisteredError(const phantom::RigidShift& truth, const std::vector<std::array<double, 3>>& points) {
  Matrix4 identity{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};
  return RegistrationError(truth, identity, points);
}

struct PairRun {
  Error before, after;
  RegistrationResult result;
};

PairRun RegisterPair(const std::string& kind, uint64_t seed, phantom::Change change,
                     const RegistrationOptions& options = {}) {
  phantom::FollowUpOptions fo;
  fo.kind = kind;
  fo.seed = seed;
  fo.changes = {change};
  auto pair = phantom::MakeFollowUpPair(fo);
  REQUIRE(pair.ok());
  const Volume current = VolumeOf(pair->current), prior = VolumeOf(pair->prior);
  const auto points = PatientPoints(current);
  REQUIRE(points.size() > 100);
  auto result = Register(current, prior, options);
  REQUIRE(result.ok());
  PairRun run{UnregisteredError(pair->shift, points), RegistrationError(pair->shift, result->current_to_prior, points),
              *result};
  const auto& s = pair->shift;
  std::printf(
      "%-10s seed %2llu %-8s shift t=(%5.2f %5.2f %5.2f) mm r=(%5.2f %5.2f %5.2f) deg | error before mean %5.2f max "
      "%5.2f mm | after mean %5.2f max %5.2f mm | NCC %.4f -> %.4f, residual %.4f, %d iterations%s\n",
      kind.c_str(), static_cast<unsigned long long>(seed), phantom::ChangeName(change), s.translation_mm[0],
      s.translation_mm[1], s.translation_mm[2], s.rotation_deg[0], s.rotation_deg[1], s.rotation_deg[2],
      run.before.mean, run.before.max, run.after.mean, run.after.max, result->ncc_before, result->ncc_after,
      result->residual, result->iterations, result->converged ? "" : " (not converged)");
  std::printf("    estimated parameters:");
  for (double x : result->parameters) std::printf(" %6.2f", x);
  std::printf("\n");
  std::fflush(stdout);
  return run;
}

// Change classes cycled over seeds, so the lesion differs between the two
// studies as it does in practice.
constexpr phantom::Change kChanges[] = {phantom::Change::kStable, phantom::Change::kNew, phantom::Change::kLarger,
                                        phantom::Change::kSmaller, phantom::Change::kResolved};

void RegisterKind(const std::string& kind, int pairs, double goal_mean_mm, double goal_max_mm) {
  double worst_mean = 0, worst_max = 0, sum_mean = 0;
  for (int i = 0; i < pairs; ++i) {
    const uint64_t seed = 11 + static_cast<uint64_t>(i);
    const PairRun run = RegisterPair(kind, seed, kChanges[i % 5]);
    CHECK(run.after.mean <= goal_mean_mm);
    CHECK(run.after.max <= goal_max_mm);
    CHECK(run.after.mean < run.before.mean);
    CHECK(run.result.ncc_after > run.result.ncc_before);
    worst_mean = std::max(worst_mean, run.after.mean);
    worst_max = std::max(worst_max, run.after.max);
    sum_mean += run.after.mean;
  }
  std::printf("%-10s %d pairs: mean error %.2f mm (worst pair's mean %.2f), worst point %.2f mm\n", kind.c_str(), pairs,
              sum_mean / pairs, worst_mean, worst_max);
}

}  // namespace

TEST_CASE("head CT follow-up pairs register to within 2 mm of the known shift", "[registration]") {
  RegisterKind("head_ct", 6, 2.0, 2.0);
}

TEST_CASE("brain MRI follow-up pairs register to within 2 mm of the known shift", "[registration]") {
  RegisterKind("brain_mri", 6, 2.0, 2.0);
}

TEST_CASE("chest film follow-up pairs register to within 2 mm of the known shift", "[registration]") {
  RegisterKind("chest_xray", 6, 2.0, 2.0);
}

TEST_CASE("a head CT pair moved well beyond the default motion still registers within 2 mm", "[registration]") {
  phantom::FollowUpOptions fo;
  fo.kind = "head_ct";
  fo.seed = 31;
  fo.changes = {phantom::Change::kLarger};
  phantom::RigidShift shift;
  shift.translation_mm = {10, -10, 5};
  shift.rotation_deg = {4, -4, 6};
  shift.centre_mm = {0, 0, 77.5};
  fo.shift = shift;
  auto pair = phantom::MakeFollowUpPair(fo);
  REQUIRE(pair.ok());
  const Volume current = VolumeOf(pair->current), prior = VolumeOf(pair->prior);
  auto result = Register(current, prior);
  REQUIRE(result.ok());
  const auto points = PatientPoints(current);
  const Error before = UnregisteredError(shift, points);
  const Error after = RegistrationError(shift, result->current_to_prior, points);
  std::printf(
      "head_ct seed 31, moved 15 mm and about 8 degrees: error before mean %.2f max %.2f mm, after mean %.2f max %.2f "
      "mm\n",
      before.mean, before.max, after.mean, after.max);
  CHECK(after.mean <= 2.0);
  CHECK(after.max <= 2.0);
}

TEST_CASE("rigid then affine registration of a head CT pair stays within 2 mm", "[registration]") {
  RegistrationOptions o;
  o.transform = TransformKind::kRigidThenAffine;
  const PairRun run = RegisterPair("head_ct", 21, phantom::Change::kNew, o);
  CHECK(run.after.mean <= 2.0);
  CHECK(run.after.max <= 2.0);
}

TEST_CASE("a study registered to itself gives the identity", "[registration]") {
  phantom::FollowUpOptions fo;
  fo.kind = "brain_mri";
  fo.seed = 5;
  auto pair = phantom::MakeFollowUpPair(fo);
  REQUIRE(pair.ok());
  const Volume v = VolumeOf(pair->prior);
  auto result = Register(v, v);
  REQUIRE(result.ok());
  const auto points = PatientPoints(v);
  const Error e = RegistrationError(phantom::RigidShift{}, result->current_to_prior, points);
  std::printf("identity pair: mean %.3f max %.3f mm, NCC %.5f\n", e.mean, e.max, result->ncc_after);
  CHECK(e.max < 0.5);
  CHECK(result->ncc_after > 0.999);
  CHECK(result->residual < 0.001);
}

TEST_CASE("the resampled prior lines up with the current study", "[registration]") {
  phantom::FollowUpOptions fo;
  fo.kind = "chest_xray";
  fo.seed = 3;
  auto pair = phantom::MakeFollowUpPair(fo);
  REQUIRE(pair.ok());
  const Volume current = VolumeOf(pair->current), prior = VolumeOf(pair->prior);
  auto result = Register(current, prior);
  REQUIRE(result.ok());
  auto moved = Resample(prior, result->current_to_prior, current);
  REQUIRE(moved.ok());
  auto unmoved = Resample(prior, Matrix4{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}}, current);
  REQUIRE(unmoved.ok());
  CHECK(moved->nx == current.nx);
  CHECK(moved->ny == current.ny);
  CHECK(moved->voxels.size() == current.voxels.size());
  // The identity resampling of a film onto its own grid is the film itself.
  double identity_diff = 0;
  for (size_t i = 0; i < prior.voxels.size(); ++i) {
    identity_diff = std::max(identity_diff, std::abs(double(unmoved->voxels[i]) - prior.voxels[i]));
  }
  CHECK(identity_diff < 0.5);
  // The registered prior differs from the current film less than the raw prior does.
  auto rms = [&](const Volume& a) {
    double s = 0;
    for (size_t i = 0; i < a.voxels.size(); ++i) s += std::pow(double(a.voxels[i]) - current.voxels[i], 2);
    return std::sqrt(s / a.voxels.size());
  };
  std::printf("chest film seed 3: RMS difference to the current film %.1f raw, %.1f registered\n", rms(prior),
              rms(*moved));
  CHECK(rms(*moved) < 0.7 * rms(prior));
}

TEST_CASE("registration refuses empty, inconsistent or mismatched images with INVALID_ARGUMENT", "[registration]") {
  Volume film;
  film.nx = 8;
  film.ny = 8;
  film.voxels.assign(64, 0.f);
  for (size_t i = 0; i < 64; ++i) film.voxels[i] = float(i % 7);
  Volume volume = film;
  volume.nz = 4;
  volume.voxels.assign(256, 1.f);
  volume.voxels[3] = 2.f;

  auto empty = Register(Volume{}, film);
  REQUIRE(empty.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(empty.status().message()).find("current image is empty") != std::string::npos);

  auto mixed = Register(film, volume);
  REQUIRE(mixed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(mixed.status().message()).find("both must be films") != std::string::npos);

  Volume short_data = volume;
  short_data.voxels.pop_back();
  auto wrong = Register(volume, short_data);
  REQUIRE(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(wrong.status().message()).find("prior image holds 255 voxels") != std::string::npos);

  Volume flat = film;
  flat.voxels.assign(64, 3.f);
  CHECK(Register(film, flat).status().code() == absl::StatusCode::kInvalidArgument);

  Volume bad_spacing = film;
  bad_spacing.spacing_mm[0] = 0;
  CHECK(Register(bad_spacing, film).status().code() == absl::StatusCode::kInvalidArgument);

  RegistrationOptions bad;
  bad.levels = 0;
  CHECK(Register(film, film, bad).status().code() == absl::StatusCode::kInvalidArgument);

  CHECK(Resample(volume, Matrix4{}, volume).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Resample(Volume{}, Matrix4{}, film).status().code() == absl::StatusCode::kInvalidArgument);
}
