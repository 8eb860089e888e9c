#pragma once
// The heatmap as pictures for the UI and the PACS: a colour-mapped heatmap
// (a turbo-like ramp, blue = threshold .. red = peak, black below the
// threshold) and the same blended over the windowed greyscale image, both
// RGB PNG bytes at the image's resolution (one slice).
//
// Thread-safe: pure functions of their arguments.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::evidence {

// A display window on modality values: grey = (v - (centre - width / 2)) /
// width, clamped to [0, 1] (linear, not DICOM's exact VOI formula).
struct Window {
  double centre = 40;
  double width = 80;
};

struct OverlayOptions {
  // Values below threshold x peak get no colour; in (0, 1) (the same
  // threshold DescribeEvidence used, so the colour covers its region).
  double threshold = 0.5;
  // CT: the caller's window (e.g. brain 40 / 80 HU). Unset: the 1st..99th
  // percentile of the slice (films, MR).
  std::optional<Window> window;
  // Opacity of the colour over the image: at the threshold `min_alpha`,
  // rising linearly to `max_alpha` at the peak.
  double min_alpha = 0.35;
  double max_alpha = 0.6;
  // The value the colour ramp's top stands for; unset = the slice's maximum
  // (pass the volume's peak to compare slices).
  std::optional<float> peak;
};

// The ramp's colour of t in [0, 1] (clamped), as {r, g, b}: near black, blue,
// cyan, green, yellow, red (Google's Turbo, polynomial approximation). The
// PNGs use t = 0.1 (blue) at the threshold to 1 (dark red) at the peak.
std::array<uint8_t, 3> TurboColour(double t);

// The colour-mapped heatmap of one slice (rows x columns values in [0, 1]):
// TurboColour(0.1 + 0.9 (v - t) / (peak - t)) where v >= t = threshold x peak, black
// elsewhere. Errors: INVALID_ARGUMENT for a bad size, a threshold outside
// (0, 1), or non-finite values; RESOURCE_EXHAUSTED from the encoder.
absl::StatusOr<std::string> HeatmapPng(const std::vector<float>& heatmap, int rows, int columns,
                                       const OverlayOptions& options = {});

// The heatmap blended over the image (rows x columns modality values):
// grey from the window, colour where the heatmap is at or above the
// threshold. Errors as HeatmapPng, plus INVALID_ARGUMENT for an image of the
// wrong size or a window width <= 0.
absl::StatusOr<std::string> OverlayPng(const std::vector<float>& image, const std::vector<float>& heatmap, int rows,
                                       int columns, const OverlayOptions& options = {});

// The same blend as OverlayPng as raw pixels: rows x columns x {r, g, b},
// row-major (what a DICOM Secondary Capture carries). Errors as OverlayPng.
absl::StatusOr<std::vector<uint8_t>> OverlayRgb(const std::vector<float>& image, const std::vector<float>& heatmap,
                                                int rows, int columns, const OverlayOptions& options = {});

// The 8-bit greyscale of `image` through `window` (or the 1st..99th
// percentile when unset), row-major; for callers that draw their own.
std::vector<uint8_t> WindowToGray(const std::vector<float>& image, const std::optional<Window>& window);

}  // namespace parallax::evidence
