#include "parallax/evaluation/roc_plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "parallax/evidence/png.h"

namespace parallax::evaluation {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

struct NamedColour {
  const char* name;
  Rgb rgb;
};

// Tableau 10: distinct on screen and in most colour-vision deficiencies.
constexpr std::array<NamedColour, 10> kPalette = {{
    {"blue", {31, 119, 180}},
    {"orange", {255, 127, 14}},
    {"green", {44, 160, 44}},
    {"red", {214, 39, 40}},
    {"purple", {148, 103, 189}},
    {"brown", {140, 86, 75}},
    {"pink", {227, 119, 194}},
    {"grey", {127, 127, 127}},
    {"olive", {188, 189, 34}},
    {"cyan", {23, 190, 207}},
}};

// The plot area inside the image, in pixels: x grows right, y grows down.
constexpr int kLeft = 40, kRight = kRocPlotSize - 17, kTop = 16, kBottom = kRocPlotSize - 41;

class Canvas {
 public:
  Canvas() : pixels_(static_cast<size_t>(kRocPlotSize) * kRocPlotSize * 3, 255) {}

  void Set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= kRocPlotSize || y >= kRocPlotSize) return;
    const size_t i = (static_cast<size_t>(y) * kRocPlotSize + static_cast<size_t>(x)) * 3;
    pixels_[i] = c.r;
    pixels_[i + 1] = c.g;
    pixels_[i + 2] = c.b;
  }

  // Bresenham; `radius` 0 draws 1 pixel wide, 1 draws 3; `dash` > 0 draws
  // `dash` pixels on, `dash` off.
  void Line(int x0, int y0, int x1, int y1, Rgb c, int radius = 0, int dash = 0) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (int step = 0;; ++step) {
      if (dash == 0 || (step / dash) % 2 == 0) {
        for (int oy = -radius; oy <= radius; ++oy) {
          for (int ox = -radius; ox <= radius; ++ox) Set(x0 + ox, y0 + oy, c);
        }
      }
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  const std::vector<uint8_t>& pixels() const { return pixels_; }

 private:
  std::vector<uint8_t> pixels_;
};

int PlotX(double false_positive_rate) {
  return kLeft + static_cast<int>(std::lround(std::clamp(false_positive_rate, 0.0, 1.0) *
                                              (kRight - kLeft)));
}

int PlotY(double sensitivity) {
  return kBottom -
         static_cast<int>(std::lround(std::clamp(sensitivity, 0.0, 1.0) * (kBottom - kTop)));
}

}  // namespace

std::string RocCurveColourName(size_t index) { return kPalette[index % kPalette.size()].name; }

std::string RocCurvesPng(const std::vector<std::pair<std::string, std::vector<RocPoint>>>& curves) {
  constexpr Rgb kGrid{228, 228, 228}, kAxis{0, 0, 0}, kChance{150, 150, 150};
  Canvas canvas;
  for (int i = 0; i <= 10; ++i) {
    const double v = i / 10.0;
    canvas.Line(PlotX(v), kTop, PlotX(v), kBottom, kGrid);
    canvas.Line(kLeft, PlotY(v), kRight, PlotY(v), kGrid);
    // Ticks outside the axes, longer at 0, 0.5 and 1.
    const int tick = i % 5 == 0 ? 8 : 4;
    canvas.Line(PlotX(v), kBottom, PlotX(v), kBottom + tick, kAxis);
    canvas.Line(kLeft - tick, PlotY(v), kLeft, PlotY(v), kAxis);
  }
  canvas.Line(kLeft, kBottom, kRight, kTop, kChance, 0, 4);
  canvas.Line(kLeft, kTop, kLeft, kBottom, kAxis);
  canvas.Line(kLeft, kBottom, kRight, kBottom, kAxis);

  for (size_t c = 0; c < curves.size(); ++c) {
    const Rgb colour = kPalette[c % kPalette.size()].rgb;
    bool have_previous = false;
    int px = 0, py = 0;
    for (const RocPoint& p : curves[c].second) {
      if (!std::isfinite(p.sensitivity) || !std::isfinite(p.specificity)) continue;
      const int x = PlotX(1.0 - p.specificity), y = PlotY(p.sensitivity);
      if (have_previous) {
        canvas.Line(px, py, x, y, colour, 1);
      } else {
        canvas.Line(x, y, x, y, colour, 1);
      }
      px = x;
      py = y;
      have_previous = true;
    }
  }
  // The canvas always matches its size, so only zlib running out of memory
  // fails here ("" as RocCurvesPng documents).
  absl::StatusOr<std::string> png = evidence::EncodePngRgb(kRocPlotSize, kRocPlotSize, canvas.pixels());
  return png.ok() ? *std::move(png) : std::string();
}

}  // namespace parallax::evaluation
