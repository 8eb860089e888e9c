#pragma once
// The pixel path of the inference service: decodes every frame of a
// greyscale DICOM image into modality units (Hounsfield units for CT) and
// windows them for model preprocessing.
//
// Reads uncompressed (implicit/explicit little endian, explicit big endian),
// RLE, JPEG baseline/extended/lossless and JPEG-LS data; 8- and 16-bit
// allocated, signed or unsigned, MONOCHROME1 or MONOCHROME2. Colour images
// (RGB, YBR_*, PALETTE COLOR) are refused, not converted.
//
// Thread-safe: the functions keep no state besides DCMTK's decoder
// registry, which is set up once on first use.
#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::dicom {

// One frame in modality units.
struct PixelImage {
  int rows = 0;
  int columns = 0;
  // Row-major, rows * columns values: stored values with the modality
  // transform applied (value = stored * RescaleSlope + RescaleIntercept, or
  // the Modality LUT when the instance has one); Hounsfield units for CT.
  std::vector<float> values;
  // Row and column spacing in mm: PixelSpacing, else ImagerPixelSpacing;
  // {0, 0} when neither is present.
  std::array<double, 2> pixel_spacing_mm{0, 0};
  // True when the source was MONOCHROME1. Its values are already flipped so
  // that bright means dense: v' = lo + hi - v, where [lo, hi] is the range
  // the modality transform gives the full stored-value range.
  bool inverted = false;
};

// Reads every frame of the Part-10 file at `path`.
// NOT_FOUND when the file does not exist; INVALID_ARGUMENT when it is not
// parseable DICOM, has no pixel data, is colour, has an unsupported pixel
// layout, or uses a transfer syntax that cannot be decoded (the message names
// the transfer syntax UID). Messages never contain patient data.
absl::StatusOr<std::vector<PixelImage>> ReadPixels(const std::string& path);

// As ReadPixels, for a complete Part-10 file held in memory (with preamble
// and file meta information). INVALID_ARGUMENT as above.
absl::StatusOr<std::vector<PixelImage>> ReadPixelsFromBuffer(const char* data, size_t size);

// Windowing for model preprocessing: writes image.values.size() floats to
// `out`, mapping [center - width/2, center + width/2] linearly to [0, 1] and
// clamping outside it (so `center` maps to 0.5). A width <= 0 gives a step:
// 1 for values >= center, else 0.
void ApplyWindow(const PixelImage& image, double center, double width, float* out);

}  // namespace parallax::dicom
