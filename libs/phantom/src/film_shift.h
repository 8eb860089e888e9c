#pragma once
// Private: moves a film's picture and masks by a RigidShift in detector mm
// (rigid_shift.h: x along columns, y along rows, origin at the image centre,
// rotation about z), for follow-up radiographs. Bilinear; beyond the edges
// the nearest edge pixel is repeated (a shifted patient, not a black band).
#include "parallax/phantom/phantom.h"
#include "parallax/phantom/rigid_shift.h"
#include "raster.h"

namespace parallax::phantom::internal {

// The plane with the patient moved by `shift`; spacing_mm per pixel.
raster::Plane ShiftPlane(const raster::Plane& p, const RigidShift& shift, double spacing_mm);
// The mask moved with it (bilinear coverage >= 0.5 stays in).
Mask ShiftMask(const Mask& m, const RigidShift& shift, double spacing_mm);

}  // namespace parallax::phantom::internal
