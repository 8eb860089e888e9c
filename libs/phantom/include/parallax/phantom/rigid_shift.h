#pragma once
// A small rigid motion of the patient between two studies, for follow-up
// pairs: where a point of the patient that was at `p` in the prior study is
// in the current one.
//
//   current = R * (prior - centre_mm) + centre_mm + translation_mm
//   R = Rz(rotation_deg[2]) * Ry(rotation_deg[1]) * Rx(rotation_deg[0])
//
// (right-handed rotations about the axes, applied x first). Volumes (CT, MR)
// use DICOM patient coordinates (LPS, mm) as the study writer places them:
// voxel (column i, row j, slice k) of an n x n slice with pixel spacing s is
// at ((i - n/2) s, (j - n/2) s, k * slice_spacing). Films use detector
// millimetres: x along the columns (image right), y along the rows (image
// down), origin at the image centre, z = 0; only translation x, y and
// rotation about z apply (positive turns +x towards +y, i.e. clockwise as
// displayed). A default-constructed shift is the identity. Value type.
#include <array>

namespace parallax::phantom {

struct RigidShift {
  std::array<double, 3> translation_mm{0, 0, 0};
  std::array<double, 3> rotation_deg{0, 0, 0};  // about x, y, z
  std::array<double, 3> centre_mm{0, 0, 0};     // the rotation centre

  bool IsIdentity() const {
    return translation_mm == std::array<double, 3>{0, 0, 0} && rotation_deg == std::array<double, 3>{0, 0, 0};
  }
  // The 3x3 rotation R.
  std::array<std::array<double, 3>, 3> Rotation() const;
  // The homogeneous 4x4 matrix mapping a prior point to the current point.
  std::array<std::array<double, 4>, 4> Matrix() const;
  // A prior point's position in the current study.
  std::array<double, 3> Apply(const std::array<double, 3>& prior) const;
  // A current point's position in the prior study (the inverse).
  std::array<double, 3> Invert(const std::array<double, 3>& current) const;
};

}  // namespace parallax::phantom
