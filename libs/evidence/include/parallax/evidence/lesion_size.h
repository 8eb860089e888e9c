#pragma once
// The size of a lesion measured on the image itself: the abnormal tissue
// around an explanation's peak, segmented by its intensity relative to the
// surrounding normal tissue. A Grad-CAM region (evidence.h) says where the
// model looked, at the model's coarse resolution; it is not the lesion's
// outline and its size does not follow the lesion's (a 4-18 mL tumour gives
// a 0.1-2 mL region). This measurement is what a radiologist's
// threshold-and-grow tool does, made deterministic:
//
//   1. Seed: on the peak's slice (and, with seed_slices_either_side, on
//      each of that many slices either side, each measured and the largest
//      lesion kept), within `search_radius_mm` of the
//      explanation's peak (and inside
//      the explanation's region when one is given), the voxel whose local
//      mean (in-plane disc of ~2 mm) is most abnormal in the asked polarity
//      (brighter than the surroundings by default).
//   2. Normal tissue: the median and the MAD (x 1.4826, a robust standard
//      deviation) of the voxels in a shell around the lesion. First pass: the
//      shell background_inner_mm .. background_outer_mm around the seed;
//      then (refine_passes times) the shell 3 mm .. max(15 mm, 1 x the
//      equivalent radius) beyond the segmented lesion, the lesion excluded.
//      Voxels at or below `body_floor` (air, outside the patient) never
//      count as tissue.
//   3. Lesion level: the seed's local mean. Contrast = (level - median) /
//      robust sd; below `min_contrast_sd` the lesion is not measurable (the
//      seed is not distinguishable from normal tissue). Each pass gates
//      (the first at first_pass_min_contrast_sd when set); with
//      fall_back_to_separated_region a refined pass that fails the gate
//      keeps the previous pass's region when that pass's shell passed it.
//   4. Threshold: median + `fraction` x (level - median) (half-way by
//      default, the full width at half maximum of a blob).
//   5. Region: the voxels past the threshold connected to the seed
//      (6-connected in 3-D, 4-connected on a film) within `max_radius_mm` of
//      it, after an in-plane opening that cuts bridges of 1-2 pixels (a
//      vessel or rib touching the lesion); then, per slice, enclosed holes
//      filled (the necrotic core of a ring-enhancing tumour, a cavity),
//      after an optional in-plane closing (closing_pixels) that mends a
//      rim broken by partial volume.
//   6. Size: voxels x voxel volume (mL) for a volume, pixels x pixel area
//      (cm2) for a film (slices == 1).
//
// Not measurable (LesionSize::measurable false, with the reason) is an
// answer, not an error: low contrast, too few normal voxels around, or a
// region that fills the whole search ball (no edge found). Errors are for
// inputs that cannot be measured at all.
//
// Inputs are plain pixels and geometry (no DICOM, no LibTorch): the modality
// values (HU for CT; stored values for MR and films, MONOCHROME1 already
// inverted so that bright = dense), slice-major then row-major.
//
// Thread-safe: a pure function of its arguments.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/evidence/evidence.h"

namespace parallax::evidence {

enum class LesionPolarity {
  kBrighter,  // the lesion is brighter than normal tissue (enhancement, FLAIR signal, a dense nodule)
  kDarker,    // the lesion is darker (e.g. an infarct on CT)
};

struct LesionSizeInput {
  int rows = 0;
  int columns = 0;
  int slices = 1;  // 1 = a film (area); > 1 = a volume
  // {row spacing, column spacing} in mm (required: without it no size).
  std::array<double, 2> pixel_spacing_mm{0, 0};
  // Distance between slice centres (mm); required when slices > 1.
  double slice_spacing_mm = 0;
  // slices x rows x columns modality values.
  std::vector<float> image;
  // The explanation's peak (voxel indices): where the lesion is.
  int peak_slice = 0, peak_row = 0, peak_column = 0;
  // Optional: the explanation's region (same layout, 1 inside); when not
  // empty the seed is searched in it (and within search_radius_mm of the
  // peak). Empty = the ball around the peak alone.
  std::vector<uint8_t> region;
  LesionPolarity polarity = LesionPolarity::kBrighter;
};

// leveldb-style options: every field has a usable default (set on the MR
// and chest film phantoms, see lesion_size_test.cc).
struct LesionSizeOptions {
  double search_radius_mm = 12;      // the seed lies within this of the peak
  double max_radius_mm = 45;         // the lesion lies within this of the seed
  double background_inner_mm = 20;  // first-pass normal-tissue shell around the seed
  double background_outer_mm = 35;
  int refine_passes = 2;             // shell re-estimates around the segmented lesion
  double fraction = 0.5;             // threshold at median + fraction x (level - median); in (0, 1)
  double min_contrast_sd = 3;        // level must exceed the normal median by this many robust sd
  // The first pass's gate, when there are refine passes (which then gate at
  // min_contrast_sd, the last one deciding); < 0 = min_contrast_sd.
  double first_pass_min_contrast_sd = -1;
  // When a refine pass's shell no longer tells the region from its
  // surroundings (contrast below min_contrast_sd), keep the region of the
  // pass before, which its own shell did tell apart, instead of answering
  // "not measurable". False: not measurable.
  bool fall_back_to_separated_region = false;
  // When > 0: a refine pass whose region is more than this many times the
  // previous pass's has leaked into a bright structure joined to the lesion;
  // the previous region (which this pass's shell told apart) stands.
  double max_refine_growth = 0;
  // The normal tissue's spread (for the contrast gate; the threshold does not
  // use it) from the voxels below the shell's median alone.
  bool spread_below_median = false;
  float body_floor = -1e30f;         // voxels <= this are outside the patient (not tissue)
  bool fill_holes = true;            // fill enclosed holes per slice
  int closing_pixels = 0;            // in-plane closing radius before filling holes (0 = none)
  int opening_pixels = 1;            // in-plane opening radius (0 = none)
  // Volumes: also seed on this many slices either side of the peak's and
  // keep the largest lesion measured (one within max_radius_mm preferred).
  int seed_slices_either_side = 0;
};

struct LesionSize {
  bool measurable = false;
  std::string reason;                 // why not measurable ("" when measurable)
  std::optional<double> volume_ml;    // volumes (slices > 1)
  std::optional<double> area_cm2;     // films; for volumes, the largest slice's area
  int64_t voxels = 0;                 // voxels (pixels) of the lesion
  std::vector<uint8_t> mask;          // slices x rows x columns, 1 inside (empty when not measurable)
  int seed_slice = 0, seed_row = 0, seed_column = 0;
  double normal_median = 0, normal_sd = 0;  // the surrounding tissue (robust)
  double level = 0;                   // the lesion's level (seed local mean)
  double threshold = 0;               // the segmentation threshold used
  double contrast_sd = 0;             // (level - median) / sd, in the polarity's direction
  bool reached_limit = false;         // the region touched max_radius_mm (clipped there)
};

// Measures the lesion at the explanation's peak. Errors (INVALID_ARGUMENT):
// rows, columns or slices not positive; image not slices x rows x columns;
// a non-empty region of another size; the peak outside the image; pixel
// spacing (or, for a volume, slice spacing) not positive; options out of
// range (fraction not in (0, 1), radii not positive, inner >= outer).
// Otherwise a LesionSize, measurable or not (see above).
absl::StatusOr<LesionSize> MeasureLesion(const LesionSizeInput& input, const LesionSizeOptions& options = {});

// The options for a body region, given the image to be measured:
//   brain MR   tissue is above 5% of the image's 99th percentile (the air
//              around the head and its Rician noise are not normal tissue);
//              the seed within 20 mm of the peak (a ring-enhancing tumour's
//              rim around a core where the explanation peaks), on the peak's
//              slice and two either side; a contrast of 2.5 robust sd
//              suffices (the shell mixes grey and white matter, CSF and
//              oedema); holes filled after a closing of 2 pixels;
//   chest film every pixel is tissue (the lungs are dark and are where a
//              nodule lies); a larger reach (masses are up to 7 cm), three
//              refining passes, a contrast of 1.5 robust sd suffices
//              (the spread around a film lesion is anatomy, not noise),
//              the threshold at 0.3 of the way (a projected sphere thins
//              towards its edge); the first shell, which may lie across
//              ribs, the mediastinum or a large mass itself, gates at 0.75
//              sd (it only finds the core; the refined shells gate at 1.5),
//              and a refined region that leaks (along a rib, into the
//              mediastinum: the next shell lies on them) falls back to the
//              last region its own shell told apart, as does one that grows
//              more than threefold in a refine pass; the gate's spread is
//              that of the shell's darker half (heart, mediastinum, chest
//              wall and ribs widen the upper half only);
//   otherwise  the defaults.
LesionSizeOptions LesionSizeOptionsFor(BodyRegion region, const std::vector<float>& image);

// Which of a model's series to measure a finding on, by what the finding is
// (`series_roles` as the model manifest names its input series, e.g.
// {"T1_POST_CONTRAST", "FLAIR"}): an enhancing lesion (label containing
// "enhancing" but not "non-enhancing", or "metasta") on the post-contrast
// series (role containing "POST" or "CONTRAST"); a non-enhancing lesion or
// white matter lesions on FLAIR (role containing "FLAIR"); otherwise, or when
// no role matches, the first series (index 0). Case-insensitive.
size_t MeasuringSeries(const std::string& label, const std::vector<std::string>& series_roles);

// The lesion at an explanation's peak, as the explainability service
// reports it: MeasureLesion (bright lesion, LesionSizeOptionsFor(region))
// on `image` (slices x rows x columns on `geometry`'s grid, the grid of the
// heatmap) at the peak voxel. Errors: those of MeasureLesion, and
// INVALID_ARGUMENT when the geometry has no pixel spacing or, for a volume,
// no slice spacing.
absl::StatusOr<LesionSize> MeasureLesionAtPeak(BodyRegion region, const ImageGeometry& geometry,
                                               std::vector<float> image, int peak_slice, int peak_row,
                                               int peak_column);

}  // namespace parallax::evidence
