#include "parallax/phantom/rigid_shift.h"

#include <cmath>
#include <numbers>

namespace parallax::phantom {

std::array<std::array<double, 3>, 3> RigidShift::Rotation() const {
  const double k = std::numbers::pi / 180;
  const double a = rotation_deg[0] * k, b = rotation_deg[1] * k, c = rotation_deg[2] * k;
  const double ca = std::cos(a), sa = std::sin(a), cb = std::cos(b), sb = std::sin(b), cc = std::cos(c),
               sc = std::sin(c);
  // Rz(c) * Ry(b) * Rx(a)
  return {{{cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa},
           {sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa},
           {-sb, cb * sa, cb * ca}}};
}

std::array<std::array<double, 4>, 4> RigidShift::Matrix() const {
  const auto r = Rotation();
  std::array<std::array<double, 4>, 4> m{};
  for (int i = 0; i < 3; ++i) {
    double rc = 0;
    for (int j = 0; j < 3; ++j) {
      m[i][j] = r[i][j];
      rc += r[i][j] * centre_mm[j];
    }
    m[i][3] = centre_mm[i] - rc + translation_mm[i];
  }
  m[3] = {0, 0, 0, 1};
  return m;
}

std::array<double, 3> RigidShift::Apply(const std::array<double, 3>& p) const {
  const auto r = Rotation();
  std::array<double, 3> out{};
  for (int i = 0; i < 3; ++i) {
    double v = 0;
    for (int j = 0; j < 3; ++j) v += r[i][j] * (p[j] - centre_mm[j]);
    out[i] = v + centre_mm[i] + translation_mm[i];
  }
  return out;
}

std::array<double, 3> RigidShift::Invert(const std::array<double, 3>& p) const {
  const auto r = Rotation();
  std::array<double, 3> out{};
  for (int i = 0; i < 3; ++i) {
    double v = 0;
    for (int j = 0; j < 3; ++j) v += r[j][i] * (p[j] - centre_mm[j] - translation_mm[j]);
    out[i] = v + centre_mm[i];
  }
  return out;
}

}  // namespace parallax::phantom
