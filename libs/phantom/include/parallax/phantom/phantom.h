#pragma once
// Labelled phantom studies: synthetic images with exactly known findings,
// rendered deterministically from a seed. This library draws pixels and the
// ground truth only; writing DICOM is libs/dicom's job (it takes these types).
//
// Not clinical data. Thread-compatible: a generator object per thread.
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace parallax::phantom {

// One 2-D image (a radiograph or one slice). Pixel values are stored values
// (what goes into Pixel Data), row-major, rows x columns.
struct Image {
  int rows = 0;
  int columns = 0;
  std::vector<int16_t> pixels;
  std::array<double, 2> pixel_spacing_mm{1.0, 1.0};  // row spacing, column spacing
  int slice_index = -1;  // volumes: acquired slice position (z = index * spacing); -1 = its place in the series
};

// A binary mask with the dimensions of the image (or of every slice).
struct Mask {
  int rows = 0;
  int columns = 0;
  int slices = 1;
  std::vector<uint8_t> bits;  // 1 inside the finding; slice-major then row-major
};

enum class Laterality { kNone, kLeft, kRight, kBilateral, kMidline };

// Patient left/right, as DICOM means it (not the screen's).
const char* LateralityName(Laterality l);

// One finding drawn into the study, with its measured truth.
struct Finding {
  std::string label;          // e.g. "Pneumothorax", "Subdural"
  Laterality laterality = Laterality::kNone;
  std::string zone;           // e.g. "upper", "mid", "lower" (lung); "frontal" (brain)
  double area_cm2 = 0;        // 2-D: area of the mask
  double volume_ml = 0;       // 3-D: volume of the mask
  double contrast = 0;        // how far above or below its background, in stored units
  bool subtle = false;        // drawn near the limit of visibility
  Mask mask;
};

// What kind of series an image set is, for the DICOM header.
struct SeriesInfo {
  std::string modality;            // CR, DX, CT, MR
  std::string body_part;           // CHEST, HEAD, BRAIN, FOREARM
  std::string view_position;       // PA, AP (radiographs); "" otherwise
  std::string series_description;  // e.g. "CHEST PA", "HEAD NON-CONTRAST 5MM", "T1 POST", "FLAIR"
  std::string protocol_name;
  std::string laterality;          // DICOM Laterality of a paired body part: "L", "R", or "" (unpaired)
  int bits_stored = 12;
  bool is_signed = false;
  double rescale_intercept = 0;    // CT: stored * slope + intercept = HU
  double rescale_slope = 1;
  double window_center = 0;
  double window_width = 0;
  double slice_thickness_mm = 0;   // volumes only
  double slice_spacing_mm = 0;     // volumes only; positions step by this
  std::string photometric = "MONOCHROME2";
};

struct Series {
  SeriesInfo info;
  std::vector<Image> images;       // one per slice (1 for a radiograph)
};

// A whole labelled study.
struct Study {
  std::string kind;                // "chest_xray", "head_ct", "brain_mri", "bone_xray"
  uint64_t seed = 0;
  std::vector<Series> series;
  std::vector<Finding> findings;   // empty for a normal study
  std::vector<std::string> quality_defects;  // e.g. "rotation", "motion_blur"
};

}  // namespace parallax::phantom
