#pragma once
// Image registration for prior-study comparison: finds the transform that
// lines a prior study up with the current one (rigid, optionally followed by
// affine; 2-D for films, 3-D for CT and MR volumes), and resamples the prior
// onto the current study's grid for side-by-side reading and for measuring
// change.
//
// Method: LibTorch grid_sample (bilinear / trilinear) with a normalised
// cross-correlation (NCC) loss over the overlap of the two images,
// minimised by Adam over the transform's parameters, coarse to fine over an
// average-pooled pyramid whose levels are Gaussian-smoothed by about a voxel
// (otherwise interpolation pulls the optimum towards the identity); thick
// slices of the prior are refined along z by cubic interpolation; at most
// max_samples points of the current image (mostly its edges) are measured
// per iteration. Everything is expressed in physical millimetres (patient
// coordinates for volumes, detector mm for films), so anisotropic voxels
// (5 mm CT slices) and different grids for the two studies are handled
// exactly; rotations turn about the current image's centre. CPU only.
//
// Measured on phantom follow-up pairs with known motion (<= 5 mm, <= 3
// degrees; tests/registration_test.cc): mean error 0.15 mm on head CT
// (512 x 512 x 32), 0.34 mm on brain MRI (256 x 256 x 24), worst point
// 1.2 mm; films 0.02 mm. About 0.4-0.5 s per head CT pair on 2 cores, plus
// about 0.3 s for Resample (scripts/bench/prior).
//
// LibTorch stays behind this header (callers see Parallax types only), and
// every LibTorch exception is turned into an absl::Status.
//
// Thread-safety: Register() and Resample() are pure functions of their
// arguments and may run concurrently, but RegistrationOptions::threads sets
// LibTorch's intra-op thread count, which is process-wide (the last caller
// wins), as LoadOptions::intra_op_threads does in model.h.
#include <array>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

namespace parallax::inference {

// 4 x 4 homogeneous matrix, row-major: m[row][column].
using Matrix4 = std::array<std::array<double, 4>, 4>;

// A scalar image on a regular grid placed in physical space. Volumes: nz
// slices of ny rows of nx columns; films: nz = 1 (then only x and y of the
// geometry are used and z of every point is 0). Voxel (i, j, k) (column,
// row, slice) has its centre at
//
//   origin_mm + direction * (i * spacing_mm[0], j * spacing_mm[1], k * spacing_mm[2])
//
// where the columns of `direction` are the unit directions of the i, j and
// k axes (DICOM: ImageOrientationPatient's row and column cosines and the
// slice normal; origin = ImagePositionPatient of the first slice). A value
// type; not synchronised.
struct Volume {
  int nx = 0, ny = 0, nz = 1;
  std::vector<float> voxels;                  // (k * ny + j) * nx + i; any units (HU, stored values)
  std::array<double, 3> spacing_mm{1, 1, 1};  // along i, j, k
  std::array<double, 3> origin_mm{0, 0, 0};   // centre of voxel (0, 0, 0)
  std::array<std::array<double, 3>, 3> direction{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};  // direction[row][axis]

  bool IsFilm() const { return nz == 1; }
  // The physical position (mm) of a continuous voxel index (i, j, k).
  std::array<double, 3> PointOf(double i, double j, double k) const;
};

enum class TransformKind {
  kTranslation,      // 3 parameters (films: 2): the plainest model; a baseline
  kRigid,            // + rotations: 6 parameters (films: 3); the default
  kRigidThenAffine,  // rigid, then the full affine (12; films: 6) at the finest level
};

// leveldb-style options: each field has a usable default.
struct RegistrationOptions {
  TransformKind transform = TransformKind::kRigid;
  // Pyramid levels, coarse to fine; each level has twice the spacing of the
  // next. 1..6.
  int levels = 3;
  // Voxel spacing (mm) the finest level aims for: each axis is average-pooled
  // by round(finest_spacing_mm / spacing) (at least 1), so 5 mm CT slices
  // stay whole while 0.5 mm pixels are pooled. Smaller = slower, a little
  // more precise. > 0.
  double finest_spacing_mm = 3.0;
  // Gaussian smoothing of both images at each level: sigma (mm) is this
  // times the level's coarser in-plane spacing, along every axis (so 5 mm
  // slices are smoothed less, in voxels); 0 = none. Keeps interpolation
  // from pulling the result towards the identity (see registration.cc).
  // >= 0.
  double smoothing = 1.0;
  // Adam iterations per level at most (the affine stage gets as many
  // again). When the loss (1 - NCC) has not improved by more than
  // `tolerance` for 5 iterations, the step is halved and the best point so
  // far resumed; the 4th halving ends the level (converged). >= 1.
  int max_iterations = 60;
  double tolerance = 1e-5;
  // Adam step size at the coarsest level, in mm (translations; rotations are
  // scaled to mm of arc at the image's radius); halved at each finer level.
  double step_mm = 2.0;
  // Fixed-image points the optimiser measures per level at most (0 = every
  // voxel): beyond it, three quarters where the current image's gradient is
  // strongest and a regular spread of the rest. The cost of an iteration is
  // proportional to it. The reported NCC and residual use every voxel.
  int max_samples = 40000;
  // LibTorch intra-op threads (process-wide, see above); 0 keeps the
  // current setting.
  int threads = 0;
};

struct RegistrationResult {
  // Maps a point of the current (fixed) study, in its mm, to the same bit of
  // the patient in the prior (moving) study, in the prior's mm. Films: the
  // z row and column are those of the identity.
  Matrix4 current_to_prior{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};
  // NCC of the two images over their overlap at the finest level (pooled
  // and smoothed, every voxel), with the identity transform and with the
  // result (1 = identical up to a linear change of intensity).
  double ncc_before = 0;
  double ncc_after = 0;
  // 1 - ncc_after: the part of the current image the registered prior does
  // not explain (noise, change, misregistration).
  double residual = 1;
  // Root-mean-square difference, in the inputs' intensity units, between
  // the current image and the registered prior over the overlap at the
  // finest level, pooled and smoothed (after matching the prior's mean and
  // standard deviation to the current's, so a change of scanner gain does
  // not count).
  double rms_difference = 0;
  // Fraction of the current image's finest-level voxels the registered prior
  // covers.
  double overlap_fraction = 0;
  int iterations = 0;      // Adam steps over all levels and stages
  bool converged = false;  // the last stage ended on its 4th step halving, not on max_iterations
  // The rigid (or translation) stage's parameters, for logs: translation mm
  // (x, y[, z]), then rotations in degrees (films: about z; volumes: about
  // x, y, z, R = Rz Ry Rx), about the current image's centre. With
  // kRigidThenAffine, current_to_prior is the affine refinement of these.
  std::vector<double> parameters;
};

// Registers `prior` (moving) to `current` (fixed). Returns the transform and
// its figures. INVALID_ARGUMENT (naming the image and the problem) when
// either image is empty, its voxel count is not nx * ny * nz, a spacing is
// not positive, its direction is singular, a voxel is not finite, the images
// are constant, one is a film and the other a volume, or an option is out
// of range; FAILED_PRECONDITION when the images do not overlap at all under
// the identity; INTERNAL when LibTorch fails (with its first line).
absl::StatusOr<RegistrationResult> Register(const Volume& current, const Volume& prior,
                                            const RegistrationOptions& options = {});

// The prior resampled (trilinear; films bilinear) onto the current study's
// grid through `current_to_prior`: voxel (i, j, k) of the result is the
// prior at current_to_prior * current.PointOf(i, j, k); `outside` where that
// point lies beyond the prior. The result has the current's geometry.
// `threads` as in RegistrationOptions. INVALID_ARGUMENT for an invalid
// image (as Register) or a matrix whose last row is not (0, 0, 0, 1);
// INTERNAL when LibTorch fails.
absl::StatusOr<Volume> Resample(const Volume& prior, const Matrix4& current_to_prior, const Volume& current,
                                float outside = 0, int threads = 0);

// Applies a homogeneous matrix to a point (mm).
std::array<double, 3> TransformPoint(const Matrix4& m, const std::array<double, 3>& p);

}  // namespace parallax::inference
