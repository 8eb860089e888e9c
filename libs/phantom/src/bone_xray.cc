// Forearm / wrist radiograph phantom. Like the chest phantom the picture is
// built in "density" units (roughly the log-attenuation a processed DX image
// shows: 0 = air, ~0.25 = the forearm's soft tissue, ~0.7 = soft tissue plus
// a cortex seen edge-on), then blurred by the detector, optionally degraded,
// mapped to 12 bits and given signal-dependent quantum noise.
//
// Geometry lives in a "limb frame" in millimetres: s across the limb
// (positive towards the radius in AP, towards the volar side in LAT), t along
// it (0 at the radiocarpal joint, positive proximally). The frame is placed
// on the image with a seeded position and tilt, mirrored for the right limb.
//
// The radius, ulna and metacarpals are analytic long bones: an elliptical
// tube whose half width flares towards the articular end, a cortex that thins
// from diaphysis to metaphysis, trabecular medulla and a subchondral plate.
// A fracture splits a long bone along a jagged line: the shaft fragment stays,
// the end fragment is translated and angulated, and the gap between them is a
// lucent line (partly filled for a hairline). Carpal bones are corticated
// ellipses; the ulnar styloid is a tapered rod.
#include "parallax/phantom/bone_xray.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string_view>

#include "raster.h"

namespace parallax::phantom {
namespace {

using raster::Plane;
using raster::Point;
using raster::Profile;
using raster::Uniform;

constexpr double kPi = 3.14159265358979323846;
constexpr double kFieldMm = 153.6;
constexpr double kBoneMu = 0.075;  // density per mm of bone depth (cortex)
constexpr double kSoftMu = 0.0105; // density per mm of soft tissue

double Lerp(double obvious, double subtle, double difficulty) { return obvious + (subtle - obvious) * difficulty; }
double Sq(double x) { return x * x; }
bool Has(const std::vector<std::string>& v, const char* x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// ---------------------------------------------------------------- frames

// Limb frame (mm) <-> pixel coordinates.
struct Frame {
  double jx = 0, jy = 0;     // joint centre, pixels
  double rx = 1, ry = 0;     // unit vector of +s in pixels
  double ax = 0, ay = 1;     // unit vector of +t in pixels
  double spacing = 0.2;      // mm per pixel
  Point ToPixel(double s, double t) const {
    return {jx + (s * rx + t * ax) / spacing, jy + (s * ry + t * ay) / spacing};
  }
  void ToLimb(double px, double py, double* s, double* t) const {
    const double dx = px - jx, dy = py - jy;
    *s = (dx * rx + dy * ry) * spacing;
    *t = (dx * ax + dy * ay) * spacing;
  }
  // Pixel-space angle of a direction that makes angle `a` with +s (towards +t).
  double PixelAngle(double a) const {
    const double vx = std::cos(a) * rx + std::sin(a) * ax, vy = std::cos(a) * ry + std::sin(a) * ay;
    return std::atan2(vy, vx);
  }
};

// Trabecular texture: a ridge network of smooth noise, sampled in a bone's
// own coordinates so a displaced fragment carries its texture with it.
struct Texture {
  static constexpr double kRes = 0.25;  // mm per texel
  Plane plane;
  explicit Texture(uint64_t seed) {
    std::mt19937_64 rng(raster::Mix(seed, 0x7E47));
    const int w = static_cast<int>(260 / kRes), h = static_cast<int>(130 / kRes);
    const Plane fine = raster::SmoothNoise(h, w, 0.9 / kRes, rng);
    const Plane fine2 = raster::SmoothNoise(h + w, h + w, 1.1 / kRes, rng);  // sampled on a rotated grid
    const Plane coarse = raster::SmoothNoise(h, w, 2.2 / kRes, rng);
    plane = Plane(h, w);
    const double cs = std::cos(0.6), sn = std::sin(0.6);
    for (int r = 0; r < h; ++r) {
      for (int c = 0; c < w; ++c) {
        // Value noise on one grid looks blocky; two grids at an angle do not.
        const double x = c * cs - r * sn + h, y = c * sn + r * cs;
        const float n = 0.7f * (fine.at(r, c) + fine2.Sample(x, y, 0.0f));
        const float a = 1 - 2 * std::abs(n), b = 1 - 2 * std::abs(coarse.at(r, c));
        plane.at(r, c) = 0.6f * a + 0.4f * b;
      }
    }
    raster::GaussianBlur(plane, 0.8);
  }
  // (c, a) in mm of bone `index`; trabeculae run along the bone (a squeezed).
  float At(int index, double c, double a) const {
    return plane.Sample((c + 25 + 42 * index) / kRes, (0.55 * a + 20) / kRes, 0.0f);
  }
};

// ---------------------------------------------------------------- long bones

struct Fracture {
  bool present = false;
  double a_f = 0;        // along-axis position of the line on the bone centre
  double tan_phi = 0;    // obliquity
  double gap = 0.3;      // mm
  double lucency = 1;    // 1 = the gap is empty; < 1 = hairline partly filled
  double jag = 0.3;      // mm amplitude of the irregular edge
  double k1 = 0.9, k2 = 2.3, p1 = 0, p2 = 0;
  double shift_c = 0, shift_a = 0, angle = 0;  // moving fragment displacement (mm, rad)
  bool move_shaft = false;  // the shaft-side fragment moves (shaft fractures), else the end fragment (Colles)
  double c_f = 0;        // across position where the line crosses a_f (the bone centre)
  double pivot_c = 0, pivot_a = 0;  // hinge of the angulation: on the cortex, so the gap opens as a wedge
  double band = 1.3;     // mask half width beyond the gap, mm
};

struct LongBone {
  double es = 0, et = 0;     // articular end centre, limb mm
  double ds = 0, dt = 1;     // unit axis direction, from the end into the shaft
  double shaft_hw = 7, end_hw_neg = 9, end_hw_pos = 9, flare_len = 20;
  double shaft_depth = 7, end_depth = 9;
  double ki_shaft = 0.55, ki_end = 0.9, med_shaft = 0.12, med_end = 0.32;
  double incl = 0, curv = 0;  // end surface a_end(c) = incl c + curv c^2
  double mu = kBoneMu;
  int tex_index = 0;
  Fracture fx;
  static constexpr double kCornerMm = 3.0;

  void ToLocal(double s, double t, double* c, double* a) const {
    *c = (s - es) * dt - (t - et) * ds;
    *a = (s - es) * ds + (t - et) * dt;
  }
  void ToLimb(double c, double a, double* s, double* t) const {
    *s = es + c * dt + a * ds;
    *t = et - c * ds + a * dt;
  }
  double Flare(double a) const { return std::exp(-Sq(std::max(a, 0.0) / flare_len)); }
  void Edges(double a, double* lo, double* hi) const {
    const double f = Flare(a);
    *lo = -(shaft_hw + (end_hw_neg - shaft_hw) * f);
    *hi = shaft_hw + (end_hw_pos - shaft_hw) * f;
  }
  double EndA(double c) const { return incl * c + curv * c * c; }
  double CentreC(double a) const {
    double lo, hi;
    Edges(a, &lo, &hi);
    return 0.5 * (lo + hi);
  }
  bool Inside(double c, double a, double margin) const {
    if (a < EndA(c) - margin) return false;
    double lo, hi;
    Edges(a, &lo, &hi);
    return c > lo - margin && c < hi + margin;
  }
  // Projected density at local (c, a).
  double Density(double c, double a, const Texture& tex) const {
    if (c <= -std::max(end_hw_neg, shaft_hw) || c >= std::max(end_hw_pos, shaft_hw) || a <= EndA(c)) return 0;
    double lo, hi;
    Edges(a, &lo, &hi);
    const double hw = 0.5 * (hi - lo), x = (c - 0.5 * (lo + hi)) / hw;
    if (x <= -1 || x >= 1) return 0;
    // The corners of the articular end recede: a rounded end.
    const double de = a - EndA(c) - kCornerMm * Sq(std::max(0.0, std::abs(x) - 0.55) / 0.45);
    if (de <= 0) return 0;
    const double f = Flare(a);
    const double dp = shaft_depth + (end_depth - shaft_depth) * f;
    const double ki = ki_shaft + (ki_end - ki_shaft) * f;
    const double med = med_shaft + (med_end - med_shaft) * f;
    const double o = std::sqrt(1 - x * x);
    const double in = std::abs(x) < ki ? std::sqrt(ki * ki - x * x) : 0.0;
    const double tv = tex.At(tex_index, c, a);
    const double trab = med * (1 + (0.3 + 0.25 * f) * tv);
    const double cap = std::min(1.0, std::sqrt(de / 2.0));
    const double plate = 0.4 * std::exp(-Sq((de - 0.7) / 0.5)) * o;
    return mu * dp * ((o - in + trab * in) * cap + plate);
  }
  // Signed distance (mm) from the fracture line; negative on the end side.
  double FractureDistance(double c, double a) const {
    const double jag = fx.jag * (0.55 * std::sin(fx.k1 * c + fx.p1) + 0.3 * std::sin(fx.k2 * c + fx.p2) +
                                 0.15 * std::sin(3.1 * fx.k2 * c + fx.p1 + fx.p2));
    return (a - fx.a_f - fx.tan_phi * (c - fx.c_f) - jag) / std::sqrt(1 + fx.tan_phi * fx.tan_phi);
  }
  // Where a point of the moving fragment was before displacement.
  void Undisplace(double c, double a, double* c0, double* a0) const {
    const double qc = c - fx.pivot_c - fx.shift_c, qa = a - fx.pivot_a - fx.shift_a;
    const double cs = std::cos(fx.angle), sn = std::sin(fx.angle);
    *c0 = fx.pivot_c + qc * cs + qa * sn;
    *a0 = fx.pivot_a - qc * sn + qa * cs;
  }
};

// Draws the bone into `d`; with a fracture, also its band mask into `mask`.
void RenderLongBone(const LongBone& b, const Frame& fr, const Texture& tex, Plane& d, Plane* mask) {
  const double reach = 260;  // mm along the shaft, beyond any field
  const double wide = std::max({b.end_hw_neg, b.end_hw_pos, b.shaft_hw}) + 3;
  const double lever = b.fx.move_shaft ? reach : b.fx.a_f + 15;  // how far the moving fragment reaches from the hinge
  const double margin = b.fx.present ? 4 + std::abs(b.fx.shift_c) + std::abs(b.fx.shift_a) + lever * std::abs(b.fx.angle) : 0;
  double xmin = 1e9, xmax = -1e9, ymin = 1e9, ymax = -1e9;
  for (double c : {-wide - margin, wide + margin}) {
    for (double a : {-12.0 - margin, reach}) {
      double s, t;
      b.ToLimb(c, a, &s, &t);
      const Point p = fr.ToPixel(s, t);
      xmin = std::min(xmin, p.x), xmax = std::max(xmax, p.x), ymin = std::min(ymin, p.y), ymax = std::max(ymax, p.y);
    }
  }
  const int c0 = std::max(0, static_cast<int>(std::floor(xmin))), c1 = std::min(d.columns() - 1, static_cast<int>(std::ceil(xmax)));
  const int r0 = std::max(0, static_cast<int>(std::floor(ymin))), r1 = std::min(d.rows() - 1, static_cast<int>(std::ceil(ymax)));
  const auto& fx = b.fx;
  const double aa = fr.spacing;  // one pixel of edge softness
  for (int r = r0; r <= r1; ++r) {
    float* row = d.row(r);
    for (int col = c0; col <= c1; ++col) {
      double s, t, c, a;
      fr.ToLimb(col + 0.5, r + 0.5, &s, &t);
      b.ToLocal(s, t, &c, &a);
      if (!fx.present) {
        row[col] += static_cast<float>(b.Density(c, a, tex));
        continue;
      }
      // (cs, as) and (ce, ae): this pixel in the shaft and end fragments' own coordinates.
      double cs = c, as = a, ce = c, ae = a;
      if (fx.move_shaft) b.Undisplace(c, a, &cs, &as);
      else b.Undisplace(c, a, &ce, &ae);
      const double ds = b.FractureDistance(cs, as), de = b.FractureDistance(ce, ae);
      const double ws = std::clamp((ds - fx.gap / 2) / aa + 0.5, 0.0, 1.0);
      const double we = std::clamp((-de - fx.gap / 2) / aa + 0.5, 0.0, 1.0);
      const double vs = ws > 0 || fx.lucency < 1 ? b.Density(cs, as, tex) : 0.0;
      const double ve = we > 0 ? b.Density(ce, ae, tex) : 0.0;
      const double rest = std::max(0.0, 1 - ws - we) * (1 - fx.lucency);  // hairline: partly filled
      row[col] += static_cast<float>(ws * vs + we * ve + rest * vs);
      if (mask) {
        // The band around both fragments' edges and the wedge between them.
        const double bh = fx.gap / 2 + fx.band;
        const bool in = ds < bh && de > -bh && (b.Inside(cs, as, 0.4) || b.Inside(ce, ae, 0.4));
        if (in) mask->at(r, col) = 1.0f;
      }
    }
  }
}

// ---------------------------------------------------------------- geometry

struct CarpalBone {
  double s, t, ra, rb, angle;  // limb mm; semi-axis ra along `angle` (from +s towards +t)
  double mu_scale = 1;
};

struct Styloid {
  double base_frac = 0.35;             // where along the styloid a fracture cuts
  bool fractured = false;
  double gap = 0.4, lucency = 1;       // mm
  double shift_s = 0, shift_t = 0;     // tip displacement, limb mm
  double band = 1.2;
};

enum BoneIndex { kRadius = 0, kUlna = 1 };

struct Geometry {
  Frame frame;
  bool lat = false;
  int side = 0;  // 0 = left limb, 1 = right limb
  std::vector<LongBone> bones;  // radius, ulna, metacarpals
  std::vector<CarpalBone> carpals;
  Styloid styloid;
  // Soft-tissue envelope: edges (limb s) and half depth at t knots.
  std::vector<double> knot_t, edge_neg, edge_pos, half_depth;
};

double Interp(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  if (x <= xs.front()) return ys.front();
  if (x >= xs.back()) return ys.back();
  size_t i = 1;
  while (xs[i] < x) ++i;
  const double u = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  const double w = u * u * (3 - 2 * u);
  return ys[i - 1] + (ys[i] - ys[i - 1]) * w;
}

LongBone Tube(double es, double et, double angle_deg, double shaft_hw, double end_neg, double end_pos, double flare,
              double shaft_depth, double end_depth, int tex_index) {
  LongBone b;
  b.es = es, b.et = et;
  const double a = angle_deg * kPi / 180;
  b.ds = std::sin(a), b.dt = std::cos(a);
  b.shaft_hw = shaft_hw, b.end_hw_neg = end_neg, b.end_hw_pos = end_pos, b.flare_len = flare;
  b.shaft_depth = shaft_depth, b.end_depth = end_depth;
  b.tex_index = tex_index;
  return b;
}

Geometry DrawGeometry(const BoneXrayOptions& o, int side) {
  std::mt19937_64 rng(raster::Mix(o.seed, 0xB0E5));
  Geometry g;
  g.lat = o.view == "LAT";
  g.side = side;
  const double spacing = kFieldMm / o.size;
  const double tilt = Uniform(rng, -6, 6) * kPi / 180;
  Frame& f = g.frame;
  f.spacing = spacing;
  f.jx = (0.5 + Uniform(rng, -0.04, 0.04)) * o.size;
  f.jy = (0.40 + Uniform(rng, -0.04, 0.04)) * o.size;
  const double mirror = side == 0 ? 1.0 : -1.0;  // left limb: +s to the image right
  f.rx = mirror * std::cos(tilt), f.ry = mirror * std::sin(tilt);
  f.ax = -std::sin(tilt), f.ay = std::cos(tilt);
  const double k = Uniform(rng, 0.9, 1.1);          // skeletal size
  const double soft = Uniform(rng, 0.92, 1.14);     // habitus
  auto J = [&](double v) { return v + Uniform(rng, -0.7, 0.7); };  // position jitter, mm

  if (!g.lat) {
    LongBone radius = Tube(J(11) * k, 0, Uniform(rng, -2, 2), 7.3 * k, 9.5 * k, 15 * k, 27 * k, 6.5 * k, 10 * k, kRadius);
    radius.incl = -std::tan(Uniform(rng, 19, 25) * kPi / 180);
    radius.curv = 0.004 / k;
    LongBone ulna = Tube(J(-13) * k, Uniform(rng, 1, 4) * k, Uniform(rng, -2, 2), 5.8 * k, 8.3 * k, 8 * k, 13 * k, 6 * k, 8 * k, kUlna);
    ulna.curv = 0.012 / k;
    g.bones = {radius, ulna};
    const std::vector<std::array<double, 6>> mc = {
        {24, -32.5, 180 - 36, 5.0, 7.5, 6.5}, {10.5, -36, 180 - 8, 4.0, 6.0, 5.5}, {0.5, -37, 180 - 1, 4.2, 6.0, 5.8},
        {-9.5, -35.5, 180 + 6, 3.5, 5.0, 5.0}, {-18, -33, 180 + 13, 3.7, 5.5, 5.5}};
    for (size_t i = 0; i < mc.size(); ++i) {
      const auto& m = mc[i];
      LongBone b = Tube(J(m[0]) * k, J(m[1]) * k, m[2] + Uniform(rng, -3, 3), m[3] * k, m[4] * k, m[5] * k, 9 * k,
                        m[3] * k, m[4] * k, 2 + static_cast<int>(i));
      b.curv = 0.02 / k;
      b.ki_end = 0.8, b.med_end = 0.4;
      b.mu = kBoneMu * 0.85;
      g.bones.push_back(b);
    }
    g.carpals = {{15, -9.5, 13.5, 6.3, -58 * kPi / 180, 1.0}, // scaphoid
                 {-0.5, -9, 7.5, 7.3, 0, 1.0},                // lunate
                 {-14, -11, 7.3, 6.3, 30 * kPi / 180, 1.0},   // triquetrum
                 {-15.5, -13, 4.8, 4.8, 0, 0.7},              // pisiform
                 {21.5, -25.5, 8.3, 6.3, -40 * kPi / 180, 1.0}, // trapezium
                 {11.5, -26.5, 5, 6.3, 0, 1.0},               // trapezoid
                 {0, -25.5, 10, 6.5, 90 * kPi / 180, 1.05},   // capitate
                 {-12.5, -24.5, 9.5, 6, 80 * kPi / 180, 1.0}, // hamate
                 {-10.5, -25, 2.6, 2.6, 0, 1.0}};             // hook of hamate
    g.knot_t = {-80, -45, -25, -5, 10, 40, 130};
    g.edge_neg = {-39, -36, -32, -29.5, -29.5, -31.5, -33};
    g.edge_pos = {56, 48, 38, 31, 30, 31, 32};
    g.half_depth = {12, 13, 15, 17, 19, 21, 22};
  } else {
    LongBone radius = Tube(J(1) * k, 0, Uniform(rng, -2, 2), 6.0 * k, 9 * k, 9.5 * k, 22 * k, 7.5 * k, 13 * k, kRadius);
    radius.incl = std::tan(Uniform(rng, 8, 14) * kPi / 180);
    radius.curv = 0.008 / k;
    LongBone ulna = Tube(J(-2.5) * k, Uniform(rng, 1, 3) * k, Uniform(rng, -2, 2), 5.5 * k, 7 * k, 7 * k, 12 * k, 6.5 * k, 8.5 * k, kUlna);
    ulna.curv = 0.012 / k;
    g.bones = {radius, ulna};
    const std::vector<std::array<double, 6>> mc = {
        {10, -33, 180 - 27, 5.0, 7.0, 6.5}, {-6, -37, 180 + 2, 4.0, 5.5, 5.5}, {-2, -38, 180, 4.0, 5.5, 5.5},
        {2, -37.5, 180 - 1, 3.8, 5.2, 5.2}, {5.5, -36.5, 180 - 3, 3.8, 5.2, 5.2}};
    for (size_t i = 0; i < mc.size(); ++i) {
      const auto& m = mc[i];
      LongBone b = Tube(J(m[0]) * k, J(m[1]) * k, m[2] + Uniform(rng, -3, 3), m[3] * k, m[4] * k, m[5] * k, 9 * k,
                        m[3] * k, m[4] * k, 2 + static_cast<int>(i));
      b.curv = 0.02 / k;
      b.ki_end = 0.8, b.med_end = 0.4;
      b.mu = kBoneMu * 0.6;
      g.bones.push_back(b);
    }
    g.carpals = {{0.5, -8.5, 8.5, 7.5, 0, 1.0},                // lunate
                 {-4, -11, 7, 6, 0, 0.8},                      // triquetrum
                 {5, -12, 14, 6, -65 * kPi / 180, 0.8},        // scaphoid
                 {12, -10, 6, 5.5, 0, 0.8},                    // pisiform
                 {0, -24, 12.5, 7.5, 90 * kPi / 180, 1.0},     // capitate
                 {-3, -25, 10.5, 7, 90 * kPi / 180, 0.8},      // hamate
                 {8.5, -27, 7, 6, -30 * kPi / 180, 0.8},       // trapezium
                 {4, -27, 6, 5.5, 0, 0.7}};                    // trapezoid
    g.knot_t = {-80, -45, -25, -5, 10, 40, 130};
    g.edge_neg = {-13.5, -14.5, -16, -17.5, -18.5, -20.5, -22};
    g.edge_pos = {28, 26, 23, 20, 20.5, 23, 25};
    g.half_depth = {40, 38, 33, 28, 27, 29, 31};
  }
  for (auto& c : g.carpals) {
    c.s = J(c.s) * k, c.t = J(c.t) * k, c.ra *= k, c.rb *= k;
    if (g.lat) c.mu_scale *= 0.8;  // the carpus overlaps itself side-on
    c.angle += Uniform(rng, -4, 4) * kPi / 180;
  }
  for (auto& e : g.edge_neg) e *= soft;
  for (auto& e : g.edge_pos) e *= soft;
  for (auto& e : g.half_depth) e *= soft;
  return g;
}

// Ulnar styloid as polyline points in limb mm, from base to tip.
std::vector<std::array<double, 2>> StyloidLimb(const Geometry& g) {
  const LongBone& u = g.bones[kUlna];
  double lo, hi;
  u.Edges(0, &lo, &hi);
  const double cb = lo + (g.lat ? 3.5 : 2.6), ct = lo + (g.lat ? 3.0 : 1.6);
  std::vector<std::array<double, 2>> out;
  for (auto [c, a] : {std::pair{cb, u.EndA(cb) + 2.0}, std::pair{ct, u.EndA(ct) - 4.5}}) {
    double s, t;
    u.ToLimb(c, a, &s, &t);
    out.push_back({s, t});
  }
  return out;
}

// ---------------------------------------------------------------- fractures

struct Request {
  bool displaced = false;
  bool forced = false;  // displacement given in the label
  std::mt19937_64 rng;
  std::string zone;
};

void PlanFracture(Geometry& g, Request& rq, double d, int used_bone) {
  auto& rng = rq.rng;
  if (!rq.forced) rq.displaced = Uniform(rng) < Lerp(0.7, 0.15, d);
  const double pick = Uniform(rng);
  // Zones: distal radius (45%), radial shaft, ulnar shaft, ulnar styloid.
  std::string zone = pick < 0.45 ? "distal radius" : pick < 0.65 ? "radial shaft" : pick < 0.85 ? "ulnar shaft" : "ulnar styloid";
  const int bone = zone.find("radi") != std::string::npos ? kRadius : kUlna;
  if (bone == used_bone) zone = bone == kRadius ? (Uniform(rng) < 0.6 ? "ulnar styloid" : "ulnar shaft") : "distal radius";
  rq.zone = zone;
  const double scale = Lerp(1.0, 0.35, d);
  const double sign = Uniform(rng) < 0.5 ? -1.0 : 1.0;
  // Subtle (high difficulty): narrower, partly filled lines, less displacement.
  const double gap = rq.displaced ? Lerp(1.2, 0.45, d) : Lerp(0.6, 0.25, d);
  const double lucency = rq.displaced ? Lerp(1.0, 0.6, std::max(0.0, d - 0.4) / 0.6) : Lerp(1.0, 0.55, d);
  if (zone == "ulnar styloid") {
    Styloid& st = g.styloid;
    st.fractured = true;
    st.base_frac = Uniform(rng, 0.25, 0.45);
    st.gap = gap;
    st.lucency = lucency;
    if (rq.displaced) {
      st.shift_s = -Uniform(rng, 1.0, 2.5) * scale;  // ulnar-wards (s < 0 on the ulnar side in both views)
      st.shift_t = -Uniform(rng, 0.5, 2.0) * scale;  // distal-wards
    }
    return;
  }
  LongBone& b = g.bones[bone];
  Fracture& fx = b.fx;
  fx.present = true;
  fx.gap = gap;
  fx.lucency = lucency;
  fx.jag = Uniform(rng, 0.2, 0.5);
  fx.k1 = Uniform(rng, 0.6, 1.2), fx.k2 = Uniform(rng, 1.8, 3.0);
  fx.p1 = Uniform(rng, 0, 2 * kPi), fx.p2 = Uniform(rng, 0, 2 * kPi);
  double width = 2 * b.shaft_hw;
  if (zone == "distal radius") {  // Colles-type: metaphyseal, near transverse
    fx.a_f = Uniform(rng, 15, 27);
    fx.tan_phi = std::tan(Uniform(rng, -15, 15) * kPi / 180);
    double lo, hi;
    b.Edges(fx.a_f, &lo, &hi);
    width = hi - lo;
    if (rq.displaced) {
      // Radial (AP) / dorsal (LAT) translation, tilt of the articular surface.
      fx.shift_c = (g.lat ? -1.0 : 1.0) * Uniform(rng, 0.15, 0.35) * width * scale;
      fx.angle = (g.lat ? 1.0 : -1.0) * Uniform(rng, 8, 20) * kPi / 180 * scale;
    }
  } else {  // shaft: transverse or oblique; the proximal fragment moves
    fx.move_shaft = true;
    fx.a_f = Uniform(rng, 48, 82);
    const bool oblique = Uniform(rng) < 0.5;
    fx.tan_phi = std::tan((oblique ? Uniform(rng, 30, 50) * sign : Uniform(rng, -10, 10)) * kPi / 180);
    if (rq.displaced) {
      // Oblique: slide towards shortening; transverse: either way.
      const double dir = std::abs(fx.tan_phi) > 0.2 ? (fx.tan_phi > 0 ? -1.0 : 1.0) : sign;
      fx.shift_c = dir * Uniform(rng, 0.3, 0.6) * width * scale;
      fx.angle = (Uniform(rng) < 0.5 ? -1 : 1) * Uniform(rng, 4, 10) * kPi / 180 * scale;
    }
  }
  fx.c_f = b.CentreC(fx.a_f);
  fx.shift_a = fx.tan_phi * fx.shift_c;  // slide along the fracture plane: the gap keeps its width
  // Hinge on the cortex that stays in contact, so angulation opens a wedge
  // rather than driving one fragment into the other.
  {
    double lo, hi;
    b.Edges(fx.a_f, &lo, &hi);
    const bool high = (fx.angle > 0) != fx.move_shaft;
    fx.pivot_c = high ? hi : lo;
    fx.pivot_a = fx.a_f + fx.tan_phi * (fx.pivot_c - fx.c_f);
  }
  fx.band = 1.3 + 0.5 * std::abs(fx.shift_c) / std::max(1.0, width);
}

std::vector<Request> ParseRequests(const BoneXrayOptions& o) {
  std::vector<Request> out;
  for (size_t i = 0; i < o.findings.size(); ++i) {
    std::string label = o.findings[i];
    Request rq;
    const auto colon = label.find(':');
    if (colon != std::string::npos) {
      const std::string kind = label.substr(colon + 1);
      label = label.substr(0, colon);
      if (kind == "displaced") rq.displaced = true;
      else if (kind != "undisplaced") throw std::invalid_argument("bone_xray: unknown fracture kind '" + kind + "'");
      rq.forced = true;
    }
    if (label != "Fracture") throw std::invalid_argument("bone_xray: unknown finding label '" + label + "'");
    rq.rng.seed(raster::Mix(raster::Mix(o.seed, raster::HashString(label)), i));
    out.push_back(std::move(rq));
  }
  if (out.size() > 2) throw std::invalid_argument("bone_xray: at most two fractures (one per forearm bone)");
  return out;
}

void Validate(const BoneXrayOptions& o) {
  if (o.view != "AP" && o.view != "LAT") throw std::invalid_argument("bone_xray: view must be AP or LAT");
  if (o.side != "" && o.side != "left" && o.side != "right") throw std::invalid_argument("bone_xray: side must be left, right or empty");
  if (o.size < 64 || o.size > 4096) throw std::invalid_argument("bone_xray: size must be 64..4096");
  for (const auto& d : o.defects) {
    if (d != "rotation" && d != "motion_blur" && d != "underexposure" && d != "noise") {
      throw std::invalid_argument("bone_xray: unknown defect '" + d + "'");
    }
  }
}

// ---------------------------------------------------------------- rendering

struct Rendered {
  Plane d;
  Plane change;              // d minus the normal study's d (non-zero only at fractures)
  std::vector<Plane> masks;  // per bone index (radius, ulna) + styloid, only when fractured
};

void RenderSoftTissue(const Geometry& g, Plane& d, uint64_t seed) {
  const int rows = d.rows(), cols = d.columns();
  // Envelope tables over t at 0.1 mm (three Interp calls per pixel are slow).
  constexpr double kT0 = -160, kStep = 0.1;
  constexpr int kN = 4000;
  std::vector<float> lut_lo(kN), lut_hi(kN), lut_dp(kN);
  for (int i = 0; i < kN; ++i) {
    const double t = kT0 + i * kStep;
    lut_lo[i] = static_cast<float>(Interp(g.knot_t, g.edge_neg, t));
    lut_hi[i] = static_cast<float>(Interp(g.knot_t, g.edge_pos, t));
    lut_dp[i] = static_cast<float>(Interp(g.knot_t, g.half_depth, t));
  }
  std::mt19937_64 rng(raster::Mix(seed, 0x50F7));
  const Plane lumps = raster::SmoothNoise(rows, cols, 6.0 / g.frame.spacing, rng);
  const double aa = g.frame.spacing;
  for (int r = 0; r < rows; ++r) {
    float* row = d.row(r);
    const float* lu = lumps.row(r);
    for (int c = 0; c < cols; ++c) {
      double s, t;
      g.frame.ToLimb(c + 0.5, r + 0.5, &s, &t);
      const int ti = std::clamp(static_cast<int>(std::lround((t - kT0) / kStep)), 0, kN - 1);
      const double lo = lut_lo[ti], hi = lut_hi[ti];
      const double hw = 0.5 * (hi - lo), x = (s - 0.5 * (lo + hi)) / hw;
      const double ax = std::abs(x);
      if (ax >= 1 + aa / hw) continue;
      const double dp = lut_dp[ti];
      const double o = ax < 1 ? std::sqrt(1 - x * x) : 0.0;
      const double edge = std::clamp((1 - ax) * hw / aa + 0.5, 0.0, 1.0);  // anti-aliased skin line
      constexpr double kMuscle = 0.84;  // muscle core inside a subcutaneous fat layer
      const double core = ax < kMuscle ? std::sqrt(kMuscle * kMuscle - x * x) : 0.0;
      const double v = kSoftMu * dp * (0.75 * std::max(o, 0.12 * edge) + 0.45 * core) * edge;
      row[c] += static_cast<float>(v * (1 + 0.03 * lu[c]));
    }
  }
}

void RenderCarpals(const Geometry& g, const Texture& tex, Plane& d) {
  const Frame& fr = g.frame;
  Plane carp(d.rows(), d.columns());
  for (const auto& cb : g.carpals) {
    const Point c = fr.ToPixel(cb.s, cb.t);
    const double depth = 0.5 * (cb.ra + cb.rb) * 0.9;
    const float value = static_cast<float>(kBoneMu * depth * 0.6 * cb.mu_scale);
    for (auto [profile, share] : {std::pair{Profile::kCylinder, 0.55f}, std::pair{Profile::kShell, 0.45f}}) {
      raster::FillEllipse(carp, c, cb.ra / fr.spacing, cb.rb / fr.spacing, fr.PixelAngle(cb.angle), value * share, profile);
    }
  }
  // Trabecular texture, in limb coordinates.
  for (int r = 0; r < d.rows(); ++r) {
    const float* cr = carp.row(r);
    float* out = d.row(r);
    for (int c = 0; c < d.columns(); ++c) {
      if (cr[c] == 0) continue;
      double s, t;
      fr.ToLimb(c + 0.5, r + 0.5, &s, &t);
      out[c] += cr[c] * (1 + 0.22f * tex.At(5, s, 1.6 * (t + 40)));
    }
  }
}

// The ulnar styloid: a tapered rod (a cone with a rounded tip) growing out of
// the ulnar head. A fracture cuts it at `base_frac` (a gap, or a partly
// filled hairline) and moves the tip fragment; the mask is a disc there.
void RenderStyloid(const Geometry& g, Plane& d, Plane* mask) {
  const Frame& fr = g.frame;
  const auto pts = StyloidLimb(g);
  const double k = g.bones[kUlna].shaft_hw / 5.8;
  const double hw_base = 2.4 * k, hw_tip = 1.0 * k;
  const auto& st = g.styloid;
  const double bs = pts[0][0], bt = pts[0][1];
  const double len = std::hypot(pts[1][0] - bs, pts[1][1] - bt);
  const double us = (pts[1][0] - bs) / len, ut = (pts[1][1] - bt) / len;  // unit axis, base -> tip
  const double cut = st.base_frac * len;
  const double aa = fr.spacing;
  // Density of the intact rod at limb (s, t), and the distance along it.
  auto rod = [&](double s, double t, double* along) {
    const double ps = s - bs, pt = t - bt;
    const double l = ps * us + pt * ut, dd = std::abs(ps * ut - pt * us);
    *along = l;
    const double lc = std::clamp(l, 0.0, len);
    const double r = hw_base + (hw_tip - hw_base) * lc / len;
    const double dist = l > len ? std::hypot(l - len, dd) : dd;  // rounded tip
    if (dist >= r) return 0.0;
    const double fade = std::clamp((l + 0.3 * len) / (0.6 * len), 0.0, 1.0);  // grows out of the head
    return kBoneMu * 1.3 * r * std::sqrt(1 - Sq(dist / r)) * fade * fade * (3 - 2 * fade);
  };
  double xmin = 1e9, xmax = -1e9, ymin = 1e9, ymax = -1e9;
  const double pad = hw_base + 2 + std::hypot(st.shift_s, st.shift_t);
  for (double ds : {-pad, pad}) {
    for (double dt : {-pad, pad}) {
      for (const auto& q : pts) {
        const Point p = fr.ToPixel(q[0] + ds, q[1] + dt);
        xmin = std::min(xmin, p.x), xmax = std::max(xmax, p.x), ymin = std::min(ymin, p.y), ymax = std::max(ymax, p.y);
      }
    }
  }
  const int c0 = std::max(0, static_cast<int>(xmin)), c1 = std::min(d.columns() - 1, static_cast<int>(xmax) + 1);
  const int r0 = std::max(0, static_cast<int>(ymin)), r1 = std::min(d.rows() - 1, static_cast<int>(ymax) + 1);
  for (int r = r0; r <= r1; ++r) {
    for (int c = c0; c <= c1; ++c) {
      double s, t, along;
      fr.ToLimb(c + 0.5, r + 0.5, &s, &t);
      if (!st.fractured) {
        d.at(r, c) += static_cast<float>(rod(s, t, &along));
        continue;
      }
      const double vb = rod(s, t, &along);
      const double wb = std::clamp((cut - st.gap / 2 - along) / aa + 0.5, 0.0, 1.0);
      double along_tip;
      const double vt = rod(s - st.shift_s, t - st.shift_t, &along_tip);
      const double wt = std::clamp((along_tip - cut - st.gap / 2) / aa + 0.5, 0.0, 1.0);
      const double rest = std::max(0.0, 1 - wb - wt) * (1 - st.lucency);
      d.at(r, c) += static_cast<float>(wb * vb + wt * vt + rest * vb);
    }
  }
  if (mask) {
    const Point p = fr.ToPixel(bs + us * cut + 0.5 * st.shift_s, bt + ut * cut + 0.5 * st.shift_t);
    const double hw_cut = hw_base + (hw_tip - hw_base) * st.base_frac;
    const double rad = (hw_cut * 1.1 + st.gap / 2 + 0.5 * std::hypot(st.shift_s, st.shift_t)) / fr.spacing;
    raster::FillEllipse(*mask, p, rad, rad, 0, 1.0f);
  }
}

// Renders `g`; each fractured part is also rendered as in `normal` (same
// seed, no fracture) so that `change` holds exactly what the fractures did.
Rendered Render(const Geometry& g, const Geometry& normal, const Texture& tex, int size, uint64_t seed) {
  Rendered out;
  out.d = Plane(size, size);
  out.change = Plane(size, size);
  out.masks.resize(3);
  RenderSoftTissue(g, out.d, seed);
  // Metacarpals and carpals first (the forearm bones overlap them in LAT).
  for (size_t i = 2; i < g.bones.size(); ++i) RenderLongBone(g.bones[i], g.frame, tex, out.d, nullptr);
  RenderCarpals(g, tex, out.d);
  auto add_change = [&](const Plane& after, const Plane& before) {
    for (size_t k = 0; k < after.data().size(); ++k) {
      out.d.data()[k] += after.data()[k];
      out.change.data()[k] += after.data()[k] - before.data()[k];
    }
  };
  for (int i : {kRadius, kUlna}) {
    if (!g.bones[i].fx.present) {
      RenderLongBone(g.bones[i], g.frame, tex, out.d, nullptr);
      continue;
    }
    Plane after(size, size), before(size, size);
    out.masks[i] = Plane(size, size);
    RenderLongBone(g.bones[i], g.frame, tex, after, &out.masks[i]);
    RenderLongBone(normal.bones[i], normal.frame, tex, before, nullptr);
    add_change(after, before);
  }
  if (!g.styloid.fractured) {
    RenderStyloid(g, out.d, nullptr);
  } else {
    Plane after(size, size), before(size, size);
    out.masks[2] = Plane(size, size);
    RenderStyloid(g, after, &out.masks[2]);
    RenderStyloid(normal, before, nullptr);
    add_change(after, before);
  }
  return out;
}

Mask MaskFrom(const Plane& cov, float threshold = 0.5f) {
  Mask m;
  m.rows = cov.rows();
  m.columns = cov.columns();
  m.bits.assign(cov.data().size(), 0);
  for (size_t i = 0; i < m.bits.size(); ++i) m.bits[i] = cov.data()[i] >= threshold ? 1 : 0;
  return m;
}

double MeanChange(const Plane& change, const Mask& m) {
  double sum = 0;
  size_t cnt = 0;
  for (size_t i = 0; i < m.bits.size(); ++i) {
    if (m.bits[i]) sum += change.data()[i], ++cnt;
  }
  return cnt ? sum / cnt : 0;
}

}  // namespace

std::vector<std::string> BoneXrayLabels() { return {"Fracture"}; }

Study MakeBoneXray(const BoneXrayOptions& options) {
  Validate(options);
  const int n = options.size;
  const double spacing = kFieldMm / n;
  const double difficulty = std::clamp(options.difficulty, 0.0, 1.0);
  int side = 0;
  if (options.side.empty()) {
    std::mt19937_64 srng(raster::Mix(options.seed, 0x51DE));
    side = Uniform(srng) < 0.5 ? 0 : 1;
  } else {
    side = options.side == "left" ? 0 : 1;
  }
  const Geometry normal = DrawGeometry(options, side);
  Geometry g = normal;
  std::vector<Request> requests = ParseRequests(options);
  int used_bone = -1;
  for (auto& rq : requests) {
    PlanFracture(g, rq, difficulty, used_bone);
    used_bone = rq.zone.find("radi") != std::string::npos ? kRadius : kUlna;
  }
  const Texture tex(options.seed);
  Rendered ren = Render(g, normal, tex, n, options.seed);
  const bool under = Has(options.defects, "underexposure");
  const double gain = 4095.0 * (under ? 0.5 : 0.85);

  Study study;
  study.kind = "bone_xray";
  study.seed = options.seed;
  const Laterality lat = side == 0 ? Laterality::kLeft : Laterality::kRight;
  if (!requests.empty()) {
    for (const auto& rq : requests) {
      const int slot = rq.zone == "ulnar styloid" ? 2 : (rq.zone.find("radi") != std::string::npos ? kRadius : kUlna);
      Finding f;
      f.label = "Fracture";
      f.laterality = lat;
      f.zone = rq.zone;
      f.mask = MaskFrom(ren.masks[slot]);
      f.contrast = MeanChange(ren.change, f.mask) * gain;
      f.subtle = difficulty >= 0.7;
      study.findings.push_back(std::move(f));
    }
  }

  // Detector blur, defects, exposure, quantum noise.
  Plane d = std::move(ren.d);
  raster::GaussianBlur(d, std::max(0.5, 0.12 / spacing));
  std::mt19937_64 drng(raster::Mix(options.seed, 0xDEFEC7));
  double noise = 0.004 * (0.75 + 0.7 * difficulty);
  raster::ApplyFilmDefects(d, options.defects, spacing, 1.5, 3.0, drng, &study);
  if (under) noise *= 2.2;
  if (Has(options.defects, "noise")) noise *= 3.0;
  const double offset = under ? 0.01 : 0.03;
  Image img;
  img.rows = n;
  img.columns = n;
  img.pixel_spacing_mm = {spacing, spacing};
  img.pixels.resize(static_cast<size_t>(n) * n);
  raster::NormalSource normal_src(raster::Mix(options.seed, 0x401CE));
  std::vector<uint32_t> hist(4096, 0);
  for (int r = 0; r < n; ++r) {
    const double heel = 1.0 + 0.04 * ((r + 0.5) / n - 0.5);  // anode heel: a slight gradient
    const float* row = d.row(r);
    for (int c = 0; c < n; ++c) {
      const double v = row[c] * heel;
      const double sigma = noise * std::exp(1.6 * (v - 0.3));
      const double stored = 4095.0 * offset + gain * (v + sigma * normal_src.Next());
      const int q = static_cast<int>(std::clamp(std::lround(stored), 0L, 4095L));
      img.pixels[static_cast<size_t>(r) * n + c] = static_cast<int16_t>(q);
      ++hist[q];
    }
  }
  for (auto& f : study.findings) {
    size_t cnt = 0;
    for (uint8_t b : f.mask.bits) cnt += b;
    f.area_cm2 = cnt * spacing * spacing / 100.0;
  }

  const std::string side_name = side == 0 ? "LEFT" : "RIGHT";
  SeriesInfo info;
  info.modality = "DX";
  info.body_part = "FOREARM";
  info.view_position = options.view;
  info.series_description = "FOREARM " + options.view;
  info.protocol_name = "FOREARM " + side_name;
  info.laterality = side == 0 ? "L" : "R";
  info.bits_stored = 12;
  info.is_signed = false;
  raster::WindowFromHistogram(hist, img.pixels.size(), 1.0 / 200, 1.0 / 500, &info.window_center,
                              &info.window_width);
  Series series;
  series.info = info;
  series.images.push_back(std::move(img));
  study.series.push_back(std::move(series));
  return study;
}

}  // namespace parallax::phantom
