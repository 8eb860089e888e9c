#include "measures.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <numeric>
#include <vector>

namespace parallax::quality {
namespace {

// A resampled plane (block averages), row-major.
struct Grid {
  int rows = 0;
  int cols = 0;
  double spacing_mm = 1;  // isotropic enough for our purposes: the larger of the two
  std::vector<float> v;
  float at(int r, int c) const { return v[static_cast<size_t>(r) * cols + c]; }
};

Grid BlockAverage(const dicom::PixelImage& im, int k, double spacing_mm) {
  Grid g;
  g.rows = im.rows / k;
  g.cols = im.columns / k;
  g.spacing_mm = spacing_mm * k;
  g.v.assign(static_cast<size_t>(g.rows) * g.cols, 0.0f);
  const float inv = 1.0f / static_cast<float>(k * k);
  std::vector<float> acc(g.cols);
  for (int r = 0; r < g.rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int dr = 0; dr < k; ++dr) {
      const float* src = im.values.data() + static_cast<size_t>(r * k + dr) * im.columns;
      for (int c = 0; c < g.cols; ++c) {
        const float* p = src + c * k;
        float s = 0;
        for (int dc = 0; dc < k; ++dc) s += p[dc];
        acc[c] += s;
      }
    }
    float* dst = g.v.data() + static_cast<size_t>(r) * g.cols;
    for (int c = 0; c < g.cols; ++c) dst[c] = acc[c] * inv;
  }
  return g;
}

// Separable [1 2 1]/4 smoothing, edges replicated.
void Smooth121(Grid& g) {
  std::vector<float> tmp(g.v.size());
  for (int r = 0; r < g.rows; ++r) {
    const float* s = g.v.data() + static_cast<size_t>(r) * g.cols;
    float* d = tmp.data() + static_cast<size_t>(r) * g.cols;
    for (int c = 0; c < g.cols; ++c) {
      const float l = s[std::max(0, c - 1)], m = s[c], rr = s[std::min(g.cols - 1, c + 1)];
      d[c] = 0.25f * (l + 2 * m + rr);
    }
  }
  for (int r = 0; r < g.rows; ++r) {
    const float* up = tmp.data() + static_cast<size_t>(std::max(0, r - 1)) * g.cols;
    const float* mid = tmp.data() + static_cast<size_t>(r) * g.cols;
    const float* dn = tmp.data() + static_cast<size_t>(std::min(g.rows - 1, r + 1)) * g.cols;
    float* d = g.v.data() + static_cast<size_t>(r) * g.cols;
    for (int c = 0; c < g.cols; ++c) d[c] = 0.25f * (up[c] + 2 * mid[c] + dn[c]);
  }
}

// The q-quantile (0..1) of `v` (reordered).
double Quantile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// Per-pixel noise SD by Immerkaer's operator (the difference of two
// Laplacians, blind to planes and linear ramps), robust form: the median of
// |response| over the sampled pixels whose value lies in [lo, hi], divided by
// the median of |N(0, 6 sigma)|. Rows sampled every `row_step`.
double NoiseSd(const dicom::PixelImage& im, float lo, float hi, int row_step) {
  std::vector<float> resp;
  resp.reserve(static_cast<size_t>(im.rows / row_step + 1) * im.columns / 2);
  const int cols = im.columns;
  for (int r = 1; r + 1 < im.rows; r += row_step) {
    const float* u = im.values.data() + static_cast<size_t>(r - 1) * cols;
    const float* m = u + cols;
    const float* d = m + cols;
    for (int c = 1; c + 1 < cols; c += 2) {
      if (m[c] < lo || m[c] > hi) continue;
      const float x = (u[c - 1] - 2 * u[c] + u[c + 1]) - 2 * (m[c - 1] - 2 * m[c] + m[c + 1]) +
                      (d[c - 1] - 2 * d[c] + d[c + 1]);
      resp.push_back(std::abs(x));
    }
  }
  if (resp.size() < 64) return 0;
  return Quantile(resp, 0.5) / (0.6745 * 6.0);
}

// For the four directions (right, down, down-right, down-left), the p-quantile
// of |g(x + lag) - g(x)| over the pixels where `include(value at x)`.
template <typename Include>
std::array<double, 4> DirectionalEdgeStrength(const Grid& g, double lag_mm, double q, Include include) {
  const int lag = std::max(1, static_cast<int>(std::lround(lag_mm / g.spacing_mm)));
  const int dlag = std::max(1, static_cast<int>(std::lround(lag_mm / (g.spacing_mm * std::numbers::sqrt2))));
  const std::array<std::array<int, 2>, 4> dirs{{{0, lag}, {lag, 0}, {dlag, dlag}, {dlag, -dlag}}};
  std::array<double, 4> out{};
  std::vector<float> diffs;
  diffs.reserve(g.v.size());
  const int margin = std::max(lag, dlag);
  for (int k = 0; k < 4; ++k) {
    diffs.clear();
    const int dr = dirs[k][0], dc = dirs[k][1];
    for (int r = margin; r + margin < g.rows; ++r) {
      for (int c = margin; c + margin < g.cols; ++c) {
        const float a = g.at(r, c);
        const float b = g.at(r + dr, c + dc);
        if (!include(a) && !include(b)) continue;
        diffs.push_back(std::abs(b - a));
      }
    }
    out[k] = Quantile(diffs, q);
  }
  return out;
}

// Theil-Sen slope of y over x.
double TheilSen(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<float> slopes;
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t j = i + 1; j < x.size(); ++j) {
      if (x[j] != x[i]) slopes.push_back(static_cast<float>((y[j] - y[i]) / (x[j] - x[i])));
    }
  }
  return Quantile(slopes, 0.5);
}

// Otsu's threshold of `v` (256 bins between its min and max).
double OtsuThreshold(const std::vector<float>& v) {
  if (v.empty()) return 0;
  const auto [mn_it, mx_it] = std::minmax_element(v.begin(), v.end());
  const double mn = *mn_it, mx = *mx_it;
  if (mx <= mn) return mn;
  std::array<double, 256> h{};
  for (float x : v) h[std::min(255, static_cast<int>((x - mn) / (mx - mn) * 255.0))] += 1;
  double total = 0, sum = 0;
  for (int i = 0; i < 256; ++i) total += h[i], sum += i * h[i];
  double w0 = 0, sum0 = 0, best = -1;
  int arg = 0;
  for (int i = 0; i < 256; ++i) {
    w0 += h[i];
    sum0 += i * h[i];
    if (w0 == 0 || w0 == total) continue;
    const double m0 = sum0 / w0, m1 = (sum - sum0) / (total - w0);
    const double between = w0 * (total - w0) * (m0 - m1) * (m0 - m1);
    if (between > best) best = between, arg = i;
  }
  return mn + (arg + 0.5) / 256.0 * (mx - mn);
}

// The tilt of the thorax's axis of symmetry from vertical, degrees, on a
// ~2 mm grid: the lung fields are the dark class (Otsu) of the central
// region; per row of 20%..75% of the height, the widest dark run left of
// the centre and the widest right of it (runs touching the image border are
// air, not lung) give the two lateral lung edges; a Theil-Sen line through
// the midpoints of those edges is the axis. Positive = the axis leans to the
// image right going down.
double MidlineTilt(const dicom::PixelImage& im, double spacing_mm, int* rows_used) {
  const int k = std::max(1, static_cast<int>(std::lround(2.0 / spacing_mm)));
  Grid g = BlockAverage(im, k, spacing_mm);
  Smooth121(g);
  std::vector<float> central;
  for (int r = g.rows / 5; r < g.rows * 3 / 4; ++r) {
    for (int c = g.cols / 10; c < g.cols * 9 / 10; ++c) central.push_back(g.at(r, c));
  }
  const double t = OtsuThreshold(central);
  const int min_run = std::max(2, g.cols / 20);
  std::vector<double> rows, mids;
  for (int r = g.rows / 5; r < g.rows * 3 / 4; ++r) {
    int best_left = 0, left_start = -1, best_right = 0, right_end = -1;
    int c = 0;
    while (c < g.cols) {
      if (g.at(r, c) >= t) {
        ++c;
        continue;
      }
      const int s0 = c;
      while (c < g.cols && g.at(r, c) < t) ++c;
      const int s1 = c - 1;  // inclusive
      const int len = s1 - s0 + 1;
      if (s0 == 0 || s1 == g.cols - 1 || len < min_run) continue;
      const double centre = 0.5 * (s0 + s1);
      if (centre < 0.5 * g.cols) {
        if (len > best_left) best_left = len, left_start = s0;
      } else if (len > best_right) {
        best_right = len, right_end = s1;
      }
    }
    if (left_start < 0 || right_end < 0) continue;
    rows.push_back(r);
    mids.push_back(0.5 * (left_start + right_end));
  }
  if (rows_used != nullptr) *rows_used = static_cast<int>(rows.size());
  if (rows.size() < 8) return 0;
  const double slope = TheilSen(rows, mids);  // columns per row
  return std::atan(slope) * 180.0 / std::numbers::pi;
}

}  // namespace

RadiographMeasures MeasureRadiograph(const dicom::PixelImage& im, int bits_stored, bool measure_tilt) {
  RadiographMeasures m;
  double spacing = std::max(im.pixel_spacing_mm[0], im.pixel_spacing_mm[1]);
  if (spacing <= 0) spacing = 360.0 / std::max(im.rows, im.columns);

  // Histogram quantities from a sample of <= ~250k pixels.
  const size_t n = im.values.size();
  const size_t stride = std::max<size_t>(1, n / 250000);
  std::vector<float> sample;
  sample.reserve(n / stride + 1);
  float vmax = -1e30f, vmin = 1e30f;
  for (size_t i = 0; i < n; i += stride) {
    sample.push_back(im.values[i]);
    vmax = std::max(vmax, im.values[i]);
    vmin = std::min(vmin, im.values[i]);
  }
  int bits = bits_stored;
  if (bits <= 0) {
    bits = 16;
    for (int b : {8, 10, 12, 14, 16}) {
      if (vmax <= std::ldexp(1.0, b) - 1) {
        bits = b;
        break;
      }
    }
  }
  m.bits = bits;
  const double full = std::ldexp(1.0, bits) - 1;
  const double floor_value = vmin < 0 ? vmin : 0.0;  // signed data: its own minimum
  size_t clipped = 0;
  for (float v : sample) clipped += (v <= floor_value + 0.002 * full || v >= 0.998 * full + floor_value) ? 1 : 0;
  m.clipped_fraction = static_cast<double>(clipped) / sample.size();
  const double p005 = Quantile(sample, 0.005), p01 = Quantile(sample, 0.01);
  const double p99 = Quantile(sample, 0.99), p995 = Quantile(sample, 0.995);
  m.range_fraction = (p995 - p005) / full;
  const double range = std::max(1e-6, p99 - p01);

  const int row_step = std::max(1, im.rows / 256);
  m.noise_sd = NoiseSd(im, -1e30f, 1e30f, row_step);
  m.snr = m.noise_sd > 0 ? range / m.noise_sd : 1e6;

  // Directional edge strength on a ~0.7 mm grid (block averages: the same
  // scale for a 512 and a 2048 pixel film of 36 cm), lightly smoothed
  // against noise: per direction the p99 of |g(x + 3 px) - g(x)| (~2.1 mm).
  // A line blur flattens the edges along its direction, so the weakest
  // direction drops.
  const int k = std::max(1, static_cast<int>(std::lround(0.7 / spacing)));
  Grid g = BlockAverage(im, k, spacing);
  Smooth121(g);
  const auto e = DirectionalEdgeStrength(g, 3.0 * g.spacing_mm, 0.99, [](float) { return true; });
  m.sharpness_min = *std::min_element(e.begin(), e.end()) / range;
  m.sharpness_max = *std::max_element(e.begin(), e.end()) / range;

  if (measure_tilt) m.tilt_deg = MidlineTilt(im, spacing, &m.tilt_rows);
  return m;
}

VolumeMeasures MeasureVolume(std::span<const dicom::PixelImage> slices, std::span<const double> positions_mm,
                             bool ct, double body_threshold) {
  VolumeMeasures m;
  const int n = static_cast<int>(slices.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return positions_mm[a] < positions_mm[b]; });
  m.lowest_slice = order.front();
  m.highest_slice = order.back();
  m.extent_mm = positions_mm[order.back()] - positions_mm[order.front()];
  if (n >= 2) {
    std::vector<float> gaps;
    for (int i = 1; i < n; ++i) gaps.push_back(static_cast<float>(positions_mm[order[i]] - positions_mm[order[i - 1]]));
    std::vector<float> tmp = gaps;
    m.median_spacing_mm = Quantile(tmp, 0.5);
    for (int i = 1; i < n; ++i) {
      if (gaps[i - 1] > m.max_gap_mm) m.max_gap_mm = gaps[i - 1], m.max_gap_slice = order[i];
    }
    m.max_gap_ratio = m.median_spacing_mm > 0 ? m.max_gap_mm / m.median_spacing_mm : 0;
  }

  // Per slice: body area, directional edge strength, noise.
  std::vector<double> area(n, 0), noise(n, 0);
  std::vector<std::array<double, 4>> edges(n);
  m.sharpness.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    const auto& im = slices[i];
    double spacing = std::max(im.pixel_spacing_mm[0], im.pixel_spacing_mm[1]);
    if (spacing <= 0) spacing = 240.0 / std::max(im.rows, im.columns);
    const int k = std::max(1, static_cast<int>(std::lround(1.0 / spacing)));
    Grid g = BlockAverage(im, k, spacing);
    size_t body = 0;
    for (float v : g.v) body += v > body_threshold ? 1 : 0;
    area[i] = static_cast<double>(body) / g.v.size();
    Smooth121(g);
    const float thr = static_cast<float>(body_threshold);
    edges[i] = DirectionalEdgeStrength(g, 2.0, 0.99, [thr](float v) { return v > thr; });
    m.sharpness[i] = *std::min_element(edges[i].begin(), edges[i].end());
    const int row_step = std::max(1, im.rows / 128);
    noise[i] = ct ? NoiseSd(im, 0.0f, 80.0f, row_step)  // brain and soft tissue, not bone or air
                  : NoiseSd(im, thr, 1e30f, row_step);
  }
  const double max_area = *std::max_element(area.begin(), area.end());
  if (max_area > 0) {
    m.lowest_end_area_fraction = area[m.lowest_slice] / max_area;
    m.highest_end_area_fraction = area[m.highest_slice] / max_area;
  }
  // Motion: per direction, a slice's edge strength over the median of the
  // same direction on its +-6 nearest slices (in position order) that show
  // the body; the weakest direction counts. Anatomy changing along the
  // series moves all four directions together; a line blur drops one.
  m.relative_sharpness.assign(n, 1.0);
  std::vector<float> noises, nb;
  for (int p = 0; p < n; ++p) {
    const int i = order[p];
    if (area[i] < 0.2 * max_area) continue;
    if (noise[i] > 0) noises.push_back(static_cast<float>(noise[i]));
    double worst = 1e30;
    for (int d = 0; d < 4; ++d) {
      nb.clear();
      for (int q = std::max(0, p - 6); q <= std::min(n - 1, p + 6); ++q) {
        if (q != p && area[order[q]] >= 0.2 * max_area) nb.push_back(static_cast<float>(edges[order[q]][d]));
      }
      if (nb.size() < 3) {
        worst = 1e30;
        break;
      }
      const double med = Quantile(nb, 0.5);
      if (med > 0) worst = std::min(worst, edges[i][d] / med);
    }
    if (worst >= 1e30) continue;
    m.relative_sharpness[i] = worst;
    if (worst < m.min_relative_sharpness || m.min_relative_sharpness_slice < 0) {
      m.min_relative_sharpness = worst;
      m.min_relative_sharpness_slice = i;
    }
  }
  m.noise_sd = noises.empty() ? 0 : Quantile(noises, 0.5);
  return m;
}

}  // namespace parallax::quality
