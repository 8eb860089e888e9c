#include "parallax/evidence/lesion_size.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>

#include <absl/status/status.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>

namespace parallax::evidence {
namespace {

// Voxel grid with mm distances.
struct Grid {
  int nz = 1, ny = 0, nx = 0;
  double sz = 1, sy = 1, sx = 1;  // mm per voxel along slices, rows, columns
  size_t Index(int z, int y, int x) const {
    return (static_cast<size_t>(z) * static_cast<size_t>(ny) + static_cast<size_t>(y)) * static_cast<size_t>(nx) +
           static_cast<size_t>(x);
  }
  double Dist2(int z, int y, int x, double cz, double cy, double cx) const {
    const double dz = (z - cz) * sz, dy = (y - cy) * sy, dx = (x - cx) * sx;
    return dz * dz + dy * dy + dx * dx;
  }
  // Voxel index bounds of the ball of radius r (mm) about (cz, cy, cx), clipped to the grid.
  void Box(double cz, double cy, double cx, double r, int* z0, int* z1, int* y0, int* y1, int* x0, int* x1) const {
    *z0 = std::max(0, static_cast<int>(std::floor(cz - r / sz)));
    *z1 = std::min(nz - 1, static_cast<int>(std::ceil(cz + r / sz)));
    *y0 = std::max(0, static_cast<int>(std::floor(cy - r / sy)));
    *y1 = std::min(ny - 1, static_cast<int>(std::ceil(cy + r / sy)));
    *x0 = std::max(0, static_cast<int>(std::floor(cx - r / sx)));
    *x1 = std::min(nx - 1, static_cast<int>(std::ceil(cx + r / sx)));
  }
};

float Median(std::vector<float>& v) {
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Median and robust sd (1.4826 MAD) of `values` (consumed).
void Robust(std::vector<float> values, double* median, double* sd) {
  const float m = Median(values);
  for (float& v : values) v = std::abs(v - m);
  const float mad = Median(values);
  *median = m;
  *sd = 1.4826 * mad;
}

}  // namespace

namespace {

absl::Status CheckLesionInput(const LesionSizeInput& in, const LesionSizeOptions& o) {
  if (in.rows <= 0 || in.columns <= 0 || in.slices <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lesion size: rows, columns and slices must be positive, not ", in.rows, " x ", in.columns, " x ",
                     in.slices));
  }
  const size_t n = static_cast<size_t>(in.rows) * static_cast<size_t>(in.columns) * static_cast<size_t>(in.slices);
  if (in.image.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("lesion size: the image has ", in.image.size(), " values, not ",
                                                   in.slices, " x ", in.rows, " x ", in.columns));
  }
  if (!in.region.empty() && in.region.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("lesion size: the region has ", in.region.size(),
                                                   " values, not the image's ", n));
  }
  if (in.peak_slice < 0 || in.peak_slice >= in.slices || in.peak_row < 0 || in.peak_row >= in.rows ||
      in.peak_column < 0 || in.peak_column >= in.columns) {
    return absl::InvalidArgumentError(absl::StrCat("lesion size: the peak (slice ", in.peak_slice, ", row ",
                                                   in.peak_row, ", column ", in.peak_column,
                                                   ") lies outside the image"));
  }
  if (!(in.pixel_spacing_mm[0] > 0) || !(in.pixel_spacing_mm[1] > 0)) {
    return absl::InvalidArgumentError("lesion size: pixel spacing must be positive (without it there is no size)");
  }
  if (in.slices > 1 && !(in.slice_spacing_mm > 0)) {
    return absl::InvalidArgumentError("lesion size: a volume needs a positive slice spacing");
  }
  if (!(o.fraction > 0 && o.fraction < 1) || !(o.search_radius_mm > 0) || !(o.max_radius_mm > 0) ||
      !(o.background_inner_mm >= 0) || !(o.background_outer_mm > o.background_inner_mm) || o.refine_passes < 0 ||
      !(o.min_contrast_sd >= 0) || o.opening_pixels < 0 || o.seed_slices_either_side < 0 ||
      o.closing_pixels < 0) {
    return absl::InvalidArgumentError(
        "lesion size: options out of range (fraction in (0, 1), positive radii, background inner < outer, "
        "non-negative passes, contrast and opening)");
  }
  return absl::OkStatus();
}

// MeasureLesion with the seed searched on `seed_slice` (inputs checked).
LesionSize MeasureFromSlice(const LesionSizeInput& in, const LesionSizeOptions& o, int seed_slice) {
  const size_t n = static_cast<size_t>(in.rows) * static_cast<size_t>(in.columns) * static_cast<size_t>(in.slices);
  Grid g;
  g.nz = in.slices;
  g.ny = in.rows;
  g.nx = in.columns;
  g.sy = in.pixel_spacing_mm[0];
  g.sx = in.pixel_spacing_mm[1];
  g.sz = in.slices > 1 ? in.slice_spacing_mm : 1.0;
  const bool film = in.slices == 1;
  const float sign = in.polarity == LesionPolarity::kBrighter ? 1.0f : -1.0f;
  const auto inside = [&](size_t i) { return in.image[i] > o.body_floor; };
  const auto value = [&](size_t i) { return sign * in.image[i]; };
  // In-plane box mean of radius r pixels at (z, y, x), tissue only.
  const auto local_mean = [&](int z, int y, int x, int r, bool* ok) {
    double sum = 0;
    int count = 0;
    for (int yy = std::max(0, y - r); yy <= std::min(g.ny - 1, y + r); ++yy) {
      for (int xx = std::max(0, x - r); xx <= std::min(g.nx - 1, x + r); ++xx) {
        const size_t i = g.Index(z, yy, xx);
        if (!inside(i)) continue;
        sum += value(i);
        ++count;
      }
    }
    *ok = count > 0;
    return count > 0 ? sum / count : 0.0;
  };

  LesionSize out;
  // 1. Seed: the most abnormal local mean (disc of ~2 mm) near the peak.
  const int seed_r = std::max(1, static_cast<int>(std::lround(2.0 / std::min(g.sy, g.sx))));
  {
    int z0, z1, y0, y1, x0, x1;
    g.Box(in.peak_slice, in.peak_row, in.peak_column, o.search_radius_mm, &z0, &z1, &y0, &y1, &x0, &x1);
    const double r2 = o.search_radius_mm * o.search_radius_mm;
    double best = -1e300;
    bool found = false;
    // Sparse on fine grids: every pixel of a ~1 mm grid is a candidate, a
    // 0.35 mm film every second.
    const int step = std::max(1, static_cast<int>(0.6 / std::min(g.sy, g.sx)));
    // On the peak's slice: the explained slice shows the lesion (a ring
    // tumour's rim around its core); a neighbouring slice may be another
    // bright structure.
    z0 = z1 = seed_slice;
    for (int z = z0; z <= z1; ++z) {
      for (int y = y0; y <= y1; y += step) {
        for (int x = x0; x <= x1; x += step) {
          if (g.Dist2(z, y, x, in.peak_slice, in.peak_row, in.peak_column) > r2) continue;
          const size_t i = g.Index(z, y, x);
          if (!inside(i) || (!in.region.empty() && in.region[i] == 0)) continue;
          bool ok = false;
          const double m = local_mean(z, y, x, seed_r, &ok);
          if (ok && m > best) {
            best = m;
            out.seed_slice = z, out.seed_row = y, out.seed_column = x;
            found = true;
          }
        }
      }
    }
    if (!found) {
      out.reason = "no tissue near the explanation's peak";
      return out;
    }
    out.level = best;
  }

  // 3 x 3 in-plane mean of the tissue (noise), in the ball the lesion may fill.
  int bz0, bz1, by0, by1, bx0, bx1;
  const double reach = std::max(o.max_radius_mm, o.background_outer_mm) + 25;
  g.Box(out.seed_slice, out.seed_row, out.seed_column, reach, &bz0, &bz1, &by0, &by1, &bx0, &bx1);
  std::vector<float> smooth(n, 0.0f);
  for (int z = bz0; z <= bz1; ++z) {
    for (int y = by0; y <= by1; ++y) {
      for (int x = bx0; x <= bx1; ++x) {
        bool ok = false;
        smooth[g.Index(z, y, x)] = static_cast<float>(local_mean(z, y, x, 1, &ok));
      }
    }
  }

  // 2. Normal tissue: shell about a centre, the lesion (when known) excluded.
  const auto normal = [&](double cz, double cy, double cx, double r_in, double r_out, const std::vector<uint8_t>* not_in,
                          double* median, double* sd) {
    int z0, z1, y0, y1, x0, x1;
    g.Box(cz, cy, cx, r_out, &z0, &z1, &y0, &y1, &x0, &x1);
    std::vector<float> shell;
    for (int z = z0; z <= z1; ++z) {
      for (int y = y0; y <= y1; ++y) {
        for (int x = x0; x <= x1; ++x) {
          const double d2 = g.Dist2(z, y, x, cz, cy, cx);
          if (d2 < r_in * r_in || d2 > r_out * r_out) continue;
          const size_t i = g.Index(z, y, x);
          if (!inside(i) || (not_in != nullptr && (*not_in)[i])) continue;
          shell.push_back(value(i));
        }
      }
    }
    if (shell.size() < 30) return false;
    if (!o.spread_below_median) {
      Robust(std::move(shell), median, sd);
      return true;
    }
    // The spread of the tissue darker than the median: brighter anatomy in
    // the shell (the heart, the mediastinum, ribs, the chest wall) widens
    // the upper half only.
    const float m = Median(shell);
    std::vector<float> below;
    for (float v : shell) {
      if (v < m) below.push_back(m - v);
    }
    *median = m;
    *sd = below.empty() ? 0.0 : 1.4826 * Median(below);
    return true;
  };

  const double max_r2 = o.max_radius_mm * o.max_radius_mm;
  int64_t ball_voxels = 0;
  for (int z = bz0; z <= bz1; ++z) {
    for (int y = by0; y <= by1; ++y) {
      for (int x = bx0; x <= bx1; ++x) {
        if (g.Dist2(z, y, x, out.seed_slice, out.seed_row, out.seed_column) <= max_r2) ++ball_voxels;
      }
    }
  }

  // 4-5. Threshold and region given the normal tissue; returns false (with
  // out.reason) when not measurable.
  std::vector<uint8_t> lesion;
  const auto segment = [&](double median, double sd, double min_contrast) -> bool {
    sd = std::max(sd, 1e-6 * std::max(1.0, std::abs(median)));
    out.normal_median = median;
    out.normal_sd = sd;
    out.contrast_sd = (out.level - median) / sd;
    if (out.contrast_sd < min_contrast) {
      out.reason = absl::StrFormat("the lesion is not distinguishable from the surrounding tissue (contrast %.1f sd, "
                                   "at least %.1f needed)",
                                   out.contrast_sd, min_contrast);
      return false;
    }
    const double t = median + o.fraction * (out.level - median);
    out.threshold = t;
    std::vector<uint8_t> above(n, 0);
    for (int z = bz0; z <= bz1; ++z) {
      for (int y = by0; y <= by1; ++y) {
        for (int x = bx0; x <= bx1; ++x) {
          const size_t i = g.Index(z, y, x);
          if (!inside(i) || smooth[i] <= t) continue;
          if (g.Dist2(z, y, x, out.seed_slice, out.seed_row, out.seed_column) > max_r2) continue;
          above[i] = 1;
        }
      }
    }
    // The seed, or the nearest voxel above the threshold in its disc.
    int sz = -1, sy = -1, sx = -1;
    for (int r = 0; r <= seed_r + 1 && sz < 0; ++r) {
      for (int y = out.seed_row - r; y <= out.seed_row + r && sz < 0; ++y) {
        for (int x = out.seed_column - r; x <= out.seed_column + r && sz < 0; ++x) {
          if (y < 0 || y >= g.ny || x < 0 || x >= g.nx) continue;
          if (above[g.Index(out.seed_slice, y, x)]) sz = out.seed_slice, sy = y, sx = x;
        }
      }
    }
    if (sz < 0) {
      out.reason = "nothing above the threshold at the seed";
      return false;
    }
    // In-plane opening: erode, keep the seed's component, dilate back within `above`.
    const auto component = [&](const std::vector<uint8_t>& mask, int z, int y, int x) {
      std::vector<uint8_t> c(n, 0);
      std::deque<std::array<int, 3>> q;
      c[g.Index(z, y, x)] = 1;
      q.push_back({z, y, x});
      static constexpr int kD[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
      while (!q.empty()) {
        const auto [cz, cy, cx] = q.front();
        q.pop_front();
        for (const auto& d : kD) {
          const int zz = cz + d[0], yy = cy + d[1], xx = cx + d[2];
          if (zz < bz0 || zz > bz1 || yy < by0 || yy > by1 || xx < bx0 || xx > bx1) continue;
          const size_t j = g.Index(zz, yy, xx);
          if (!mask[j] || c[j]) continue;
          c[j] = 1;
          q.push_back({zz, yy, xx});
        }
      }
      return c;
    };
    const int r = o.opening_pixels;
    std::vector<uint8_t> region;
    bool opened = false;
    if (r > 0) {
      std::vector<uint8_t> eroded(n, 0);
      for (int z = bz0; z <= bz1; ++z) {
        for (int y = by0; y <= by1; ++y) {
          for (int x = bx0; x <= bx1; ++x) {
            if (!above[g.Index(z, y, x)]) continue;
            bool all = true;
            for (int yy = y - r; yy <= y + r && all; ++yy) {
              for (int xx = x - r; xx <= x + r && all; ++xx) {
                all = yy >= 0 && yy < g.ny && xx >= 0 && xx < g.nx && above[g.Index(z, yy, xx)];
              }
            }
            eroded[g.Index(z, y, x)] = all;
          }
        }
      }
      // The seed's eroded component, when the seed survives erosion (within its disc).
      int ez = -1, ey = -1, ex = -1;
      for (int rr = 0; rr <= seed_r + 1 && ez < 0; ++rr) {
        for (int y = sy - rr; y <= sy + rr && ez < 0; ++y) {
          for (int x = sx - rr; x <= sx + rr && ez < 0; ++x) {
            if (y < 0 || y >= g.ny || x < 0 || x >= g.nx) continue;
            if (eroded[g.Index(sz, y, x)]) ez = sz, ey = y, ex = x;
          }
        }
      }
      if (ez >= 0) {
        const std::vector<uint8_t> core = component(eroded, ez, ey, ex);
        region.assign(n, 0);
        for (int z = bz0; z <= bz1; ++z) {
          for (int y = by0; y <= by1; ++y) {
            for (int x = bx0; x <= bx1; ++x) {
              if (!core[g.Index(z, y, x)]) continue;
              for (int yy = std::max(0, y - r); yy <= std::min(g.ny - 1, y + r); ++yy) {
                for (int xx = std::max(0, x - r); xx <= std::min(g.nx - 1, x + r); ++xx) {
                  const size_t j = g.Index(z, yy, xx);
                  if (above[j]) region[j] = 1;
                }
              }
            }
          }
        }
        opened = true;
      }
    }
    if (!opened) region = component(above, sz, sy, sx);
    // Holes enclosed in a slice (a necrotic core, a cavity).
    if (o.fill_holes) {
      for (int z = bz0; z <= bz1; ++z) {
        int y0 = g.ny, y1 = -1, x0 = g.nx, x1 = -1;
        for (int y = by0; y <= by1; ++y) {
          for (int x = bx0; x <= bx1; ++x) {
            if (!region[g.Index(z, y, x)]) continue;
            y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
          }
        }
        if (y1 < 0) continue;
        // Flood the outside from the box's border (a margin of 1 + the
        // closing radius), over the region closed in-plane (dilated then
        // eroded by closing_pixels: a rim broken by partial volume still
        // encloses its core).
        const int rc = o.closing_pixels, m = 1 + rc;
        const int h = y1 - y0 + 1 + 2 * m, w = x1 - x0 + 1 + 2 * m;
        std::vector<uint8_t> closed(static_cast<size_t>(h) * w, 0);
        for (int yy = 0; yy < h; ++yy) {
          for (int xx = 0; xx < w; ++xx) {
            const int y = yy + y0 - m, x = xx + x0 - m;
            closed[static_cast<size_t>(yy) * w + xx] =
                y >= 0 && y < g.ny && x >= 0 && x < g.nx && region[g.Index(z, y, x)];
          }
        }
        if (rc > 0) {
          std::vector<uint8_t> dilated(closed.size(), 0);
          for (int yy = 0; yy < h; ++yy) {
            for (int xx = 0; xx < w; ++xx) {
              bool any = false;
              for (int a = std::max(0, yy - rc); a <= std::min(h - 1, yy + rc) && !any; ++a) {
                for (int b = std::max(0, xx - rc); b <= std::min(w - 1, xx + rc) && !any; ++b) {
                  any = closed[static_cast<size_t>(a) * w + b];
                }
              }
              dilated[static_cast<size_t>(yy) * w + xx] = any;
            }
          }
          for (int yy = 0; yy < h; ++yy) {
            for (int xx = 0; xx < w; ++xx) {
              bool all = true;
              for (int a = yy - rc; a <= yy + rc && all; ++a) {
                for (int b = xx - rc; b <= xx + rc && all; ++b) {
                  all = a >= 0 && a < h && b >= 0 && b < w && dilated[static_cast<size_t>(a) * w + b];
                }
              }
              closed[static_cast<size_t>(yy) * w + xx] = all;
            }
          }
        }
        std::vector<uint8_t> outside(static_cast<size_t>(h) * w, 0);
        const auto in_region = [&](int yy, int xx) { return closed[static_cast<size_t>(yy) * w + xx] != 0; };
        std::deque<std::pair<int, int>> q;
        outside[0] = 1;
        q.push_back({0, 0});
        while (!q.empty()) {
          const auto [yy, xx] = q.front();
          q.pop_front();
          static constexpr int kD[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
          for (const auto& d : kD) {
            const int a = yy + d[0], b = xx + d[1];
            if (a < 0 || a >= h || b < 0 || b >= w) continue;
            uint8_t& seen = outside[static_cast<size_t>(a) * w + b];
            if (seen || in_region(a, b)) continue;
            seen = 1;
            q.push_back({a, b});
          }
        }
        for (int yy = 1; yy < h - 1; ++yy) {
          for (int xx = 1; xx < w - 1; ++xx) {
            if (outside[static_cast<size_t>(yy) * w + xx]) continue;
            const int y = yy + y0 - m, x = xx + x0 - m;
            if (y < 0 || y >= g.ny || x < 0 || x >= g.nx) continue;
            if (inside(g.Index(z, y, x))) region[g.Index(z, y, x)] = 1;
          }
        }
      }
    }
    lesion = std::move(region);
    return true;
  };

  double median = 0, sd = 0;
  if (!normal(out.seed_slice, out.seed_row, out.seed_column, o.background_inner_mm, o.background_outer_mm, nullptr,
              &median, &sd)) {
    out.reason = "too little tissue around the lesion to tell what is normal";
    return out;
  }
  const double first_gate = o.refine_passes > 0 && o.first_pass_min_contrast_sd >= 0
                                ? std::min(o.first_pass_min_contrast_sd, o.min_contrast_sd)
                                : o.min_contrast_sd;
  if (!segment(median, sd, first_gate)) return out;
  struct Segmented {
    std::vector<uint8_t> lesion;
    double median, sd, threshold, contrast;
  };
  std::optional<Segmented> kept;
  const auto restore = [&](Segmented&& r) {
    lesion = std::move(r.lesion);
    out.normal_median = r.median;
    out.normal_sd = r.sd;
    out.threshold = r.threshold;
    out.contrast_sd = r.contrast;
  };
  for (int pass = 0; pass < o.refine_passes; ++pass) {
    // Centre and extent of the lesion so far; the shell lies beyond it.
    double cz = 0, cy = 0, cx = 0;
    int64_t count = 0;
    for (int z = bz0; z <= bz1; ++z) {
      for (int y = by0; y <= by1; ++y) {
        for (int x = bx0; x <= bx1; ++x) {
          if (!lesion[g.Index(z, y, x)]) continue;
          cz += z, cy += y, cx += x;
          ++count;
        }
      }
    }
    cz /= count, cy /= count, cx /= count;
    double extent2 = 0;
    for (int z = bz0; z <= bz1; ++z) {
      for (int y = by0; y <= by1; ++y) {
        for (int x = bx0; x <= bx1; ++x) {
          if (lesion[g.Index(z, y, x)]) extent2 = std::max(extent2, g.Dist2(z, y, x, cz, cy, cx));
        }
      }
    }
    const double voxel = g.sx * g.sy * (film ? 1.0 : g.sz);
    const double r_eq = film ? std::sqrt(count * voxel / M_PI) : std::cbrt(3 * count * voxel / (4 * M_PI));
    const double r_in = std::sqrt(extent2) + 3, r_out = r_in + std::max(15.0, r_eq);
    std::vector<uint8_t> previous = lesion;
    if (!normal(cz, cy, cx, r_in, r_out, &previous, &median, &sd)) {
      if (out.contrast_sd < o.min_contrast_sd) {
        out.reason = "too little tissue around the lesion to tell what is normal";
        return out;
      }
      break;
    }
    // The region this shell surrounds, as segmented (kept when the shell
    // tells it from its surroundings, for fall_back_to_separated_region).
    Segmented before{lesion, out.normal_median, out.normal_sd, out.threshold, out.contrast_sd};
    if (segment(median, sd, o.min_contrast_sd)) {
      int64_t now = 0;
      for (uint8_t v : lesion) now += v;
      if (o.max_refine_growth > 0 && now > o.max_refine_growth * count) {
        // The refined threshold reached a bright structure joined to the
        // lesion (the mediastinum, a rib): the region this shell told
        // apart stands.
        restore(std::move(before));
        break;
      }
      kept = std::move(before);
      continue;
    }
    if (!o.fall_back_to_separated_region || !kept) return out;
    // This region leaked (along a rib, into the mediastinum): the shell
    // beyond it lies on brighter tissue. The last region whose own shell
    // told it apart stands.
    restore(*std::move(kept));
    out.reason.clear();
    break;
  }

  int64_t count = 0;
  std::vector<int64_t> per_slice(static_cast<size_t>(g.nz), 0);
  const double edge2 = std::pow(o.max_radius_mm - std::max({g.sx, g.sy, film ? 0.0 : g.sz}), 2);
  for (int z = bz0; z <= bz1; ++z) {
    for (int y = by0; y <= by1; ++y) {
      for (int x = bx0; x <= bx1; ++x) {
        if (!lesion[g.Index(z, y, x)]) continue;
        ++count;
        ++per_slice[static_cast<size_t>(z)];
        if (g.Dist2(z, y, x, out.seed_slice, out.seed_row, out.seed_column) >= edge2) out.reached_limit = true;
      }
    }
  }
  if (count * 2 > ball_voxels) {
    out.reason = "no edge found: the abnormal signal fills the search ball";
    return out;
  }
  out.voxels = count;
  out.measurable = true;
  const double pixel_cm2 = g.sx * g.sy / 100.0;
  out.area_cm2 = static_cast<double>(*std::max_element(per_slice.begin(), per_slice.end())) * pixel_cm2;
  if (!film) out.volume_ml = static_cast<double>(count) * g.sx * g.sy * g.sz / 1000.0;
  out.mask = std::move(lesion);
  return out;
}

}  // namespace

absl::StatusOr<LesionSize> MeasureLesion(const LesionSizeInput& in, const LesionSizeOptions& o) {
  if (absl::Status s = CheckLesionInput(in, o); !s.ok()) return s;
  // The peak's slice first; then the slices either side, the largest lesion
  // measured (one that stayed within max_radius_mm preferred).
  LesionSize best = MeasureFromSlice(in, o, in.peak_slice);
  for (int d = 1; d <= o.seed_slices_either_side; ++d) {
    for (int z : {in.peak_slice - d, in.peak_slice + d}) {
      if (z < 0 || z >= in.slices) continue;
      LesionSize other = MeasureFromSlice(in, o, z);
      if (!other.measurable) continue;
      const bool better = !best.measurable || (best.reached_limit && !other.reached_limit) ||
                          (best.reached_limit == other.reached_limit && other.voxels > best.voxels);
      if (better) best = std::move(other);
    }
  }
  return best;
}

LesionSizeOptions LesionSizeOptionsFor(BodyRegion region, const std::vector<float>& image) {
  LesionSizeOptions o;
  if (region == BodyRegion::kBrainMr && !image.empty()) {
    std::vector<float> v = image;
    const auto at = v.begin() + static_cast<std::ptrdiff_t>(0.99 * (v.size() - 1));
    std::nth_element(v.begin(), at, v.end());
    o.body_floor = 0.05f * *at;
    // A ring-enhancing tumour's rim lies up to ~17 mm from its core, where
    // the explanation may peak.
    o.search_radius_mm = 20;
    // The explanation may peak on the slice below or above a lesion's
    // bright part (a tumour's cap): seeds on two slices either side too.
    o.seed_slices_either_side = 2;
    // The shell around a brain lesion mixes grey and white matter, CSF and
    // oedema: its spread is anatomy as much as noise.
    o.min_contrast_sd = 2.5;
    // A ring-enhancing rim cut obliquely by a 5 mm slice is broken by
    // partial volume: closed before its core is filled.
    o.closing_pixels = 2;
  } else if (region == BodyRegion::kChestFilm) {
    o.max_radius_mm = 50;
    o.background_inner_mm = 25;
    o.background_outer_mm = 45;
    o.refine_passes = 3;
    // The spread of a film's surroundings is anatomy (ribs, vessels, the
    // heart's edge), not noise: a lesion 1.5 robust sd above it stands out.
    o.min_contrast_sd = 1.5;
    // The first shell, 25-45 mm around the seed, lies partly inside a
    // large mass or across ribs; it only has to find the lesion's core. The
    // gate that decides is the one on the shell beyond the segmented lesion.
    o.first_pass_min_contrast_sd = 0.75;
    // A region that leaks along a rib or into the mediastinum moves the
    // next shell onto them; the last region told apart stands.
    o.fall_back_to_separated_region = true;
    // ... and one that grows more than threefold in a refine pass has
    // reached the mediastinum or a rib joined to it.
    o.max_refine_growth = 3;
    // The contrast gate's spread from the shell's darker half: the lung
    // around a large mass is mixed with the heart, the mediastinum or the
    // chest wall, which widen the upper half only.
    o.spread_below_median = true;
    // A film's lesion thins towards its edge (a sphere's projection): the
    // threshold lies nearer the surroundings than half-way.
    o.fraction = 0.3;
  }
  return o;
}

size_t MeasuringSeries(const std::string& label, const std::vector<std::string>& series_roles) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string l = lower(label);
  const bool enhancing = (l.find("enhancing") != std::string::npos && l.find("non-enhancing") == std::string::npos &&
                          l.find("nonenhancing") == std::string::npos) ||
                         l.find("metasta") != std::string::npos;
  const bool flair = l.find("non-enhancing") != std::string::npos || l.find("nonenhancing") != std::string::npos ||
                     l.find("white matter") != std::string::npos;
  for (size_t i = 0; i < series_roles.size(); ++i) {
    const std::string r = lower(series_roles[i]);
    if (enhancing && (r.find("post") != std::string::npos || r.find("contrast") != std::string::npos)) return i;
    if (flair && r.find("flair") != std::string::npos) return i;
  }
  return 0;
}

absl::StatusOr<LesionSize> MeasureLesionAtPeak(BodyRegion region, const ImageGeometry& geometry,
                                               std::vector<float> image, int peak_slice, int peak_row,
                                               int peak_column) {
  if (!geometry.pixel_spacing_mm) {
    return absl::InvalidArgumentError("lesion size: the image has no pixel spacing (without it there is no size)");
  }
  double slice_mm = 0;
  if (geometry.slices > 1) {
    if (geometry.slice_spacing_mm) {
      slice_mm = *geometry.slice_spacing_mm;
    } else if (geometry.positions.size() == static_cast<size_t>(geometry.slices)) {
      std::vector<double> steps;
      for (size_t k = 1; k < geometry.positions.size(); ++k) {
        double d2 = 0;
        for (int a = 0; a < 3; ++a) d2 += std::pow(geometry.positions[k][a] - geometry.positions[k - 1][a], 2);
        steps.push_back(std::sqrt(d2));
      }
      std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2), steps.end());
      slice_mm = steps[steps.size() / 2];
    }
    if (!(slice_mm > 0)) return absl::InvalidArgumentError("lesion size: a volume without slice spacing");
  }
  LesionSizeInput in;
  in.rows = geometry.rows;
  in.columns = geometry.columns;
  in.slices = geometry.slices;
  in.pixel_spacing_mm = *geometry.pixel_spacing_mm;
  in.slice_spacing_mm = slice_mm;
  in.peak_slice = peak_slice;
  in.peak_row = peak_row;
  in.peak_column = peak_column;
  const LesionSizeOptions options = LesionSizeOptionsFor(region, image);
  in.image = std::move(image);
  return MeasureLesion(in, options);
}

}  // namespace parallax::evidence
