#pragma once
// Private 2-D drawing helpers for the radiograph phantoms (chest, bone):
// float planes, anti-aliased shapes that ADD value x coverage (or a thickness
// profile) into a plane, separable blurs, rotation and deterministic noise.
//
// Coordinates are continuous pixel coordinates: pixel (row r, column c)
// covers [c, c+1) x [r, r+1), so its centre is (c + 0.5, r + 0.5).
// Everything is deterministic (no std:: distributions, whose output differs
// between standard libraries). Not thread-safe per object; no globals.
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "parallax/phantom/phantom.h"

namespace parallax::phantom::raster {

struct Point {
  double x = 0;  // column direction
  double y = 0;  // row direction
};

// A rows x columns plane of floats, row-major.
class Plane {
 public:
  Plane() = default;
  Plane(int rows, int columns, float fill = 0.0f)
      : rows_(rows), columns_(columns), v_(static_cast<size_t>(rows) * columns, fill) {}
  int rows() const { return rows_; }
  int columns() const { return columns_; }
  float& at(int r, int c) { return v_[static_cast<size_t>(r) * columns_ + c]; }
  float at(int r, int c) const { return v_[static_cast<size_t>(r) * columns_ + c]; }
  float* row(int r) { return v_.data() + static_cast<size_t>(r) * columns_; }
  const float* row(int r) const { return v_.data() + static_cast<size_t>(r) * columns_; }
  std::vector<float>& data() { return v_; }
  const std::vector<float>& data() const { return v_; }
  // Bilinear sample at a continuous position; `outside` beyond the edges.
  float Sample(double x, double y, float outside) const;

 private:
  int rows_ = 0;
  int columns_ = 0;
  std::vector<float> v_;
};

// How a shape's value varies across it.
enum class Profile {
  kFlat,      // value x anti-aliased coverage
  kCylinder,  // value x sqrt(1 - q^2): projected thickness of a rod / sphere
  kShell,     // bone: bright cortex, dimmer medulla (peak normalised to 1)
  kGaussian,  // value x exp(-2 q^2) out to q = 1.5: an ill-defined haze
};

// p += value x coverage of a polygon (even-odd rule), anti-aliased with
// `subsamples` sub-scanlines per row and exact horizontal coverage.
void FillPolygon(Plane& p, std::span<const Point> polygon, float value, int subsamples = 4);

// p += value x profile of an ellipse (semi-axes rx, ry, rotated by angle).
void FillEllipse(Plane& p, Point center, double rx, double ry, double angle_rad, float value,
                 Profile profile = Profile::kFlat);

// p += value x profile across a stroke of the polyline (half width in px).
// Overlapping segments of one polyline do not add twice. With `max_blend`
// the plane keeps the larger of its value and the stroke's (for trees whose
// branches overlap at the joints).
void StrokePolyline(Plane& p, std::span<const Point> line, double half_width, float value,
                    Profile profile = Profile::kFlat, bool max_blend = false);

// Points on a Catmull-Rom spline through the control points (endpoints
// included), `per_segment` points per span.
std::vector<Point> CatmullRom(std::span<const Point> control, int per_segment);

// Gaussian blur approximated by three box passes (cost independent of sigma).
void GaussianBlur(Plane& p, double sigma);
// Average along a line of `length_px` at `angle_rad` (motion blur).
void DirectionalBlur(Plane& p, double length_px, double angle_rad);
// The plane rotated by angle_rad about its centre, bilinear; `outside` fills.
Plane Rotate(const Plane& p, double angle_rad, float outside);

// Uniform in [0, 1) with 53 bits from the engine.
double Uniform(std::mt19937_64& rng);
double Uniform(std::mt19937_64& rng, double lo, double hi);
// Standard normal deviates (Box-Muller), deterministic for a given engine.
class NormalSource {
 public:
  explicit NormalSource(uint64_t seed) : rng_(seed) {}
  double Next();

 private:
  std::mt19937_64 rng_;
  double spare_ = 0;
  bool has_spare_ = false;
};

// Smooth value noise in [-1, 1] with features about `cell_px` wide.
Plane SmoothNoise(int rows, int columns, double cell_px, std::mt19937_64& rng);

// A 64-bit mix (splitmix64 finaliser) for deriving independent seeds.
uint64_t Mix(uint64_t a, uint64_t b);
// FNV-1a of a string (stable across platforms, unlike std::hash).
uint64_t HashString(std::span<const char> s);

// A mask rotated with its image about the centre (coverage >= 0.5 stays in).
Mask RotateMask(const Mask& m, double angle_rad);

// The image-quality defects the film phantoms share, applied to the detector
// plane `d` in this order: "rotation" (8-15 degrees either way; every
// finding's mask turns with the image) and "motion_blur" (a line blur of
// blur_min_mm..blur_max_mm in a random direction). Every requested defect is
// recorded once in study->quality_defects; exposure and noise defects are
// the caller's. Draws from `rng` in a fixed order, so output is deterministic.
void ApplyFilmDefects(Plane& d, const std::vector<std::string>& defects, double spacing_mm, double blur_min_mm,
                      double blur_max_mm, std::mt19937_64& rng, Study* study);

// A display window from a 12-bit histogram: from the value below which
// `low_fraction` of the pixels lie to the value above which `high_fraction`
// lie, at least 256 wide. Writes the window centre and width.
void WindowFromHistogram(std::span<const uint32_t> histogram, size_t total, double low_fraction,
                         double high_fraction, double* center, double* width);

}  // namespace parallax::phantom::raster
