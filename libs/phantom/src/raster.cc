#include "raster.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace parallax::phantom::raster {
namespace {

constexpr double kPi = 3.14159265358979323846;

float Clamp01(double v) { return static_cast<float>(v < 0 ? 0 : (v > 1 ? 1 : v)); }

// Profile value at normalised radius q (0 centre, 1 edge); `edge_cov` is the
// anti-aliased coverage used by kFlat.
float ProfileValue(Profile profile, double q, float edge_cov) {
  switch (profile) {
    case Profile::kFlat:
      return edge_cov;
    case Profile::kCylinder:
      return q >= 1 ? 0.0f : static_cast<float>(std::sqrt(1 - q * q));
    case Profile::kShell: {
      if (q >= 1) return 0.0f;
      constexpr double kInner = 0.72, kMedulla = 0.35;
      const double outer = std::sqrt(1 - q * q);
      const double inner = q < kInner ? std::sqrt(kInner * kInner - q * q) : 0.0;
      static const double kNorm = std::sqrt(1 - kInner * kInner);
      return static_cast<float>((outer - (1 - kMedulla) * inner) / kNorm);
    }
    case Profile::kGaussian:
      return q >= 1.5 ? 0.0f : static_cast<float>(std::exp(-2 * q * q));
  }
  return 0.0f;
}

double ProfileReach(Profile profile) { return profile == Profile::kGaussian ? 1.5 : 1.0; }

// Horizontal and vertical running-sum box blur with clamped edges.
void BoxBlurH(Plane& p, int radius) {
  if (radius <= 0) return;
  const int w = p.columns();
  std::vector<float> tmp(w);
  const float inv = 1.0f / (2 * radius + 1);
  for (int r = 0; r < p.rows(); ++r) {
    float* row = p.row(r);
    double sum = 0;
    for (int k = -radius; k <= radius; ++k) sum += row[std::clamp(k, 0, w - 1)];
    for (int c = 0; c < w; ++c) {
      tmp[c] = static_cast<float>(sum) * inv;
      sum += row[std::min(c + radius + 1, w - 1)] - row[std::max(c - radius, 0)];
    }
    std::copy(tmp.begin(), tmp.end(), row);
  }
}

void BoxBlurV(Plane& p, int radius) {
  if (radius <= 0) return;
  const int h = p.rows(), w = p.columns();
  Plane src = p;
  std::vector<double> sum(w, 0.0);
  const float inv = 1.0f / (2 * radius + 1);
  for (int k = -radius; k <= radius; ++k) {
    const float* row = src.row(std::clamp(k, 0, h - 1));
    for (int c = 0; c < w; ++c) sum[c] += row[c];
  }
  for (int r = 0; r < h; ++r) {
    float* out = p.row(r);
    const float* add = src.row(std::min(r + radius + 1, h - 1));
    const float* sub = src.row(std::max(r - radius, 0));
    for (int c = 0; c < w; ++c) {
      out[c] = static_cast<float>(sum[c]) * inv;
      sum[c] += add[c] - sub[c];
    }
  }
}

void KernelBlur(Plane& p, double sigma) {
  const int radius = static_cast<int>(std::ceil(3 * sigma));
  std::vector<float> k(2 * radius + 1);
  double total = 0;
  for (int i = -radius; i <= radius; ++i) total += k[i + radius] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v = static_cast<float>(v / total);
  const int h = p.rows(), w = p.columns();
  std::vector<float> tmp(w);
  for (int r = 0; r < h; ++r) {
    float* row = p.row(r);
    for (int c = 0; c < w; ++c) {
      float s = 0;
      for (int i = -radius; i <= radius; ++i) s += k[i + radius] * row[std::clamp(c + i, 0, w - 1)];
      tmp[c] = s;
    }
    std::copy(tmp.begin(), tmp.end(), row);
  }
  Plane src = p;
  for (int r = 0; r < h; ++r) {
    float* out = p.row(r);
    std::fill(out, out + w, 0.0f);
    for (int i = -radius; i <= radius; ++i) {
      const float* in = src.row(std::clamp(r + i, 0, h - 1));
      const float kv = k[i + radius];
      for (int c = 0; c < w; ++c) out[c] += kv * in[c];
    }
  }
}

float SampleClamped(const Plane& p, double x, double y) {
  const double fx = std::clamp(x - 0.5, 0.0, p.columns() - 1.0);
  const double fy = std::clamp(y - 0.5, 0.0, p.rows() - 1.0);
  const int x0 = std::min(static_cast<int>(fx), p.columns() - 2 < 0 ? 0 : p.columns() - 2);
  const int y0 = std::min(static_cast<int>(fy), p.rows() - 2 < 0 ? 0 : p.rows() - 2);
  const int x1 = std::min(x0 + 1, p.columns() - 1), y1 = std::min(y0 + 1, p.rows() - 1);
  const double ax = fx - x0, ay = fy - y0;
  return static_cast<float>((1 - ay) * ((1 - ax) * p.at(y0, x0) + ax * p.at(y0, x1)) +
                            ay * ((1 - ax) * p.at(y1, x0) + ax * p.at(y1, x1)));
}

}  // namespace

float Plane::Sample(double x, double y, float outside) const {
  if (x < 0 || y < 0 || x > columns_ || y > rows_) return outside;
  return SampleClamped(*this, x, y);
}

void FillPolygon(Plane& p, std::span<const Point> polygon, float value, int subsamples) {
  if (polygon.size() < 3 || value == 0) return;
  double ymin = polygon[0].y, ymax = ymin;
  for (const auto& pt : polygon) ymin = std::min(ymin, pt.y), ymax = std::max(ymax, pt.y);
  const int r0 = std::max(0, static_cast<int>(std::floor(ymin)));
  const int r1 = std::min(p.rows() - 1, static_cast<int>(std::ceil(ymax)));
  const int w = p.columns();
  std::vector<float> acc(w + 1, 0.0f);
  std::vector<double> xs;
  const float weight = 1.0f / subsamples;
  const size_t n = polygon.size();
  for (int r = r0; r <= r1; ++r) {
    int lo = w, hi = -1;
    for (int s = 0; s < subsamples; ++s) {
      const double y = r + (s + 0.5) / subsamples;
      xs.clear();
      for (size_t i = 0; i < n; ++i) {
        const Point& a = polygon[i];
        const Point& b = polygon[(i + 1) % n];
        if ((a.y <= y && y < b.y) || (b.y <= y && y < a.y)) xs.push_back(a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y));
      }
      std::sort(xs.begin(), xs.end());
      for (size_t i = 0; i + 1 < xs.size(); i += 2) {
        const double x0 = std::clamp(xs[i], 0.0, static_cast<double>(w));
        const double x1 = std::clamp(xs[i + 1], 0.0, static_cast<double>(w));
        if (x1 <= x0) continue;
        const int c0 = static_cast<int>(x0), c1 = static_cast<int>(x1);
        lo = std::min(lo, c0), hi = std::max(hi, std::min(c1, w - 1));
        if (c0 == c1) {
          acc[c0] += static_cast<float>(x1 - x0) * weight;
        } else {
          acc[c0] += static_cast<float>(c0 + 1 - x0) * weight;
          for (int c = c0 + 1; c < c1; ++c) acc[c] += weight;
          acc[c1] += static_cast<float>(x1 - c1) * weight;
        }
      }
    }
    float* row = p.row(r);
    for (int c = lo; c <= hi; ++c) {
      row[c] += value * std::min(acc[c], 1.0f);
      acc[c] = 0;
    }
    acc[w] = 0;
  }
}

void FillEllipse(Plane& p, Point center, double rx, double ry, double angle_rad, float value, Profile profile) {
  if (rx <= 0 || ry <= 0 || value == 0) return;
  const double cs = std::cos(angle_rad), sn = std::sin(angle_rad);
  const double reach = ProfileReach(profile);
  const double ex = reach * std::sqrt(rx * rx * cs * cs + ry * ry * sn * sn) + 1.5;
  const double ey = reach * std::sqrt(rx * rx * sn * sn + ry * ry * cs * cs) + 1.5;
  const int c0 = std::max(0, static_cast<int>(std::floor(center.x - ex)));
  const int c1 = std::min(p.columns() - 1, static_cast<int>(std::ceil(center.x + ex)));
  const int r0 = std::max(0, static_cast<int>(std::floor(center.y - ey)));
  const int r1 = std::min(p.rows() - 1, static_cast<int>(std::ceil(center.y + ey)));
  const double irx2 = 1 / (rx * rx), iry2 = 1 / (ry * ry);
  for (int r = r0; r <= r1; ++r) {
    float* row = p.row(r);
    const double dy = r + 0.5 - center.y;
    for (int c = c0; c <= c1; ++c) {
      const double dx = c + 0.5 - center.x;
      const double xe = dx * cs + dy * sn, ye = -dx * sn + dy * cs;
      const double q2 = xe * xe * irx2 + ye * ye * iry2;
      if (q2 >= reach * reach * 1.2 + 0.5) continue;
      const double q = std::sqrt(q2);
      float cov = 0;
      if (profile == Profile::kFlat) {
        const double gx = xe * irx2, gy = ye * iry2;
        const double g = std::sqrt(gx * gx + gy * gy) / std::max(q, 1e-9);
        cov = Clamp01(0.5 - (q - 1) / std::max(g, 1e-9));
      }
      row[c] += value * ProfileValue(profile, q, cov);
    }
  }
}

void StrokePolyline(Plane& p, std::span<const Point> line, double half_width, float value, Profile profile,
                    bool max_blend) {
  if (line.size() < 2 || half_width <= 0 || value == 0) return;
  const double pad = half_width * ProfileReach(profile) + 1.5;
  double xmin = line[0].x, xmax = xmin, ymin = line[0].y, ymax = ymin;
  for (const auto& pt : line) {
    xmin = std::min(xmin, pt.x), xmax = std::max(xmax, pt.x);
    ymin = std::min(ymin, pt.y), ymax = std::max(ymax, pt.y);
  }
  const int c0 = std::max(0, static_cast<int>(std::floor(xmin - pad)));
  const int c1 = std::min(p.columns() - 1, static_cast<int>(std::ceil(xmax + pad)));
  const int r0 = std::max(0, static_cast<int>(std::floor(ymin - pad)));
  const int r1 = std::min(p.rows() - 1, static_cast<int>(std::ceil(ymax + pad)));
  if (c1 < c0 || r1 < r0) return;
  const int bw = c1 - c0 + 1, bh = r1 - r0 + 1;
  std::vector<float> dist(static_cast<size_t>(bw) * bh, std::numeric_limits<float>::max());
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    const Point a = line[i], b = line[i + 1];
    const double vx = b.x - a.x, vy = b.y - a.y;
    const double len2 = vx * vx + vy * vy;
    const int sc0 = std::max(c0, static_cast<int>(std::floor(std::min(a.x, b.x) - pad)));
    const int sc1 = std::min(c1, static_cast<int>(std::ceil(std::max(a.x, b.x) + pad)));
    const int sr0 = std::max(r0, static_cast<int>(std::floor(std::min(a.y, b.y) - pad)));
    const int sr1 = std::min(r1, static_cast<int>(std::ceil(std::max(a.y, b.y) + pad)));
    for (int r = sr0; r <= sr1; ++r) {
      float* d = dist.data() + static_cast<size_t>(r - r0) * bw - c0;
      const double py = r + 0.5 - a.y;
      for (int c = sc0; c <= sc1; ++c) {
        const double px = c + 0.5 - a.x;
        double t = len2 > 0 ? (px * vx + py * vy) / len2 : 0;
        t = std::clamp(t, 0.0, 1.0);
        const double ex = px - t * vx, ey = py - t * vy;
        const float dd = static_cast<float>(std::sqrt(ex * ex + ey * ey));
        if (dd < d[c]) d[c] = dd;
      }
    }
  }
  for (int r = r0; r <= r1; ++r) {
    const float* d = dist.data() + static_cast<size_t>(r - r0) * bw;
    float* row = p.row(r);
    for (int c = c0; c <= c1; ++c) {
      const double dd = d[c - c0];
      if (dd > pad) continue;
      const float cov = Clamp01(half_width - dd + 0.5);
      const float v = value * ProfileValue(profile, dd / half_width, cov);
      row[c] = max_blend ? std::max(row[c], v) : row[c] + v;
    }
  }
}

std::vector<Point> CatmullRom(std::span<const Point> control, int per_segment) {
  std::vector<Point> out;
  const int n = static_cast<int>(control.size());
  if (n < 2) return {control.begin(), control.end()};
  for (int i = 0; i + 1 < n; ++i) {
    const Point p0 = control[std::max(i - 1, 0)], p1 = control[i], p2 = control[i + 1],
                p3 = control[std::min(i + 2, n - 1)];
    for (int k = 0; k < per_segment; ++k) {
      const double t = static_cast<double>(k) / per_segment, t2 = t * t, t3 = t2 * t;
      auto f = [&](double a, double b, double c, double d) {
        return 0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3);
      };
      out.push_back({f(p0.x, p1.x, p2.x, p3.x), f(p0.y, p1.y, p2.y, p3.y)});
    }
  }
  out.push_back(control[n - 1]);
  return out;
}

void GaussianBlur(Plane& p, double sigma) {
  if (sigma <= 0.2 || p.rows() == 0) return;
  if (sigma < 2.0) return KernelBlur(p, sigma);
  // Three boxes whose combined variance matches sigma^2 (Kovesi's recipe).
  const int n = 3;
  const double ideal = std::sqrt(12 * sigma * sigma / n + 1);
  int wl = static_cast<int>(std::floor(ideal));
  if (wl % 2 == 0) --wl;
  const int wu = wl + 2;
  const int m = static_cast<int>(std::lround((12 * sigma * sigma - n * wl * wl - 4 * n * wl - 3 * n) / (-4.0 * wl - 4)));
  for (int i = 0; i < n; ++i) {
    const int radius = ((i < m ? wl : wu) - 1) / 2;
    BoxBlurH(p, radius);
    BoxBlurV(p, radius);
  }
}

void DirectionalBlur(Plane& p, double length_px, double angle_rad) {
  const int k = std::max(2, static_cast<int>(std::ceil(length_px)));
  const double dx = std::cos(angle_rad), dy = std::sin(angle_rad);
  Plane src = p;
  for (int r = 0; r < p.rows(); ++r) {
    float* out = p.row(r);
    for (int c = 0; c < p.columns(); ++c) {
      double s = 0;
      for (int i = 0; i < k; ++i) {
        const double t = (static_cast<double>(i) / (k - 1) - 0.5) * length_px;
        s += SampleClamped(src, c + 0.5 + t * dx, r + 0.5 + t * dy);
      }
      out[c] = static_cast<float>(s / k);
    }
  }
}

Plane Rotate(const Plane& p, double angle_rad, float outside) {
  Plane out(p.rows(), p.columns(), outside);
  const double cx = p.columns() / 2.0, cy = p.rows() / 2.0;
  const double cs = std::cos(angle_rad), sn = std::sin(angle_rad);
  for (int r = 0; r < p.rows(); ++r) {
    float* row = out.row(r);
    const double y = r + 0.5 - cy;
    for (int c = 0; c < p.columns(); ++c) {
      const double x = c + 0.5 - cx;
      // Inverse rotation: where this output pixel came from.
      row[c] = p.Sample(cx + x * cs + y * sn, cy - x * sn + y * cs, outside);
    }
  }
  return out;
}

double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }
double Uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * Uniform(rng); }

double NormalSource::Next() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - Uniform(rng_);  // (0, 1]
  const double u2 = Uniform(rng_);
  const double mag = std::sqrt(-2.0 * std::log(u1));
  spare_ = mag * std::sin(2 * kPi * u2);
  has_spare_ = true;
  return mag * std::cos(2 * kPi * u2);
}

Plane SmoothNoise(int rows, int columns, double cell_px, std::mt19937_64& rng) {
  cell_px = std::max(cell_px, 1.0);
  const int gw = static_cast<int>(columns / cell_px) + 3, gh = static_cast<int>(rows / cell_px) + 3;
  std::vector<float> grid(static_cast<size_t>(gw) * gh);
  for (auto& g : grid) g = static_cast<float>(Uniform(rng, -1, 1));
  Plane out(rows, columns);
  std::vector<int> ix(columns);
  std::vector<float> wx(columns);
  for (int c = 0; c < columns; ++c) {
    const double gx = (c + 0.5) / cell_px;
    ix[c] = static_cast<int>(gx);
    const double f = gx - ix[c];
    wx[c] = static_cast<float>(f * f * (3 - 2 * f));
  }
  for (int r = 0; r < rows; ++r) {
    const double gy = (r + 0.5) / cell_px;
    const int iy = static_cast<int>(gy);
    double fy = gy - iy;
    const float wy = static_cast<float>(fy * fy * (3 - 2 * fy));
    const float* g0 = grid.data() + static_cast<size_t>(iy) * gw;
    const float* g1 = g0 + gw;
    float* row = out.row(r);
    for (int c = 0; c < columns; ++c) {
      const int i = ix[c];
      const float a = g0[i] + wx[c] * (g0[i + 1] - g0[i]);
      const float b = g1[i] + wx[c] * (g1[i + 1] - g1[i]);
      row[c] = a + wy * (b - a);
    }
  }
  return out;
}

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t HashString(std::span<const char> s) {
  uint64_t h = 1469598103934665603ULL;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
  return h;
}

void WindowFromHistogram(std::span<const uint32_t> histogram, size_t total, double low_fraction,
                         double high_fraction, double* center, double* width) {
  const int top = static_cast<int>(histogram.size()) - 1;
  int lo = 0, hi = top;
  size_t acc = 0;
  for (int v = 0; v <= top; ++v) {
    acc += histogram[static_cast<size_t>(v)];
    if (acc >= static_cast<size_t>(total * low_fraction)) {
      lo = v;
      break;
    }
  }
  acc = 0;
  for (int v = top; v >= 0; --v) {
    acc += histogram[static_cast<size_t>(v)];
    if (acc >= static_cast<size_t>(total * high_fraction)) {
      hi = v;
      break;
    }
  }
  if (hi - lo < 256) hi = lo + 256;
  *center = std::round((lo + hi) / 2.0);
  *width = hi - lo;
}

Mask RotateMask(const Mask& m, double angle_rad) {
  Plane p(m.rows, m.columns);
  for (size_t i = 0; i < m.bits.size(); ++i) p.data()[i] = m.bits[i];
  const Plane turned = Rotate(p, angle_rad, 0.0f);
  Mask out;
  out.rows = m.rows;
  out.columns = m.columns;
  out.bits.assign(m.bits.size(), 0);
  for (size_t i = 0; i < out.bits.size(); ++i) out.bits[i] = turned.data()[i] >= 0.5f ? 1 : 0;
  return out;
}

void ApplyFilmDefects(Plane& d, const std::vector<std::string>& defects, double spacing_mm, double blur_min_mm,
                      double blur_max_mm, std::mt19937_64& rng, Study* study) {
  auto has = [](const std::vector<std::string>& v, const char* name) {
    return std::find(v.begin(), v.end(), name) != v.end();
  };
  for (const auto& name : defects) {
    if (!has(study->quality_defects, name.c_str())) study->quality_defects.push_back(name);
  }
  if (has(defects, "rotation")) {
    const double a = Uniform(rng, 8, 15) * std::numbers::pi / 180 * (Uniform(rng) < 0.5 ? -1 : 1);
    d = Rotate(d, a, 0.0f);
    for (auto& f : study->findings) f.mask = RotateMask(f.mask, a);
  }
  if (has(defects, "motion_blur")) {
    DirectionalBlur(d, Uniform(rng, blur_min_mm, blur_max_mm) / spacing_mm, Uniform(rng, 0, std::numbers::pi));
  }
}

}  // namespace parallax::phantom::raster
