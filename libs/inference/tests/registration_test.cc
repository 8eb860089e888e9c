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
#include "phantom_volumes.h"

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

using Error = parallax::inference::testing::RegistrationError;
using parallax::inference::testing::PatientPoints;
using parallax::inference::testing::VolumeOf;

Error RegistrationError(const phantom::RigidShift& truth, const Matrix4& current_to_prior,
                        const std::vector<std::array<double, 3>>& points) {
  return parallax::inference::testing::ErrorAt(truth, current_to_prior, points);
}

Error UnregisteredError(const phantom::RigidShift& truth, const std::vector<std::array<double, 3>>& points) {
  return parallax::inference::testing::UnregisteredErrorAt(truth, points);
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
      run.before.mean_mm, run.before.max_mm, run.after.mean_mm, run.after.max_mm, result->ncc_before, result->ncc_after,
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
    CHECK(run.after.mean_mm <= goal_mean_mm);
    CHECK(run.after.max_mm <= goal_max_mm);
    CHECK(run.after.mean_mm < run.before.mean_mm);
    CHECK(run.result.ncc_after > run.result.ncc_before);
    worst_mean = std::max(worst_mean, run.after.mean_mm);
    worst_max = std::max(worst_max, run.after.max_mm);
    sum_mean += run.after.mean_mm;
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
      before.mean_mm, before.max_mm, after.mean_mm, after.max_mm);
  CHECK(after.mean_mm <= 2.0);
  CHECK(after.max_mm <= 2.0);
}

TEST_CASE("rigid then affine registration of a head CT pair stays within 2 mm", "[registration]") {
  RegistrationOptions o;
  o.transform = TransformKind::kRigidThenAffine;
  const PairRun run = RegisterPair("head_ct", 21, phantom::Change::kNew, o);
  CHECK(run.after.mean_mm <= 2.0);
  CHECK(run.after.max_mm <= 2.0);
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
  std::printf("identity pair: mean %.3f max %.3f mm, NCC %.5f\n", e.mean_mm, e.max_mm, result->ncc_after);
  CHECK(e.max_mm < 0.5);
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
