#pragma once
// Private 3-D helpers for the volume phantoms (head CT, later brain MRI):
// vectors, approximate signed distances of ellipsoids and tubes, smooth value
// noise, a fast deterministic Gaussian source and slice filters.
//
// Distances are in millimetres, negative inside. They are approximations
// (exact on the surface, close near it), which is all a phantom needs: the
// same function draws the anatomy and decides the masks, so the truth stays
// exact. Everything is deterministic for a given seed and independent of the
// standard library's distributions (which differ between implementations).
// Thread-compatible.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace parallax::phantom::internal {

struct Vec3 {
  double x = 0, y = 0, z = 0;
};
inline Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(Vec3 a, double s) { return {a.x * s, a.y * s, a.z * s}; }
inline double Dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline double Length(Vec3 a) { return std::sqrt(Dot(a, a)); }
inline Vec3 MirrorX(Vec3 a) { return {-a.x, a.y, a.z}; }

inline double Clamp(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }
inline double Lerp(double a, double b, double t) { return a + (b - a) * t; }
// 0 at e0, 1 at e1 (either order), Hermite in between.
double Smoothstep(double e0, double e1, double x);
// Polynomial smooth minimum: min(a, b) rounded over a width k (mm).
double SmoothMin(double a, double b, double k);

// Mixes a seed with a tag into an independent stream seed (splitmix64).
uint64_t MixSeed(uint64_t seed, uint64_t tag);
// FNV-1a of a string, for tagging streams by name.
uint64_t HashName(const char* name);

// Uniform and Gaussian draws that are identical on every platform.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  int Int(int lo, int hi) { return lo + static_cast<int>(Uniform() * (hi - lo + 1)); }  // [lo, hi]
  bool Chance(double p) { return Uniform() < p; }
  // Approximately standard normal: a sum of four 16-bit uniforms (Irwin-Hall),
  // one engine call per draw; fast enough for per-voxel quantum noise.
  double FastNormal() {
    const uint64_t r = engine_();
    const double s = static_cast<double>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
    return (s * (1.0 / 65536.0) - 2.0) * 1.7320508075688772;  // variance of 4 U(0,1) is 1/3
  }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// Axis-aligned ellipsoid.
struct Ellipsoid {
  Vec3 centre;
  Vec3 radii{1, 1, 1};
  double Distance(Vec3 p) const;  // approximate signed distance, mm
  bool Contains(Vec3 p) const;
  double ZMin() const { return centre.z - radii.z; }
  double ZMax() const { return centre.z + radii.z; }
};

// A tube swept along a polyline with a radius interpolated between nodes (a
// chain of round cones), squashed per axis by `scale` (radius / scale is the
// half-width along that axis). Ventricles, vessels, fissures, brainstem.
struct Tube {
  std::vector<Vec3> points;
  std::vector<double> radii;
  Vec3 scale{1, 1, 1};
  double Distance(Vec3 p) const;  // approximate signed distance, mm
  // Bounding box of the tube, expanded by `margin` mm.
  void Bounds(double margin, Vec3* lo, Vec3* hi) const;
};

// Smooth value noise in [-1, 1] with features about one unit apart; the
// caller scales its coordinates. Fractal() sums octaves at half the scale.
class ValueNoise {
 public:
  explicit ValueNoise(uint64_t seed = 1) : seed_(seed) {}
  double operator()(Vec3 p) const;
  double Fractal(Vec3 p, int octaves, double gain = 0.5) const;

 private:
  double Lattice(int64_t x, int64_t y, int64_t z) const;
  uint64_t seed_;
};

// A stack of float slices, slice-major then row-major.
struct FloatVolume {
  int columns = 0, rows = 0, slices = 0;
  std::vector<float> data;
  FloatVolume() = default;
  FloatVolume(int c, int r, int s, float fill) : columns(c), rows(r), slices(s), data(size_t(c) * r * s, fill) {}
  float* Slice(int k) { return data.data() + size_t(k) * columns * rows; }
  const float* Slice(int k) const { return data.data() + size_t(k) * columns * rows; }
};

// In-place [1 2 1]/4 separable blur of one slice (a soft reconstruction kernel).
void BlurSlice121(float* slice, int columns, int rows);
// In-place motion smear of one slice: the average of `taps` copies shifted
// along (dx, dy) pixels in total, centred.
void MotionBlurSlice(float* slice, int columns, int rows, double dx, double dy, int taps);

}  // namespace parallax::phantom::internal
