#include "parallax/phantom/brain_mri.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "pose.h"
#include "volume.h"

namespace parallax::phantom {
namespace {

using internal::Clamp;
using internal::Ellipsoid;
using internal::FloatVolume;
using internal::HashName;
using internal::Length;
using internal::Lerp;
using internal::MixSeed;
using internal::Random;
using internal::Smoothstep;
using internal::SmoothMin;
using internal::Tube;
using internal::ValueNoise;
using internal::Vec3;

constexpr double kPi = std::numbers::pi;

const char* const kEnhancing = "Enhancing tumour";
const char* const kNonEnhancing = "Non-enhancing lesion";
const char* const kMetastases = "Metastases";
const char* const kWhiteMatterLesions = "White matter lesions";

// What a voxel of the clean anatomy is; each has a T1 POST and a FLAIR signal.
enum Tissue : uint8_t {
  kAir,
  kSkin,
  kFat,        // subcutaneous and orbital fat
  kMuscle,     // galea, neck and face muscles
  kBone,       // cortical bone: no signal
  kMarrow,     // diploe and skull base marrow (fatty)
  kSinus,      // air in sinuses and mastoid cells
  kGlobe,      // vitreous
  kLens,
  kCsf,        // subarachnoid space, sulci, fissures, cisterns
  kVentricle,
  kGrey,
  kWhite,
  kDeepGrey,
  kBrainstem,
  kCerebellum,
  kDura,       // dura, falx, tentorium: faint enhancement
  kVessel,     // dural sinuses, arteries, cortical veins: bright on T1 POST, flow void on FLAIR
  kChoroid,    // choroid plexus: enhances
  kPituitary,  // enhances avidly
  kTissueCount,
};

// Mean signals of each tissue (arbitrary units) before bias and noise.
struct Signal {
  float t1 = 0, flair = 0;
};

double CoronalY(double z) { return -14 + 0.12 * (z - 100); }
double LambdoidY(double z) { return 45 + 0.32 * (z - 35); }

// The seed's head. Head frame: x to the patient's left, y posterior, z
// superior (mm), origin on the midline, z = 0 near the foramen magnum.
struct Anatomy {
  int size = 256;
  int slices = 24;
  double pixel_mm = 0.9;
  double shift_x = 0, shift_y = 0, cos_yaw = 1, sin_yaw = 0, pitch = 0;
  double slice_mm = 5, z_scale = 1, z_start = 5;
  internal::Pose pose;  // follow-up: the patient's rigid motion in patient coordinates

  Vec3 head_centre;
  double semi_lat = 74, semi_ap = 94, semi_up = 107, semi_down = 140;
  double scalp = 5.5, skull = 6.5, base_extra = 5, bone_max = 16, floor_z = 30;
  Ellipsoid posterior_fossa, middle_fossa[2];

  Tube lateral_ventricle[2], temporal_horn[2], brainstem, sylvian[2], mca[2];
  Tube sagittal_sinus, transverse_sinus;
  Ellipsoid third_ventricle, fourth_ventricle, thalamus[2], lentiform[2], caudate[2];
  Ellipsoid suprasellar, quadrigeminal, cisterna_magna, deep_zone, choroid[2], pituitary;
  Ellipsoid orbit[2], globe[2], lens[2], sphenoid, ethmoid, nasal, mastoid[2];
  double brainstem_axis_y = 18;

  ValueNoise surface_noise, sulcus_noise, bone_noise, folia_noise, texture_noise, vessel_noise;
  Vec3 brain_centre;
  double csf_gap = 1.0, sulcus_width = 0.1, sulcus_depth = 15;
  Signal signal[kTissueCount];

  Vec3 HeadPoint(int i, int j, int k) const {
    if (pose.active) {
      // Patient coordinates as the DICOM writer places the voxel, moved back
      // to where that bit of the patient was without the shift.
      const Vec3 q = pose.ToPrior({(i - size * 0.5) * pixel_mm, (j - size * 0.5) * pixel_mm, k * slice_mm});
      const double xi = q.x + 0.5 * pixel_mm - shift_x;
      const double yi = q.y + 0.5 * pixel_mm - shift_y;
      const double x = cos_yaw * xi + sin_yaw * yi;
      const double y = -sin_yaw * xi + cos_yaw * yi;
      return {x, y, z_start + (q.z + 0.5 * slice_mm) * z_scale + pitch * y};
    }
    const double xi = (i + 0.5 - size * 0.5) * pixel_mm - shift_x;
    const double yi = (j + 0.5 - size * 0.5) * pixel_mm - shift_y;
    const double x = cos_yaw * xi + sin_yaw * yi;
    const double y = -sin_yaw * xi + cos_yaw * yi;
    return {x, y, SliceZ(k) + pitch * y};
  }
  double SliceZ(int k) const { return z_start + (k + 0.5) * slice_mm * z_scale; }
  // The slice whose plane passes nearest to p.
  int SliceOf(Vec3 p) const {
    return static_cast<int>(Clamp(std::lround((p.z - pitch * p.y - z_start) / (slice_mm * z_scale) - 0.5), 0,
                                  slices - 1));
  }
  // p moved along z onto the centre plane of its nearest slice.
  Vec3 OnSlice(Vec3 p) const { return {p.x, p.y, SliceZ(SliceOf(p)) + pitch * p.y}; }

  double SkinDistance(Vec3 p) const {
    const Vec3 q = p - head_centre;
    const double rz = q.z > 0 ? semi_up : semi_down;
    const double k0 = std::sqrt((q.x / semi_lat) * (q.x / semi_lat) + (q.y / semi_ap) * (q.y / semi_ap) +
                                (q.z / rz) * (q.z / rz));
    const double ax = q.x / (semi_lat * semi_lat), ay = q.y / (semi_ap * semi_ap), az = q.z / (rz * rz);
    const double k1 = std::sqrt(ax * ax + ay * ay + az * az) + 1e-12;
    return k0 * (k0 - 1.0) / k1 + 1.6 * surface_noise(q * (1.0 / 28.0));
  }

  // Signed distance to the inner table (negative inside the cranial cavity).
  double CavityDistance(Vec3 p, double skin) const {
    double d = skin + scalp + skull + base_extra * Smoothstep(75, 30, p.z);
    const double orbit_roof = 5 * Smoothstep(-25, -45, p.y) * std::exp(-std::pow((std::abs(p.x) - 28) / 15, 2));
    d = std::max(d, floor_z - 0.04 * p.y + orbit_roof - p.z);
    if (p.z < posterior_fossa.ZMax() + 6) d = SmoothMin(d, posterior_fossa.Distance(p), 4);
    if (p.z < middle_fossa[0].ZMax() + 6) d = SmoothMin(d, middle_fossa[p.x > 0 ? 1 : 0].Distance(p), 4);
    return d;
  }
  double CavityDistance(Vec3 p) const { return CavityDistance(p, SkinDistance(p)); }

  bool Infratentorial(Vec3 p) const { return p.z < posterior_fossa.ZMax() && posterior_fossa.Distance(p) < 0; }

  std::string Zone(Vec3 p) const {
    if (Infratentorial(p)) return "posterior fossa";
    if (p.y < CoronalY(p.z)) return "frontal";
    if (p.y > LambdoidY(p.z)) return "occipital";
    if (p.z < 68) return "temporal";
    return "parietal";
  }
};

Vec3 Direction(double phi, double theta) {
  return {std::cos(theta) * std::cos(phi), std::cos(theta) * std::sin(phi), std::sin(theta)};
}

// Distance from `from` along `dir` to the inner table (mm).
double InnerTableRadius(const Anatomy& a, Vec3 from, Vec3 dir) {
  double lo = 0, hi = 170;
  for (int it = 0; it < 36; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (a.CavityDistance(from + dir * mid) < 0) lo = mid; else hi = mid;
  }
  return lo;
}

class BrainRenderer {
 public:
  explicit BrainRenderer(const Anatomy& a) : a_(a) {}

  uint8_t Render(Vec3 p, double skin, double cavity) const {
    if (skin > 0) return kAir;
    if (p.z < 40 && a_.pituitary.Contains(p)) return kPituitary;
    if (cavity > 0) return Extracranial(p, skin, cavity);
    return Intracranial(p, -cavity);
  }

 private:
  uint8_t Extracranial(Vec3 p, double skin, double cavity) const {
    const Anatomy& a = a_;
    if (p.z < 48 && p.z > a.transverse_sinus.points[0].z - 12 && cavity < 2.5 && a.transverse_sinus.Distance(p) < 0) {
      return kVessel;
    }
    if (p.z < 45) {
      for (int s = 0; s < 2; ++s) {
        if (a.orbit[s].Contains(p)) {
          if (a.lens[s].Contains(p)) return kLens;
          if (a.globe[s].Contains(p)) return kGlobe;
          return a.texture_noise(p * 0.3) > 0.45 ? kMuscle : kFat;  // extraocular muscles in the fat
        }
      }
      if (a.sphenoid.Contains(p) || a.ethmoid.Contains(p) || a.nasal.Contains(p)) {
        if (a.ethmoid.Contains(p) && std::abs(a.bone_noise(p * (1.0 / 3.0))) < 0.06) return kBone;
        return kSinus;
      }
      for (int s = 0; s < 2; ++s) {
        if (a.mastoid[s].Contains(p)) return a.bone_noise(p * (1.0 / 2.2)) > -0.1 ? kSinus : kBone;
      }
    }
    if (skin > -a.scalp) {
      if (skin > -1.3) return kSkin;
      if (skin > -a.scalp + 1.4) return kFat;
      return kMuscle;  // galea
    }
    if (cavity > a.bone_max + 4 * a.bone_noise(p * 0.05)) {
      return a.texture_noise(p * 0.15) > 0.35 ? kFat : kMuscle;  // neck and face
    }
    const double from_outer = -(skin + a.scalp);
    const bool table = cavity < 1.6 || from_outer < 1.7;
    if (table) return kBone;
    if (p.z < 38 && a.bone_noise(p * 0.07) < 0.25) return kBone;  // dense skull base, marrow islands
    return kMarrow;
  }

  uint8_t Intracranial(Vec3 p, double depth) const {
    const Anatomy& a = a_;
    const bool low = p.z < 60;
    if (low && p.z > a.transverse_sinus.points[0].z - 12 && depth < 6 && a.transverse_sinus.Distance(p) < 0) {
      return kVessel;
    }
    if (low && a.Infratentorial(p)) return PosteriorFossa(p, depth);
    if (low && p.z > 28 && p.y > a.posterior_fossa.centre.y - 8 && std::abs(a.posterior_fossa.Distance(p)) < 0.6) {
      return kDura;  // tentorium
    }
    if (depth < 9 && std::abs(p.x) < 9 && p.z > 45 && a.sagittal_sinus.Distance(p) < 0) return kVessel;

    if (p.z > 25 && p.z < 60) {
      const double bs = a.brainstem.Distance(p);
      if (bs < 0) return kBrainstem;
      if (bs < 3.5 && p.z < 47) return kCsf;
      if (a.suprasellar.Contains(p) || a.quadrigeminal.Contains(p)) return kCsf;
    }
    if (p.z > 35 && p.z < 85) {
      if (a.third_ventricle.Contains(p)) return kVentricle;
      const int s = p.x > 0 ? 1 : 0;
      if (a.choroid[s].Contains(p)) return kChoroid;
      if (a.lateral_ventricle[s].Distance(p) < 0 || a.temporal_horn[s].Distance(p) < 0) return kVentricle;
      if (a.thalamus[s].Contains(p) || a.lentiform[s].Contains(p) || a.caudate[s].Contains(p)) return kDeepGrey;
    }
    if (p.z > 28 && p.z < 65) {
      const int s = p.x > 0 ? 1 : 0;
      const double syl = a.sylvian[s].Distance(p);
      if (syl < 0) return a.mca[s].Distance(p) < 0 ? kVessel : kCsf;
      if (syl < 3.2) return kGrey;  // insular and opercular cortex
    }
    const double ax = std::abs(p.x + 0.6 * a.texture_noise(p * (1.0 / 12.0)));
    const double fissure_half = 0.8 + 0.8 * a.csf_gap;
    if (ax < fissure_half + 3.0 && p.z > 36 && !a.deep_zone.Contains(p)) {
      if (ax < 0.45) return kDura;  // falx
      if (ax < fissure_half) return kCsf;
      return kGrey;
    }
    return Cortex(p, depth);
  }

  uint8_t Cortex(Vec3 p, double depth) const {
    const Anatomy& a = a_;
    if (depth < 0.6) return kDura;
    if (depth < a.csf_gap + 0.6) return SulcalCsf(p);
    const double ribbon = 2.8;
    const double d = depth - 0.6;
    if (d < a.sulcus_depth + ribbon) {
      const Vec3 q = p - a.brain_centre;
      const double r = Length(q) + 1e-9;
      const Vec3 g = p + q * (d / r);
      const double n = std::abs(a.sulcus_noise.Fractal(g * (1.0 / 11.0), 2, 0.45));
      const double taper = Clamp(1.0 - (d - a.csf_gap) / a.sulcus_depth, 0.0, 1.0);
      const double w = a.sulcus_width * taper;
      if (n < w) return SulcalCsf(p);
      if (n < w + 0.22 * Smoothstep(a.sulcus_depth + ribbon, a.sulcus_depth - 2, d)) return kGrey;
    }
    if (d < a.csf_gap + ribbon) return kGrey;
    return kWhite;
  }

  // CSF over the convexity and in the sulci, with the cortical vessels running in it.
  uint8_t SulcalCsf(Vec3 p) const {
    return std::abs(a_.vessel_noise(p * (1.0 / 5.0))) < 0.05 ? kVessel : kCsf;
  }

  uint8_t PosteriorFossa(Vec3 p, double depth) const {
    const Anatomy& a = a_;
    const double bs = a.brainstem.Distance(p);
    if (bs < 0) return kBrainstem;
    if (bs < 2.5 && p.y < a.brainstem_axis_y) return kCsf;
    if (a.fourth_ventricle.Contains(p)) return kVentricle;
    if (depth < 0.5) return kDura;
    if (a.cisterna_magna.Contains(p) || depth < a.csf_gap * 0.8 + 0.5) return kCsf;
    const double n = std::abs(a.folia_noise(Vec3{p.x * 0.12, p.y * 0.3, p.z * 0.55}));
    if (n < 0.06 && depth < 14) return kCsf;
    if (depth > 12 && std::abs(p.x) > 9) return kWhite;  // cerebellar white matter
    return kCerebellum;
  }

  const Anatomy& a_;
};

// A tube through points found by casting rays from `from` to the inner table.
Tube SinusAlongTable(const Anatomy& a, Vec3 from, const std::vector<Vec3>& dirs, double inset, double radius) {
  Tube t;
  for (const Vec3& d : dirs) {
    t.points.push_back(from + d * (InnerTableRadius(a, from, d) - inset));
    t.radii.push_back(radius);
  }
  return t;
}

Anatomy MakeAnatomy(const BrainMriOptions& o) {
  Anatomy a;
  Random r(MixSeed(o.seed, HashName("mri anatomy")));
  a.size = o.size;
  a.slices = o.slices;
  a.pixel_mm = r.Uniform(222, 238) / o.size;
  a.shift_x = r.Uniform(-4, 4);
  a.shift_y = r.Uniform(-3, 6);
  const double yaw = r.Uniform(-3, 3) * kPi / 180;
  a.cos_yaw = std::cos(yaw);
  a.sin_yaw = std::sin(yaw);
  a.pitch = std::tan(r.Uniform(-3, 3) * kPi / 180);
  a.slice_mm = o.slice_thickness_mm;
  a.z_start = 4;
  a.z_scale = std::max(1.0, 152.0 / (o.slices * o.slice_thickness_mm));  // cover the brain whatever the slicing

  a.semi_lat = r.Uniform(70, 77);
  a.semi_ap = r.Uniform(89, 98);
  a.semi_up = r.Uniform(104, 110);
  a.head_centre = {0, 5, 59 + r.Uniform(-3, 3)};
  a.scalp = r.Uniform(4.5, 6.0);
  a.skull = r.Uniform(5.5, 7.0);
  a.base_extra = r.Uniform(4, 7);
  const double sx = a.semi_lat / 74, sy = a.semi_ap / 94;
  auto at = [&](double x, double y, double z) { return Vec3{x * sx, y * sy, z}; };
  a.brain_centre = at(0, 5, 65);
  a.posterior_fossa = {at(0, 40, 22), {50 * sx, 36 * sy, 28}};
  for (int s = 0; s < 2; ++s) {
    const double side = s ? 1 : -1;
    a.middle_fossa[s] = {at(side * 38, -5, 26), {20 * sx, 30 * sy, 22}};
  }

  const double v = r.Uniform(0.85, 1.25);  // ventricle size (age)
  a.csf_gap = r.Uniform(0.4, 0.9) + (v - 0.85) * 1.5;
  a.sulcus_width = r.Uniform(0.06, 0.085) + (v - 0.85) * 0.06;
  a.sulcus_depth = r.Uniform(12, 16);

  for (int s = 0; s < 2; ++s) {
    const double side = s ? 1 : -1;
    Tube lv;
    lv.points = {at(side * 5.5, -32, 60), at(side * 7, -16, 63), at(side * 10, 6, 68), at(side * 19, 28, 62),
                 at(side * 17, 47, 57)};
    lv.radii = {4.5 * v, 6 * v, 5 * v, 7 * v, 2.5 * v};
    lv.scale = {1.25, 1.0, 1.35};
    a.lateral_ventricle[s] = lv;
    Tube th;
    th.points = {at(side * 19, 28, 62), at(side * 28, 18, 50), at(side * 32, -4, 40)};
    th.radii = {5 * v, 3.5 * v, 2.2 * v};
    th.scale = {1.2, 1.0, 1.3};
    a.temporal_horn[s] = th;
    a.choroid[s] = {at(side * 20, 30, 61), {2.6, 3.2, 2.6}};
    a.thalamus[s] = {at(side * 10.5, 10, 54), {8, 13, 8}};
    a.lentiform[s] = {at(side * 23, -5, 54), {5.5, 13, 8}};
    a.caudate[s] = {at(side * (9.5 + 4 * v), -18, 61), {4.5, 9, 8}};
    Tube syl;
    syl.points = {at(side * 12, -9, 38), at(side * 34, -5, 41), at(side * 50, 3, 47), at(side * 58, 15, 56)};
    syl.radii = {1.8, 1.6 + 0.6 * v, 1.6 + 0.6 * v, 1.3};
    syl.scale = {1.0, 1.3, 1.0};
    a.sylvian[s] = syl;
    Tube mca = syl;
    mca.radii = {1.3, 1.1, 0.9, 0.7};
    a.mca[s] = mca;
    a.orbit[s] = {at(side * 30, -62, 17), {15, 22 * sy, 12}};
    a.globe[s] = {at(side * 31, -70, 18), {11.5, 11.5, 11.5}};
    a.lens[s] = {at(side * 31, -80.5, 18), {4, 1.8, 4}};
    a.mastoid[s] = {at(side * 48, 30, 14), {8, 9, 9}};
  }
  a.third_ventricle = {at(0, 2, 50), {2.2 * v, 12, 9}};
  a.fourth_ventricle = {at(0, 37, 20), {6, 3.5, 9}};
  a.brainstem.points = {at(0, 22, -8), at(0, 20, 16), at(0, 15, 34), at(0, 9, 46)};
  a.brainstem.radii = {10, 13, 11, 9};
  a.brainstem.scale = {1.0, 1.15, 1.0};
  a.brainstem_axis_y = 20 * sy;
  a.suprasellar = {at(0, -9, 38), {12, 9, 4.5}};
  a.quadrigeminal = {at(0, 30, 44), {8, 6, 5}};
  a.cisterna_magna = {at(0, 66, 6), {14, 9, 10}};
  a.deep_zone = {at(0, 0, 56), {28 * sx, 38 * sy, 24}};
  a.pituitary = {at(0, -13, 26.5), {6, 4.5, 3.5}};
  a.sphenoid = {at(0, -22, 20), {11 * r.Uniform(0.8, 1.2), 9, 9}};
  a.ethmoid = {at(0, -62, 22), {7, 15, 9}};
  a.nasal = {at(0, -72, 2), {9, 18, 12}};

  a.surface_noise = ValueNoise(MixSeed(o.seed, 21));
  a.sulcus_noise = ValueNoise(MixSeed(o.seed, 22));
  a.bone_noise = ValueNoise(MixSeed(o.seed, 23));
  a.folia_noise = ValueNoise(MixSeed(o.seed, 24));
  a.texture_noise = ValueNoise(MixSeed(o.seed, 25));
  a.vessel_noise = ValueNoise(MixSeed(o.seed, 26));

  // Dural venous sinuses, under the inner table: the superior sagittal sinus
  // in the midline from the frontal pole over the vertex to the torcular,
  // the transverse sinuses around the back of the posterior fossa.
  std::vector<Vec3> sss_dirs, ts_dirs;
  for (int i = 0; i <= 12; ++i) {
    const double t = (10 + i * 160.0 / 12) * kPi / 180;  // front to back over the top
    sss_dirs.push_back({0, -std::cos(t), std::sin(t)});
  }
  sss_dirs.push_back(Vec3{0, 0.93, -0.37});
  a.sagittal_sinus = SinusAlongTable(a, a.brain_centre, sss_dirs, 2.6, 3.0);
  a.sagittal_sinus.scale = {1.0, 1.0, 1.25};
  const Vec3 ts_from = a.posterior_fossa.centre + Vec3{0, -6, 10};
  for (int i = 0; i <= 10; ++i) {
    const double phi = (15 + i * 150.0 / 10) * kPi / 180;
    ts_dirs.push_back({std::cos(phi), std::sin(phi), 0});
  }
  a.transverse_sinus = SinusAlongTable(a, ts_from, ts_dirs, 2.4, 2.8);

  // Signals: T1 after gadolinium (fat bright, white above grey, CSF dark,
  // enhancing vessels, dura, choroid and pituitary bright) and FLAIR (CSF
  // nulled, grey a little above white, vessels flow voids).
  auto jitter = [&](double v) { return static_cast<float>(v * r.Uniform(0.95, 1.05)); };
  Signal* sg = a.signal;
  sg[kAir] = {0, 0};
  sg[kSkin] = {jitter(780), jitter(700)};
  sg[kFat] = {jitter(1500), jitter(1050)};
  sg[kMuscle] = {jitter(520), jitter(470)};
  sg[kBone] = {jitter(45), jitter(40)};
  sg[kMarrow] = {jitter(980), jitter(620)};
  sg[kSinus] = {0, 0};
  sg[kGlobe] = {jitter(240), jitter(120)};
  sg[kLens] = {jitter(650), jitter(380)};
  sg[kCsf] = {jitter(260), jitter(115)};
  sg[kVentricle] = {jitter(245), jitter(100)};
  sg[kGrey] = {jitter(720), jitter(930)};
  sg[kWhite] = {jitter(990), jitter(770)};
  sg[kDeepGrey] = {jitter(820), jitter(850)};
  sg[kBrainstem] = {jitter(900), jitter(830)};
  sg[kCerebellum] = {jitter(760), jitter(900)};
  sg[kDura] = {jitter(1080), jitter(520)};
  sg[kVessel] = {jitter(1550), jitter(90)};
  sg[kChoroid] = {jitter(1350), jitter(480)};
  sg[kPituitary] = {jitter(1400), jitter(760)};
  return a;
}

// ---------------------------------------------------------------- findings

struct Lesion {
  enum Kind { kTumour, kNonEnhancingMass, kNodules, kFoci } kind;
  std::string label;
  std::string zone;     // fixed zone, or "" to take it from the mask's centroid
  int side = 1;         // +1 patient left, -1 right, 0 either
  std::vector<Ellipsoid> blobs;
  double irregularity = 0;
  ValueNoise noise;
  bool ring = false;        // tumour: enhancing rim around a necrotic core
  double rim_mm = 3;
  double oedema_mm = 0;     // vasogenic oedema reach beyond the lesion (not in the mask)
  Signal inner, rim;        // absolute signals (core/solid, rim)
  Signal foci_delta;        // white matter foci: change of the underlying tissue
  Signal oedema_delta;      // oedema at the lesion's edge
  Vec3 lo, hi;              // head-frame box outside which nothing changes
};

double LogLerp(double a, double b, double t) { return std::exp(Lerp(std::log(a), std::log(b), t)); }

// Signed distance to the lesion (mm, negative inside) and which blob is nearest.
double LesionDistance(const Lesion& l, Vec3 p, size_t* which = nullptr) {
  double best = 1e30;
  for (size_t b = 0; b < l.blobs.size(); ++b) {
    double d = l.blobs[b].Distance(p);
    if (l.irregularity > 0) d += l.irregularity * l.blobs[b].radii.x * l.noise(p * (1.0 / 6.0));
    if (d < best) {
      best = d;
      if (which) *which = b;
    }
  }
  return best;
}

void SetBounds(Lesion* l) {
  l->lo = {1e30, 1e30, 1e30};
  l->hi = {-1e30, -1e30, -1e30};
  for (const Ellipsoid& e : l->blobs) {
    const double m = l->oedema_mm * 1.3 + l->irregularity * e.radii.x + 2;
    const Vec3 r = e.radii + Vec3{m, m, m};
    l->lo = {std::min(l->lo.x, e.centre.x - r.x), std::min(l->lo.y, e.centre.y - r.y), std::min(l->lo.z, e.centre.z - r.z)};
    l->hi = {std::max(l->hi.x, e.centre.x + r.x), std::max(l->hi.y, e.centre.y + r.y), std::max(l->hi.z, e.centre.z + r.z)};
  }
}

bool InBox(const Lesion& l, Vec3 p) {
  return p.x >= l.lo.x && p.x <= l.hi.x && p.y >= l.lo.y && p.y <= l.hi.y && p.z >= l.lo.z && p.z <= l.hi.z;
}

// A lobar site under the cortex of one hemisphere for a mass of radius rad.
Vec3 LobarSite(const Anatomy& a, Random& r, int side, double rad, double extra_depth) {
  const double which = r.Uniform();
  const Vec3 toward = which < 0.32   ? Vec3{side * 35.0, -55, 85}
                      : which < 0.62 ? Vec3{side * 50.0, 15, 100}
                      : which < 0.82 ? Vec3{side * 58.0, -5, 50}
                                     : Vec3{side * 30.0, 65, 75};
  const Vec3 q = toward - a.brain_centre;
  const Vec3 dir = q * (1.0 / Length(q));
  Vec3 c = a.brain_centre + dir * (InnerTableRadius(a, a.brain_centre, dir) - rad - extra_depth);
  if (side * c.x < rad + 6) c.x = side * (rad + 6);  // stays in its hemisphere
  return c;
}

Lesion MakeTumour(const Anatomy& a, double d, Random& r) {
  Lesion l;
  l.kind = Lesion::kTumour;
  l.label = kEnhancing;
  l.side = r.Chance(0.5) ? 1 : -1;
  const double target = Clamp(LogLerp(42, 3.0, d) * r.Uniform(0.75, 1.25), 2.0, 50);
  const double rad = std::cbrt(3 * target * 1000 / (4 * kPi));
  const Vec3 c = LobarSite(a, r, l.side, rad, r.Uniform(7, 12));
  l.blobs = {{c, {rad * r.Uniform(1.0, 1.15), rad * r.Uniform(0.9, 1.1), rad * r.Uniform(0.82, 0.95)}}};
  l.irregularity = Lerp(0.10, 0.16, d);
  l.noise = ValueNoise(r.engine()());
  l.ring = rad > 10 && r.Chance(Lerp(0.85, 0.45, d));
  l.rim_mm = Clamp(rad * r.Uniform(0.28, 0.4), 2.5, 6.5);
  const Signal wm = a.signal[kWhite];
  const double enh = Lerp(720, 240, d) * r.Uniform(0.9, 1.1);
  l.rim = {float(wm.t1 + enh), float(wm.flair * 1.25)};
  l.inner = l.ring ? Signal{float(Lerp(330, 560, d)), float(wm.flair * 1.45)} : l.rim;
  l.oedema_mm = Clamp(rad * Lerp(0.9, 0.45, d) * r.Uniform(0.8, 1.2), 3, 20);
  l.oedema_delta = {float(-Lerp(170, 90, d)), float(Lerp(560, 300, d))};
  SetBounds(&l);
  return l;
}

Lesion MakeNonEnhancing(const Anatomy& a, double d, Random& r) {
  Lesion l;
  l.kind = Lesion::kNonEnhancingMass;
  l.label = kNonEnhancing;
  l.side = r.Chance(0.5) ? 1 : -1;
  const double target = Clamp(LogLerp(36, 2.0, d) * r.Uniform(0.75, 1.25), 1.2, 50);
  const double rad = std::cbrt(3 * target * 1000 / (4 * kPi));
  const Vec3 c = LobarSite(a, r, l.side, rad, r.Uniform(3, 8));
  l.blobs = {{c, {rad * r.Uniform(1.0, 1.2), rad * r.Uniform(0.9, 1.15), rad * r.Uniform(0.8, 0.95)}}};
  l.irregularity = Lerp(0.14, 0.2, d);
  l.noise = ValueNoise(r.engine()());
  const Signal wm = a.signal[kWhite], gm = a.signal[kGrey];
  // T2/FLAIR bright, T1 dark, nothing enhances.
  l.inner = {float(gm.t1 * Lerp(0.82, 0.93, d)), float(gm.flair + Lerp(560, 170, d) * r.Uniform(0.9, 1.1))};
  l.rim = l.inner;
  (void)wm;
  SetBounds(&l);
  return l;
}

Lesion MakeMetastases(const Anatomy& a, const BrainRenderer& renderer, double d, Random& r) {
  Lesion l;
  l.kind = Lesion::kNodules;
  l.label = kMetastases;
  l.side = 0;
  const int count = r.Int(2, 6);
  const Signal wm = a.signal[kWhite];
  const double enh = Lerp(650, 260, d) * r.Uniform(0.9, 1.1);
  l.rim = {float(wm.t1 + enh), float(wm.flair * 1.2)};
  l.inner = l.rim;
  for (int tries = 0; tries < 400 && static_cast<int>(l.blobs.size()) < count; ++tries) {
    const double diameter = std::max(3.0, r.Uniform(3, 15) * Lerp(1.0, 0.55, d));
    const double rad = diameter / 2;
    Vec3 c;
    if (r.Chance(0.15)) {
      // Cerebellar hemisphere.
      const Vec3 pf = a.posterior_fossa.centre;
      c = pf + Vec3{(r.Chance(0.5) ? 1 : -1) * r.Uniform(15, 32), r.Uniform(0, 18), r.Uniform(-2, 12)};
    } else {
      // Grey-white junction of the cerebrum.
      const double phi = r.Uniform(-kPi, kPi), theta = r.Uniform(-0.05, 1.15);
      const Vec3 dir = Direction(phi, theta);
      c = a.brain_centre + dir * (InnerTableRadius(a, a.brain_centre, dir) - rad - r.Uniform(4, 12));
    }
    c = a.OnSlice(c);
    if (std::abs(c.x) < rad + 4) continue;
    const double skin = a.SkinDistance(c);
    const double cavity = a.CavityDistance(c, skin);
    if (cavity > -rad - 2) continue;
    const uint8_t t = renderer.Render(c, skin, cavity);
    if (t != kWhite && t != kGrey && t != kCerebellum) continue;
    bool clear = true;
    for (const Ellipsoid& e : l.blobs) clear = clear && Length(e.centre - c) > e.radii.x + rad + 8;
    if (!clear) continue;
    l.blobs.push_back({c, {rad, rad * r.Uniform(0.9, 1.1), rad * r.Uniform(0.85, 1.05)}});
  }
  l.oedema_mm = Lerp(3.5, 1.2, d);
  l.oedema_delta = {float(-Lerp(110, 60, d)), float(Lerp(420, 220, d))};
  SetBounds(&l);
  return l;
}

Lesion MakeWhiteMatterLesions(const Anatomy& a, const BrainRenderer& renderer, double d, Random& r) {
  Lesion l;
  l.kind = Lesion::kFoci;
  l.label = kWhiteMatterLesions;
  l.zone = "periventricular";
  l.side = 0;
  const int count = r.Int(5, 10);
  l.foci_delta = {float(-Lerp(90, 40, d)), float(Lerp(620, 230, d) * r.Uniform(0.9, 1.1))};
  for (int tries = 0; tries < 600 && static_cast<int>(l.blobs.size()) < count; ++tries) {
    const int s = r.Int(0, 1);
    const Tube& lv = a.lateral_ventricle[s];
    const size_t seg = static_cast<size_t>(r.Int(0, static_cast<int>(lv.points.size()) - 2));
    const double t = r.Uniform();
    const Vec3 on = lv.points[seg] + (lv.points[seg + 1] - lv.points[seg]) * t;
    const double rad = Lerp(lv.radii[seg], lv.radii[seg + 1], t);
    // Outward from the ventricle: lateral and/or up (Dawson's fingers point away).
    const double ang = r.Uniform(-0.3, 1.4);
    const double side = s ? 1 : -1;
    const Vec3 out{side * std::cos(ang), 0, std::sin(ang)};
    const double size = std::max(1.4, r.Uniform(2.0, 4.2) * Lerp(1.0, 0.6, d));
    Vec3 c = on + out * (rad / 1.25 + size + r.Uniform(1.5, 6));
    c = a.OnSlice(c);
    const double skin = a.SkinDistance(c);
    if (renderer.Render(c, skin, a.CavityDistance(c, skin)) != kWhite) continue;
    bool clear = true;
    for (const Ellipsoid& e : l.blobs) clear = clear && Length(e.centre - c) > e.radii.y + size + 3;
    if (!clear) continue;
    // Ovoid, long axis radial to the ventricle (in-plane here: along y).
    l.blobs.push_back({c, {size * r.Uniform(0.8, 1.0), size * r.Uniform(1.2, 1.8), size * r.Uniform(0.9, 1.3)}});
  }
  SetBounds(&l);
  return l;
}

// The effect of a lesion on a voxel: inside its mask (true) with the new
// signals, or outside with oedema possibly added to `s`.
bool ApplyLesion(const Lesion& l, Vec3 p, uint8_t tissue, double cavity, Signal* s) {
  if (!InBox(l, p) || cavity >= -0.3) return false;
  size_t which = 0;
  const double dist = LesionDistance(l, p, &which);
  switch (l.kind) {
    case Lesion::kTumour:
    case Lesion::kNodules:
    case Lesion::kNonEnhancingMass: {
      const bool maskable = tissue != kVentricle && tissue != kChoroid && tissue != kDura && tissue != kVessel;
      if (dist < 0 && maskable && (l.side == 0 || l.side * p.x > 0.5)) {
        const bool ring = l.kind == Lesion::kTumour ? l.ring : l.blobs[which].radii.x > 6.5 && which % 2 == 0;
        const double rim = l.kind == Lesion::kTumour ? l.rim_mm : 0.45 * l.blobs[which].radii.x;
        const double tex = 1 + 0.05 * l.noise(p * 0.4);
        if (l.kind == Lesion::kNonEnhancingMass) {
          *s = {float(l.inner.t1 * tex), float(l.inner.flair * tex)};
        } else if (ring && dist < -rim) {
          *s = {float(l.kind == Lesion::kTumour ? l.inner.t1 * tex : 420 * tex), float(l.rim.flair * 1.15 * tex)};
        } else {
          *s = {float(l.rim.t1 * tex), float(l.rim.flair * tex)};
        }
        return true;
      }
      if (dist >= 0 && l.oedema_mm > 0 && (tissue == kWhite || tissue == kDeepGrey) &&
          (l.side == 0 || l.side * p.x > 1.0)) {
        const double scale = l.kind == Lesion::kNodules ? std::min(1.0, l.blobs[which].radii.x / 5.0) : 1.0;
        const double reach = l.oedema_mm * scale * (0.75 + 0.35 * l.noise(p * (1.0 / 9.0)));
        if (dist < reach) {
          const double f = 1.0 - Smoothstep(0.45 * reach, reach, dist);
          s->t1 += float(f * l.oedema_delta.t1);
          s->flair += float(f * l.oedema_delta.flair);
        }
      }
      return false;
    }
    case Lesion::kFoci: {
      if (dist < 0 && tissue == kWhite) {
        s->t1 += l.foci_delta.t1;
        s->flair += l.foci_delta.flair;
        return true;
      }
      return false;
    }
  }
  return false;
}

Laterality LateralityOf(double left_fraction, double midline_fraction) {
  if (midline_fraction > 0.7) return Laterality::kMidline;
  if (left_fraction > 0.85) return Laterality::kLeft;
  if (left_fraction < 0.15) return Laterality::kRight;
  return Laterality::kBilateral;
}

bool Has(const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// MR ghosting from motion: faint copies of the slice shifted along the
// phase-encoding direction (rows), added to the slice.
void GhostSlice(float* s, int columns, int rows, int shift, float amplitude) {
  std::vector<float> src(s, s + size_t(columns) * rows);
  for (int j = 0; j < rows; ++j) {
    const int up = (j + shift) % rows, down = (j - shift + rows) % rows;
    for (int i = 0; i < columns; ++i) {
      s[size_t(j) * columns + i] +=
          amplitude * 0.5f * (src[size_t(up) * columns + i] + src[size_t(down) * columns + i]);
    }
  }
}

}  // namespace

std::vector<std::string> BrainMriLabels() { return {kEnhancing, kNonEnhancing, kMetastases, kWhiteMatterLesions}; }

Study MakeBrainMri(const BrainMriOptions& options) {
  BrainMriOptions o = options;
  o.size = std::max(o.size, 32);
  o.slices = std::max(o.slices, 1);
  if (!(o.slice_thickness_mm > 0)) o.slice_thickness_mm = 5;
  const double d = Clamp(o.difficulty, 0, 1);

  const Anatomy base = MakeAnatomy(o);
  // Lesions are built in the unshifted frame, then everything is rendered
  // with the patient moved (HeadPoint); the renderer works in the head frame.
  Anatomy posed = base;
  posed.pose = internal::Pose::From(o.patient_shift);
  const Anatomy& a = posed;
  const BrainRenderer renderer(a);
  const int n = o.size, ns = o.slices;
  const size_t plane = size_t(n) * n;
  auto scale_of = [&](const std::string& label) {
    for (size_t i = 0; i < o.findings.size() && i < o.finding_scale.size(); ++i) {
      if (o.findings[i] == label) return o.finding_scale[i];
    }
    return 1.0;
  };

  std::vector<Lesion> lesions;
  for (const std::string& label : BrainMriLabels()) {
    if (!Has(o.findings, label.c_str())) continue;
    Random r(MixSeed(o.seed, HashName(label.c_str())));
    if (label == kEnhancing) lesions.push_back(MakeTumour(base, d, r));
    if (label == kNonEnhancing) lesions.push_back(MakeNonEnhancing(base, d, r));
    if (label == kMetastases) lesions.push_back(MakeMetastases(base, renderer, d, r));
    if (label == kWhiteMatterLesions) lesions.push_back(MakeWhiteMatterLesions(base, renderer, d, r));
    const double scale = scale_of(label);
    if (scale == 0) {
      lesions.pop_back();
    } else if (scale != 1 && label != kWhiteMatterLesions) {
      // Follow-up: the same lesion at another volume, around the same centres.
      Lesion& l = lesions.back();
      const double k = std::cbrt(scale);
      for (Ellipsoid& e : l.blobs) e.radii = e.radii * k;
      l.rim_mm = std::max(2.0, l.rim_mm * k);
      l.oedema_mm *= k;
      SetBounds(&l);
    }
  }
  const size_t nl = lesions.size();

  // Clean signals with and without the findings (the difference is the
  // recorded contrast), per series.
  FloatVolume t1(n, n, ns, 0.f), flair(n, n, ns, 0.f);
  FloatVolume t1_normal, flair_normal;
  if (nl > 0) {
    t1_normal = FloatVolume(n, n, ns, 0.f);
    flair_normal = FloatVolume(n, n, ns, 0.f);
  }
  std::vector<std::vector<uint8_t>> masks(nl, std::vector<uint8_t>(plane * ns, 0));
  std::vector<int64_t> voxel_count(nl, 0);
  std::vector<Vec3> centroid(nl);
  std::vector<double> left_count(nl, 0), midline_count(nl, 0);

  for (int k = 0; k < ns; ++k) {
    std::vector<size_t> active;
    const double zk = a.SliceZ(k);
    for (size_t li = 0; li < nl; ++li) {
      // A shifted patient: every lesion may reach every slice (InBox still skips quickly).
      if (a.pose.active || (zk + 12 >= lesions[li].lo.z && zk - 12 <= lesions[li].hi.z)) active.push_back(li);
    }
    float* o1 = t1.Slice(k);
    float* o2 = flair.Slice(k);
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) {
        const Vec3 p = a.HeadPoint(i, j, k);
        const Vec3 q = p - a.head_centre;
        const double e = (q.x * q.x) / ((a.semi_lat + 6) * (a.semi_lat + 6)) +
                         (q.y * q.y) / ((a.semi_ap + 6) * (a.semi_ap + 6));
        if (e > 1.0) continue;
        const double skin = a.SkinDistance(p);
        if (skin > 0) continue;
        const double cavity = a.CavityDistance(p, skin);
        const uint8_t tissue = renderer.Render(p, skin, cavity);
        const Signal base = a.signal[tissue];
        const double tex = 1 + 0.025 * a.texture_noise(p * 0.35);
        Signal s{float(base.t1 * tex), float(base.flair * tex)};
        const size_t x = size_t(j) * n + i;
        if (nl > 0) {
          t1_normal.Slice(k)[x] = s.t1;
          flair_normal.Slice(k)[x] = s.flair;
        }
        for (size_t li : active) {
          if (ApplyLesion(lesions[li], p, tissue, cavity, &s)) {
            masks[li][size_t(k) * plane + x] = 1;
            ++voxel_count[li];
            centroid[li] = centroid[li] + p;
            if (p.x > 0) left_count[li] += 1;
            if (std::abs(p.x) < 4) midline_count[li] += 1;
            break;  // the first lesion owns the voxel
          }
        }
        o1[x] = s.t1;
        o2[x] = s.flair;
      }
    }
  }

  // Point spread: a mild [1 2 1] blur of the clean images, then a bias field
  // (receive-coil sensitivity), different for each series.
  ValueNoise bias_t1(MixSeed(o.seed, HashName("bias t1"))), bias_flair(MixSeed(o.seed, HashName("bias flair")));
  Random bias_r(MixSeed(o.seed, HashName("bias")));
  const double grad_t1 = bias_r.Uniform(-0.08, 0.08), grad_flair = bias_r.Uniform(-0.08, 0.08);
  // The field is smooth over ~9 cm: evaluate it every 8 pixels, interpolate.
  const int step = 8, gn = (n + step - 1) / step + 1;
  std::vector<float> grid(size_t(gn) * gn), field(plane);
  for (int series = 0; series < 2; ++series) {
    const bool is_t1 = series == 0;
    const ValueNoise& bias = is_t1 ? bias_t1 : bias_flair;
    const double grad = is_t1 ? grad_t1 : grad_flair;
    FloatVolume* vols[2] = {is_t1 ? &t1 : &flair, is_t1 ? &t1_normal : &flair_normal};
    for (int k = 0; k < ns; ++k) {
      for (int gj = 0; gj < gn; ++gj) {
        for (int gi = 0; gi < gn; ++gi) {
          const Vec3 p = a.HeadPoint(gi * step, gj * step, k);
          grid[size_t(gj) * gn + gi] = float(1 + grad * (p.y / 90.0) + 0.06 * bias(p * (1.0 / 90.0)));
        }
      }
      for (int j = 0; j < n; ++j) {
        const int gj = j / step;
        const float fj = float(j % step) / step;
        for (int i = 0; i < n; ++i) {
          const int gi = i / step;
          const float fi = float(i % step) / step;
          const float* g0 = grid.data() + size_t(gj) * gn + gi;
          const float* g1 = g0 + gn;
          field[size_t(j) * n + i] = (g0[0] * (1 - fi) + g0[1] * fi) * (1 - fj) + (g1[0] * (1 - fi) + g1[1] * fi) * fj;
        }
      }
      for (FloatVolume* vol : vols) {
        if (vol->data.empty()) continue;
        float* sl = vol->Slice(k);
        internal::BlurSlice121(sl, n, n);
        for (size_t x = 0; x < plane; ++x) sl[x] *= field[x];
      }
    }
  }

  Study study;
  study.kind = "brain_mri";
  study.seed = o.seed;
  const double voxel_ml = a.pixel_mm * a.pixel_mm * o.slice_thickness_mm / 1000.0;
  for (size_t li = 0; li < nl; ++li) {
    const Lesion& l = lesions[li];
    Finding f;
    f.label = l.label;
    f.mask.rows = n;
    f.mask.columns = n;
    f.mask.slices = ns;
    f.mask.bits = std::move(masks[li]);
    const int64_t count = voxel_count[li];
    f.volume_ml = static_cast<double>(count) * voxel_ml;
    f.subtle = d >= 0.7;
    const bool on_t1 = l.kind == Lesion::kTumour || l.kind == Lesion::kNodules;
    const FloatVolume& with = on_t1 ? t1 : flair;
    const FloatVolume& without = on_t1 ? t1_normal : flair_normal;
    if (count > 0) {
      double change = 0;
      for (size_t x = 0; x < f.mask.bits.size(); ++x) {
        if (f.mask.bits[x]) change += double(with.data[x]) - double(without.data[x]);
      }
      f.contrast = change / static_cast<double>(count);
      f.laterality = LateralityOf(left_count[li] / count, midline_count[li] / count);
      if (!l.zone.empty()) {
        f.zone = l.zone;
      } else if (l.blobs.size() == 1) {
        f.zone = a.Zone(centroid[li] * (1.0 / static_cast<double>(count)));
      } else {
        // Several nodules: the zone of the largest.
        size_t big = 0;
        for (size_t b = 1; b < l.blobs.size(); ++b) big = l.blobs[b].radii.x > l.blobs[big].radii.x ? b : big;
        f.zone = a.Zone(l.blobs[big].centre);
      }
    } else {
      f.zone = l.zone;
      f.laterality = l.side > 0 ? Laterality::kLeft : l.side < 0 ? Laterality::kRight : Laterality::kBilateral;
    }
    study.findings.push_back(std::move(f));
  }

  // Acquisition defects, then Rician noise (the magnitude of a complex
  // signal with Gaussian noise in both channels).
  Random defects(MixSeed(o.seed, HashName("defects")));
  if (Has(o.defects, "motion_blur") && ns >= 4) {
    const int count = defects.Int(2, 4);
    const int start = defects.Int(ns / 4, std::max(ns / 4, ns - count - 2));
    const double angle = defects.Uniform(0, kPi);
    const double length = defects.Uniform(6, 12) * 0.9 / a.pixel_mm;
    FloatVolume& vol = defects.Chance(0.5) ? t1 : flair;
    for (int k = start; k < std::min(ns, start + count); ++k) {
      internal::MotionBlurSlice(vol.Slice(k), n, n, length * std::cos(angle), length * std::sin(angle), 7);
      GhostSlice(vol.Slice(k), n, n, n / 5 + defects.Int(0, n / 10), 0.12f);
    }
    study.quality_defects.push_back("motion_blur");
  }
  const bool noisy = Has(o.defects, "noise");
  if (noisy) study.quality_defects.push_back("noise");
  const double sigma = noisy ? 55.0 : 14.0;

  const char* descriptions[2] = {"AX T1 POST GD", "AX FLAIR"};
  const double centres[2] = {800, 700}, widths[2] = {1600, 1400};
  FloatVolume* outputs[2] = {&t1, &flair};
  for (int v = 0; v < 2; ++v) {
    Random quantum(MixSeed(o.acquisition_seed != 0 ? o.acquisition_seed : o.seed, HashName(descriptions[v])));
    Series series;
    SeriesInfo& info = series.info;
    info.modality = "MR";
    info.body_part = "BRAIN";
    info.series_description = descriptions[v];
    info.protocol_name = "BRAIN TUMOUR";
    info.bits_stored = 12;
    info.is_signed = false;
    info.rescale_intercept = 0;
    info.rescale_slope = 1;
    info.window_center = centres[v];
    info.window_width = widths[v];
    info.slice_thickness_mm = o.slice_thickness_mm;
    info.slice_spacing_mm = o.slice_thickness_mm;
    for (int k = 0; k < ns; ++k) {
      Image img;
      img.rows = n;
      img.columns = n;
      img.pixel_spacing_mm = {a.pixel_mm, a.pixel_mm};
      img.slice_index = k;
      img.pixels.resize(plane);
      const float* s = outputs[v]->Slice(k);
      for (size_t x = 0; x < plane; ++x) {
        const double re = s[x] + sigma * quantum.FastNormal(), im = sigma * quantum.FastNormal();
        img.pixels[x] = static_cast<int16_t>(Clamp(std::lround(std::sqrt(re * re + im * im)), 0, 4095));
      }
      series.images.push_back(std::move(img));
    }
    study.series.push_back(std::move(series));
  }
  return study;
}

}  // namespace parallax::phantom
