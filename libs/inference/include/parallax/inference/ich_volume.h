#pragma once
// Intracranial haemorrhage (ICH) volume from a non-contrast head CT, in mL:
// on the slices a model calls positive, count the intracranial voxels whose
// value lies in the range of acute blood and multiply by the voxel volume.
//
//   Intracranial  per slice, the pixels enclosed by the skull: bone is
//                 >= bone_hu; the skull is closed with a small dilation
//                 (seal_px) so foramina and sutures do not leak, everything
//                 reachable from the image border without crossing it is
//                 outside, the rest (minus bone) is inside.
//   Blood         min_hu <= HU <= max_hu of the 3x3 mean over intracranial
//                 pixels (default 48-90 HU: acute clotted blood is ~50-90
//                 HU, grey matter ~35-45, white ~25-32, CSF 0-15,
//                 calcification and bone > 100). The mean keeps single noisy
//                 brain pixels out; it also lowers thin blood (a 2-3 pixel
//                 subdural or sulcal clot) next to brain, which the lower
//                 bound of 48 rather than 50 HU allows for. 8-connected 2-D
//                 blood regions smaller than min_region_px are dropped.
//   Volume        voxels x PixelSpacing row x column x slice spacing, the
//                 slice spacing measured from the slices' positions (the
//                 median gap), not SliceThickness.
//
// Not a clinical measurement: it is calibrated on Parallax's phantoms; the
// tests report its error there. Pure function; thread-safe.
#include <cstdint>
#include <span>

#include <absl/status/statusor.h>

#include "parallax/dicom/pixel_reader.h"

namespace parallax::inference {

struct IchVolumeOptions {
  double min_hu = 48;        // lower bound of acute blood (after the 3x3 mean), inclusive
  double max_hu = 90;        // upper bound, inclusive
  double bone_hu = 200;      // at or above: bone (the skull)
  int seal_px = 3;           // dilation that closes gaps in the skull ring
  int min_region_px = 12;    // smaller 2-D blood regions are noise
  bool smooth = true;        // threshold the 3x3 intracranial mean (else the raw value)
};

struct IchVolumeEstimate {
  double volume_ml = 0;
  int64_t voxels = 0;        // blood voxels counted
  int slices_counted = 0;    // slices that were looked at
  double voxel_ml = 0;       // volume of one voxel
  double slice_spacing_mm = 0;
};

// `slices`: the series in patient order, values in HU (dicom::ReadPixels of
// CT); `positions_mm`: each slice's position along the normal (from
// SelectSeries); `counted`: which slices to count (non-zero = count), e.g. the
// slices the model calls positive. INVALID_ARGUMENT when the spans differ in
// length, a slice has no pixel spacing, the slices differ in size, or fewer
// than two positions leave the spacing unknown (one slice: its
// `fallback_thickness_mm` when > 0).
absl::StatusOr<IchVolumeEstimate> EstimateIchVolume(std::span<const dicom::PixelImage> slices,
                                                    std::span<const double> positions_mm,
                                                    std::span<const uint8_t> counted,
                                                    const IchVolumeOptions& options = {},
                                                    double fallback_thickness_mm = 0);

}  // namespace parallax::inference
