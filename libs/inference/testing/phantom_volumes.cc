#include "phantom_volumes.h"

#include <algorithm>
#include <cmath>

namespace parallax::inference::testing {

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

RegistrationError ErrorAt(const phantom::RigidShift& truth, const Matrix4& current_to_prior,
                          const std::vector<std::array<double, 3>>& points) {
  RegistrationError e;
  for (const auto& p : points) {
    const auto t = truth.Invert(p);
    const auto q = TransformPoint(current_to_prior, p);
    const double d = std::hypot(t[0] - q[0], t[1] - q[1], t[2] - q[2]);
    e.mean_mm += d;
    e.max_mm = std::max(e.max_mm, d);
  }
  if (!points.empty()) e.mean_mm /= static_cast<double>(points.size());
  return e;
}

RegistrationError UnregisteredErrorAt(const phantom::RigidShift& truth,
                                      const std::vector<std::array<double, 3>>& points) {
  const Matrix4 identity{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};
  return ErrorAt(truth, identity, points);
}

}  // namespace parallax::inference::testing
