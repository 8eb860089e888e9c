#include "film_shift.h"

#include <algorithm>
#include <cmath>

namespace parallax::phantom::internal {
namespace {

// Bilinear sample at pixel-centre coordinates (column cx, row cy), clamped to the edges.
float SampleEdge(const raster::Plane& p, double cx, double cy) {
  const double fx = std::clamp(cx, 0.0, p.columns() - 1.0), fy = std::clamp(cy, 0.0, p.rows() - 1.0);
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const int x1 = std::min(x0 + 1, p.columns() - 1), y1 = std::min(y0 + 1, p.rows() - 1);
  const double ax = fx - x0, ay = fy - y0;
  return static_cast<float>((1 - ay) * ((1 - ax) * p.at(y0, x0) + ax * p.at(y0, x1)) +
                            ay * ((1 - ax) * p.at(y1, x0) + ax * p.at(y1, x1)));
}

}  // namespace

raster::Plane ShiftPlane(const raster::Plane& p, const RigidShift& shift, double spacing_mm) {
  raster::Plane out(p.rows(), p.columns());
  const double half_c = p.columns() * 0.5, half_r = p.rows() * 0.5;
  for (int r = 0; r < p.rows(); ++r) {
    for (int c = 0; c < p.columns(); ++c) {
      // Where the patient point now under this pixel was before the shift.
      const auto q = shift.Invert({(c + 0.5 - half_c) * spacing_mm, (r + 0.5 - half_r) * spacing_mm, 0});
      out.at(r, c) = SampleEdge(p, q[0] / spacing_mm + half_c - 0.5, q[1] / spacing_mm + half_r - 0.5);
    }
  }
  return out;
}

Mask ShiftMask(const Mask& m, const RigidShift& shift, double spacing_mm) {
  raster::Plane p(m.rows, m.columns);
  for (size_t i = 0; i < m.bits.size(); ++i) p.data()[i] = m.bits[i];
  const raster::Plane moved = ShiftPlane(p, shift, spacing_mm);
  Mask out = m;
  for (size_t i = 0; i < out.bits.size(); ++i) out.bits[i] = moved.data()[i] >= 0.5f ? 1 : 0;
  return out;
}

}  // namespace parallax::phantom::internal
