#pragma once
// The raw measurements behind the quality rules, separate from the
// thresholds so that the calibration tool can print them. Internal.
#include <array>
#include <span>
#include <vector>

#include "parallax/dicom/pixel_reader.h"

namespace parallax::quality {

// Calibrated defaults: parallax-quality-calibrate on phantom seeds 1..40
// (chest 512 px at difficulty 0, 0.5, 1; 1024 px seeds 1..12; 2048 px 1..4;
// head CT 32 x 256 px, 512 px seeds 1..10); tests/phantom_rates_test.cc
// checks them on seeds 1001... Observed ranges (min..max):
//   chest sharpness_min: clean 0.232..0.262, motion_blur 0.121..0.193
//   chest snr:           clean 109.8..216 (d=1 noisiest), noise 38..77, underexposure 51..104
//   chest range_fraction: clean/other 0.512..0.551, underexposure 0.307..0.317  (RadiographOptions: 0.42)
//   chest |tilt| deg:    clean/other 0..1.3, rotation (8-15 deg drawn) 5.1..10.4  (RadiographOptions: 3.0)
//   head relative sharpness: clean 0.895..0.952, motion_blur 0.305..0.653
//   head noise SD (HU):  clean 0.99..1.48, noise 2.97..4.2
//   head highest-end area fraction: clean 0.065..0.223, top fifth cut 0.602..0.689 (VolumeOptions: 0.40)
//   head gap ratio:      clean 1.0, missing_slices 3..5 (VolumeOptions: 1.5)
inline constexpr double kRadiographMinSharpness = 0.21;
inline constexpr double kRadiographMinSnr = 92.0;
inline constexpr double kVolumeMinRelativeSharpness = 0.77;
inline constexpr double kVolumeMaxNoiseSd = 2.2;

struct RadiographMeasures {
  int bits = 12;                 // detector bits used for the exposure rules
  double range_fraction = 0;     // (p99.5 - p0.5) / (2^bits - 1)
  double clipped_fraction = 0;   // pixels at either end of the detector range
  double noise_sd = 0;           // per-pixel noise SD (robust, Laplacian-based)
  double snr = 0;                // (p99 - p1) / noise_sd
  double sharpness_min = 0;      // weakest direction's p99 |3 px difference| / (p99 - p1), ~0.7 mm grid
  double sharpness_max = 0;      // strongest direction's
  int tilt_rows = 0;             // rows that gave a lung-edge midpoint
  double tilt_deg = 0;           // the thorax axis' tilt from vertical (+ = leans to the image right going down)
};

RadiographMeasures MeasureRadiograph(const dicom::PixelImage& image, int bits_stored, bool measure_tilt);

struct VolumeMeasures {
  double median_spacing_mm = 0;
  double max_gap_mm = 0;
  double max_gap_ratio = 0;     // max spacing / median spacing (0 with < 2 slices)
  int max_gap_slice = -1;       // the image just after the largest gap (series order)
  double extent_mm = 0;         // highest - lowest position
  int lowest_slice = -1, highest_slice = -1;
  double lowest_end_area_fraction = 0, highest_end_area_fraction = 0;
  std::vector<double> sharpness;            // per image: weakest direction's p99 |2 mm difference|
  std::vector<double> relative_sharpness;   // per image: weakest direction relative to the same direction
                                            // on the +-6 nearest slices (1 where not measured)
  double min_relative_sharpness = 1;
  int min_relative_sharpness_slice = -1;
  double noise_sd = 0;                      // median over body slices of the per-pixel noise SD
};

VolumeMeasures MeasureVolume(std::span<const dicom::PixelImage> slices, std::span<const double> positions_mm,
                             bool ct, double body_threshold);

}  // namespace parallax::quality
