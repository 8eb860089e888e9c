#pragma once
// Private: a RigidShift precomputed for per-voxel use by the volume phantoms.
// ToPrior maps a point of the current study (patient mm) to where that bit of
// the patient was in the unshifted study; ToCurrent is the inverse.
#include "parallax/phantom/rigid_shift.h"
#include "volume.h"

namespace parallax::phantom::internal {

struct Pose {
  bool active = false;  // false: identity, and callers keep their unshifted code path
  double r[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  Vec3 centre, translation;

  static Pose From(const RigidShift& s) {
    Pose p;
    p.active = !s.IsIdentity();
    const auto m = s.Rotation();
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) p.r[i][j] = m[i][j];
    }
    p.centre = {s.centre_mm[0], s.centre_mm[1], s.centre_mm[2]};
    p.translation = {s.translation_mm[0], s.translation_mm[1], s.translation_mm[2]};
    return p;
  }
  Vec3 ToCurrent(Vec3 prior) const {
    const Vec3 q = prior - centre;
    return Vec3{r[0][0] * q.x + r[0][1] * q.y + r[0][2] * q.z, r[1][0] * q.x + r[1][1] * q.y + r[1][2] * q.z,
                r[2][0] * q.x + r[2][1] * q.y + r[2][2] * q.z} +
           centre + translation;
  }
  Vec3 ToPrior(Vec3 current) const {
    const Vec3 q = current - centre - translation;
    return Vec3{r[0][0] * q.x + r[1][0] * q.y + r[2][0] * q.z, r[0][1] * q.x + r[1][1] * q.y + r[2][1] * q.z,
                r[0][2] * q.x + r[1][2] * q.y + r[2][2] * q.z} +
           centre;
  }
};

}  // namespace parallax::phantom::internal
