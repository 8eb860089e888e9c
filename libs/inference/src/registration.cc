// Registration with LibTorch's grid_sample (see registration.h). Includes
// ATen only (not torch/torch.h) to keep the compile short; autograd runs
// through ATen's dispatcher as it does for torch:: calls.
#include "parallax/inference/registration.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <absl/strings/str_cat.h>
#include <c10/util/Exception.h>

namespace parallax::inference {
namespace {

constexpr Matrix4 kIdentity{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};

Matrix4 Mul(const Matrix4& a, const Matrix4& b) {
  Matrix4 c{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += a[i][k] * b[k][j];
      c[i][j] = s;
    }
  }
  return c;
}

// Gauss-Jordan with partial pivoting; the matrices here are well conditioned
// (validated geometry), so no singular case reaches it.
Matrix4 Inverse(const Matrix4& m) {
  double a[4][8];
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      a[i][j] = m[i][j];
      a[i][j + 4] = i == j ? 1 : 0;
    }
  }
  for (int c = 0; c < 4; ++c) {
    int p = c;
    for (int r = c + 1; r < 4; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[p][c])) p = r;
    }
    for (int j = 0; j < 8; ++j) std::swap(a[c][j], a[p][j]);
    const double d = a[c][c];
    for (int j = 0; j < 8; ++j) a[c][j] /= d;
    for (int r = 0; r < 4; ++r) {
      if (r == c) continue;
      const double f = a[r][c];
      for (int j = 0; j < 8; ++j) a[r][j] -= f * a[c][j];
    }
  }
  Matrix4 out{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[i][j] = a[i][j + 4];
  }
  return out;
}

std::string TorchMessage(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  return text.substr(0, text.find('\n'));
}

// A grid (one pyramid level of one image): size and placement.
struct Grid {
  int64_t n[3] = {1, 1, 1};  // x (columns), y (rows), z (slices)
  double spacing[3] = {1, 1, 1};
  double origin[3] = {0, 0, 0};
  double direction[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  bool film = false;

  static Grid Of(const Volume& v) {
    Grid g;
    g.n[0] = v.nx;
    g.n[1] = v.ny;
    g.n[2] = v.nz;
    g.film = v.IsFilm();
    for (int a = 0; a < 3; ++a) {
      g.spacing[a] = v.spacing_mm[a];
      g.origin[a] = v.origin_mm[a];
      for (int b = 0; b < 3; ++b) g.direction[a][b] = v.direction[a][b];
    }
    if (g.film) {  // films live in the z = 0 plane, whatever z fields say
      g.spacing[2] = 1;
      g.origin[2] = 0;
      for (int a = 0; a < 2; ++a) g.direction[a][2] = g.direction[2][a] = 0;
      g.direction[2][2] = 1;
    }
    return g;
  }
  // Average pooling by factor f[a] along each axis (what at::avg_pool does:
  // floor of n / f; the new voxel centre is the block's centre).
  Grid Pooled(const int64_t f[3]) const {
    Grid g = *this;
    for (int a = 0; a < 3; ++a) {
      g.n[a] = n[a] / f[a];
      g.spacing[a] = spacing[a] * static_cast<double>(f[a]);
      const double half = spacing[a] * static_cast<double>(f[a] - 1) / 2;
      for (int r = 0; r < 3; ++r) g.origin[r] += direction[r][a] * half;
    }
    return g;
  }
  // Voxel index -> mm.
  Matrix4 IndexToMm() const {
    Matrix4 m = kIdentity;
    for (int r = 0; r < 3; ++r) {
      for (int a = 0; a < 3; ++a) m[r][a] = direction[r][a] * spacing[a];
      m[r][3] = origin[r];
    }
    return m;
  }
  // grid_sample's normalised coordinate (align_corners = true) -> voxel index;
  // a film's z is left alone.
  Matrix4 NormalisedToIndex() const {
    Matrix4 m = kIdentity;
    for (int a = 0; a < (film ? 2 : 3); ++a) {
      m[a][a] = static_cast<double>(n[a] - 1) / 2;
      m[a][3] = static_cast<double>(n[a] - 1) / 2;
    }
    return m;
  }
  std::array<double, 3> Centre() const {
    const Matrix4 m = IndexToMm();
    return TransformPoint(m, {(n[0] - 1) / 2.0, (n[1] - 1) / 2.0, film ? 0.0 : (n[2] - 1) / 2.0});
  }
  // Half the largest physical extent: the lever arm that turns rotations
  // into mm of arc.
  double Radius() const {
    double r = 0;
    for (int a = 0; a < (film ? 2 : 3); ++a) r = std::max(r, n[a] * spacing[a] / 2);
    return std::max(r, 1.0);
  }
};

absl::Status ValidateVolume(const Volume& v, const char* which) {
  if (v.nx <= 0 || v.ny <= 0 || v.nz <= 0 || v.voxels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the ", which, " image is empty (", v.nx, " x ", v.ny, " x ", v.nz,
                                                   ", ", v.voxels.size(), " voxels)"));
  }
  const auto count = static_cast<uint64_t>(v.nx) * static_cast<uint64_t>(v.ny) * static_cast<uint64_t>(v.nz);
  if (count != v.voxels.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the ", which, " image holds ", v.voxels.size(),
                                                   " voxels but its size ", v.nx, " x ", v.ny, " x ", v.nz, " needs ",
                                                   count));
  }
  if (v.nx < 2 || v.ny < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", which, " image needs at least 2 columns and 2 rows, not ", v.nx, " x ", v.ny));
  }
  for (int a = 0; a < (v.IsFilm() ? 2 : 3); ++a) {
    if (!(v.spacing_mm[a] > 0) || !std::isfinite(v.spacing_mm[a])) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", which, " image's spacing along axis ", a, " is ", v.spacing_mm[a], " mm, not > 0"));
    }
  }
  const auto& d = v.direction;
  const double det = v.IsFilm() ? d[0][0] * d[1][1] - d[0][1] * d[1][0]
                                : d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1]) -
                                      d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0]) +
                                      d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
  if (!(std::abs(det) > 1e-6)) {
    return absl::InvalidArgumentError(absl::StrCat("the ", which, " image's direction matrix is singular"));
  }
  float lo = v.voxels[0], hi = v.voxels[0];
  for (float x : v.voxels) {
    if (!std::isfinite(x)) {
      return absl::InvalidArgumentError(absl::StrCat("the ", which, " image has a voxel that is not finite"));
    }
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  if (lo == hi) {
    return absl::InvalidArgumentError(absl::StrCat("the ", which, " image is constant (every voxel ", lo, ")"));
  }
  return absl::OkStatus();
}

at::Tensor ToTensor(const Volume& v) {
  // from_blob does not copy; the tensor is only read (pooling makes new ones).
  auto* data = const_cast<float*>(v.voxels.data());
  if (v.IsFilm()) return at::from_blob(data, {1, 1, v.ny, v.nx}, at::kFloat);
  return at::from_blob(data, {1, 1, v.nz, v.ny, v.nx}, at::kFloat);
}

at::Tensor Pool(const at::Tensor& t, const int64_t f[3], bool film) {
  if (f[0] == 1 && f[1] == 1 && f[2] == 1) return t;
  if (film) return at::avg_pool2d(t, {f[1], f[0]}, {f[1], f[0]});
  return at::avg_pool3d(t, {f[2], f[1], f[0]}, {f[2], f[1], f[0]});
}

at::Tensor MatrixTensor(const Matrix4& m) {
  at::Tensor t = at::empty({4, 4}, at::kDouble);
  auto a = t.accessor<double, 2>();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) a[i][j] = m[i][j];
  }
  return t;
}

Matrix4 MatrixOf(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kDouble).contiguous();
  auto a = c.accessor<double, 2>();
  Matrix4 m{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) m[i][j] = a[i][j];
  }
  return m;
}

// The transform's parameters, differentiable: current mm -> prior mm, 4 x 4.
// Translation and rotation are in mm (rotations as mm of arc at `radius`)
// so that one Adam step moves every parameter by a comparable distance.
class Parametrisation {
 public:
  Parametrisation(bool film, std::array<double, 3> centre, double radius)
      : film_(film), centre_(centre), radius_(radius) {}

  int RigidCount() const { return film_ ? 3 : 6; }
  int AffineCount() const { return film_ ? 6 : 12; }

  // p = (tx, ty[, tz], arc about z | arcs about x, y, z). kTranslation uses
  // the same vector with the rotations held at 0.
  at::Tensor Rigid(const at::Tensor& p) const {
    const int d = film_ ? 2 : 3;
    at::Tensor r;
    if (film_) {
      const at::Tensor a = p[2] / radius_;
      const at::Tensor c = at::cos(a), s = at::sin(a);
      r = at::stack({at::stack({c, -s}), at::stack({s, c})});
    } else {
      const at::Tensor a = p[3] / radius_, b = p[4] / radius_, g = p[5] / radius_;
      const at::Tensor one = at::ones({}, at::kDouble), zero = at::zeros({}, at::kDouble);
      const at::Tensor rx = at::stack({at::stack({one, zero, zero}), at::stack({zero, at::cos(a), -at::sin(a)}),
                                       at::stack({zero, at::sin(a), at::cos(a)})});
      const at::Tensor ry = at::stack({at::stack({at::cos(b), zero, at::sin(b)}), at::stack({zero, one, zero}),
                                       at::stack({-at::sin(b), zero, at::cos(b)})});
      const at::Tensor rz = at::stack({at::stack({at::cos(g), -at::sin(g), zero}),
                                       at::stack({at::sin(g), at::cos(g), zero}), at::stack({zero, zero, one})});
      r = at::matmul(rz, at::matmul(ry, rx));
    }
    return Assemble(r, p.slice(0, 0, d));
  }

  // p = (linear part - I) * radius, row-major d x d, then translation (mm):
  // q = A (x - c) + c + t.
  at::Tensor Affine(const at::Tensor& p) const {
    const int d = film_ ? 2 : 3;
    const at::Tensor a = at::eye(d, at::kDouble) + p.slice(0, 0, d * d).reshape({d, d}) / radius_;
    return Assemble(a, p.slice(0, d * d, d * d + d));
  }

  // The affine parameters of a rigid parameter vector's matrix.
  at::Tensor AffineFromRigid(const at::Tensor& rigid) const {
    const int d = film_ ? 2 : 3;
    at::NoGradGuard no_grad;
    const at::Tensor m = Rigid(rigid);
    const at::Tensor lin = m.slice(0, 0, d).slice(1, 0, d);
    // m = [R | c - R c + t]  ->  t = m[:, 3] - c + R c
    at::Tensor c = at::tensor(std::vector<double>(centre_.begin(), centre_.begin() + d), at::kDouble);
    const at::Tensor t = m.slice(0, 0, d).select(1, 3) - c + at::matmul(lin, c);
    return at::cat({((lin - at::eye(d, at::kDouble)) * radius_).reshape({-1}), t}).clone();
  }

 private:
  // [L | c - L c + t] as a 4 x 4 (films: z of the identity).
  at::Tensor Assemble(const at::Tensor& lin, const at::Tensor& t) const {
    const int d = film_ ? 2 : 3;
    const at::Tensor c = at::tensor(std::vector<double>(centre_.begin(), centre_.begin() + d), at::kDouble);
    const at::Tensor offset = c - at::matmul(lin, c) + t;
    at::Tensor top = at::cat({lin, offset.unsqueeze(1)}, 1);  // d x (d + 1)
    if (film_) {
      // Insert the z column and row: [[l00 l01 0 o0] [l10 l11 0 o1] [0 0 1 0] [0 0 0 1]].
      const at::Tensor zc = at::zeros({2, 1}, at::kDouble);
      top = at::cat({top.slice(1, 0, 2), zc, top.slice(1, 2, 3)}, 1);
      const at::Tensor rest = at::tensor({0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0}, at::kDouble).reshape({2, 4});
      return at::cat({top, rest}, 0);
    }
    return at::cat({top, at::tensor({0.0, 0.0, 0.0, 1.0}, at::kDouble).reshape({1, 4})}, 0);
  }

  bool film_;
  std::array<double, 3> centre_;
  double radius_;
};

// Fixed-image sample points: normalised homogeneous coordinates (x, y[, z], 1)
// of chosen voxel centres of one level, with the fixed image's values there.
struct Samples {
  at::Tensor points;  // [N, d + 1] float
  at::Tensor values;  // [N] float
};

// One pyramid level: both images pooled, the prior also refined along z
// (see RefineZ), the sample points, and the constant matrices that turn a
// current-mm -> prior-mm transform T into grid_sample's theta:
//   theta = to_moving * T * from_fixed.
struct Level {
  Grid fixed_grid, moving_grid;
  at::Tensor fixed, moving;          // normalised intensities, [1, 1, (D,) H, W]
  Samples samples;                   // what the optimiser measures
  at::Tensor to_moving, from_fixed;  // 4 x 4 double
};

at::Tensor Theta(const Level& level, const at::Tensor& transform, bool film) {
  at::Tensor theta = at::matmul(level.to_moving, at::matmul(transform, level.from_fixed));
  if (film) {
    theta = at::cat({theta.slice(0, 0, 2).slice(1, 0, 2), theta.slice(0, 0, 2).slice(1, 3, 4)}, 1);  // 2 x 3
  } else {
    theta = theta.slice(0, 0, 3);  // 3 x 4
  }
  return theta.to(at::kFloat);
}

// Every voxel of a level's fixed image, or `keep` of them: three quarters
// where its intensity gradient is strongest (the edges that carry the
// alignment) and a regular spread of the rest (so flat regions still count
// in the mean and variance). Deterministic.
Samples MakeSamples(const at::Tensor& fixed, bool film, int64_t keep) {
  at::NoGradGuard no_grad;
  const at::Tensor f = fixed.squeeze(0).squeeze(0);  // (D,) H, W
  const int d = film ? 2 : 3;
  std::vector<at::Tensor> axes;  // index along x, y[, z] of every voxel, flattened
  {
    std::vector<at::Tensor> ranges;
    for (int64_t a = f.dim() - 1; a >= 0; --a) ranges.push_back(at::arange(f.size(a), at::kFloat));
    // meshgrid in (z, y, x) order so flattening matches the tensor's layout.
    std::vector<at::Tensor> rev(ranges.rbegin(), ranges.rend());
    std::vector<at::Tensor> mesh = at::meshgrid(rev, "ij");
    for (int a = 0; a < d; ++a) axes.push_back(mesh[static_cast<size_t>(d - 1 - a)].reshape({-1}));
  }
  at::Tensor values = f.reshape({-1});
  at::Tensor chosen;
  if (keep > 0 && values.numel() > keep) {
    at::Tensor g2 = at::zeros_like(f);
    for (int64_t a = 0; a < f.dim(); ++a) {
      const int64_t n = f.size(a);
      if (n < 3) continue;
      const at::Tensor diff = (f.narrow(a, 2, n - 2) - f.narrow(a, 0, n - 2)) / 2;
      g2.narrow(a, 1, n - 2).add_(diff * diff);
    }
    const int64_t strong = keep * 3 / 4;
    const at::Tensor order = std::get<1>(g2.reshape({-1}).sort(/*dim=*/0, /*descending=*/true));
    const at::Tensor rest = order.slice(0, strong);
    const int64_t stride = std::max<int64_t>(1, rest.numel() / (keep - strong));
    chosen = at::cat({order.slice(0, 0, strong), std::get<0>(rest.slice(0, 0, rest.numel(), stride).sort())});
    values = values.index_select(0, chosen);
    for (at::Tensor& a : axes) a = a.index_select(0, chosen);
  }
  Samples s;
  std::vector<at::Tensor> columns;
  for (int a = 0; a < d; ++a) {
    const double n = static_cast<double>(f.size(f.dim() - 1 - a));
    columns.push_back(axes[static_cast<size_t>(a)] * static_cast<float>(2 / (n - 1)) - 1);
  }
  columns.push_back(at::ones({values.numel()}, at::kFloat));
  s.points = at::stack(columns, 1).contiguous();
  s.values = values.contiguous();
  return s;
}

struct Similarity {
  at::Tensor ncc;      // differentiable scalar
  double overlap = 0;  // fraction of sample points inside the prior
  double rms = 0;      // in normalised fixed units, after matching mean and std
};

Similarity Measure(const Level& level, const Samples& samples, const at::Tensor& transform, bool film, bool with_rms) {
  const at::Tensor theta = Theta(level, transform, film);
  const int64_t n_points = samples.values.numel();
  at::Tensor grid = at::matmul(samples.points, theta.t());  // [N, d]
  grid = film ? grid.reshape({1, 1, n_points, 2}) : grid.reshape({1, 1, 1, n_points, 3});
  const at::Tensor warped = at::grid_sampler(level.moving, grid, /*bilinear*/ 0, /*zeros*/ 0, true).reshape({-1});
  at::Tensor mask;
  {
    at::NoGradGuard no_grad;
    // Inside the prior: every normalised coordinate within [-1, 1].
    mask = (grid.abs() <= 1.0f + 1e-4f).all(-1).reshape({-1}).to(at::kFloat);
  }
  const at::Tensor n = mask.sum().clamp_min(1);
  const at::Tensor& f = samples.values;
  const at::Tensor mf = (mask * f).sum() / n;
  const at::Tensor mm = (mask * warped).sum() / n;
  const at::Tensor df = (f - mf) * mask, dm = (warped - mm) * mask;
  const at::Tensor vf = (df * df).sum(), vm = (dm * dm).sum();
  Similarity s;
  s.ncc = (df * dm).sum() / at::sqrt(vf * vm + 1e-8);
  s.overlap = n.item<double>() / static_cast<double>(n_points);
  if (with_rms) {
    at::NoGradGuard no_grad;
    const at::Tensor scaled = dm * at::sqrt(vf / vm.clamp_min(1e-12));
    s.rms = at::sqrt(((df - scaled).pow(2)).sum() / n).item<double>();
  }
  return s;
}

// Gaussian smoothing with `sigma[a]` voxels along x, y[, z] (0 = none),
// edges replicated. Bilinear interpolation of an image whose edges are
// sharp at its own grid spacing smooths it more at fractional positions than
// at whole ones, which pulls the similarity's optimum towards transforms
// that land on the grid (the identity, for two studies on the same grid):
// measured on head CT phantoms before this smoothing, in-plane rotations
// were underestimated by half. Smoothing both images by about a voxel makes
// interpolation nearly neutral.
at::Tensor Smooth(const at::Tensor& t, const double sigma[3], bool film) {
  at::Tensor out = t;
  const int d = film ? 2 : 3;
  for (int a = 0; a < d; ++a) {
    if (sigma[a] < 0.3) continue;
    const int64_t radius = std::max<int64_t>(1, std::llround(std::ceil(2.5 * sigma[a])));
    std::vector<float> k(static_cast<size_t>(2 * radius + 1));
    double sum = 0;
    for (int64_t i = -radius; i <= radius; ++i) {
      const double w = std::exp(-0.5 * (i * i) / (sigma[a] * sigma[a]));
      k[static_cast<size_t>(i + radius)] = static_cast<float>(w);
      sum += w;
    }
    for (float& w : k) w = static_cast<float>(w / sum);
    const int64_t dim = out.dim() - 1 - a;  // x is the last dimension
    const int64_t n = out.size(dim);
    if (n < 2) continue;
    const int64_t r = std::min(radius, n - 1);
    // Replicate the edges by hand (cheaper to reason about than padding modes).
    const at::Tensor padded = at::cat({out.narrow(dim, 0, 1).expand_as(out.narrow(dim, 0, r)), out,
                                       out.narrow(dim, n - 1, 1).expand_as(out.narrow(dim, 0, r))},
                                      dim);
    at::Tensor acc = at::zeros_like(out);
    for (int64_t i = -r; i <= r; ++i) acc.add_(padded.narrow(dim, r + i, n), k[static_cast<size_t>(i + radius)]);
    out = acc;
  }
  return out;
}

// Thick slices: linear interpolation between slices 5 mm apart is a poor
// model of the anatomy between them and biases the optimum (measured on
// head CT phantoms: the similarity peaked about 1 degree of tilt away from
// the true pose). The prior is therefore refined along z with cubic
// (Catmull-Rom) interpolation to about its in-plane spacing before the
// trilinear sampling. Returns the refined image and updates `grid`.
at::Tensor RefineZ(const at::Tensor& moving, Grid* grid) {
  const double in_plane = std::min(grid->spacing[0], grid->spacing[1]);
  const int64_t u = std::min<int64_t>(8, std::llround(grid->spacing[2] / in_plane));
  const int64_t d = moving.size(2), h = moving.size(3), w = moving.size(4);
  if (u < 2 || d < 4) return moving;
  const int64_t refined = (d - 1) * u + 1;
  // Bicubic over (z, y*x) with the second size unchanged: cubic along z only
  // (align_corners keeps the original slices exactly).
  const at::Tensor flat = moving.reshape({1, 1, d, h * w});
  const at::Tensor up = at::upsample_bicubic2d(flat, {refined, h * w}, /*align_corners=*/true);
  grid->n[2] = refined;
  grid->spacing[2] /= static_cast<double>(u);
  return up.reshape({1, 1, refined, h, w}).contiguous();
}

// Adam with step halving on plateaus, keeping the best parameters seen.
struct LevelRun {
  int iterations = 0;
  bool converged = false;
};

LevelRun Optimise(const Level& level, at::Tensor& params, const at::Tensor& active_mask, double step_mm,
                  int max_iterations, double tolerance, bool film,
                  const std::function<at::Tensor(const at::Tensor&)>& transform_of) {
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  constexpr int kPatience = 5, kHalvings = 4;
  at::Tensor m = at::zeros_like(params), v = at::zeros_like(params);
  at::Tensor best = params.clone();
  double best_loss = 1e30, mark_loss = 1e30;
  double lr = step_mm;
  int since_mark = 0, halvings = 0;
  LevelRun run;
  at::AutoGradMode grad_on(true);
  for (int it = 1; it <= max_iterations; ++it) {
    at::Tensor p = params.detach().clone().requires_grad_(true);
    const Similarity s = Measure(level, level.samples, transform_of(p), film, false);
    const at::Tensor loss = 1 - s.ncc;
    loss.backward();
    const double value = loss.item<double>();
    run.iterations = it;
    if (value < best_loss) {
      best_loss = value;
      best = params.clone();
    }
    if (value < mark_loss - tolerance) {
      mark_loss = value;
      since_mark = 0;
    } else if (++since_mark >= kPatience) {
      // A plateau: go back to the best point and take smaller steps.
      lr /= 2;
      since_mark = 0;
      mark_loss = best_loss;
      params = best.clone();
      if (++halvings >= kHalvings) {
        run.converged = true;
        break;
      }
      continue;  // this gradient belongs to the point just left
    }
    at::Tensor g = p.grad().detach() * active_mask;
    m = kBeta1 * m + (1 - kBeta1) * g;
    v = kBeta2 * v + (1 - kBeta2) * g * g;
    const at::Tensor mhat = m / (1 - std::pow(kBeta1, it));
    const at::Tensor vhat = v / (1 - std::pow(kBeta2, it));
    params = params - lr * mhat / (at::sqrt(vhat) + kEps) * active_mask;
  }
  // The final step has not been measured; the best measured one is kept.
  params = best;
  return run;
}

absl::Status ValidateOptions(const RegistrationOptions& o) {
  if (o.levels < 1 || o.levels > 6) {
    return absl::InvalidArgumentError(absl::StrCat("registration levels must be 1..6, not ", o.levels));
  }
  if (!(o.finest_spacing_mm > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("registration finest_spacing_mm must be > 0, not ", o.finest_spacing_mm));
  }
  if (o.max_iterations < 1) {
    return absl::InvalidArgumentError(absl::StrCat("registration max_iterations must be >= 1, not ", o.max_iterations));
  }
  if (!(o.step_mm > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("registration step_mm must be > 0, not ", o.step_mm));
  }
  if (!(o.tolerance >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("registration tolerance must be >= 0, not ", o.tolerance));
  }
  if (o.threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("registration threads must be >= 0, not ", o.threads));
  }
  if (!(o.smoothing >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("registration smoothing must be >= 0, not ", o.smoothing));
  }
  if (o.max_samples < 0) {
    return absl::InvalidArgumentError(absl::StrCat("registration max_samples must be >= 0, not ", o.max_samples));
  }
  return absl::OkStatus();
}

// Pooling factors that bring `g` near `target_mm` per axis, keeping at
// least 4 voxels (2 along a short axis) so the level stays a grid.
void Factors(const Grid& g, double target_mm, int64_t f[3]) {
  for (int a = 0; a < 3; ++a) {
    if (g.film && a == 2) {
      f[a] = 1;
      continue;
    }
    int64_t k = std::max<int64_t>(1, std::llround(target_mm / g.spacing[a]));
    const int64_t min_n = std::min<int64_t>(g.n[a], 4);
    while (k > 1 && g.n[a] / k < std::max<int64_t>(min_n, 2)) --k;
    f[a] = k;
  }
}

}  // namespace

std::array<double, 3> Volume::PointOf(double i, double j, double k) const {
  const double v[3] = {i * spacing_mm[0], j * spacing_mm[1], IsFilm() ? 0.0 : k * spacing_mm[2]};
  std::array<double, 3> p{};
  for (int r = 0; r < 3; ++r) {
    p[r] = origin_mm[r];
    for (int a = 0; a < 3; ++a) p[r] += direction[r][a] * v[a];
  }
  if (IsFilm()) p[2] = 0;
  return p;
}

std::array<double, 3> TransformPoint(const Matrix4& m, const std::array<double, 3>& p) {
  std::array<double, 3> q{};
  for (int r = 0; r < 3; ++r) q[r] = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
  return q;
}

absl::StatusOr<RegistrationResult> Register(const Volume& current, const Volume& prior,
                                            const RegistrationOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (absl::Status s = ValidateVolume(current, "current"); !s.ok()) return s;
  if (absl::Status s = ValidateVolume(prior, "prior"); !s.ok()) return s;
  if (current.IsFilm() != prior.IsFilm()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot register a ", prior.IsFilm() ? "film" : "volume",
                                                   " prior to a ", current.IsFilm() ? "film" : "volume",
                                                   " current study: both must be films (nz = 1) or volumes"));
  }
  const bool film = current.IsFilm();
  if (options.threads > 0) at::set_num_threads(options.threads);

  try {
    const Grid fixed_full = Grid::Of(current), moving_full = Grid::Of(prior);
    at::NoGradGuard no_grad;  // re-enabled for the optimiser's own steps

    // The pyramid, finest first, each level pooled from the next finer one
    // (the full images are read once).
    std::vector<Level> levels(static_cast<size_t>(options.levels));
    {
      Grid fg = fixed_full, mg = moving_full;
      at::Tensor ft = ToTensor(current), mt = ToTensor(prior);
      for (int l = options.levels - 1; l >= 0; --l) {
        const double target = options.finest_spacing_mm * std::pow(2.0, options.levels - 1 - l);
        int64_t ff[3], fm[3];
        Factors(fg, target, ff);
        Factors(mg, target, fm);
        Level& level = levels[static_cast<size_t>(l)];
        level.fixed_grid = fg = fg.Pooled(ff);
        level.moving_grid = mg = mg.Pooled(fm);
        level.fixed = ft = Pool(ft, ff, film).contiguous();
        level.moving = mt = Pool(mt, fm, film).contiguous();
      }
    }
    // z-scores with the finest level's statistics, so NCC and Adam see
    // numbers near 1 (and rms_difference can be given in input units).
    const double fixed_mean = levels.back().fixed.mean().item<double>();
    const double fixed_sd = levels.back().fixed.std().item<double>();
    const double moving_mean = levels.back().moving.mean().item<double>();
    const double moving_sd = levels.back().moving.std().item<double>();
    if (!(fixed_sd > 0) || !(moving_sd > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("the ", fixed_sd > 0 ? "prior" : "current",
                                                     " image is nearly constant: nothing to register on"));
    }
    for (Level& level : levels) {
      level.fixed = (level.fixed - fixed_mean) / fixed_sd;
      level.moving = (level.moving - moving_mean) / moving_sd;
      if (options.smoothing > 0) {
        // sigma in mm: `smoothing` times the level's coarser in-plane spacing.
        const double mm = options.smoothing * std::max({level.fixed_grid.spacing[0], level.fixed_grid.spacing[1],
                                                        level.moving_grid.spacing[0], level.moving_grid.spacing[1]});
        double sf[3], sm[3];
        for (int a = 0; a < 3; ++a) {
          sf[a] = mm / level.fixed_grid.spacing[a];
          sm[a] = mm / level.moving_grid.spacing[a];
        }
        level.fixed = Smooth(level.fixed, sf, film);
        level.moving = Smooth(level.moving, sm, film);
      }
      level.fixed = level.fixed.contiguous();
      level.moving = level.moving.contiguous();
      if (!film) level.moving = RefineZ(level.moving, &level.moving_grid);
      level.samples = MakeSamples(level.fixed, film, options.max_samples);
      level.to_moving =
          MatrixTensor(Mul(Inverse(level.moving_grid.NormalisedToIndex()), Inverse(level.moving_grid.IndexToMm())));
      level.from_fixed = MatrixTensor(Mul(level.fixed_grid.IndexToMm(), level.fixed_grid.NormalisedToIndex()));
    }

    const Parametrisation param(film, fixed_full.Centre(), fixed_full.Radius());
    const Level& finest = levels.back();
    // The reported figures use every voxel of the finest level.
    const Samples every_voxel = MakeSamples(finest.fixed, film, 0);
    RegistrationResult result;
    {
      at::NoGradGuard no_grad;
      const Similarity before = Measure(finest, every_voxel, MatrixTensor(kIdentity), film, false);
      if (before.overlap <= 0) {
        return absl::FailedPreconditionError(
            "the prior and current images do not overlap at all in patient coordinates; check their geometry");
      }
      result.ncc_before = before.ncc.item<double>();
    }

    // Rigid (or translation-only) stage, coarse to fine.
    at::Tensor rigid = at::zeros({param.RigidCount()}, at::kDouble);
    at::Tensor rigid_mask = at::ones({param.RigidCount()}, at::kDouble);
    if (options.transform == TransformKind::kTranslation) rigid_mask.slice(0, film ? 2 : 3).zero_();
    const auto rigid_transform = [&](const at::Tensor& p) { return param.Rigid(p); };
    LevelRun last;
    double step = options.step_mm;
    for (const Level& level : levels) {
      last = Optimise(level, rigid, rigid_mask, step, options.max_iterations, options.tolerance, film, rigid_transform);
      result.iterations += last.iterations;
      step /= 2;
    }
    at::Tensor transform;
    {
      at::NoGradGuard no_grad;
      transform = param.Rigid(rigid);
    }

    if (options.transform == TransformKind::kRigidThenAffine) {
      at::Tensor affine = param.AffineFromRigid(rigid);
      const at::Tensor mask = at::ones({param.AffineCount()}, at::kDouble);
      const auto affine_transform = [&](const at::Tensor& p) { return param.Affine(p); };
      last =
          Optimise(finest, affine, mask, step * 2, options.max_iterations, options.tolerance, film, affine_transform);
      result.iterations += last.iterations;
      at::NoGradGuard no_grad;
      transform = param.Affine(affine);
    }
    result.converged = last.converged;
    result.current_to_prior = MatrixOf(transform);

    {
      at::NoGradGuard no_grad;
      const Similarity after = Measure(finest, every_voxel, transform, film, true);
      result.ncc_after = after.ncc.item<double>();
      result.residual = 1 - result.ncc_after;
      result.rms_difference = after.rms * fixed_sd;
      result.overlap_fraction = after.overlap;
      const int d = film ? 2 : 3;
      const double radius = fixed_full.Radius();
      for (int i = 0; i < d; ++i) result.parameters.push_back(rigid[i].item<double>());
      for (int i = d; i < param.RigidCount(); ++i) {
        result.parameters.push_back(rigid[i].item<double>() / radius * 180 / std::numbers::pi);
      }
    }
    return result;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("registration failed in LibTorch: ", TorchMessage(e)));
  }
}

absl::StatusOr<Volume> Resample(const Volume& prior, const Matrix4& current_to_prior, const Volume& current,
                                float outside, int threads) {
  if (absl::Status s = ValidateVolume(current, "current"); !s.ok()) return s;
  if (absl::Status s = ValidateVolume(prior, "prior"); !s.ok()) return s;
  if (current.IsFilm() != prior.IsFilm()) {
    return absl::InvalidArgumentError("cannot resample between a film and a volume: both must be films or volumes");
  }
  const auto& last = current_to_prior[3];
  if (last[0] != 0 || last[1] != 0 || last[2] != 0 || last[3] != 1) {
    return absl::InvalidArgumentError("current_to_prior's last row must be (0, 0, 0, 1)");
  }
  if (threads < 0) return absl::InvalidArgumentError(absl::StrCat("threads must be >= 0, not ", threads));
  if (threads > 0) at::set_num_threads(threads);
  const bool film = current.IsFilm();
  try {
    at::NoGradGuard no_grad;
    const Grid fixed = Grid::Of(current), moving = Grid::Of(prior);
    // Current voxel index -> prior normalised coordinate.
    const Matrix4 m = Mul(Mul(Inverse(moving.NormalisedToIndex()), Inverse(moving.IndexToMm())),
                          Mul(current_to_prior, fixed.IndexToMm()));
    const at::Tensor source = ToTensor(prior);
    Volume out;
    out.nx = current.nx;
    out.ny = current.ny;
    out.nz = current.nz;
    out.spacing_mm = current.spacing_mm;
    out.origin_mm = current.origin_mm;
    out.direction = current.direction;
    out.voxels.resize(current.voxels.size());
    const int d = film ? 2 : 3;
    auto column = [&](int a) {
      std::vector<float> c(static_cast<size_t>(d));
      for (int r = 0; r < d; ++r) c[static_cast<size_t>(r)] = static_cast<float>(m[r][a]);
      return at::tensor(c, at::kFloat);
    };
    const at::Tensor cx = column(0), cy = column(1), cz = column(2), c0 = column(3);
    const at::Tensor ii = at::arange(current.nx, at::kFloat).reshape({1, 1, current.nx, 1});
    const at::Tensor jj = at::arange(current.ny, at::kFloat).reshape({1, current.ny, 1, 1});
    const at::Tensor plane = ii * cx + jj * cy + c0;  // [1, ny, nx, d]
    // A few slices at a time keeps the sampling grid small (12 bytes per voxel).
    const int64_t slab = std::max<int64_t>(1, (1 << 21) / (int64_t{current.nx} * current.ny));
    for (int64_t k0 = 0; k0 < current.nz; k0 += slab) {
      const int64_t k1 = std::min<int64_t>(current.nz, k0 + slab);
      at::Tensor grid, sampled;
      if (film) {
        grid = plane;                                                     // [1, ny, nx, 2]
        sampled = at::grid_sampler(source, grid, 0, /*border*/ 1, true);  // [1, 1, ny, nx]
      } else {
        const at::Tensor kk = at::arange(k0, k1, at::kFloat).reshape({k1 - k0, 1, 1, 1});
        grid = (plane + kk * cz).unsqueeze(0);  // [1, slab, ny, nx, 3]
        sampled = at::grid_sampler(source, grid, 0, 1, true);
      }
      const at::Tensor inside = (grid.abs() <= 1.0f + 1e-4f).all(-1).unsqueeze(1);
      const at::Tensor values = at::where(inside, sampled, at::full({}, outside, at::kFloat)).contiguous();
      std::copy_n(values.data_ptr<float>(), values.numel(), out.voxels.data() + k0 * int64_t{current.nx} * current.ny);
    }
    return out;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("resampling failed in LibTorch: ", TorchMessage(e)));
  }
}

}  // namespace parallax::inference
