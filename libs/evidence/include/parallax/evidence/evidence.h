#pragma once
// What a radiologist reads beside a positive finding: from a Grad-CAM heatmap
// over the source image(s), the region the model looked at, its centroid,
// the patient side, the anatomical zone (chest films) or brain compartment
// (head CT, brain MR), and its area / volume.
//
// Inputs are plain pixels and geometry (no DICOM, no LibTorch types): the
// caller fills ImageGeometry from the header and passes the heatmap already
// at image resolution (ResampleHeatmapToImage maps a model-input-resolution
// Grad-CAM there) and the image's modality values (HU for CT, stored values
// for films and MR, MONOCHROME1 already inverted so that bright = dense).
//
// Rules (each documented at its constant below):
// - Region: the connected component containing the heatmap's peak of the
//   voxels with value >= threshold x peak (8-connected in a slice, and the
//   3 x 3 neighbourhood in the adjacent slices: 26-connected).
// - Laterality is the PATIENT's side, never the screen's. CT / MR: each
//   region voxel is mapped to the patient x axis (LPS, +x = patient left)
//   through ImageOrientationPatient and compared with the patient's midline
//   measured on the same slice (the centroid of the body / head mask along
//   x), not with x = 0. Films: PatientOrientation's first value says whether
//   columns run to the patient's L or R; the midline is the densest column
//   band near the centre (spine, mediastinum), else the image centre. Bone
//   films: the limb side from the DICOM Laterality attribute. Then, as the
//   phantom truth is defined: more than 70% of the region within the midline
//   band (4 mm either side; 2% of the image width without pixel spacing) is
//   MIDLINE; otherwise >= 85% on the left is LEFT, <= 15% is RIGHT, anything
//   between is BILATERAL; a LEFT or RIGHT region is BILATERAL when another
//   component above the threshold, at least a quarter of its size, lies
//   mostly on the other side (e.g. bilateral effusions: two blobs).
// - Chest film zone: "<side> upper|mid|lower zone" by the centroid's place in
//   the thirds of the lung field's craniocaudal extent (measured from a row
//   profile of the lung columns, else rows 8%..72% of the image).
// - Brain compartment: from the intracranial cavity measured per slice
//   (inside the skull on CT; the head mask less 8 mm of scalp and skull on
//   MR) and each region voxel's depth below its inner surface: touching the
//   inner table (nearest voxel <= 2 mm deep) with median depth <= 8 mm is
//   "extra-axial"; otherwise a centroid within 22 mm of the midline with a
//   median depth >= 30 mm is "intraventricular" (where the lateral and third
//   ventricles lie); otherwise "intra-axial". Geometry alone cannot tell a
//   ventricle from the deep grey nuclei beside it: a thalamic haematoma is
//   called "intraventricular" (as on the head CT phantom); the thresholds were
//   set on the head CT phantoms (intraventricular blood 18-20 mm off the
//   midline, 33-35 mm deep; lobar haematomas 23-27 mm deep). When slice positions are known
//   and the centroid lies in the lowest quarter of the cranial cavity's
//   craniocaudal extent and its posterior half, " (infratentorial)" is added.
// - Size: area (cm2) = region pixels on the peak slice x row spacing x column
//   spacing / 100; volume (mL) = sum over slices of area x slice spacing /
//   1000. Without pixel spacing (or slice spacing for a volume) they are
//   unset, never guessed.
//
// Thread-safe: pure functions of their arguments. DescribeEvidence measures
// the brain's slices on up to two threads of its own (head CT, brain MR).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::evidence {

// What kind of image the heatmap lies on; decides zone naming and how the
// midline and the body are measured.
enum class BodyRegion {
  kChestFilm,  // CR / DX chest, frontal
  kHeadCt,     // axial head CT, values in HU
  kBrainMr,    // axial brain MR, stored values
  kBoneFilm,   // CR / DX extremity (no zone; side from the Laterality attribute)
  kOther,      // anything else: region, centroid, size; side when orientation allows
};
const char* BodyRegionName(BodyRegion region);

// Geometry of the image(s) under the heatmap, from the DICOM header. All
// slices share rows, columns, spacing and orientation (one series).
struct ImageGeometry {
  int rows = 0;
  int columns = 0;
  int slices = 1;
  // Pixel Spacing (0028,0030) or, for films, Imager Pixel Spacing corrected
  // as the caller sees fit: {row spacing, column spacing} in mm.
  std::optional<std::array<double, 2>> pixel_spacing_mm;
  // Image Orientation (Patient) (0020,0037): direction cosines of increasing
  // column (first three) and increasing row (last three), LPS. Absent for most
  // projection radiographs.
  std::optional<std::array<double, 6>> orientation;
  // Image Position (Patient) (0020,0032) per slice (size == slices), or empty.
  std::vector<std::array<double, 3>> positions;
  // Patient Orientation (0020,0020), films: {direction of increasing column,
  // direction of increasing row}, e.g. {"L", "F"}; empty when absent.
  std::vector<std::string> patient_orientation;
  // Volumes: the distance between adjacent slice centres (mm). When unset it
  // is taken from `positions` (median step along the slice normal).
  std::optional<double> slice_spacing_mm;
  // Laterality (0020,0060) / Image Laterality (0020,0062) of a paired body
  // part: "L", "R", "B" or "" (bone films take the side from it).
  std::string laterality_attribute;
};

struct EvidenceInput {
  BodyRegion body_region = BodyRegion::kOther;
  ImageGeometry geometry;
  // slices x rows x columns heatmap values in [0, 1] (slice-major, row-major).
  std::vector<float> heatmap;
  // The same layout of modality values (HU for CT); may be empty, then the
  // midline is the image centre and no zone / compartment is measured.
  std::vector<float> image;
};

struct EvidenceOptions {
  double threshold = 0.5;  // region = component of values >= threshold x peak; in (0, 1)
};

enum class Side { kUnspecified, kLeft, kRight, kBilateral, kMidline };
// "left", "right", "bilateral", "midline", "unspecified".
const char* SideName(Side side);

struct Region {
  // Voxels of the region, slices x rows x columns, 1 inside.
  std::vector<uint8_t> mask;
  int64_t voxel_count = 0;
  float peak_value = 0;  // the heatmap maximum (the region's peak)
  int peak_slice = 0, peak_row = 0, peak_column = 0;
  int first_slice = 0, last_slice = 0;  // inclusive
  // Bounding box over all slices, inclusive pixel indices.
  int min_row = 0, max_row = 0, min_column = 0, max_column = 0;
  // Mean pixel position (pixel centres at integer indices) of the region.
  double centroid_slice = 0, centroid_row = 0, centroid_column = 0;
  // The centroid in patient coordinates (LPS, mm) when orientation, spacing
  // and positions are known.
  std::optional<std::array<double, 3>> centroid_patient_mm;
  int64_t peak_slice_pixels = 0;  // region pixels on the peak slice
};

struct Evidence {
  Region region;
  double threshold = 0.5;  // the one used (relative to the peak)

  Side laterality = Side::kUnspecified;
  // How the side was decided ("CT orientation, midline from the head mask"),
  // or why it is unspecified ("no PatientOrientation").
  std::string laterality_reason;
  double left_fraction = 0;     // share of region voxels on the patient's left of the midline
  double midline_fraction = 0;  // share within the midline band

  // Chest film: e.g. "right upper zone"; head CT / brain MR: "extra-axial",
  // "intraventricular", "intra-axial", maybe with " (infratentorial)"; "" when
  // not measured (see zone_reason).
  std::string zone;
  std::string zone_reason;
  // Brain: the region's depth below the inner table (mm; pixels x spacing).
  std::optional<double> median_depth_mm;

  std::optional<double> area_cm2;   // on the peak slice
  std::optional<double> volume_ml;  // volumes (slices > 1) only
};

// The evidence for one finding. Errors (INVALID_ARGUMENT): threshold not in
// (0, 1); rows, columns or slices not positive; heatmap (or a non-empty
// image) not slices x rows x columns; positions neither empty nor one per
// slice; a non-finite heatmap value; pixel or slice spacing not positive.
// FAILED_PRECONDITION: the heatmap has no positive value (nothing to explain).
absl::StatusOr<Evidence> DescribeEvidence(const EvidenceInput& input, const EvidenceOptions& options = {});

// Resamples a heatmap at model-input resolution (height x width, row-major)
// to the original rows x columns with the mapping libs/inference's
// InputPixelToImage inverts: original pixel centre (r, c) samples input
// position ((r + 0.5) * height / rows - 0.5, (c + 0.5) * width / columns -
// 0.5), bilinear, clamped at the edges. Errors: INVALID_ARGUMENT for a
// non-positive size or values.size() != height * width.
absl::StatusOr<std::vector<float>> ResampleHeatmapToImage(const std::vector<float>& values, int height, int width,
                                                          int rows, int columns);

}  // namespace parallax::evidence
