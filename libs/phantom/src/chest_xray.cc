// Chest radiograph phantom. The picture is built in "density" units (roughly
// the log-attenuation a processed DX image shows, 0 = air, ~0.6 = the thick
// mediastinum) as a sum of planes:
//
//   D = soft tissue + bone + extra - lucency
//       - kAirDepth * air_scale * A * (1 - fill) + markings * A * (1 - fill)
//
// where A is the aerated-lung weight (lung coverage thinned behind the heart
// and mediastinum) and `fill` is how much of the air a finding replaces
// (consolidation, nodules, fluid). Findings edit fill / extra / lucency /
// markings, or the anatomy itself (heart size, diaphragm, ribs). D is then
// blurred by the detector, optionally degraded, mapped to 12 bits and given
// signal-dependent quantum noise.
#include "parallax/phantom/chest_xray.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "film_shift.h"
#include "raster.h"

namespace parallax::phantom {
namespace {

using raster::Plane;
using raster::Point;
using raster::Profile;
using raster::Uniform;

constexpr double kPi = 3.14159265358979323846;
constexpr double kFieldMm = 360.0;
constexpr double kAirDepth = 0.30;  // how much darker aerated lung is than soft tissue
constexpr int kRibs = 11;

const std::vector<std::string>& AllLabels() {
  static const std::vector<std::string> labels = {
      "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema",
      "Fibrosis",    "Effusion",      "Pneumonia",    "Pleural_Thickening", "Cardiomegaly", "Nodule",
      "Mass",        "Hernia",        "Lung Lesion",  "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum"};
  return labels;
}

double Lerp(double obvious, double subtle, double difficulty) { return obvious + (subtle - obvious) * difficulty; }

// ---------------------------------------------------------------- geometry

// Side index: 0 = patient right (image left), 1 = patient left (image right).
double Sign(int side) { return side == 0 ? -1.0 : 1.0; }

struct FractureSpec {
  bool present = false;
  int side = 0;
  int rib = 4;
  double t = 0.7;        // position along the posterior arc
  double gap_px = 0;     // discontinuity
  double shift_px = 0;   // displacement of the distal fragment
};

// Normalised anatomy (fractions of the field) drawn from the seed, plus the
// edits findings make. Pixel shapes are derived by Build().
struct Geometry {
  int size = 1024;
  bool ap = false;
  double cx = 0.5, tilt = 0;
  std::array<double, 2> hw{0.37, 0.37};       // lateral reach of each lung from the midline
  double apex = 0.1;
  std::array<double, 2> dome{0.68, 0.70};     // dome top
  std::array<double, 2> cp_depth{0.06, 0.06}; // costophrenic tip below the dome
  std::array<double, 2> dome_peak{0.17, 0.17};
  std::array<double, 2> hilum_v{0.42, 0.40};
  double ctr = 0.45;        // target cardiothoracic ratio
  double heart_b = 0.10, heart_angle = 0.35, heart_lift = 0.09;
  double med_hw = 0.07, knob = 0.03;
  double rib_spacing = 0.057;
  double body_extra = 0.07;
  double clavicle_v = 0.18;
  double air_scale = 1.0, marking_scale = 1.0;
  FractureSpec fracture;

  // Derived, in pixels.
  std::array<std::vector<Point>, 2> lung;       // closed polygons
  std::array<std::vector<Point>, 2> outer;      // apex -> lateral wall -> costophrenic tip
  std::array<Point, 2> cp_px{};
  Point heart_c{};
  double heart_a_px = 0, heart_b_px = 0, heart_angle_px = 0;
  std::vector<Point> mediastinum;
  double heart_top_px = 0;
  double measured_ctr = 0;
};

struct Mapper {
  const Geometry& g;
  // (du from the midline, v) in field fractions -> tilted pixel position.
  Point operator()(double du, double v) const {
    const double s = g.size;
    const double x = (g.cx + du) * s, y = v * s;
    const double ox = g.cx * s, oy = 0.5 * s;
    const double cs = std::cos(g.tilt), sn = std::sin(g.tilt);
    return {ox + (x - ox) * cs - (y - oy) * sn, oy + (x - ox) * sn + (y - oy) * cs};
  }
};

double DomeV(const Geometry& g, int side, double du) {  // du >= 0 lateral distance
  const double lat = g.hw[side] - 0.02, peak = g.dome_peak[side], med = 0.045;
  const double cpy = g.dome[side] + g.cp_depth[side];
  if (du >= peak) {
    const double t = std::min(1.0, (du - peak) / std::max(1e-6, lat - peak));
    return g.dome[side] + (cpy - g.dome[side]) * std::pow(t, 1.8);
  }
  const double t = std::clamp((peak - du) / std::max(1e-6, peak - med), 0.0, 1.0);
  return g.dome[side] + 0.045 * t * t;
}

// Lateral reach (du) of the lung at level v, from the outer contour controls.
double LateralDu(const Geometry& g, int side, double v) {
  const double hw = g.hw[side], ap = g.apex, cpy = g.dome[side] + g.cp_depth[side];
  const std::array<std::array<double, 2>, 7> pts{{{0.12, ap},
                                                  {0.19, ap + 0.02},
                                                  {0.25, ap + 0.06},
                                                  {hw - 0.035, ap + 0.17},
                                                  {hw - 0.006, ap + 0.32},
                                                  {hw - 0.004, cpy - 0.06},
                                                  {hw - 0.02, cpy}}};
  if (v <= pts[0][1]) return 0.11;
  for (size_t i = 0; i + 1 < pts.size(); ++i) {
    if (v <= pts[i + 1][1]) {
      const double t = (v - pts[i][1]) / (pts[i + 1][1] - pts[i][1]);
      return pts[i][0] + t * (pts[i + 1][0] - pts[i][0]);
    }
  }
  return hw - 0.02;
}

Geometry DrawGeometry(uint64_t seed, int size, bool ap) {
  std::mt19937_64 rng(raster::Mix(seed, 0xA7A7));
  Geometry g;
  g.size = size;
  g.ap = ap;
  g.cx = 0.5 + Uniform(rng, -0.015, 0.015);
  g.tilt = Uniform(rng, -1.5, 1.5) * kPi / 180;
  const double hw = Uniform(rng, 0.345, 0.385);
  g.hw = {hw + Uniform(rng, -0.008, 0.008), hw + Uniform(rng, -0.008, 0.008)};
  g.apex = Uniform(rng, 0.07, 0.095);
  g.dome[0] = Uniform(rng, 0.70, 0.745);
  g.dome[1] = g.dome[0] + Uniform(rng, 0.01, 0.035);
  g.cp_depth = {Uniform(rng, 0.07, 0.09), Uniform(rng, 0.07, 0.09)};
  g.dome_peak = {Uniform(rng, 0.15, 0.2), Uniform(rng, 0.15, 0.2)};
  g.hilum_v[0] = Uniform(rng, 0.42, 0.46);
  g.hilum_v[1] = g.hilum_v[0] - Uniform(rng, 0.01, 0.03);
  g.ctr = Uniform(rng, 0.42, 0.475);
  g.heart_b = Uniform(rng, 0.10, 0.115);
  g.heart_angle = Uniform(rng, 0.28, 0.42);
  g.heart_lift = Uniform(rng, 0.045, 0.06);
  g.med_hw = Uniform(rng, 0.062, 0.075);
  g.knob = Uniform(rng, 0.022, 0.035);
  g.rib_spacing = Uniform(rng, 0.053, 0.059);
  g.body_extra = Uniform(rng, 0.055, 0.085);
  g.clavicle_v = Uniform(rng, 0.165, 0.195);
  if (ap) {
    g.ctr = std::min(0.49, g.ctr * 1.04);  // magnified heart, still normal
    g.clavicle_v -= 0.035;
  }
  return g;
}

void Build(Geometry& g) {
  const Mapper P{g};
  const double s = g.size;
  for (int side = 0; side < 2; ++side) {
    const double sg = Sign(side), hw = g.hw[side], ap = g.apex;
    const double cpy = g.dome[side] + g.cp_depth[side];
    std::vector<Point> ctrl = {{0.05, ap + 0.07},      {0.07, ap + 0.022},       {0.12, ap},
                               {0.19, ap + 0.02},      {0.25, ap + 0.06},         {hw - 0.035, ap + 0.17},
                               {hw - 0.006, ap + 0.32}, {hw - 0.004, cpy - 0.06}, {hw - 0.02, cpy}};
    const auto curve = raster::CatmullRom(ctrl, 10);
    std::vector<Point> outer, poly;
    for (const auto& c : curve) outer.push_back(P(sg * c.x, c.y));
    poly = outer;
    const int n = 36;
    for (int i = 1; i <= n; ++i) {  // diaphragm, lateral -> medial
      const double du = (hw - 0.02) + (0.045 - (hw - 0.02)) * i / n;
      poly.push_back(P(sg * du, DomeV(g, side, du)));
    }
    poly.push_back(P(sg * 0.055, 0.45));
    g.outer[side] = std::move(outer);
    g.lung[side] = std::move(poly);
    g.cp_px[side] = P(sg * (hw - 0.02), cpy);
  }
  // Heart: a tilted ellipse, one third right of the midline, two thirds left.
  double thor_min = 1e9, thor_max = -1e9;
  for (const auto& p : g.lung[0]) thor_min = std::min(thor_min, p.x);
  for (const auto& p : g.lung[1]) thor_max = std::max(thor_max, p.x);
  const double thor = thor_max - thor_min;
  const double wh = g.ctr * thor;
  const double b = g.heart_b * s, th = g.heart_angle;
  const double a2 = (wh * wh / 4 - b * b * std::sin(th) * std::sin(th)) / (std::cos(th) * std::cos(th));
  g.heart_a_px = std::sqrt(std::max(a2, b * b * 1.05));
  g.heart_b_px = b;
  g.heart_angle_px = th + g.tilt;
  const double dome_mid = 0.5 * (g.dome[0] + g.dome[1]);
  g.heart_c = P(wh / 6 / s, g.dome[1] - g.heart_lift);
  const double ey = std::sqrt(g.heart_a_px * g.heart_a_px * std::sin(th) * std::sin(th) + b * b * std::cos(th) * std::cos(th));
  g.heart_top_px = g.heart_c.y - ey;
  // Measured CTR: heart extent above the diaphragm over the inner thorax.
  double hmin = 1e9, hmax = -1e9;
  const double cs = std::cos(g.heart_angle_px), sn = std::sin(g.heart_angle_px);
  for (int i = 0; i < 720; ++i) {
    const double t = 2 * kPi * i / 720;
    const double x = g.heart_c.x + g.heart_a_px * std::cos(t) * cs - b * std::sin(t) * sn;
    const double y = g.heart_c.y + g.heart_a_px * std::cos(t) * sn + b * std::sin(t) * cs;
    const double du = std::abs(x / s - g.cx);
    const int side = x / s < g.cx ? 0 : 1;
    if (y > DomeV(g, side, std::max(du, 0.045)) * s + 2) continue;
    hmin = std::min(hmin, x), hmax = std::max(hmax, x);
  }
  g.measured_ctr = hmax > hmin ? (hmax - hmin) / thor : 0;
  (void)dome_mid;
  // Superior mediastinum down to the heart.
  const double mw = g.med_hw, top_v = g.heart_top_px / s, mid_v = g.heart_c.y / s;
  std::vector<Point> right = {{-mw, -0.02}, {-mw, 0.2}, {-mw - 0.01, 0.31}, {-mw - 0.014, top_v + 0.02}, {-mw * 0.6, mid_v}};
  std::vector<Point> left = {{mw * 0.6, mid_v}, {mw + 0.012, top_v + 0.01}, {mw + g.knob, 0.31},
                             {mw + 0.006, 0.255}, {mw, 0.2}, {mw, -0.02}};
  g.mediastinum.clear();
  for (const auto& c : raster::CatmullRom(right, 8)) g.mediastinum.push_back(P(c.x, c.y));
  for (const auto& c : raster::CatmullRom(left, 8)) g.mediastinum.push_back(P(c.x, c.y));
}

// ---------------------------------------------------------------- anatomy

struct Anatomy {
  Plane base, bones, air, markings, lucent, heart, med, lung_blur;
  std::array<Plane, 2> lung;  // per side coverage
  std::vector<int> diaphragm_row;  // per column: first row below the lung base
};

// Posterior arc of rib i on a side, in pixels, and its half width.
std::vector<Point> PosteriorRib(const Geometry& g, int side, int i, double* half_width) {
  const Mapper P{g};
  const double sg = Sign(side);
  const double y0 = g.apex - 0.022 + i * g.rib_spacing;
  const double r = LateralDu(g, side, y0 + 0.07) + 0.014;
  std::vector<Point> ctrl = {{0.035, y0 + 0.012}, {0.09, y0 - 0.005}, {0.45 * r, y0 + 0.002},
                             {0.78 * r, y0 + 0.03}, {0.96 * r, y0 + 0.068}, {r, y0 + 0.1}};
  std::vector<Point> out;
  for (const auto& c : raster::CatmullRom(ctrl, 8)) out.push_back(P(sg * c.x, c.y));
  *half_width = (0.0085 + 0.0003 * i) * g.size;
  return out;
}

void DrawBones(const Geometry& g, Anatomy& an, std::mt19937_64& rng) {
  const Mapper P{g};
  const double s = g.size;
  Plane& b = an.bones;
  // Spine: vertebral bodies, pedicles, spinous processes.
  const double vh = 0.066;
  for (double v = -0.03; v < 1.05; v += vh) {
    const double jitter = Uniform(rng, -0.002, 0.002);
    std::vector<Point> body = {P(-0.043, v), P(0.043, v), P(0.045, v + 0.78 * vh), P(-0.045, v + 0.78 * vh)};
    raster::FillPolygon(b, body, 0.03f);
    for (int side = 0; side < 2; ++side) {
      raster::FillEllipse(b, P(Sign(side) * 0.033, v + 0.3 * vh), 0.009 * s, 0.014 * s, g.tilt, 0.03f, Profile::kShell);
    }
    raster::FillEllipse(b, P(jitter, v + 0.55 * vh), 0.007 * s, 0.016 * s, g.tilt, 0.02f, Profile::kCylinder);
  }
  // Ribs: posterior arcs (bright, corticated) and fainter anterior arcs.
  for (int side = 0; side < 2; ++side) {
    const double sg = Sign(side);
    for (int i = 0; i < kRibs; ++i) {
      const double amp = 0.06 * Uniform(rng, 0.9, 1.1);
      double hwid = 0;
      auto post = PosteriorRib(g, side, i, &hwid);
      const auto& fr = g.fracture;
      if (fr.present && fr.side == side && fr.rib == i) {
        const int n = static_cast<int>(post.size());
        const int k = std::clamp(static_cast<int>(fr.t * n), 2, n - 3);
        const Point dir{post[k + 1].x - post[k - 1].x, post[k + 1].y - post[k - 1].y};
        const double len = std::hypot(dir.x, dir.y);
        const Point u{dir.x / len, dir.y / len}, nrm{-u.y, u.x};
        // Cut the arc so that the rounded ends of the fragments stop at the
        // edges of the gap (the caps reach one half width past an end).
        const double cut = fr.gap_px / 2 + 0.85 * hwid;
        auto far = [&](const Point& p) { return std::hypot(p.x - post[k].x, p.y - post[k].y) > cut; };
        std::vector<Point> a, c;
        for (int j = 0; j < k && far(post[j]); ++j) a.push_back(post[j]);
        a.push_back({post[k].x - u.x * cut, post[k].y - u.y * cut});
        c.push_back({post[k].x + u.x * cut, post[k].y + u.y * cut});
        for (int j = k + 1; j < n; ++j) {
          if (far(post[j])) c.push_back(post[j]);
        }
        for (auto& p : c) p = {p.x + nrm.x * fr.shift_px, p.y + nrm.y * fr.shift_px};
        raster::StrokePolyline(b, a, hwid, static_cast<float>(amp), Profile::kShell);
        raster::StrokePolyline(b, c, hwid, static_cast<float>(amp), Profile::kShell);
      } else {
        raster::StrokePolyline(b, post, hwid, static_cast<float>(amp), Profile::kShell);
      }
      if (i <= 6) {
        const double y0 = g.apex - 0.022 + i * g.rib_spacing;
        const double r = LateralDu(g, side, y0 + 0.07) + 0.014;
        std::vector<Point> ctrl = {{r, y0 + 0.1}, {0.93 * r, y0 + 0.15}, {0.72 * r, y0 + 0.19}, {0.5 * r, y0 + 0.215}, {0.36 * r, y0 + 0.225}};
        std::vector<Point> ant;
        for (const auto& c : raster::CatmullRom(ctrl, 8)) ant.push_back(P(sg * c.x, c.y));
        raster::StrokePolyline(b, ant, 0.0075 * s, static_cast<float>(0.045 * Uniform(rng, 0.85, 1.1)), Profile::kCylinder);
      }
    }
    // Clavicle.
    const double c = g.clavicle_v, flat = g.ap ? 0.4 : 1.0;
    std::vector<Point> cl = {{0.025, c + 0.055 * flat}, {0.08, c + 0.045 * flat}, {0.15, c + 0.02 * flat},
                             {0.22, c - 0.005 * flat}, {0.28, c - 0.006}, {0.31, c + 0.004}};
    std::vector<Point> clav;
    for (const auto& q : raster::CatmullRom(cl, 8)) clav.push_back(P(sg * q.x, q.y));
    raster::StrokePolyline(b, clav, 0.012 * s, 0.08f, Profile::kShell);
    // Scapula (projects over the lung on AP films) and humeral head.
    const double off = g.ap ? -0.07 : 0.0, hw = g.hw[side];
    std::vector<Point> sc = {P(sg * (hw + off), 0.13), P(sg * (hw + 0.07 + off), 0.12), P(sg * (hw + 0.06 + off), 0.2),
                             P(sg * (hw + 0.02 + off), 0.43)};
    raster::FillPolygon(b, sc, 0.02f);
    raster::FillEllipse(b, P(sg * (hw + 0.065), 0.105), 0.05 * s, 0.05 * s, 0, 0.09f, Profile::kShell);
  }
}

// A branching vascular tree from the hilum; thinner and fainter to the periphery.
void DrawVessels(const Geometry& g, Anatomy& an, std::mt19937_64& rng) {
  const Mapper P{g};
  const double s = g.size;
  struct Branch {
    Point p;
    double angle, len, radius;
    int depth;
  };
  Plane vessels(g.size, g.size);
  for (int side = 0; side < 2; ++side) {
    const double sg = Sign(side);
    const Point hilum = P(sg * 0.09, g.hilum_v[side]);
    raster::FillEllipse(an.markings, P(sg * 0.1, g.hilum_v[side] + 0.01), 0.025 * s, 0.05 * s, 0, 0.05f, Profile::kGaussian);
    const std::array<double, 5> trunks = {-75, -35, 5, 45, 75};  // degrees below horizontal, lateral
    for (double deg : trunks) {
      std::vector<Branch> stack;
      const double a0 = (deg + Uniform(rng, -8, 8)) * kPi / 180;
      stack.push_back({hilum, side == 0 ? kPi - a0 : a0, 0.065 * s * Uniform(rng, 0.85, 1.1), 0.0075 * s, 0});
      while (!stack.empty()) {
        Branch br = stack.back();
        stack.pop_back();
        const double bend = Uniform(rng, -0.25, 0.25);
        const Point mid{br.p.x + 0.5 * br.len * std::cos(br.angle), br.p.y + 0.5 * br.len * std::sin(br.angle)};
        const double a2 = br.angle + bend;
        const Point end{mid.x + 0.5 * br.len * std::cos(a2), mid.y + 0.5 * br.len * std::sin(a2)};
        const double split = Uniform(rng, 0.3, 0.6);
        const double asym = Uniform(rng, -0.15, 0.15);
        const int ci = std::clamp(static_cast<int>(br.p.y), 0, g.size - 1);
        const int cj = std::clamp(static_cast<int>(br.p.x), 0, g.size - 1);
        const bool inside = an.lung[side].at(ci, cj) > 0.2f || br.depth == 0;
        if (inside) {
          const std::vector<Point> seg = {br.p, mid, end};
          const double fade = br.depth >= 4 ? (g.marking_scale < 1 ? g.marking_scale : 1.0) : 1.0;
          const float value = static_cast<float>(11.0 * br.radius / s * g.marking_scale * fade * std::pow(0.88, br.depth));
          raster::StrokePolyline(vessels, seg, std::max(br.radius, 0.45), value, Profile::kCylinder, true);
        }
        if (br.depth < 7 && inside) {
          for (int k = 0; k < 2; ++k) {
            const double da = (k == 0 ? -1 : 1) * (split + (k == 0 ? asym : -asym));
            stack.push_back({end, a2 + da, br.len * Uniform(rng, 0.72, 0.84), br.radius * 0.72, br.depth + 1});
          }
        } else {
          // Keep the random stream independent of the shape of the lungs.
          for (int k = 0; k < (7 - br.depth) * 4; ++k) rng();
        }
      }
    }
  }
  raster::GaussianBlur(vessels, std::max(0.5, 0.0012 * s));
  for (size_t i = 0; i < vessels.data().size(); ++i) an.markings.data()[i] += vessels.data()[i];
}

Anatomy RenderAnatomy(const Geometry& g, uint64_t seed) {
  const int n = g.size;
  const double s = n;
  const Mapper P{g};
  std::mt19937_64 rng(raster::Mix(seed, 0xB0DE));
  Anatomy an;
  for (Plane* p : {&an.base, &an.bones, &an.markings, &an.lucent, &an.heart, &an.med, &an.lung[0], &an.lung[1]}) {
    *p = Plane(n, n);
  }
  // Soft tissue: a body outline whose thickness falls off laterally.
  const double bw = std::max(g.hw[0], g.hw[1]) + g.body_extra;
  std::vector<Point> half = {{0.085, -0.05}, {0.09, 0.03}, {0.2, 0.06}, {0.33, 0.085}, {bw + 0.012, 0.14},
                             {bw, 0.4}, {bw + 0.01, 0.8}, {bw + 0.02, 1.05}};
  std::vector<Point> body;
  for (const auto& c : raster::CatmullRom(half, 6)) body.push_back(P(c.x, c.y));
  auto mirrored = raster::CatmullRom(half, 6);
  std::reverse(mirrored.begin(), mirrored.end());
  for (const auto& c : mirrored) body.push_back(P(-c.x, c.y));
  Plane body_cov(n, n);
  raster::FillPolygon(body_cov, body, 1.0f);
  raster::GaussianBlur(body_cov, 0.004 * s);
  {
    std::vector<float> thick(n);
    for (int c = 0; c < n; ++c) {
      const double q = ((c + 0.5) / s - g.cx) / (bw * 1.04);
      thick[c] = static_cast<float>(0.10 + 0.38 * std::sqrt(std::max(0.0, 1 - q * q)));
    }
    for (int r = 0; r < n; ++r) {
      float* o = an.base.row(r);
      const float* bc = body_cov.row(r);
      for (int c = 0; c < n; ++c) o[c] = bc[c] * thick[c];
    }
  }
  // Lungs, heart, mediastinum.
  for (int side = 0; side < 2; ++side) raster::FillPolygon(an.lung[side], g.lung[side], 1.0f);
  raster::FillEllipse(an.heart, g.heart_c, g.heart_a_px, g.heart_b_px, g.heart_angle_px, 1.0f);
  raster::FillPolygon(an.med, g.mediastinum, 1.0f);
  raster::FillEllipse(an.base, g.heart_c, g.heart_a_px, g.heart_b_px, g.heart_angle_px, 0.015f, Profile::kCylinder);
  an.lung_blur = Plane(n, n);
  {
    auto& lb = an.lung_blur.data();
    const auto &l0 = an.lung[0].data(), &l1 = an.lung[1].data();
    for (size_t i = 0; i < lb.size(); ++i) lb[i] = l0[i] + l1[i];
  }
  raster::GaussianBlur(an.lung_blur, 0.03 * s);
  an.air = Plane(n, n);
  {
    auto& a = an.air.data();
    const auto &l0 = an.lung[0].data(), &l1 = an.lung[1].data(), &lb = an.lung_blur.data(),
               &h = an.heart.data(), &m = an.med.data();
    for (size_t i = 0; i < a.size(); ++i) {
      const float l = std::min(1.0f, l0[i] + l1[i]);
      a[i] = l * (0.45f + 0.55f * lb[i]) * (1 - 0.85f * std::min(1.0f, h[i])) * (1 - 0.9f * std::min(1.0f, m[i]));
    }
  }
  // Diaphragm row per column, for clipping the heart silhouette.
  an.diaphragm_row.assign(n, -1);
  for (int c = 0; c < n; ++c) {
    for (int r = n - 1; r >= 0; --r) {
      if (an.lung[0].at(r, c) + an.lung[1].at(r, c) >= 0.5f) {
        an.diaphragm_row[c] = r + 1;
        break;
      }
    }
  }
  {
    int last = -1;
    for (int c = 0; c < n; ++c) {
      if (an.diaphragm_row[c] < 0) continue;
      if (last >= 0 && c - last > 1) {
        for (int k = last + 1; k < c; ++k) {
          an.diaphragm_row[k] = an.diaphragm_row[last] + (an.diaphragm_row[c] - an.diaphragm_row[last]) * (k - last) / (c - last);
        }
      }
      last = c;
    }
    for (int c = 0; c < n; ++c) {
      if (an.diaphragm_row[c] < 0) an.diaphragm_row[c] = n;
    }
  }
  DrawBones(g, an, rng);
  DrawVessels(g, an, rng);
  // Lung parenchyma texture (coarse and fine).
  {
    const Plane coarse = raster::SmoothNoise(n, n, 0.014 * s, rng);
    const Plane fine = raster::SmoothNoise(n, n, 0.005 * s, rng);
    auto& mk = an.markings.data();
    const auto &c1 = coarse.data(), &f1 = fine.data();
    const float sc = static_cast<float>(g.marking_scale);
    for (size_t i = 0; i < mk.size(); ++i) mk[i] += sc * (0.016f * c1[i] + 0.014f * f1[i]);
  }
  // Trachea, main bronchi, gastric bubble.
  std::vector<Point> trachea = {P(0, -0.02), P(0.002, 0.2), P(0.006, 0.35)};
  raster::StrokePolyline(an.lucent, trachea, 0.023 * s, 0.06f, Profile::kCylinder);
  std::vector<Point> rb = {P(0.006, 0.35), P(-0.035, 0.38), P(-0.065, 0.415)};
  std::vector<Point> lb = {P(0.006, 0.35), P(0.045, 0.385), P(0.085, 0.425)};
  raster::StrokePolyline(an.lucent, rb, 0.011 * s, 0.05f, Profile::kCylinder);
  raster::StrokePolyline(an.lucent, lb, 0.010 * s, 0.05f, Profile::kCylinder);
  raster::FillEllipse(an.lucent, P(0.15, g.dome[1] + 0.055), 0.04 * s, 0.022 * s, g.tilt, 0.12f, Profile::kCylinder);
  return an;
}

// ---------------------------------------------------------------- findings

struct Lesions {
  Plane fill, extra, lucent;
  explicit Lesions(int n) : fill(n, n), extra(n, n), lucent(n, n) {}
};

Plane Composite(const Anatomy& an, const Lesions& le, double air_scale) {
  const int n = an.base.rows();
  Plane d(n, n);
  auto& o = d.data();
  const auto &base = an.base.data(), &bones = an.bones.data(), &air = an.air.data(), &mk = an.markings.data(),
             &lu = an.lucent.data(), &fill = le.fill.data(), &ex = le.extra.data(), &lu2 = le.lucent.data();
  const float depth = static_cast<float>(kAirDepth * air_scale);
  for (size_t i = 0; i < o.size(); ++i) {
    const float keep = air[i] * (1 - std::clamp(fill[i], 0.0f, 1.0f));
    o[i] = base[i] + bones[i] + ex[i] - lu[i] - lu2[i] - depth * keep + mk[i] * keep;
  }
  return d;
}

struct Request {
  std::string label;
  std::optional<int> side;   // forced patient side
  bool bilateral = false;
  std::mt19937_64 rng;
  double scale = 1;          // follow-up: area factor (focal lesions); 0 = not drawn
};

struct Context {
  const Geometry& g;
  Anatomy& an;
  Lesions& le;
  double difficulty;
  double spacing;  // mm per pixel
  double Px(double mm) const { return mm / spacing; }
  double L(double obvious, double subtle) const { return Lerp(obvious, subtle, difficulty); }
};

Mask MaskFrom(const Plane& cov, const Plane* within, float threshold = 0.5f) {
  Mask m;
  m.rows = cov.rows();
  m.columns = cov.columns();
  m.bits.assign(cov.data().size(), 0);
  for (size_t i = 0; i < m.bits.size(); ++i) {
    m.bits[i] = cov.data()[i] >= threshold && (!within || within->data()[i] >= 0.5f) ? 1 : 0;
  }
  return m;
}

Plane LungUnion(const Anatomy& an) {
  Plane u(an.lung[0].rows(), an.lung[0].columns());
  for (size_t i = 0; i < u.data().size(); ++i) u.data()[i] = an.lung[0].data()[i] + an.lung[1].data()[i];
  return u;
}

int ChooseSide(Request& rq) { return rq.side ? *rq.side : (Uniform(rq.rng) < 0.5 ? 0 : 1); }

// A point whose disc of radius r lies in the aerated lung of `side`, with
// its row between fractions v0..v1 of apex..dome.
Point LungPoint(const Context& cx, int side, double r, double v0, double v1, std::mt19937_64& rng) {
  const Geometry& g = cx.g;
  const double s = g.size;
  const double top = g.apex * s, bottom = g.dome[side] * s;
  const Plane& l = cx.an.lung[side];
  auto ok = [&](double x, double y) {
    const int xi = static_cast<int>(x), yi = static_cast<int>(y);
    if (xi < 0 || yi < 0 || xi >= g.size || yi >= g.size) return false;
    return l.at(yi, xi) > 0.9f && cx.an.heart.at(yi, xi) < 0.3f && cx.an.med.at(yi, xi) < 0.3f;
  };
  Point best{(g.cx + Sign(side) * g.hw[side] * 0.55) * s, (top + bottom) / 2};
  for (int attempt = 0; attempt < 400; ++attempt) {
    const double y = top + (bottom - top) * Uniform(rng, v0, v1);
    const double x = (g.cx + Sign(side) * Uniform(rng, 0.06, g.hw[side])) * s;
    bool good = ok(x, y);
    for (int k = 0; k < 8 && good; ++k) good = ok(x + r * std::cos(k * kPi / 4), y + r * std::sin(k * kPi / 4));
    if (good) return {x, y};
    if (attempt == 399) break;
  }
  return best;
}

struct Drawn {
  Mask mask;
  Laterality laterality = Laterality::kNone;
  std::string zone = "";  // empty: by centroid
};

Laterality SideLaterality(int side) { return side == 0 ? Laterality::kRight : Laterality::kLeft; }

Drawn DrawNodule(Context& cx, Request& rq, bool mass) {
  auto& rng = rq.rng;
  const int side = ChooseSide(rq);
  const double diam_mm = mass ? cx.L(Uniform(rng, 45, 70), Uniform(rng, 31, 36)) : cx.L(Uniform(rng, 14, 28), Uniform(rng, 6, 10));
  const double r_natural = cx.Px(diam_mm / 2);
  // The site is chosen for the natural size; a follow-up size keeps it.
  const Point c = LungPoint(cx, side, r_natural * 1.15, 0.1, 0.9, rng);
  const double r = rq.scale == 1 ? r_natural : r_natural * std::sqrt(rq.scale);
  const double amp = cx.L(0.75, 0.09) * Uniform(rng, 0.9, 1.1);
  Plane cov(cx.g.size, cx.g.size);
  const double ang = Uniform(rng, 0, kPi);
  const double ry = r * Uniform(rng, 0.88, 1.0);
  raster::FillEllipse(cx.le.fill, c, r, ry, ang, static_cast<float>(amp), Profile::kCylinder);
  raster::FillEllipse(cov, c, r, ry, ang, 1.0f);
  if (mass) {  // lobulated margin
    const int lobes = 4 + static_cast<int>(Uniform(rng) * 3);
    for (int k = 0; k < lobes; ++k) {
      const double a = Uniform(rng, 0, 2 * kPi), rr = r * Uniform(rng, 0.45, 0.6);
      const Point p{c.x + 0.55 * r * std::cos(a), c.y + 0.55 * r * std::sin(a)};
      raster::FillEllipse(cx.le.fill, p, rr, rr, 0, static_cast<float>(amp * 0.3), Profile::kCylinder);
      raster::FillEllipse(cov, p, rr, rr, 0, 1.0f);
    }
  }
  const Plane lungs = LungUnion(cx.an);
  return {MaskFrom(cov, &lungs), SideLaterality(side)};
}

Drawn DrawLesion(Context& cx, Request& rq) {  // spiculated, sometimes cavitating
  auto& rng = rq.rng;
  const int side = ChooseSide(rq);
  const double r_natural = cx.Px(cx.L(Uniform(rng, 16, 20), Uniform(rng, 4, 6)));
  const Point c = LungPoint(cx, side, r_natural * 1.8, 0.05, 0.85, rng);
  const double r = rq.scale == 1 ? r_natural : r_natural * std::sqrt(rq.scale);
  const double amp = cx.L(0.7, 0.1) * Uniform(rng, 0.9, 1.1);
  raster::FillEllipse(cx.le.fill, c, r, r * 0.92, 0.3, static_cast<float>(amp), Profile::kCylinder);
  const int spicules = 10 + static_cast<int>(Uniform(rng) * 6);
  for (int k = 0; k < spicules; ++k) {
    const double a = 2 * kPi * (k + Uniform(rng, -0.3, 0.3)) / spicules;
    const double len = r * Uniform(rng, 0.4, 0.9);
    std::vector<Point> line = {{c.x + 0.8 * r * std::cos(a), c.y + 0.8 * r * std::sin(a)},
                               {c.x + (r + len) * std::cos(a), c.y + (r + len) * std::sin(a)}};
    raster::StrokePolyline(cx.le.fill, line, std::max(0.7, cx.Px(0.5)), static_cast<float>(amp * 0.45), Profile::kCylinder);
  }
  if (cx.difficulty < 0.5 && Uniform(rng) < 0.5) {
    raster::FillEllipse(cx.le.fill, c, r * 0.45, r * 0.4, 0, static_cast<float>(-amp * 0.9), Profile::kFlat);
  }
  Plane cov(cx.g.size, cx.g.size);
  raster::FillEllipse(cov, c, r * 1.15, r * 1.15 * 0.92, 0.3, 1.0f);
  const Plane lungs = LungUnion(cx.an);
  return {MaskFrom(cov, &lungs), SideLaterality(side)};
}

// Dark branching tubes (air bronchograms) inside an opacity whose shape is `region`.
void AirBronchograms(Context& cx, const Plane& region, Point from, double reach, double amp, std::mt19937_64& rng) {
  Plane br(cx.g.size, cx.g.size);
  const int trunks = 2 + static_cast<int>(Uniform(rng) * 2);
  for (int t = 0; t < trunks; ++t) {
    double a = Uniform(rng, 0, 2 * kPi);
    Point p = from;
    double w = std::max(0.8, cx.Px(1.6));
    std::vector<Point> line = {p};
    for (int k = 0; k < 5; ++k) {
      a += Uniform(rng, -0.35, 0.35);
      p = {p.x + reach / 5 * std::cos(a), p.y + reach / 5 * std::sin(a)};
      line.push_back(p);
    }
    raster::StrokePolyline(br, line, w, 1.0f, Profile::kCylinder);
    const Point mid = line[2];
    std::vector<Point> side_branch = {mid, {mid.x + reach * 0.35 * std::cos(a + 0.6), mid.y + reach * 0.35 * std::sin(a + 0.6)}};
    raster::StrokePolyline(br, side_branch, w * 0.7, 1.0f, Profile::kCylinder);
  }
  auto& f = cx.le.fill.data();
  for (size_t i = 0; i < f.size(); ++i) f[i] -= static_cast<float>(0.8 * amp) * br.data()[i] * std::min(1.0f, region.data()[i]);
}

Drawn DrawConsolidation(Context& cx, Request& rq) {
  auto& rng = rq.rng;
  const int n = cx.g.size;
  const int side = ChooseSide(rq);
  const double R = cx.Px(cx.L(Uniform(rng, 35, 55), Uniform(rng, 12, 17)));
  const Point c = LungPoint(cx, side, R * 0.6, 0.25, 0.85, rng);
  Plane region(n, n);
  const int blobs = 4 + static_cast<int>(Uniform(rng) * 3);
  for (int k = 0; k < blobs; ++k) {
    const double a = Uniform(rng, 0, 2 * kPi), d = k == 0 ? 0 : R * Uniform(rng, 0.2, 0.55);
    raster::FillEllipse(region, {c.x + d * std::cos(a), c.y + d * std::sin(a)}, R * Uniform(rng, 0.4, 0.65),
                        R * Uniform(rng, 0.35, 0.6), Uniform(rng, 0, kPi), 1.0f);
  }
  for (auto& v : region.data()) v = std::min(v, 1.0f);
  raster::GaussianBlur(region, R * 0.08);
  const double amp = cx.L(0.85, 0.13);
  const Plane patch = raster::SmoothNoise(n, n, cx.Px(6), rng);
  auto& f = cx.le.fill.data();
  for (size_t i = 0; i < f.size(); ++i) f[i] += static_cast<float>(amp) * region.data()[i] * (0.78f + 0.22f * patch.data()[i]);
  if (cx.difficulty < 0.75) AirBronchograms(cx, region, c, R * 0.8, amp, rng);
  const Plane lungs = LungUnion(cx.an);
  return {MaskFrom(region, &lungs), SideLaterality(side)};
}

Drawn DrawPneumonia(Context& cx, Request& rq) {  // lobar
  auto& rng = rq.rng;
  const Geometry& g = cx.g;
  const int n = g.size;
  const double s = n;
  const Mapper P{g};
  const int side = ChooseSide(rq);
  const double sg = Sign(side);
  const bool upper = Uniform(rng) < 0.45;
  Plane region(n, n);
  if (upper) {  // upper lobe: sharp lower border at the (horizontal) fissure
    const double fv = g.hilum_v[side] + Uniform(rng, -0.01, 0.02);
    std::vector<Point> poly = {P(sg * 0.0, -0.05), P(sg * 0.5, -0.05), P(sg * 0.5, fv + Uniform(rng, -0.02, 0.02)),
                               P(sg * 0.25, fv + Uniform(rng, -0.01, 0.01)), P(sg * 0.0, fv)};
    raster::FillPolygon(region, poly, 1.0f);
  } else {  // lower lobe: soft upper border, obscures the hemidiaphragm
    const double fv = g.hilum_v[side] + Uniform(rng, 0.06, 0.1);
    std::vector<Point> poly = {P(sg * 0.0, fv + 0.03), P(sg * 0.25, fv), P(sg * 0.5, fv - 0.03), P(sg * 0.5, 1.05), P(0.0, 1.05)};
    raster::FillPolygon(region, poly, 1.0f);
    raster::GaussianBlur(region, cx.Px(7));
  }
  // Harder cases involve only part of the lobe (a segment).
  if (cx.difficulty > 0.2) {
    const double R = s * cx.L(0.35, 0.09);
    const Point c = LungPoint(cx, side, R * 0.3, upper ? 0.15 : 0.6, upper ? 0.45 : 0.9, rng);
    Plane limit(n, n);
    raster::FillEllipse(limit, c, R, R * 0.85, 0, 1.0f);
    raster::GaussianBlur(limit, R * 0.15);
    for (size_t i = 0; i < region.data().size(); ++i) region.data()[i] *= std::min(1.0f, limit.data()[i] * 1.2f);
  }
  for (size_t i = 0; i < region.data().size(); ++i) region.data()[i] *= std::min(1.0f, cx.an.lung[side].data()[i]);
  const double amp = cx.L(0.85, 0.15);
  const Plane patch = raster::SmoothNoise(n, n, cx.Px(8), rng);
  auto& f = cx.le.fill.data();
  for (size_t i = 0; i < f.size(); ++i) f[i] += static_cast<float>(amp) * region.data()[i] * (0.75f + 0.25f * patch.data()[i]);
  // Bronchograms from the centre of the involved region.
  double sx = 0, sy = 0, sw = 0;
  for (int r = 0; r < n; r += 2) {
    for (int c = 0; c < n; c += 2) {
      const float w = region.at(r, c);
      if (w > 0.5f) sx += w * c, sy += w * r, sw += w;
    }
  }
  if (sw > 0 && cx.difficulty < 0.75) AirBronchograms(cx, region, {sx / sw, sy / sw}, cx.Px(35), amp, rng);
  return {MaskFrom(region, &cx.an.lung[side]), SideLaterality(side)};
}

Drawn DrawHaze(Context& cx, Request& rq, bool infiltration) {  // Lung Opacity / Infiltration
  auto& rng = rq.rng;
  const int n = cx.g.size;
  const int side = ChooseSide(rq);
  Plane haze(n, n), cov(n, n);
  if (!infiltration) {
    const double R = cx.Px(cx.L(Uniform(rng, 28, 45), Uniform(rng, 11, 15)));
    const Point c = LungPoint(cx, side, R * 0.6, 0.1, 0.9, rng);
    const double ry = R * Uniform(rng, 0.7, 1.0), ang = Uniform(rng, 0, kPi);
    raster::FillEllipse(haze, c, R, ry, ang, 1.0f, Profile::kGaussian);
    raster::FillEllipse(cov, c, R * 0.72, ry * 0.72, ang, 1.0f);
  } else {
    const double spread = cx.Px(cx.L(45, 22));
    const Point c = LungPoint(cx, side, spread * 0.4, 0.2, 0.85, rng);
    const int k = 5 + static_cast<int>(Uniform(rng) * 5);
    for (int i = 0; i < k; ++i) {
      const double r = cx.Px(cx.L(Uniform(rng, 9, 15), Uniform(rng, 4, 6)));
      const double a = Uniform(rng, 0, 2 * kPi), d = spread * std::sqrt(Uniform(rng));
      const Point p{c.x + d * std::cos(a), c.y + d * std::sin(a)};
      const double w = Uniform(rng, 0.6, 1.0);
      raster::FillEllipse(haze, p, r, r * 0.8, a, static_cast<float>(w), Profile::kGaussian);
      raster::FillEllipse(cov, p, r * 0.72, r * 0.8 * 0.72, a, 1.0f);
    }
  }
  const double amp = infiltration ? cx.L(0.5, 0.1) : cx.L(0.6, 0.11);
  const Plane tex = raster::SmoothNoise(n, n, cx.Px(infiltration ? 2.5 : 6), rng);
  auto& f = cx.le.fill.data();
  for (size_t i = 0; i < f.size(); ++i) {
    const float h = std::min(1.0f, haze.data()[i]);
    f[i] += static_cast<float>(amp) * h * (infiltration ? 0.65f + 0.35f * tex.data()[i] : 0.85f + 0.15f * tex.data()[i]);
  }
  for (auto& v : cov.data()) v = std::min(v, 1.0f);
  return {MaskFrom(cov, &cx.an.lung[side]), SideLaterality(side)};
}

// A band between a stretch of the outer lung contour and a curve `depth(u)`
// pixels inside it (pneumothorax, pleural thickening). Returns the inner curve.
std::vector<Point> PleuralBand(const Context& cx, int side, double u0, double u1, const std::function<double(double)>& depth,
                               Plane& cov) {
  const Geometry& g = cx.g;
  const auto& outer = g.outer[side];
  const int n = static_cast<int>(outer.size());
  const int i0 = std::clamp(static_cast<int>(u0 * (n - 1)), 0, n - 1);
  const int i1 = std::clamp(static_cast<int>(u1 * (n - 1)), i0 + 1, n - 1);
  const Point centre = Mapper{g}(Sign(side) * g.hw[side] * 0.5, g.apex + 0.4 * (g.dome[side] - g.apex));
  std::vector<Point> out, in;
  for (int i = i0; i <= i1; ++i) {
    const Point p = outer[i];
    const double u = static_cast<double>(i - i0) / (i1 - i0);
    const double dx = centre.x - p.x, dy = centre.y - p.y, len = std::hypot(dx, dy);
    const double d = depth(u);
    // Push the outer edge slightly outward so the band meets the chest wall.
    out.push_back({p.x - dx / len * 2, p.y - dy / len * 2});
    in.push_back({p.x + dx / len * d, p.y + dy / len * d});
  }
  std::vector<Point> poly = out;
  poly.insert(poly.end(), in.rbegin(), in.rend());
  raster::FillPolygon(cov, poly, 1.0f);
  for (auto& v : cov.data()) v = std::min(v, 1.0f);
  return in;
}

Drawn DrawPneumothorax(Context& cx, Request& rq) {
  auto& rng = rq.rng;
  const int n = cx.g.size;
  const int side = ChooseSide(rq);
  const bool apical = Uniform(rng) < 0.5;
  const double depth = cx.Px(cx.L(Uniform(rng, 28, 45), Uniform(rng, 5, 8)));
  double u0 = apical ? Uniform(rng, 0.02, 0.1) : Uniform(rng, 0.15, 0.3);
  double u1 = apical ? Uniform(rng, 0.45, 0.6) : Uniform(rng, 0.75, 0.9);
  if (cx.difficulty > 0.6) u1 = u0 + (u1 - u0) * 0.7;
  Plane cov(n, n);
  const auto line = PleuralBand(cx, side, u0, u1, [&](double u) { return depth * std::pow(std::sin(kPi * u), 0.6); }, cov);
  for (size_t i = 0; i < cov.data().size(); ++i) cov.data()[i] *= std::min(1.0f, cx.an.lung[side].data()[i] * 1.0f);
  // No lung markings beyond the visceral pleura, and more air.
  auto& mk = cx.an.markings.data();
  const float luc = static_cast<float>(cx.L(0.075, 0.03));
  for (size_t i = 0; i < mk.size(); ++i) {
    mk[i] *= 1 - cov.data()[i];
    cx.le.lucent.data()[i] += luc * cov.data()[i] * cx.an.air.data()[i];
  }
  // The visceral pleural line: thin and bright.
  raster::StrokePolyline(cx.le.extra, line, std::max(0.6, cx.Px(0.35)), static_cast<float>(cx.L(0.11, 0.05)));
  return {MaskFrom(cov, &cx.an.lung[side]), SideLaterality(side)};
}

Drawn DrawPleuralThickening(Context& cx, Request& rq) {
  auto& rng = rq.rng;
  const int n = cx.g.size;
  const int side = ChooseSide(rq);
  const bool apical = Uniform(rng) < 0.35;
  const double thick = cx.Px(cx.L(Uniform(rng, 7, 12), Uniform(rng, 2.5, 3.5)));
  const double u0 = apical ? 0.03 : Uniform(rng, 0.3, 0.45), u1 = apical ? 0.3 : Uniform(rng, 0.75, 0.92);
  const double ph = Uniform(rng, 0, 2 * kPi), waves = Uniform(rng, 2, 5);
  Plane cov(n, n);
  PleuralBand(cx, side, u0, u1,
              [&](double u) { return thick * std::pow(std::sin(kPi * u), 0.3) * (0.8 + 0.2 * std::sin(ph + waves * kPi * u)); }, cov);
  for (size_t i = 0; i < cov.data().size(); ++i) cov.data()[i] *= std::min(1.0f, cx.an.lung[side].data()[i]);
  raster::GaussianBlur(cov, 0.6);
  const float amp = static_cast<float>(cx.L(1.0, 0.35));
  for (size_t i = 0; i < cov.data().size(); ++i) cx.le.fill.data()[i] += amp * cov.data()[i];
  return {MaskFrom(cov, &cx.an.lung[side]), SideLaterality(side)};
}

Drawn DrawEffusion(Context& cx, Request& rq) {
  auto& rng = rq.rng;
  const Geometry& g = cx.g;
  const int n = g.size;
  const double s = n;
  const int side = ChooseSide(rq);
  const double h = cx.Px(cx.L(Uniform(rng, 55, 90), Uniform(rng, 10, 15)));
  const Point cp = g.cp_px[side];
  const double xlat = cp.x, xmed = g.cx * s + Sign(side) * 0.045 * s;
  const double amp = cx.L(1.0, 0.45);
  const double edge = std::max(1.0, cx.Px(2.0));
  Plane cov(n, n);
  const int c0 = side == 0 ? 0 : static_cast<int>(g.cx * s);
  const int c1 = side == 0 ? static_cast<int>(g.cx * s) : n;
  for (int c = c0; c < c1; ++c) {
    const double t = std::clamp((c + 0.5 - xmed) / (xlat - xmed), 0.0, 1.2);
    const double m = cp.y - h * (0.3 + 0.7 * t * t);  // meniscus: higher at the lateral wall
    for (int r = std::max(0, static_cast<int>(m - 2 * edge)); r < n; ++r) {
      const double y = r + 0.5;
      const float e = static_cast<float>(std::clamp((y - m) / edge + 0.5, 0.0, 1.0));
      if (e <= 0) continue;
      const float l = cx.an.lung[side].at(r, c);
      if (l <= 0) continue;
      cov.at(r, c) = e * l;
      const double grad = std::min(1.0, 0.55 + (y - m) / (0.5 * h));
      cx.le.fill.at(r, c) += static_cast<float>(amp * grad) * e;
    }
  }
  return {MaskFrom(cov, &cx.an.lung[side]), SideLaterality(side)};
}

Drawn DrawAtelectasis(Context& cx, Request& rq, int side) {
  auto& rng = rq.rng;
  const Geometry& g = cx.g;
  const int n = g.size;
  const double s = n;
  Plane cov(n, n);
  const bool wedge = Uniform(rng) < 0.35;
  if (!wedge) {  // plate-like band in the lower zone
    const double len = cx.Px(cx.L(Uniform(rng, 60, 85), Uniform(rng, 25, 32)));
    const double hw = cx.Px(cx.L(Uniform(rng, 4, 6.5), Uniform(rng, 1.8, 2.5)));
    const Point c = LungPoint(cx, side, len * 0.5, 0.72, 0.88, rng);
    const double a = Uniform(rng, -0.25, 0.25) + (side == 0 ? 0.08 : -0.08);
    std::vector<Point> line;
    for (int k = 0; k <= 4; ++k) {
      const double t = (k / 4.0 - 0.5) * len;
      line.push_back({c.x + t * std::cos(a), c.y + t * std::sin(a) + Uniform(rng, -0.15, 0.15) * hw});
    }
    raster::StrokePolyline(cov, line, hw, 1.0f);
  } else {  // wedge: apex at the hilum, base on the diaphragm
    const Mapper P{g};
    const double sg = Sign(side), w = cx.L(0.12, 0.05);
    const Point apex = P(sg * 0.1, g.hilum_v[side] + 0.04);
    const double du = Uniform(rng, 0.12, 0.2);
    std::vector<Point> tri = {apex, P(sg * (du - w / 2), g.dome[side] + 0.05), P(sg * (du + w / 2), g.dome[side] + 0.05)};
    raster::FillPolygon(cov, tri, 1.0f);
  }
  raster::GaussianBlur(cov, std::max(0.7, cx.Px(1.0)));
  for (size_t i = 0; i < cov.data().size(); ++i) cov.data()[i] = std::min(1.0f, cov.data()[i]) * std::min(1.0f, cx.an.lung[side].data()[i]);
  const float amp = static_cast<float>(cx.L(0.9, 0.17));
  for (size_t i = 0; i < cov.data().size(); ++i) cx.le.fill.data()[i] += amp * cov.data()[i];
  (void)s;
  return {MaskFrom(cov, &cx.an.lung[side]), SideLaterality(side)};
}

Drawn DrawEdema(Context& cx, Request& rq) {
  auto& rng = rq.rng;
  const Geometry& g = cx.g;
  const int n = g.size;
  const double s = n;
  const Mapper P{g};
  Plane haze(n, n), cov(n, n);
  const double amp = cx.L(0.55, 0.1);
  std::vector<int> sides = rq.side && !rq.bilateral ? std::vector<int>{*rq.side} : std::vector<int>{0, 1};
  for (int side : sides) {
    const double sg = Sign(side);
    const Point c = P(sg * 0.12, g.hilum_v[side] + 0.02);
    const double rx = s * Uniform(rng, 0.11, 0.14), ry = s * Uniform(rng, 0.14, 0.18), a = sg * 0.3;
    raster::FillEllipse(haze, c, rx, ry, a, 1.0f, Profile::kGaussian);
    raster::FillEllipse(cov, c, rx * 0.72, ry * 0.72, a, 1.0f);
    if (cx.difficulty < 0.6) {  // Kerley B lines at the lateral costophrenic region
      for (int k = 0; k < 6; ++k) {
        const double v = g.dome[side] - Uniform(rng, 0.0, 0.07);
        const double du = LateralDu(g, side, v) - 0.004;
        const double len = Uniform(rng, 0.03, 0.05);
        std::vector<Point> line = {P(sg * du, v), P(sg * (du - len), v + Uniform(rng, -0.003, 0.003))};
        raster::StrokePolyline(cx.le.extra, line, std::max(0.6, cx.Px(0.5)), 0.03f);
      }
    }
  }
  const Plane tex = raster::SmoothNoise(n, n, cx.Px(5), rng);
  auto& f = cx.le.fill.data();
  for (size_t i = 0; i < f.size(); ++i) f[i] += static_cast<float>(amp) * std::min(1.0f, haze.data()[i]) * (0.8f + 0.2f * tex.data()[i]);
  for (auto& v : cov.data()) v = std::min(v, 1.0f);
  const Plane lungs = LungUnion(cx.an);
  return {MaskFrom(cov, &lungs), sides.size() == 2 ? Laterality::kBilateral : SideLaterality(sides[0])};
}

Drawn DrawFibrosis(Context& cx, Request& rq) {
  auto& rng = rq.rng;
  const Geometry& g = cx.g;
  const int n = g.size;
  const double s = n;
  std::vector<int> sides = rq.side && !rq.bilateral ? std::vector<int>{*rq.side} : std::vector<int>{0, 1};
  // Region: the peripheral, basal part of the lung.
  Plane lungs(n, n);
  for (int side : sides) {
    for (size_t i = 0; i < lungs.data().size(); ++i) lungs.data()[i] += cx.an.lung[side].data()[i];
  }
  Plane deep = lungs;
  raster::GaussianBlur(deep, 0.045 * s);
  Plane region(n, n);
  const double frac = cx.L(0.35, 0.62);
  for (int r = 0; r < n; ++r) {
    const double top = g.apex * s + frac * (0.5 * (g.dome[0] + g.dome[1]) - g.apex) * s;
    if (r < top) continue;
    const float ramp = static_cast<float>(std::min(1.0, (r - top) / (0.03 * s)));
    for (int c = 0; c < n; ++c) {
      const float l = std::min(1.0f, lungs.at(r, c));
      if (l <= 0) continue;
      const float periph = std::clamp((0.88f - deep.at(r, c)) / 0.2f, 0.0f, 1.0f);
      region.at(r, c) = l * periph * ramp;
    }
  }
  // Reticulation: a net of short lines and small rings.
  Plane net(n, n);
  const int count = static_cast<int>(cx.L(700, 220) * sides.size() / 2.0 * s / 1024.0) + 20;
  const double hw = std::max(0.6, cx.Px(0.4));
  for (int k = 0; k < count; ++k) {
    double x = 0, y = 0;
    for (int attempt = 0; attempt < 30; ++attempt) {
      x = Uniform(rng, 0, s - 1), y = Uniform(rng, g.apex * s, s - 1);
      if (region.at(static_cast<int>(y), static_cast<int>(x)) > 0.3f) break;
    }
    if (Uniform(rng) < 0.25 && cx.difficulty < 0.6) {
      const double rr = cx.Px(Uniform(rng, 2, 4));
      std::vector<Point> ring;
      for (int j = 0; j <= 10; ++j) ring.push_back({x + rr * std::cos(j * kPi / 5), y + rr * std::sin(j * kPi / 5)});
      raster::StrokePolyline(net, ring, hw, 1.0f);
    } else {
      const double len = cx.Px(Uniform(rng, 4, 10)), a = Uniform(rng, 0, kPi);
      std::vector<Point> line = {{x, y}, {x + len * std::cos(a), y + len * std::sin(a)}};
      raster::StrokePolyline(net, line, hw, 1.0f);
    }
  }
  const float amp = static_cast<float>(cx.L(0.7, 0.2));
  auto& f = cx.le.fill.data();
  for (size_t i = 0; i < f.size(); ++i) f[i] += amp * region.data()[i] * (0.15f + std::min(1.0f, net.data()[i]));
  return {MaskFrom(region, nullptr, 0.3f), sides.size() == 2 ? Laterality::kBilateral : SideLaterality(sides[0])};
}

Drawn DrawHernia(Context& cx, Request& rq) {  // hiatal: retrocardiac gas with an air-fluid level
  auto& rng = rq.rng;
  const Geometry& g = cx.g;
  const int n = g.size;
  const double s = n;
  const double r = cx.Px(cx.L(Uniform(rng, 32, 45), Uniform(rng, 13, 18)));
  const Point c = Mapper{g}(Uniform(rng, 0.0, 0.04), g.dome[1] - 0.01 - r / s * 0.8);
  raster::FillEllipse(cx.le.extra, c, r, r * 0.9, 0, static_cast<float>(cx.L(0.06, 0.02)), Profile::kCylinder);
  const double level = c.y + r * Uniform(rng, -0.05, 0.25);
  std::vector<Point> gas;
  const double ri = r * 0.86;
  const double dy = std::clamp((level - c.y) / (ri * 0.9), -1.0, 1.0);
  const double a0 = std::asin(dy);
  for (int k = 0; k <= 24; ++k) {  // arc above the level, then the flat level
    const double a = (kPi - a0) + (2 * kPi + a0 - (kPi - a0)) * k / 24.0;
    gas.push_back({c.x + ri * std::cos(a), c.y + ri * 0.9 * std::sin(a)});
  }
  raster::FillPolygon(cx.le.lucent, gas, static_cast<float>(cx.L(0.17, 0.045)));
  Plane cov(n, n);
  raster::FillEllipse(cov, c, r, r * 0.9, 0, 1.0f);
  return {MaskFrom(cov, nullptr), Laterality::kMidline};
}

// ---------------------------------------------------------------- assembly

std::string ZoneOf(const Mask& m, const Geometry& g) {
  double sy = 0, cnt = 0;
  for (int r = 0; r < m.rows; ++r) {
    const uint8_t* row = m.bits.data() + static_cast<size_t>(r) * m.columns;
    for (int c = 0; c < m.columns; ++c) {
      if (row[c]) sy += r + 0.5, ++cnt;
    }
  }
  if (cnt == 0) return "";
  const double s = g.size;
  const double top = g.apex * s, bottom = 0.5 * (g.dome[0] + g.dome[1]) * s;
  const double t = (sy / cnt - top) / (bottom - top);
  return t < 1.0 / 3 ? "upper" : (t < 2.0 / 3 ? "mid" : "lower");
}

std::vector<Request> ParseRequests(const ChestXrayOptions& o) {
  std::vector<Request> out;
  const auto& known = AllLabels();
  for (size_t i = 0; i < o.findings.size(); ++i) {
    std::string label = o.findings[i];
    Request rq;
    const auto colon = label.rfind(':');
    if (colon != std::string::npos) {
      const std::string side = label.substr(colon + 1);
      label = label.substr(0, colon);
      if (side == "right") rq.side = 0;
      else if (side == "left") rq.side = 1;
      else if (side == "bilateral") rq.bilateral = true;
      else throw std::invalid_argument("chest_xray: unknown side '" + side + "'");
    }
    if (std::find(known.begin(), known.end(), label) == known.end()) {
      throw std::invalid_argument("chest_xray: unknown finding label '" + label + "'");
    }
    rq.label = label;
    rq.rng.seed(raster::Mix(raster::Mix(o.seed, raster::HashString(label)), i));
    if (i < o.finding_scale.size()) {
      if (!(o.finding_scale[i] >= 0)) throw std::invalid_argument("chest_xray: finding_scale must be >= 0");
      rq.scale = o.finding_scale[i];
    }
    out.push_back(std::move(rq));
  }
  return out;
}

void Validate(const ChestXrayOptions& o) {
  if (o.view != "PA" && o.view != "AP") throw std::invalid_argument("chest_xray: view must be PA or AP");
  if (o.size < 64 || o.size > 4096) throw std::invalid_argument("chest_xray: size must be 64..4096");
  for (const auto& d : o.defects) {
    if (d != "rotation" && d != "motion_blur" && d != "underexposure" && d != "noise") {
      throw std::invalid_argument("chest_xray: unknown defect '" + d + "'");
    }
  }
}

struct Planned {
  Geometry normal, modified;
  std::vector<Request> requests;
  std::vector<int> atelectasis_side;  // per request (-1 if not atelectasis)
  bool anatomy_changed = false;
};

// Draws the normal geometry and applies the anatomical edits of findings.
Planned Plan(const ChestXrayOptions& o) {
  Planned p;
  p.normal = DrawGeometry(o.seed, o.size, o.view == "AP");
  p.requests = ParseRequests(o);
  Geometry g = p.normal;
  const double d = std::clamp(o.difficulty, 0.0, 1.0);
  const double spacing = kFieldMm / o.size;
  p.atelectasis_side.assign(p.requests.size(), -1);
  for (size_t i = 0; i < p.requests.size(); ++i) {
    Request& rq = p.requests[i];
    if (rq.scale == 0) continue;  // follow-up: not drawn in this study
    if (rq.label == "Cardiomegaly") {
      g.ctr = Lerp(0.62, 0.53, d) + Uniform(rq.rng, -0.02, 0.02);
      g.heart_b *= Lerp(1.15, 1.04, d);
    } else if (rq.label == "Enlarged Cardiomediastinum") {
      const double f = Lerp(1.9, 1.4, d) * Uniform(rq.rng, 0.95, 1.05);
      g.med_hw *= f;
      g.knob *= f;
    } else if (rq.label == "Emphysema") {
      for (int s = 0; s < 2; ++s) {
        g.dome[s] += Lerp(0.065, 0.025, d);
        g.cp_depth[s] *= Lerp(0.45, 0.8, d);
        g.hw[s] *= Lerp(1.04, 1.01, d);
      }
      g.air_scale *= Lerp(1.4, 1.1, d);
      g.marking_scale *= Lerp(0.5, 0.85, d);
      g.ctr *= Lerp(0.85, 0.96, d);
    } else if (rq.label == "Atelectasis") {
      const int side = ChooseSide(rq);
      p.atelectasis_side[i] = side;
      g.dome[side] -= Lerp(0.035, 0.012, d);  // volume loss: elevated hemidiaphragm
    } else if (rq.label == "Fracture") {
      g.fracture.present = true;
      g.fracture.side = ChooseSide(rq);
      g.fracture.rib = 2 + static_cast<int>(Uniform(rq.rng) * 6);
      g.fracture.t = Uniform(rq.rng, 0.55, 0.85);
      g.fracture.gap_px = std::max(1.2, Lerp(3.5, 1.0, d) / spacing);
      g.fracture.shift_px = Lerp(4.0, 0.6, d) / spacing * (Uniform(rq.rng) < 0.5 ? -1 : 1);
    }
  }
  for (const auto& rq : p.requests) {
    if (rq.scale == 0) continue;
    for (const char* l : {"Cardiomegaly", "Enlarged Cardiomediastinum", "Emphysema", "Atelectasis", "Fracture"}) {
      p.anatomy_changed |= rq.label == l;
    }
  }
  Build(p.normal);
  Build(g);
  p.modified = std::move(g);
  return p;
}

// Mean change inside the mask, in density units.
double MeanDelta(const Plane& after, const Plane& before, const Mask& m) {
  double sum = 0;
  size_t cnt = 0;
  for (size_t i = 0; i < m.bits.size(); ++i) {
    if (m.bits[i]) sum += after.data()[i] - before.data()[i], ++cnt;
  }
  return cnt ? sum / cnt : 0;
}

bool Has(const std::vector<std::string>& v, const char* x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

std::vector<std::string> ChestXrayLabels() { return AllLabels(); }

ChestXrayLandmarks DescribeChestXray(const ChestXrayOptions& options) {
  Validate(options);
  const Planned p = Plan(options);
  const Geometry& g = p.modified;
  ChestXrayLandmarks lm;
  lm.cardiothoracic_ratio = g.measured_ctr;
  lm.midline_column = g.cx * g.size;
  for (int s = 0; s < 2; ++s) {
    lm.costophrenic_angle[s] = {g.cp_px[s].y, g.cp_px[s].x};
    lm.dome_row[s] = g.dome[s] * g.size;
  }
  lm.lung_apex_row = g.apex * g.size;
  return lm;
}

Study MakeChestXray(const ChestXrayOptions& options) {
  Validate(options);
  Planned plan = Plan(options);
  const Geometry& g = plan.modified;
  const int n = options.size;
  const double spacing = kFieldMm / n;
  const double difficulty = std::clamp(options.difficulty, 0.0, 1.0);

  Anatomy an = RenderAnatomy(g, options.seed);
  Lesions le(n);
  // Contrast baselines: the normal anatomy (for findings that change the
  // anatomy) and the picture before each local finding.
  Plane before = Composite(an, Lesions(n), g.air_scale);
  const Plane normal_d =
      plan.anatomy_changed ? Composite(RenderAnatomy(plan.normal, options.seed), Lesions(n), plan.normal.air_scale) : before;

  Context cx{g, an, le, difficulty, spacing};
  const bool under = Has(options.defects, "underexposure");
  const double gain = 4095.0 * (under ? 0.55 : 0.94);

  Study study;
  study.kind = "chest_xray";
  study.seed = options.seed;
  for (size_t i = 0; i < plan.requests.size(); ++i) {
    Request& rq = plan.requests[i];
    if (rq.scale == 0) continue;  // follow-up: absent from this study
    const std::string& label = rq.label;
    Drawn dr;
    bool anatomical = false;
    if (label == "Nodule") dr = DrawNodule(cx, rq, false);
    else if (label == "Mass") dr = DrawNodule(cx, rq, true);
    else if (label == "Lung Lesion") dr = DrawLesion(cx, rq);
    else if (label == "Consolidation") dr = DrawConsolidation(cx, rq);
    else if (label == "Pneumonia") dr = DrawPneumonia(cx, rq);
    else if (label == "Lung Opacity") dr = DrawHaze(cx, rq, false);
    else if (label == "Infiltration") dr = DrawHaze(cx, rq, true);
    else if (label == "Pneumothorax") dr = DrawPneumothorax(cx, rq);
    else if (label == "Pleural_Thickening") dr = DrawPleuralThickening(cx, rq);
    else if (label == "Effusion") dr = DrawEffusion(cx, rq);
    else if (label == "Atelectasis") dr = DrawAtelectasis(cx, rq, plan.atelectasis_side[i]);
    else if (label == "Edema") dr = DrawEdema(cx, rq);
    else if (label == "Fibrosis") dr = DrawFibrosis(cx, rq);
    else if (label == "Hernia") dr = DrawHernia(cx, rq);
    else {
      anatomical = true;
      Plane cov(n, n);
      if (label == "Cardiomegaly") {
        cov = an.heart;
        for (int c = 0; c < n; ++c) {
          for (int r = std::max(0, an.diaphragm_row[c]); r < n; ++r) cov.at(r, c) = 0;
        }
        dr.laterality = Laterality::kMidline;
        char buf[32];
        std::snprintf(buf, sizeof buf, "ctr=%.2f", g.measured_ctr);
        dr.zone = buf;
      } else if (label == "Enlarged Cardiomediastinum") {
        cov = an.med;
        const int top = static_cast<int>(g.apex * n), bottom = static_cast<int>(g.heart_top_px + 0.02 * n);
        for (int r = 0; r < n; ++r) {
          if (r >= top && r < bottom) continue;
          std::fill(cov.row(r), cov.row(r) + n, 0.0f);
        }
        dr.laterality = Laterality::kMidline;
      } else if (label == "Emphysema") {
        for (size_t k = 0; k < cov.data().size(); ++k) {
          const float l = an.lung[0].data()[k] + an.lung[1].data()[k];
          cov.data()[k] = l >= 0.5f && an.heart.data()[k] < 0.5f && an.med.data()[k] < 0.5f ? 1.0f : 0.0f;
        }
        dr.laterality = Laterality::kBilateral;
      } else if (label == "Fracture") {
        double hwid = 0;
        const auto rib = PosteriorRib(g, g.fracture.side, g.fracture.rib, &hwid);
        const int k = std::clamp(static_cast<int>(g.fracture.t * rib.size()), 2, static_cast<int>(rib.size()) - 3);
        const double r = hwid * 1.2 + 0.5 * g.fracture.gap_px;  // the discontinuity, centred on the gap
        raster::FillEllipse(cov, rib[k], r, r, 0, 1.0f);
        dr.laterality = SideLaterality(g.fracture.side);
      }
      dr.mask = MaskFrom(cov, nullptr);
    }
    Plane after = Composite(an, le, g.air_scale);
    Finding f;
    f.label = label;
    f.laterality = dr.laterality;
    f.zone = dr.zone.empty() ? ZoneOf(dr.mask, g) : dr.zone;
    f.contrast = MeanDelta(after, anatomical ? normal_d : before, dr.mask) * gain;
    f.subtle = difficulty >= 0.7;
    f.mask = std::move(dr.mask);
    study.findings.push_back(std::move(f));
    before = std::move(after);
  }

  // Detector blur, defects, exposure, quantum noise.
  Plane d = Composite(an, le, g.air_scale);
  if (!options.patient_shift.IsIdentity()) {
    // Follow-up: the patient stands a little differently on the detector.
    d = internal::ShiftPlane(d, options.patient_shift, spacing);
    for (auto& f : study.findings) f.mask = internal::ShiftMask(f.mask, options.patient_shift, spacing);
  }
  raster::GaussianBlur(d, std::max(0.5, 0.2 / spacing));
  std::mt19937_64 drng(raster::Mix(options.seed, 0xDEFEC7));
  double noise = 0.0035 * (0.75 + 0.7 * difficulty);
  raster::ApplyFilmDefects(d, options.defects, spacing, 4, 8, drng, &study);
  if (under) noise *= 2.2;
  if (Has(options.defects, "noise")) noise *= 3.0;
  const double offset = under ? 0.01 : 0.03;
  Image img;
  img.rows = n;
  img.columns = n;
  img.pixel_spacing_mm = {spacing, spacing};
  img.pixels.resize(static_cast<size_t>(n) * n);
  raster::NormalSource normal(
      raster::Mix(options.acquisition_seed != 0 ? options.acquisition_seed : options.seed, 0x401CE));
  std::vector<uint32_t> hist(4096, 0);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    const double v = d.data()[i];
    const double sigma = noise * std::exp(1.6 * (v - 0.3));
    const double stored = 4095.0 * offset + gain * (v + sigma * normal.Next());
    const int q = static_cast<int>(std::clamp(std::lround(stored), 0L, 4095L));
    img.pixels[i] = static_cast<int16_t>(q);
    ++hist[q];
  }
  for (auto& f : study.findings) {
    size_t cnt = 0;
    for (uint8_t b : f.mask.bits) cnt += b;
    f.area_cm2 = cnt * spacing * spacing / 100.0;
  }

  SeriesInfo info;
  info.modality = "DX";
  info.body_part = "CHEST";
  info.view_position = options.view;
  info.series_description = "CHEST " + options.view;
  info.protocol_name = "CHEST " + options.view;
  info.bits_stored = 12;
  info.is_signed = false;
  raster::WindowFromHistogram(hist, img.pixels.size(), 1.0 / 200, 1.0 / 200, &info.window_center,
                              &info.window_width);
  Series series;
  series.info = info;
  series.images.push_back(std::move(img));
  study.series.push_back(std::move(series));
  return study;
}

}  // namespace parallax::phantom
