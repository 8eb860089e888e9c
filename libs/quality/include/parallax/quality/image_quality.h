#pragma once
// The image-quality gate: measurable rules that say when a radiograph or a
// volume is rotated, motion-blurred, under- or over-exposed, noise-dominated,
// has gaps or thick slices, or does not cover the organ. Findings read from
// such images carry the issue as a quality flag that the alert and the UI
// show (the caller maps Issue to parallax.common.v1.QualityFlag).
//
// Input is decoded pixels (dicom::PixelImage: modality values, HU for CT,
// MONOCHROME1 already inverted so bright = dense) plus, for volumes, the
// slice positions and the nominal slice thickness. No DICOM, no protobuf.
//
// Every rule reports its measured value and its threshold whether it fires
// or not, with a one-line detail that contains no patient data (numbers and
// slice indices only). Thresholds are calibrated on the phantoms of
// libs/phantom (see tests/image_quality_test.cc and tools/); they are
// defaults in the option structs, not constants.
//
// Thread-safe: pure functions of their arguments, no shared state.
#include <span>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/dicom/pixel_reader.h"

namespace parallax::quality {

// The issues the gate can raise (mirrors parallax.common.v1.QualityFlag,
// plus kNoisy, which has no flag of its own: map it to UNDEREXPOSED or
// OUT_OF_DISTRIBUTION).
enum class Issue {
  kRotated,           // QUALITY_FLAG_ROTATED
  kMotionArtefact,    // QUALITY_FLAG_MOTION_ARTEFACT
  kUnderexposed,      // QUALITY_FLAG_UNDEREXPOSED
  kOverexposed,       // QUALITY_FLAG_OVEREXPOSED
  kNoisy,             // quantum noise dominates (no proto flag of its own)
  kMissingSlices,     // QUALITY_FLAG_MISSING_SLICES
  kIncompleteSeries,  // QUALITY_FLAG_INCOMPLETE_SERIES
  kAnatomyTruncated,  // QUALITY_FLAG_ANATOMY_TRUNCATED
  kThickSlices,       // QUALITY_FLAG_THICK_SLICES
  kLowResolution,     // QUALITY_FLAG_LOW_RESOLUTION
};

// "rotated", "motion_artefact", ... (stable, for logs and metric labels).
const char* IssueName(Issue issue);

// One rule applied to one image or series.
struct Check {
  Issue issue;
  bool flagged = false;   // measured is beyond threshold
  double measured = 0;    // the rule's measurement (unit in `detail`)
  double threshold = 0;   // the limit it was compared with
  int slice = -1;         // volumes: the worst image index; -1 = the whole image/series
  std::string detail;     // e.g. "midline tilted 11.3 deg (limit 4.5 deg)"
};

// The verdict: every check that was run, flagged or not.
struct Assessment {
  std::vector<Check> checks;

  bool Flagged(Issue issue) const;
  std::vector<Issue> FlaggedIssues() const;  // in check order, each once
  bool Acceptable() const { return FlaggedIssues().empty(); }
  // The check of `issue` (the worst when there are several); nullptr if none was run.
  const Check* Find(Issue issue) const;
};

struct RadiographOptions {
  // Bits of the detector range (BitsStored): under-exposure is judged
  // against 2^bits - 1. 0 = infer the smallest of 8/10/12/14/16 bits that
  // holds the image's maximum.
  int bits_stored = 0;
  // Frontal chest film: run the rotation rule. Set false for other films.
  bool frontal_chest = true;
  // Rotation: |tilt of the thorax's axis of symmetry (the midpoints of the
  // lateral lung edges)| above this, degrees.
  double max_tilt_deg = 3.0;
  // Motion blur: the weakest directional edge strength below this: on a
  // ~0.7 mm block-averaged grid, per direction (0, 45, 90, 135 deg) the p99
  // of |I(x + 3 px) - I(x)|, the minimum over directions, over the image's
  // p1..p99 range. Calibrated default 0.21.
  double min_directional_sharpness = 0.0;  // 0 = the calibrated default
  // Under-exposure: the p0.5..p99.5 range below this fraction of the detector range.
  double min_range_fraction = 0.42;
  // Noise: signal-to-noise (p1..p99 range over the per-pixel noise SD, a
  // robust Immerkaer estimate) below this. Calibrated default 92.
  double min_snr = 0.0;  // 0 = the calibrated default
  // Over-exposure: the fraction of pixels clipped at either end of the detector range above this.
  double max_clipped_fraction = 0.05;
  // Low resolution: pixel spacing coarser than this, mm (0 = no check; also
  // skipped when unknown). 1 mm: a 36 cm film below 360 pixels.
  double max_pixel_spacing_mm = 1.0;
};

// Assesses one radiograph. INVALID_ARGUMENT when the image is empty, its
// value count is not rows x columns, or it is smaller than 32 x 32. A
// missing pixel spacing is taken as a 36 cm wide field (a chest film).
// About 15-25 ms on a 2k x 2k film (one core).
absl::StatusOr<Assessment> AssessRadiograph(const dicom::PixelImage& image, const RadiographOptions& options = {});

// Which ends of a volume the organ must end within (the end slice shows
// only a small cross-section of it), by slice position along the normal.
enum class OrganEnd { kNone, kLowestPosition, kHighestPosition, kBoth };

struct VolumeOptions {
  // Missing slices: a spacing above this multiple of the median spacing.
  double max_gap_ratio = 1.5;
  // Thick slices: nominal thickness above this, mm (0 = no check).
  double max_slice_thickness_mm = 5.0;
  // Incomplete series: fewer images than this (0 = no check).
  int min_slices = 0;
  // Incomplete series: first-to-last coverage (plus one thickness) below this, mm (0 = no check).
  double min_coverage_mm = 0;
  // Anatomy truncated: at these ends the organ's cross-section (pixels
  // above body_threshold) must be at most max_end_area_fraction of the
  // largest one. For a head CT in LPS axial order the vertex is the
  // highest position.
  OrganEnd organ_must_end = OrganEnd::kNone;
  double max_end_area_fraction = 0.40;
  double body_threshold = -300;  // HU (or stored value for MR)
  // Motion blur of a slice: in its weakest direction, its edge strength (p99
  // of |I(x+2mm u) - I(x)| inside the body) below this fraction of the same
  // direction's median over the +-6 nearest slices.
  double min_relative_sharpness = 0.0;  // 0 = the calibrated default, 0.77
  // Noise: the median over slices of the per-pixel noise SD (CT: over pixels
  // of 0..80 HU) above this, in modality units. 0 = the calibrated default.
  double max_noise_sd = 0.0;  // calibrated default 2.2 HU (per pixel, phantom CT)
  // Is the series CT (HU)? Noise/body rules use HU windows when true.
  bool ct = true;
};

// Assesses a volume: `slices` in series order, `positions_mm[i]` the
// position of slices[i] along the slice normal, `slice_thickness_mm` the
// nominal thickness (0 = unknown: no thickness check). INVALID_ARGUMENT when
// there are no slices, the position count differs from the slice count, a
// slice is malformed or smaller than 32 x 32, or the slices differ in size.
// INVALID_ARGUMENT also for a non-finite position. Positions need not be
// sorted. About 25-35 ms for 32 slices of 512 x 512 (one core).
absl::StatusOr<Assessment> AssessVolume(std::span<const dicom::PixelImage> slices,
                                        std::span<const double> positions_mm, double slice_thickness_mm,
                                        const VolumeOptions& options = {});

}  // namespace parallax::quality
