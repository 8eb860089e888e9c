#include "parallax/evidence/overlay.h"

#include <algorithm>
#include <cmath>

#include <absl/status/status.h>
#include <absl/strings/str_cat.h>

#include "parallax/evidence/png.h"

namespace parallax::evidence {
namespace {

uint8_t ToByte(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); }

absl::Status CheckHeatmap(const std::vector<float>& heatmap, int rows, int columns, const OverlayOptions& o) {
  if (rows <= 0 || columns <= 0) return absl::InvalidArgumentError(absl::StrCat("overlay: bad size ", rows, "x", columns));
  if (heatmap.size() != static_cast<size_t>(rows) * static_cast<size_t>(columns)) {
    return absl::InvalidArgumentError(
        absl::StrCat("overlay: heatmap has ", heatmap.size(), " values, expected ", rows, "x", columns));
  }
  if (!(o.threshold > 0 && o.threshold < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("overlay: threshold ", o.threshold, " is not in (0, 1)"));
  }
  for (float v : heatmap) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("overlay: heatmap holds a non-finite value");
  }
  if (o.peak && !(std::isfinite(*o.peak))) return absl::InvalidArgumentError("overlay: non-finite peak");
  return absl::OkStatus();
}

// Where the heatmap gets colour: t in [0, 1] along the ramp, or -1 below the threshold.
std::vector<double> RampPositions(const std::vector<float>& heatmap, const OverlayOptions& o) {
  const float peak = o.peak ? *o.peak : *std::max_element(heatmap.begin(), heatmap.end());
  std::vector<double> t(heatmap.size(), -1);
  if (!(peak > 0)) return t;
  const double level = o.threshold * peak;
  for (size_t i = 0; i < heatmap.size(); ++i) {
    // Turbo from 0.1 (blue) rather than 0 (near black), so the region's edge shows.
    if (heatmap[i] >= level) t[i] = 0.1 + 0.9 * std::clamp((heatmap[i] - level) / (peak - level), 0.0, 1.0);
  }
  return t;
}

}  // namespace

std::array<uint8_t, 3> TurboColour(double t) {
  // Google's Turbo colour map, polynomial approximation (Mikhailov 2019, Apache 2.0).
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  const double t2 = t * t, t3 = t2 * t, t4 = t3 * t, t5 = t4 * t;
  const double r = 0.13572138 + 4.61539260 * t - 42.66032258 * t2 + 132.13108234 * t3 - 152.94239396 * t4 +
                   59.28637943 * t5;
  const double g = 0.09140261 + 2.19418839 * t + 4.84296658 * t2 - 14.18503333 * t3 + 4.27729857 * t4 +
                   2.82956604 * t5;
  const double b = 0.10667330 + 12.64194608 * t - 60.58204836 * t2 + 110.36276771 * t3 - 89.90310912 * t4 +
                   27.34824973 * t5;
  return {ToByte(r), ToByte(g), ToByte(b)};
}

std::vector<uint8_t> WindowToGray(const std::vector<float>& image, const std::optional<Window>& window) {
  double low = 0, high = 1;
  if (window && window->width > 0) {
    low = window->centre - window->width / 2;
    high = window->centre + window->width / 2;
  } else if (!image.empty()) {
    std::vector<float> s;
    s.reserve(image.size());
    for (float v : image) {
      if (std::isfinite(v)) s.push_back(v);
    }
    if (!s.empty()) {
      // The two order statistics a full sort would give, by selection.
      const size_t lo = static_cast<size_t>(0.01 * static_cast<double>(s.size() - 1) + 0.5);
      const size_t hi = static_cast<size_t>(0.99 * static_cast<double>(s.size() - 1) + 0.5);
      std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(hi), s.end());
      high = s[hi];
      std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(lo), s.begin() + static_cast<std::ptrdiff_t>(hi));
      low = s[lo];
    }
    if (!(high > low)) high = low + 1;
  }
  std::vector<uint8_t> out(image.size());
  for (size_t i = 0; i < image.size(); ++i) {
    out[i] = std::isfinite(image[i]) ? ToByte((image[i] - low) / (high - low)) : 0;
  }
  return out;
}

absl::StatusOr<std::string> HeatmapPng(const std::vector<float>& heatmap, int rows, int columns,
                                       const OverlayOptions& options) {
  if (absl::Status s = CheckHeatmap(heatmap, rows, columns, options); !s.ok()) return s;
  const std::vector<double> t = RampPositions(heatmap, options);
  std::vector<uint8_t> rgb(heatmap.size() * 3, 0);
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] < 0) continue;
    const auto c = TurboColour(t[i]);
    std::copy(c.begin(), c.end(), rgb.begin() + static_cast<std::ptrdiff_t>(3 * i));
  }
  return EncodePngRgb(columns, rows, rgb);
}

absl::StatusOr<std::vector<uint8_t>> OverlayRgb(const std::vector<float>& image, const std::vector<float>& heatmap,
                                                int rows, int columns, const OverlayOptions& options) {
  if (absl::Status s = CheckHeatmap(heatmap, rows, columns, options); !s.ok()) return s;
  if (image.size() != heatmap.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("overlay: image has ", image.size(), " values, expected ", rows, "x", columns));
  }
  if (options.window && !(options.window->width > 0)) {
    return absl::InvalidArgumentError("overlay: window width must be positive");
  }
  if (!(options.min_alpha >= 0 && options.max_alpha <= 1 && options.min_alpha <= options.max_alpha)) {
    return absl::InvalidArgumentError("overlay: need 0 <= min_alpha <= max_alpha <= 1");
  }
  const std::vector<uint8_t> gray = WindowToGray(image, options.window);
  const std::vector<double> t = RampPositions(heatmap, options);
  std::vector<uint8_t> rgb(image.size() * 3);
  for (size_t i = 0; i < image.size(); ++i) {
    const double g = gray[i];
    if (t[i] < 0) {
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
      continue;
    }
    const auto c = TurboColour(t[i]);
    const double a = options.min_alpha + (options.max_alpha - options.min_alpha) * (t[i] - 0.1) / 0.9;
    for (int k = 0; k < 3; ++k) rgb[3 * i + k] = static_cast<uint8_t>(std::lround((1 - a) * g + a * c[k]));
  }
  return rgb;
}

absl::StatusOr<std::string> OverlayPng(const std::vector<float>& image, const std::vector<float>& heatmap, int rows,
                                       int columns, const OverlayOptions& options) {
  absl::StatusOr<std::vector<uint8_t>> rgb = OverlayRgb(image, heatmap, rows, columns, options);
  if (!rgb.ok()) return rgb.status();
  return EncodePngRgb(columns, rows, *rgb);
}

}  // namespace parallax::evidence
