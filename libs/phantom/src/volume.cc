#include "volume.h"

#include <algorithm>

namespace parallax::phantom::internal {

double Smoothstep(double e0, double e1, double x) {
  const double t = Clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

double SmoothMin(double a, double b, double k) {
  if (k <= 0) return std::min(a, b);
  const double h = Clamp(0.5 + 0.5 * (b - a) / k, 0.0, 1.0);
  return Lerp(b, a, h) - k * h * (1 - h);
}

uint64_t MixSeed(uint64_t seed, uint64_t tag) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (tag + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t HashName(const char* name) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (const char* c = name; *c; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 0x100000001B3ULL;
  return h;
}

double Ellipsoid::Distance(Vec3 p) const {
  const Vec3 q = p - centre;
  const double k0 = std::sqrt((q.x / radii.x) * (q.x / radii.x) + (q.y / radii.y) * (q.y / radii.y) +
                              (q.z / radii.z) * (q.z / radii.z));
  const double ax = q.x / (radii.x * radii.x), ay = q.y / (radii.y * radii.y), az = q.z / (radii.z * radii.z);
  const double k1 = std::sqrt(ax * ax + ay * ay + az * az);
  if (k1 < 1e-12) return -std::min({radii.x, radii.y, radii.z});
  return k0 * (k0 - 1.0) / k1;
}

bool Ellipsoid::Contains(Vec3 p) const {
  const Vec3 q = p - centre;
  return (q.x / radii.x) * (q.x / radii.x) + (q.y / radii.y) * (q.y / radii.y) + (q.z / radii.z) * (q.z / radii.z) <
         1.0;
}

double Tube::Distance(Vec3 p) const {
  double best = 1e30;
  for (size_t i = 0; i + 1 < points.size(); ++i) {
    const Vec3 a = points[i], b = points[i + 1];
    const Vec3 ab = b - a;
    const double len2 = Dot(ab, ab);
    const double t = len2 > 0 ? Clamp(Dot(p - a, ab) / len2, 0.0, 1.0) : 0.0;
    const Vec3 v = p - (a + ab * t);
    const Vec3 s{v.x * scale.x, v.y * scale.y, v.z * scale.z};
    const double d = Length(s) - Lerp(radii[i], radii[i + 1], t);
    best = std::min(best, d);
  }
  return best;
}

void Tube::Bounds(double margin, Vec3* lo, Vec3* hi) const {
  *lo = {1e30, 1e30, 1e30};
  *hi = {-1e30, -1e30, -1e30};
  for (size_t i = 0; i < points.size(); ++i) {
    const double r = radii[i] + margin;
    const Vec3 e{r / scale.x, r / scale.y, r / scale.z};
    lo->x = std::min(lo->x, points[i].x - e.x);
    lo->y = std::min(lo->y, points[i].y - e.y);
    lo->z = std::min(lo->z, points[i].z - e.z);
    hi->x = std::max(hi->x, points[i].x + e.x);
    hi->y = std::max(hi->y, points[i].y + e.y);
    hi->z = std::max(hi->z, points[i].z + e.z);
  }
}

double ValueNoise::Lattice(int64_t x, int64_t y, int64_t z) const {
  uint64_t h = seed_ ^ (static_cast<uint64_t>(x) * 0x9E3779B97F4A7C15ULL) ^
               (static_cast<uint64_t>(y) * 0xC2B2AE3D27D4EB4FULL) ^ (static_cast<uint64_t>(z) * 0x165667B19E3779F9ULL);
  h = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return static_cast<double>(h >> 11) * 0x1.0p-52 - 1.0;
}

double ValueNoise::operator()(Vec3 p) const {
  const double fx = std::floor(p.x), fy = std::floor(p.y), fz = std::floor(p.z);
  const int64_t ix = static_cast<int64_t>(fx), iy = static_cast<int64_t>(fy), iz = static_cast<int64_t>(fz);
  auto fade = [](double t) { return t * t * t * (t * (t * 6 - 15) + 10); };
  const double tx = fade(p.x - fx), ty = fade(p.y - fy), tz = fade(p.z - fz);
  const double c000 = Lattice(ix, iy, iz), c100 = Lattice(ix + 1, iy, iz);
  const double c010 = Lattice(ix, iy + 1, iz), c110 = Lattice(ix + 1, iy + 1, iz);
  const double c001 = Lattice(ix, iy, iz + 1), c101 = Lattice(ix + 1, iy, iz + 1);
  const double c011 = Lattice(ix, iy + 1, iz + 1), c111 = Lattice(ix + 1, iy + 1, iz + 1);
  const double x00 = Lerp(c000, c100, tx), x10 = Lerp(c010, c110, tx);
  const double x01 = Lerp(c001, c101, tx), x11 = Lerp(c011, c111, tx);
  return Lerp(Lerp(x00, x10, ty), Lerp(x01, x11, ty), tz);
}

double ValueNoise::Fractal(Vec3 p, int octaves, double gain) const {
  double sum = 0, amp = 1, norm = 0;
  for (int o = 0; o < octaves; ++o) {
    sum += amp * (*this)(p + Vec3{17.3 * o, -9.1 * o, 4.7 * o});
    norm += amp;
    amp *= gain;
    p = p * 2.0;
  }
  return sum / norm;
}

void BlurSlice121(float* s, int columns, int rows) {
  std::vector<float> line(static_cast<size_t>(std::max(columns, rows)));
  for (int r = 0; r < rows; ++r) {
    float* row = s + size_t(r) * columns;
    std::copy(row, row + columns, line.begin());
    for (int c = 0; c < columns; ++c) {
      const float a = line[size_t(c > 0 ? c - 1 : c)], b = line[size_t(c)],
                  d = line[size_t(c + 1 < columns ? c + 1 : c)];
      row[c] = 0.25f * a + 0.5f * b + 0.25f * d;
    }
  }
  std::vector<float> prev(s, s + columns);
  for (int r = 0; r < rows; ++r) {
    float* row = s + size_t(r) * columns;
    const float* next = s + size_t(r + 1 < rows ? r + 1 : r) * columns;
    for (int c = 0; c < columns; ++c) {
      const float cur = row[c];
      row[c] = 0.25f * prev[size_t(c)] + 0.5f * cur + 0.25f * next[c];
      prev[size_t(c)] = cur;
    }
  }
}

void MotionBlurSlice(float* s, int columns, int rows, double dx, double dy, int taps) {
  if (taps < 2) return;
  std::vector<float> src(s, s + size_t(columns) * rows);
  std::vector<int> ox(static_cast<size_t>(taps)), oy(static_cast<size_t>(taps));
  for (int t = 0; t < taps; ++t) {
    const double f = static_cast<double>(t) / (taps - 1) - 0.5;
    ox[size_t(t)] = static_cast<int>(std::lround(f * dx));
    oy[size_t(t)] = static_cast<int>(std::lround(f * dy));
  }
  const float inv = 1.0f / static_cast<float>(taps);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < columns; ++c) {
      float sum = 0;
      for (int t = 0; t < taps; ++t) {
        const int rr = std::clamp(r + oy[size_t(t)], 0, rows - 1);
        const int cc = std::clamp(c + ox[size_t(t)], 0, columns - 1);
        sum += src[size_t(rr) * columns + cc];
      }
      s[size_t(r) * columns + c] = sum * inv;
    }
  }
}

}  // namespace parallax::phantom::internal
