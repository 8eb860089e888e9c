#include "parallax/evidence/evidence.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <thread>
#include <utility>

#include <absl/status/status.h>
#include <absl/strings/str_cat.h>

namespace parallax::evidence {
namespace {

// Laterality (evidence.h): the phantom truth's rule.
constexpr double kMidlineBandMm = 4.0;          // half-width of the midline band
constexpr double kMidlineBandFraction = 0.02;   // of the image width, without spacing
constexpr double kMidlineShare = 0.7;           // > this within the band: MIDLINE
constexpr double kLeftShare = 0.85;             // >= this on the left: LEFT
constexpr double kRightShare = 0.15;            // <= this on the left: RIGHT
constexpr double kContralateralSize = 0.25;     // another component this big on the other side: BILATERAL
// Body / head mask: values above p1 + this x (p99 - p1) of the volume.
constexpr double kBodyLevel = 0.15;
constexpr double kMinBodyShare = 0.01;          // of a slice, to measure its midline
// Chest film lung field fallback (rows, fractions of the image height).
constexpr double kLungTopFallback = 0.08;
constexpr double kLungBottomFallback = 0.72;
// Brain compartments (mm).
constexpr double kSkullHu = 300;                // CT bone
constexpr double kMrScalpAndSkullMm = 8;        // MR: the cavity lies this far inside the head
constexpr double kExtraAxialContactMm = 2;
constexpr double kExtraAxialMedianMm = 8;
constexpr double kVentricularMidlineMm = 22;
constexpr double kVentricularDepthMm = 30;
constexpr double kInfratentorialShare = 0.25;   // lowest share of the cavity's craniocaudal extent

using Vec3 = std::array<double, 3>;
double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

struct Dims {
  int slices, rows, columns;
  size_t plane() const { return static_cast<size_t>(rows) * static_cast<size_t>(columns); }
  size_t size() const { return plane() * static_cast<size_t>(slices); }
};

// Labels the 26-connected components of voxels with value >= level (1, 2,
// ...; 0 = below); returns each component's voxel count (index = label).
std::vector<int64_t> LabelComponents(const std::vector<float>& values, const Dims& d, float level,
                                     std::vector<int32_t>* labels) {
  labels->assign(d.size(), 0);
  std::vector<int64_t> counts{0};
  std::vector<size_t> stack;
  for (size_t start = 0; start < d.size(); ++start) {
    if ((*labels)[start] != 0 || !(values[start] >= level)) continue;
    const int32_t label = static_cast<int32_t>(counts.size());
    int64_t count = 0;
    stack.assign(1, start);
    (*labels)[start] = label;
    while (!stack.empty()) {
      const size_t at = stack.back();
      stack.pop_back();
      ++count;
      const int s = static_cast<int>(at / d.plane());
      const int r = static_cast<int>((at % d.plane()) / static_cast<size_t>(d.columns));
      const int c = static_cast<int>(at % static_cast<size_t>(d.columns));
      for (int ds = -1; ds <= 1; ++ds) {
        const int ns = s + ds;
        if (ns < 0 || ns >= d.slices) continue;
        for (int dr = -1; dr <= 1; ++dr) {
          const int nr = r + dr;
          if (nr < 0 || nr >= d.rows) continue;
          for (int dc = -1; dc <= 1; ++dc) {
            const int nc = c + dc;
            if (nc < 0 || nc >= d.columns) continue;
            const size_t n = static_cast<size_t>(ns) * d.plane() + static_cast<size_t>(nr) * d.columns + nc;
            if ((*labels)[n] == 0 && values[n] >= level) {
              (*labels)[n] = label;
              stack.push_back(n);
            }
          }
        }
      }
    }
    counts.push_back(count);
  }
  return counts;
}

// The q-quantile (0..1) of up to ~1M evenly strided samples of `v`.
double Quantile(const std::vector<float>& v, double q) {
  const size_t stride = std::max<size_t>(1, v.size() / 1000000);
  std::vector<float> s;
  s.reserve(v.size() / stride + 1);
  for (size_t i = 0; i < v.size(); i += stride) {
    if (std::isfinite(v[i])) s.push_back(v[i]);
  }
  if (s.empty()) return 0;
  const size_t k = std::min(s.size() - 1, static_cast<size_t>(q * static_cast<double>(s.size() - 1) + 0.5));
  std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
  return s[k];
}

// Two-pass 3-4 chamfer distance (in units of 1/3 pixel) to the nearest pixel
// where `feature` is set; pixels with no feature anywhere get a large value.
std::vector<int32_t> ChamferDistance(const std::vector<uint8_t>& feature, int rows, int columns) {
  constexpr int32_t kFar = std::numeric_limits<int32_t>::max() / 4;
  std::vector<int32_t> d(feature.size());
  for (size_t i = 0; i < feature.size(); ++i) d[i] = feature[i] ? 0 : kFar;
  auto at = [&](int r, int c) -> int32_t& { return d[static_cast<size_t>(r) * columns + c]; };
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < columns; ++c) {
      int32_t v = at(r, c);
      if (c > 0) v = std::min(v, at(r, c - 1) + 3);
      if (r > 0) {
        v = std::min(v, at(r - 1, c) + 3);
        if (c > 0) v = std::min(v, at(r - 1, c - 1) + 4);
        if (c + 1 < columns) v = std::min(v, at(r - 1, c + 1) + 4);
      }
      at(r, c) = v;
    }
  }
  for (int r = rows - 1; r >= 0; --r) {
    for (int c = columns - 1; c >= 0; --c) {
      int32_t v = at(r, c);
      if (c + 1 < columns) v = std::min(v, at(r, c + 1) + 3);
      if (r + 1 < rows) {
        v = std::min(v, at(r + 1, c) + 3);
        if (c + 1 < columns) v = std::min(v, at(r + 1, c + 1) + 4);
        if (c > 0) v = std::min(v, at(r + 1, c - 1) + 4);
      }
      at(r, c) = v;
    }
  }
  return d;
}

// 1 where a pixel with barrier == 0 is reachable from the image border
// through barrier == 0 pixels (4-connected).
// A scanline flood fill: each seed fills its whole run along the row, then
// seeds the runs of open pixels above and below it.
std::vector<uint8_t> ReachableFromBorder(const std::vector<uint8_t>& barrier, int rows, int columns) {
  std::vector<uint8_t> out(barrier.size(), 0);
  std::vector<std::pair<int, int>> seeds;  // (row, column)
  const auto open = [&](size_t i) { return !barrier[i] && !out[i]; };
  for (int c = 0; c < columns; ++c) seeds.emplace_back(0, c), seeds.emplace_back(rows - 1, c);
  for (int r = 0; r < rows; ++r) seeds.emplace_back(r, 0), seeds.emplace_back(r, columns - 1);
  while (!seeds.empty()) {
    const auto [r, c] = seeds.back();
    seeds.pop_back();
    const size_t row = static_cast<size_t>(r) * columns;
    if (!open(row + c)) continue;
    int left = c, right = c;
    while (left > 0 && open(row + left - 1)) --left;
    while (right + 1 < columns && open(row + right + 1)) ++right;
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(row + left),
              out.begin() + static_cast<std::ptrdiff_t>(row + right + 1), 1);
    for (const int nr : {r - 1, r + 1}) {
      if (nr < 0 || nr >= rows) continue;
      const size_t next = static_cast<size_t>(nr) * columns;
      for (int x = left; x <= right; ++x) {
        if (open(next + x) && (x == left || !open(next + x - 1))) seeds.emplace_back(nr, x);
      }
    }
  }
  return out;
}

// Square dilation of `m` by `radius` pixels (separable max).
std::vector<uint8_t> Dilate(const std::vector<uint8_t>& m, int rows, int columns, int radius) {
  if (radius <= 0) return m;
  std::vector<uint8_t> tmp(m.size(), 0), out(m.size(), 0);
  // Along each row: the first non-zero value in [c - radius, c + radius],
  // found through the index of the next non-zero pixel at or after each column.
  std::vector<int> next_set(static_cast<size_t>(columns) + 1);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* in = m.data() + static_cast<size_t>(r) * columns;
    uint8_t* t = tmp.data() + static_cast<size_t>(r) * columns;
    next_set[static_cast<size_t>(columns)] = columns;
    for (int c = columns - 1; c >= 0; --c) next_set[static_cast<size_t>(c)] = in[c] ? c : next_set[static_cast<size_t>(c) + 1];
    for (int c = 0; c < columns; ++c) {
      const int k = next_set[static_cast<size_t>(std::max(0, c - radius))];
      t[c] = k <= std::min(columns - 1, c + radius) ? in[k] : 0;
    }
  }
  // Down the columns row by row (contiguous reads): each pixel keeps the
  // first non-zero value in increasing k, as a per-pixel scan would.
  for (int r = 0; r < rows; ++r) {
    uint8_t* o = out.data() + static_cast<size_t>(r) * columns;
    for (int k = std::max(0, r - radius); k <= std::min(rows - 1, r + radius); ++k) {
      const uint8_t* t = tmp.data() + static_cast<size_t>(k) * columns;
      for (int c = 0; c < columns; ++c) {
        if (!o[c]) o[c] = t[c];
      }
    }
  }
  return out;
}

// How a pixel maps to the patient's left-right axis: x = x0[slice] +
// column * per_column + row * per_row (+x = patient left; relative units,
// mm when spacing is known, else pixels).
struct LeftRightAxis {
  bool known = false;
  double per_column = 0, per_row = 0;
  std::vector<double> x0;  // per slice
  std::string how;         // for the reason
  std::string why_not;
  double X(int slice, double row, double column) const {
    return x0[static_cast<size_t>(slice)] + column * per_column + row * per_row;
  }
};

struct Context {
  const EvidenceInput& in;
  Dims d;
  double row_mm = 1, column_mm = 1;
  bool has_spacing = false;
  bool is_film = false;
  double p1 = 0, p99 = 0;
};

bool HasLetter(const std::string& s, char letter) { return s.find(letter) != std::string::npos; }

LeftRightAxis AxisFromOrientation(const Context& ctx) {
  LeftRightAxis axis;
  const auto& g = ctx.in.geometry;
  const auto& o = *g.orientation;
  const Vec3 row_dir{o[0], o[1], o[2]}, column_dir{o[3], o[4], o[5]};
  if (std::abs(row_dir[0]) < 0.5 && std::abs(column_dir[0]) < 0.5) {
    axis.why_not = "the image plane does not contain the patient's left-right axis (e.g. sagittal)";
    return axis;
  }
  axis.known = true;
  axis.per_column = row_dir[0] * ctx.column_mm;
  axis.per_row = column_dir[0] * ctx.row_mm;
  axis.x0.assign(static_cast<size_t>(ctx.d.slices), 0.0);
  if (g.positions.size() == static_cast<size_t>(ctx.d.slices) && ctx.has_spacing) {
    for (int s = 0; s < ctx.d.slices; ++s) axis.x0[static_cast<size_t>(s)] = g.positions[static_cast<size_t>(s)][0];
  }
  axis.how = "ImageOrientationPatient";
  return axis;
}

LeftRightAxis AxisFromPatientOrientation(const Context& ctx) {
  LeftRightAxis axis;
  const auto& po = ctx.in.geometry.patient_orientation;
  if (po.empty() || po[0].empty()) {
    axis.why_not = "no ImageOrientationPatient and no PatientOrientation";
    return axis;
  }
  const bool left = HasLetter(po[0], 'L'), right = HasLetter(po[0], 'R');
  const bool row_left = po.size() > 1 && HasLetter(po[1], 'L'), row_right = po.size() > 1 && HasLetter(po[1], 'R');
  if (left == right && row_left == row_right) {
    axis.why_not = absl::StrCat("PatientOrientation '", po[0], po.size() > 1 ? "\\" + po[1] : std::string(),
                                "' has no left-right direction (e.g. a lateral view)");
    return axis;
  }
  axis.known = true;
  axis.per_column = left == right ? 0.0 : (left ? ctx.column_mm : -ctx.column_mm);
  axis.per_row = row_left == row_right ? 0.0 : (row_left ? ctx.row_mm : -ctx.row_mm);
  axis.x0.assign(static_cast<size_t>(ctx.d.slices), 0.0);
  axis.how = absl::StrCat("PatientOrientation '", po[0], "'");
  return axis;
}

// The body / head mask of one slice: values above p1 + kBodyLevel (p99 - p1).
std::vector<uint8_t> BodyMask(const Context& ctx, int slice) {
  const size_t plane = ctx.d.plane();
  std::vector<uint8_t> m(plane, 0);
  const double level = ctx.p1 + kBodyLevel * (ctx.p99 - ctx.p1);
  const float* v = ctx.in.image.data() + static_cast<size_t>(slice) * plane;
  for (size_t i = 0; i < plane; ++i) m[i] = v[i] > level;
  return m;
}

// Per slice: the patient's midline on the left-right axis, from the centroid
// of the body mask (volumes); NaN when the slice has too little body.
std::vector<double> VolumeMidlines(const Context& ctx, const LeftRightAxis& axis, const std::vector<uint8_t>& needed) {
  std::vector<double> mid(static_cast<size_t>(ctx.d.slices), std::nan(""));
  if (ctx.in.image.empty() || ctx.p99 <= ctx.p1) return mid;
  for (int s = 0; s < ctx.d.slices; ++s) {
    if (!needed[static_cast<size_t>(s)]) continue;
    const std::vector<uint8_t> m = BodyMask(ctx, s);
    double sum = 0;
    int64_t n = 0;
    for (int r = 0; r < ctx.d.rows; ++r) {
      for (int c = 0; c < ctx.d.columns; ++c) {
        if (m[static_cast<size_t>(r) * ctx.d.columns + c]) sum += axis.X(s, r, c), ++n;
      }
    }
    if (static_cast<double>(n) >= kMinBodyShare * static_cast<double>(ctx.d.plane())) {
      mid[static_cast<size_t>(s)] = sum / static_cast<double>(n);
    }
  }
  return mid;
}

// Chest film: the spine / upper mediastinum column, the densest band of
// the column profile over rows 15%..45% within columns 35%..65%; -1 when flat.
double FilmMidlineColumn(const Context& ctx) {
  if (ctx.in.image.empty()) return -1;
  const int rows = ctx.d.rows, columns = ctx.d.columns;
  const int r0 = rows * 15 / 100, r1 = std::max(r0 + 1, rows * 45 / 100);
  std::vector<double> profile(static_cast<size_t>(columns), 0);
  for (int r = r0; r < r1; ++r) {
    for (int c = 0; c < columns; ++c) profile[static_cast<size_t>(c)] += ctx.in.image[static_cast<size_t>(r) * columns + c];
  }
  const int half = std::max(1, columns / 40);
  double best = -std::numeric_limits<double>::infinity(), worst = std::numeric_limits<double>::infinity();
  int best_c = -1;
  for (int c = columns * 35 / 100; c <= columns * 65 / 100; ++c) {
    double s = 0;
    int n = 0;
    for (int k = std::max(0, c - half); k <= std::min(columns - 1, c + half); ++k) s += profile[static_cast<size_t>(k)], ++n;
    s /= n;
    if (s > best) best = s, best_c = c;
    worst = std::min(worst, s);
  }
  const double span = (ctx.p99 - ctx.p1) * (r1 - r0);
  if (best_c < 0 || !(best - worst > 0.02 * span)) return -1;
  return best_c;
}

Side SideOf(double left_fraction, double midline_fraction) {
  if (midline_fraction > kMidlineShare) return Side::kMidline;
  if (left_fraction >= kLeftShare) return Side::kLeft;
  if (left_fraction <= kRightShare) return Side::kRight;
  return Side::kBilateral;
}

// The intracranial cavity of slice `s` and, when `depth` is not null, each
// pixel's depth below its inner surface (mm); false when no cavity is found.
bool SliceCavity(const Context& ctx, int s, std::vector<uint8_t>* cavity, std::vector<float>* depth) {
  const int rows = ctx.d.rows, columns = ctx.d.columns;
  const size_t plane = ctx.d.plane();
  const float* v = ctx.in.image.data() + static_cast<size_t>(s) * plane;
  const double pixel_mm = 0.5 * (ctx.row_mm + ctx.column_mm);
  cavity->assign(plane, 0);
  if (ctx.in.body_region == BodyRegion::kHeadCt) {
    // Inside the skull: not reachable from the border around bone dilated by
    // ~2 mm (closes sutures and thin gaps), and not bone itself.
    std::vector<uint8_t> bone(plane, 0);
    for (size_t i = 0; i < plane; ++i) bone[i] = v[i] > kSkullHu;
    const int radius = std::max(1, static_cast<int>(std::lround(2.0 / pixel_mm)));
    const std::vector<uint8_t> outside = ReachableFromBorder(Dilate(bone, rows, columns, radius), rows, columns);
    int64_t n = 0;
    for (size_t i = 0; i < plane; ++i) {
      (*cavity)[i] = !outside[i] && !bone[i] && v[i] > -300;
      n += (*cavity)[i];
    }
    if (static_cast<double>(n) * ctx.row_mm * ctx.column_mm < 400) return false;  // < 4 cm2
    if (depth == nullptr) return true;
    std::vector<uint8_t> feature(plane);
    for (size_t i = 0; i < plane; ++i) feature[i] = !(*cavity)[i];
    const std::vector<int32_t> cd = ChamferDistance(feature, rows, columns);
    depth->assign(plane, 0);
    for (size_t i = 0; i < plane; ++i) (*depth)[i] = static_cast<float>(cd[i] / 3.0 * pixel_mm);
    return true;
  }
  // MR: the head mask with its holes filled; the cavity is what lies more
  // than kMrScalpAndSkullMm inside it.
  const std::vector<uint8_t> head = BodyMask(ctx, s);
  const std::vector<uint8_t> outside = ReachableFromBorder(head, rows, columns);
  const std::vector<int32_t> cd = ChamferDistance(outside, rows, columns);
  if (depth != nullptr) depth->assign(plane, 0);
  int64_t n = 0;
  for (size_t i = 0; i < plane; ++i) {
    const double inside_mm = cd[i] / 3.0 * pixel_mm;
    (*cavity)[i] = inside_mm >= kMrScalpAndSkullMm;
    if (depth != nullptr) (*depth)[i] = static_cast<float>(std::max(0.0, inside_mm - kMrScalpAndSkullMm));
    n += (*cavity)[i];
  }
  return static_cast<double>(n) * ctx.row_mm * ctx.column_mm >= 400;
}

// Runs fn(0) .. fn(slices - 1), spread over up to kSliceThreads threads
// (each index once; fn must only write what belongs to its index).
constexpr int kSliceThreads = 2;
template <typename Fn>
void ForEachSlice(int slices, const Fn& fn) {
  const int threads = std::min({kSliceThreads, slices, static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))});
  if (threads <= 1) {
    for (int s = 0; s < slices; ++s) fn(s);
    return;
  }
  std::atomic<int> next{0};
  const auto work = [&] {
    for (int s = next++; s < slices; s = next++) fn(s);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

double Median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  const size_t k = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::optional<double> SliceSpacing(const ImageGeometry& g) {
  if (g.slice_spacing_mm) return *g.slice_spacing_mm;
  if (g.positions.size() < 2) return std::nullopt;
  std::optional<Vec3> normal;
  if (g.orientation) {
    const auto& o = *g.orientation;
    normal = Cross({o[0], o[1], o[2]}, {o[3], o[4], o[5]});
  }
  std::vector<double> steps;
  for (size_t i = 1; i < g.positions.size(); ++i) {
    const Vec3 delta{g.positions[i][0] - g.positions[i - 1][0], g.positions[i][1] - g.positions[i - 1][1],
                     g.positions[i][2] - g.positions[i - 1][2]};
    steps.push_back(normal ? std::abs(Dot(delta, *normal)) : std::sqrt(Dot(delta, delta)));
  }
  const double m = Median(steps);
  if (!(m > 1e-6)) return std::nullopt;
  return m;
}

absl::Status Validate(const EvidenceInput& in, const EvidenceOptions& options) {
  if (!(options.threshold > 0 && options.threshold < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("evidence: threshold ", options.threshold, " is not in (0, 1)"));
  }
  const ImageGeometry& g = in.geometry;
  if (g.rows <= 0 || g.columns <= 0 || g.slices <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("evidence: bad size ", g.slices, " x ", g.rows, " x ", g.columns, " (slices x rows x columns)"));
  }
  const size_t n = static_cast<size_t>(g.rows) * static_cast<size_t>(g.columns) * static_cast<size_t>(g.slices);
  if (in.heatmap.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("evidence: heatmap has ", in.heatmap.size(), " values, expected ", n));
  }
  if (!in.image.empty() && in.image.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("evidence: image has ", in.image.size(), " values, expected ", n));
  }
  if (!g.positions.empty() && g.positions.size() != static_cast<size_t>(g.slices)) {
    return absl::InvalidArgumentError(
        absl::StrCat("evidence: ", g.positions.size(), " image positions for ", g.slices, " slices"));
  }
  if (g.pixel_spacing_mm && !((*g.pixel_spacing_mm)[0] > 0 && (*g.pixel_spacing_mm)[1] > 0 &&
                              std::isfinite((*g.pixel_spacing_mm)[0]) && std::isfinite((*g.pixel_spacing_mm)[1]))) {
    return absl::InvalidArgumentError("evidence: pixel spacing must be positive");
  }
  if (g.slice_spacing_mm && !(*g.slice_spacing_mm > 0 && std::isfinite(*g.slice_spacing_mm))) {
    return absl::InvalidArgumentError("evidence: slice spacing must be positive");
  }
  for (float v : in.heatmap) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("evidence: heatmap holds a non-finite value");
  }
  return absl::OkStatus();
}

}  // namespace

const char* BodyRegionName(BodyRegion region) {
  switch (region) {
    case BodyRegion::kChestFilm: return "chest film";
    case BodyRegion::kHeadCt: return "head CT";
    case BodyRegion::kBrainMr: return "brain MR";
    case BodyRegion::kBoneFilm: return "bone film";
    case BodyRegion::kOther: return "other";
  }
  return "other";
}

const char* SideName(Side side) {
  switch (side) {
    case Side::kLeft: return "left";
    case Side::kRight: return "right";
    case Side::kBilateral: return "bilateral";
    case Side::kMidline: return "midline";
    case Side::kUnspecified: return "unspecified";
  }
  return "unspecified";
}

absl::StatusOr<Evidence> DescribeEvidence(const EvidenceInput& in, const EvidenceOptions& options) {
  if (absl::Status s = Validate(in, options); !s.ok()) return s;
  const ImageGeometry& g = in.geometry;
  Context ctx{in, Dims{g.slices, g.rows, g.columns}};
  if (g.pixel_spacing_mm) {
    ctx.has_spacing = true;
    ctx.row_mm = (*g.pixel_spacing_mm)[0];
    ctx.column_mm = (*g.pixel_spacing_mm)[1];
  }
  ctx.is_film = in.body_region == BodyRegion::kChestFilm || in.body_region == BodyRegion::kBoneFilm ||
                (!g.orientation && g.slices == 1);
  if (!in.image.empty()) {
    ctx.p1 = Quantile(in.image, 0.01);
    ctx.p99 = Quantile(in.image, 0.99);
  }
  const Dims& d = ctx.d;

  // The peak (first maximum in slice, row, column order).
  const auto peak_it = std::max_element(in.heatmap.begin(), in.heatmap.end());
  const float peak = *peak_it;
  if (!(peak > 0)) return absl::FailedPreconditionError("evidence: the heatmap has no positive value");
  const size_t peak_index = static_cast<size_t>(peak_it - in.heatmap.begin());

  Evidence ev;
  ev.threshold = options.threshold;
  Region& region = ev.region;
  region.peak_value = peak;
  region.peak_slice = static_cast<int>(peak_index / d.plane());
  region.peak_row = static_cast<int>((peak_index % d.plane()) / static_cast<size_t>(d.columns));
  region.peak_column = static_cast<int>(peak_index % static_cast<size_t>(d.columns));

  std::vector<int32_t> labels;
  const std::vector<int64_t> counts =
      LabelComponents(in.heatmap, d, static_cast<float>(options.threshold * peak), &labels);
  const int32_t main_label = labels[peak_index];

  // The region, its box, centroid, and per-slice extent.
  region.mask.assign(d.size(), 0);
  region.first_slice = d.slices;
  region.last_slice = -1;
  region.min_row = d.rows, region.max_row = -1, region.min_column = d.columns, region.max_column = -1;
  double sum_s = 0, sum_r = 0, sum_c = 0;
  std::vector<uint8_t> slice_has(static_cast<size_t>(d.slices), 0);
  std::vector<int64_t> slice_count(static_cast<size_t>(d.slices), 0);
  std::vector<double> slice_sum_r(static_cast<size_t>(d.slices), 0), slice_sum_c(static_cast<size_t>(d.slices), 0);
  for (size_t i = 0; i < d.size(); ++i) {
    if (labels[i] != main_label) continue;
    region.mask[i] = 1;
    const int s = static_cast<int>(i / d.plane());
    const int r = static_cast<int>((i % d.plane()) / static_cast<size_t>(d.columns));
    const int c = static_cast<int>(i % static_cast<size_t>(d.columns));
    ++region.voxel_count;
    sum_s += s, sum_r += r, sum_c += c;
    ++slice_count[static_cast<size_t>(s)];
    slice_sum_r[static_cast<size_t>(s)] += r;
    slice_sum_c[static_cast<size_t>(s)] += c;
    slice_has[static_cast<size_t>(s)] = 1;
    region.first_slice = std::min(region.first_slice, s);
    region.last_slice = std::max(region.last_slice, s);
    region.min_row = std::min(region.min_row, r), region.max_row = std::max(region.max_row, r);
    region.min_column = std::min(region.min_column, c), region.max_column = std::max(region.max_column, c);
  }
  const double n = static_cast<double>(region.voxel_count);
  region.centroid_slice = sum_s / n;
  region.centroid_row = sum_r / n;
  region.centroid_column = sum_c / n;
  region.peak_slice_pixels = slice_count[static_cast<size_t>(region.peak_slice)];
  if (g.orientation && ctx.has_spacing && !g.positions.empty()) {
    const auto& o = *g.orientation;
    Vec3 p{0, 0, 0};
    for (int s = 0; s < d.slices; ++s) {
      const double k = static_cast<double>(slice_count[static_cast<size_t>(s)]);
      if (k == 0) continue;
      const double r = slice_sum_r[static_cast<size_t>(s)] / k, c = slice_sum_c[static_cast<size_t>(s)] / k;
      for (int a = 0; a < 3; ++a) {
        p[a] += k * (g.positions[static_cast<size_t>(s)][a] + c * ctx.column_mm * o[a] + r * ctx.row_mm * o[3 + a]);
      }
    }
    region.centroid_patient_mm = Vec3{p[0] / n, p[1] / n, p[2] / n};
  }

  // Size.
  if (ctx.has_spacing) {
    ev.area_cm2 = static_cast<double>(region.peak_slice_pixels) * ctx.row_mm * ctx.column_mm / 100.0;
    if (d.slices > 1) {
      if (const std::optional<double> spacing = SliceSpacing(g)) {
        ev.volume_ml = n * ctx.row_mm * ctx.column_mm * *spacing / 1000.0;
      }
    }
  }

  // Laterality.
  LeftRightAxis axis;
  std::vector<double> midline;  // per slice, in the axis' units
  std::string midline_how;
  if (in.body_region == BodyRegion::kBoneFilm) {
    const std::string& lat = g.laterality_attribute;
    if (lat == "L") ev.laterality = Side::kLeft, ev.left_fraction = 1;
    else if (lat == "R") ev.laterality = Side::kRight;
    else if (lat == "B") ev.laterality = Side::kBilateral, ev.left_fraction = 0.5;
    ev.laterality_reason = ev.laterality == Side::kUnspecified
                               ? "bone film without a Laterality attribute (the limb's side is not in the pixels)"
                               : "the limb's side from the Laterality attribute";
  } else {
    if (g.orientation) {
      axis = AxisFromOrientation(ctx);
    } else {
      axis = AxisFromPatientOrientation(ctx);
    }
    if (!axis.known) {
      ev.laterality_reason = axis.why_not;
    } else {
      midline.assign(static_cast<size_t>(d.slices), std::nan(""));
      const double centre_r = (d.rows - 1) / 2.0, centre_c = (d.columns - 1) / 2.0;
      if (ctx.is_film) {
        const double column = in.body_region == BodyRegion::kChestFilm ? FilmMidlineColumn(ctx) : -1;
        for (int s = 0; s < d.slices; ++s) {
          midline[static_cast<size_t>(s)] = axis.X(s, centre_r, column >= 0 ? column : centre_c);
        }
        midline_how = column >= 0 ? "midline at the spine" : "midline at the image centre";
      } else {
        std::vector<uint8_t> all(static_cast<size_t>(d.slices), 1);
        const std::vector<double> measured = VolumeMidlines(ctx, axis, all);
        // Slices with too little body take the mean of the measured ones.
        double sum = 0;
        int k = 0;
        for (size_t s = 0; s < measured.size(); ++s) {
          if (std::isfinite(measured[s])) sum += measured[s] - axis.x0[s], ++k;
        }
        bool any_fallback = false, centre = k == 0;
        for (int s = 0; s < d.slices; ++s) {
          if (std::isfinite(measured[static_cast<size_t>(s)])) {
            midline[static_cast<size_t>(s)] = measured[static_cast<size_t>(s)];
          } else {
            any_fallback = any_fallback || slice_has[static_cast<size_t>(s)];
            midline[static_cast<size_t>(s)] =
                k > 0 ? axis.x0[static_cast<size_t>(s)] + sum / k : axis.X(s, centre_r, centre_c);
          }
        }
        midline_how = centre ? "midline at the image centre (no body found)"
                             : (any_fallback ? "midline from the body mask (mean of other slices on some)"
                                             : "midline from the body mask");
      }
      const double band = ctx.has_spacing ? kMidlineBandMm : kMidlineBandFraction * d.columns;
      // Left share of every component (the region and its rivals).
      std::vector<double> left(counts.size(), 0), mid(counts.size(), 0);
      for (size_t i = 0; i < d.size(); ++i) {
        const int32_t label = labels[i];
        if (label == 0) continue;
        const int s = static_cast<int>(i / d.plane());
        const int r = static_cast<int>((i % d.plane()) / static_cast<size_t>(d.columns));
        const int c = static_cast<int>(i % static_cast<size_t>(d.columns));
        const double x = axis.X(s, r, c) - midline[static_cast<size_t>(s)];
        if (x > 0) left[static_cast<size_t>(label)] += 1;
        if (std::abs(x) < band) mid[static_cast<size_t>(label)] += 1;
      }
      ev.left_fraction = left[static_cast<size_t>(main_label)] / n;
      ev.midline_fraction = mid[static_cast<size_t>(main_label)] / n;
      ev.laterality = SideOf(ev.left_fraction, ev.midline_fraction);
      ev.laterality_reason = absl::StrCat(axis.how, ", ", midline_how);
      if (ev.laterality == Side::kLeft || ev.laterality == Side::kRight) {
        for (size_t label = 1; label < counts.size(); ++label) {
          if (static_cast<int32_t>(label) == main_label ||
              static_cast<double>(counts[label]) < kContralateralSize * n) {
            continue;
          }
          const Side other = SideOf(left[label] / static_cast<double>(counts[label]),
                                    mid[label] / static_cast<double>(counts[label]));
          if ((other == Side::kLeft || other == Side::kRight) && other != ev.laterality) {
            ev.laterality = Side::kBilateral;
            absl::StrAppend(&ev.laterality_reason, "; a second region above the threshold on the other side");
            break;
          }
        }
      }
    }
  }

  // Zone / compartment.
  if (in.body_region == BodyRegion::kChestFilm) {
    const auto& po = g.patient_orientation;
    int direction = 0;  // +1: rows run to the feet, -1: to the head
    if (po.size() > 1 && HasLetter(po[1], 'F') != HasLetter(po[1], 'H')) direction = HasLetter(po[1], 'F') ? 1 : -1;
    if (direction == 0) {
      ev.zone_reason = "PatientOrientation does not say whether rows run to the head or the feet";
    } else {
      double top = kLungTopFallback * d.rows, bottom = kLungBottomFallback * d.rows;
      std::string how = "lung field as a fixed share of the image (8%..72% of its height)";
      if (!in.image.empty()) {
        // Row profile over the lung columns (either side of the image's
        // middle); the lungs are the longest run of rows darker than the
        // profile's mid-level (neck and shoulders above, abdomen below).
        const size_t base = static_cast<size_t>(region.peak_slice) * d.plane();
        std::vector<double> profile(static_cast<size_t>(d.rows), 0);
        for (int r = 0; r < d.rows; ++r) {
          double s = 0;
          int k = 0;
          for (int c = 0; c < d.columns; ++c) {
            const double u = std::abs((c + 0.5) / d.columns - 0.5);
            if (u < 0.08 || u > 0.35) continue;
            s += in.image[base + static_cast<size_t>(r) * d.columns + c], ++k;
          }
          profile[static_cast<size_t>(r)] = s / std::max(1, k);
        }
        const int lo = d.rows * 2 / 100, hi = d.rows - 1 - d.rows * 2 / 100;
        double pmin = std::numeric_limits<double>::infinity(), pmax = -pmin;
        for (int r = lo; r <= hi; ++r) {
          pmin = std::min(pmin, profile[static_cast<size_t>(r)]);
          pmax = std::max(pmax, profile[static_cast<size_t>(r)]);
        }
        const double level = 0.5 * (pmin + pmax);
        int best_start = -1, best_length = 0;
        for (int r = lo; r <= hi;) {
          if (profile[static_cast<size_t>(r)] < level) {
            int e = r;
            while (e + 1 <= hi && profile[static_cast<size_t>(e + 1)] < level) ++e;
            if (e - r + 1 > best_length) best_start = r, best_length = e - r + 1;
            r = e + 1;
          } else {
            ++r;
          }
        }
        if (pmax > pmin && best_length >= 0.3 * d.rows) {
          top = best_start;
          bottom = best_start + best_length - 1;
          how = "lung field from the image's row profile";
        }
      }
      double t = (region.centroid_row - top) / std::max(1.0, bottom - top);
      if (direction < 0) t = 1 - t;
      const char* third = t < 1.0 / 3 ? "upper" : (t < 2.0 / 3 ? "mid" : "lower");
      const std::string side = ev.laterality == Side::kLeft    ? "left "
                               : ev.laterality == Side::kRight ? "right "
                                                               : "";
      ev.zone = absl::StrCat(side, third, " zone");
      ev.zone_reason = how;
    }
  } else if (in.body_region == BodyRegion::kHeadCt || in.body_region == BodyRegion::kBrainMr) {
    if (!ctx.has_spacing) {
      ev.zone_reason = "no pixel spacing: depths below the skull cannot be measured";
    } else if (in.image.empty()) {
      ev.zone_reason = "no image: the skull cannot be found";
    } else {
      std::vector<double> depths;
      std::vector<int64_t> cavity_count(static_cast<size_t>(d.slices), 0);
      std::vector<double> cavity_row(static_cast<size_t>(d.slices), 0);
      int64_t measured = 0;
      const bool want_levels = g.orientation.has_value() && g.positions.size() == static_cast<size_t>(d.slices);
      // Per slice, independently (so on several threads): the cavity's size
      // and mean row, and the depth of the region's pixels on its slices.
      struct SliceResult {
        bool found = false;
        std::vector<double> depths;  // region pixels of the slice, row-major order
      };
      std::vector<SliceResult> per_slice(static_cast<size_t>(d.slices));
      const auto measure = [&](int s) {
        if (!slice_has[static_cast<size_t>(s)] && !want_levels) return;
        std::vector<uint8_t> cavity;
        std::vector<float> depth;
        // The depth (a distance transform) only on the region's slices; the
        // others give the cavity's extent.
        if (!SliceCavity(ctx, s, &cavity, slice_has[static_cast<size_t>(s)] ? &depth : nullptr)) return;
        SliceResult& out = per_slice[static_cast<size_t>(s)];
        out.found = true;
        int64_t k = 0;
        double rows_sum = 0;
        for (size_t i = 0; i < d.plane(); ++i) {
          if (cavity[i]) ++k, rows_sum += static_cast<double>(i / static_cast<size_t>(d.columns));
        }
        cavity_count[static_cast<size_t>(s)] = k;
        cavity_row[static_cast<size_t>(s)] = rows_sum / static_cast<double>(std::max<int64_t>(1, k));
        if (!slice_has[static_cast<size_t>(s)]) return;
        const size_t base = static_cast<size_t>(s) * d.plane();
        for (size_t i = 0; i < d.plane(); ++i) {
          if (region.mask[base + i]) out.depths.push_back(cavity[i] ? depth[i] : 0.0);
        }
      };
      ForEachSlice(d.slices, measure);
      for (const SliceResult& r : per_slice) {
        depths.insert(depths.end(), r.depths.begin(), r.depths.end());
        measured += static_cast<int64_t>(r.depths.size());
      }
      if (static_cast<double>(measured) < 0.5 * n) {
        ev.zone_reason = "the intracranial cavity was not found on the region's slices";
      } else {
        const double min_depth = *std::min_element(depths.begin(), depths.end());
        const double median = Median(depths);
        ev.median_depth_mm = median;
        double off_midline = std::numeric_limits<double>::infinity();
        if (axis.known && !midline.empty()) {
          const int s = std::clamp(static_cast<int>(std::lround(region.centroid_slice)), 0, d.slices - 1);
          off_midline = std::abs(axis.X(s, region.centroid_row, region.centroid_column) - midline[static_cast<size_t>(s)]);
        }
        if (min_depth <= kExtraAxialContactMm && median <= kExtraAxialMedianMm) {
          ev.zone = "extra-axial";
          ev.zone_reason = absl::StrCat("touches the inner table, median depth ", std::lround(median), " mm");
        } else if (off_midline <= kVentricularMidlineMm && median >= kVentricularDepthMm) {
          ev.zone = "intraventricular";
          ev.zone_reason = absl::StrCat("deep (median ", std::lround(median), " mm) and within ",
                                        std::lround(off_midline), " mm of the midline");
        } else {
          ev.zone = "intra-axial";
          ev.zone_reason = absl::StrCat("inside the brain, median depth ", std::lround(median), " mm, ",
                                        std::lround(off_midline), " mm from the midline");
        }
        if (!axis.known) absl::StrAppend(&ev.zone_reason, " (midline unknown: intraventricular not assessed)");
        // Infratentorial: low in the cranial cavity and posterior.
        if (want_levels && ctx.has_spacing) {
          const auto& o = *g.orientation;
          const Vec3 normal = Cross({o[0], o[1], o[2]}, {o[3], o[4], o[5]});
          const Vec3 column_dir{o[3], o[4], o[5]};
          double zmin = std::numeric_limits<double>::infinity(), zmax = -zmin;
          int64_t biggest = 0;
          for (int64_t k : cavity_count) biggest = std::max(biggest, k);
          for (int s = 0; s < d.slices; ++s) {
            if (cavity_count[static_cast<size_t>(s)] < biggest / 10 || biggest == 0) continue;
            const double z = g.positions[static_cast<size_t>(s)][2];
            zmin = std::min(zmin, z), zmax = std::max(zmax, z);
          }
          const int s = std::clamp(static_cast<int>(std::lround(region.centroid_slice)), 0, d.slices - 1);
          const bool axial = std::abs(normal[2]) > 0.8 && std::abs(column_dir[1]) > 0.8;
          if (axial && zmax > zmin && region.centroid_patient_mm && cavity_count[static_cast<size_t>(s)] > 0) {
            const double share = ((*region.centroid_patient_mm)[2] - zmin) / (zmax - zmin);
            // Posterior: +y is posterior in LPS; rows run along column_dir.
            const double posterior = (region.centroid_row - cavity_row[static_cast<size_t>(s)]) * column_dir[1];
            if (share <= kInfratentorialShare && posterior > 0) absl::StrAppend(&ev.zone, " (infratentorial)");
          }
        }
      }
    }
  } else if (in.body_region == BodyRegion::kBoneFilm) {
    ev.zone_reason = "no zone for bone films";
  } else {
    ev.zone_reason = "no zone rule for this body region";
  }
  return ev;
}

absl::StatusOr<std::vector<float>> ResampleHeatmapToImage(const std::vector<float>& values, int height, int width,
                                                          int rows, int columns) {
  if (height <= 0 || width <= 0 || rows <= 0 || columns <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("evidence: bad resample size ", height, "x", width, " -> ", rows, "x", columns));
  }
  if (values.size() != static_cast<size_t>(height) * static_cast<size_t>(width)) {
    return absl::InvalidArgumentError(
        absl::StrCat("evidence: heatmap has ", values.size(), " values, expected ", height, "x", width));
  }
  std::vector<float> out(static_cast<size_t>(rows) * static_cast<size_t>(columns));
  const double sy = static_cast<double>(height) / rows, sx = static_cast<double>(width) / columns;
  // The column taps are the same on every row: computed once.
  std::vector<int> tap0(static_cast<size_t>(columns)), tap1(static_cast<size_t>(columns));
  std::vector<double> weight(static_cast<size_t>(columns));
  for (int c = 0; c < columns; ++c) {
    const double x = std::clamp((c + 0.5) * sx - 0.5, 0.0, static_cast<double>(width - 1));
    tap0[static_cast<size_t>(c)] = static_cast<int>(std::floor(x));
    tap1[static_cast<size_t>(c)] = std::min(tap0[static_cast<size_t>(c)] + 1, width - 1);
    weight[static_cast<size_t>(c)] = x - tap0[static_cast<size_t>(c)];
  }
  for (int r = 0; r < rows; ++r) {
    const double y = std::clamp((r + 0.5) * sy - 0.5, 0.0, static_cast<double>(height - 1));
    const int y0 = static_cast<int>(std::floor(y));
    const int y1 = std::min(y0 + 1, height - 1);
    const double fy = y - y0;
    for (int c = 0; c < columns; ++c) {
      const int x0 = tap0[static_cast<size_t>(c)], x1 = tap1[static_cast<size_t>(c)];
      const double fx = weight[static_cast<size_t>(c)];
      auto at = [&](int yy, int xx) { return static_cast<double>(values[static_cast<size_t>(yy) * width + xx]); };
      const double top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
      const double bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
      out[static_cast<size_t>(r) * columns + c] = static_cast<float>(top * (1 - fy) + bottom * fy);
    }
  }
  return out;
}

}  // namespace parallax::evidence
