#include "parallax/phantom/head_ct.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <cstdio>

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
constexpr double kAirHu = -1000;
constexpr int kMinSlicesForGap = 12;  // "missing_slices" needs room for a gap

const char* const kEpidural = "Epidural";
const char* const kSubdural = "Subdural";
const char* const kSubarachnoid = "Subarachnoid";
const char* const kIntraparenchymal = "Intraparenchymal";
const char* const kIntraventricular = "Intraventricular";

// What a voxel of the clean anatomy is; the findings use it to decide where
// blood can go (subarachnoid blood fills CSF spaces, ventricular blood fills
// the lateral ventricles, ...).
enum Tissue : uint8_t {
  kAir,
  kSoft,        // scalp, muscle
  kFat,         // subcutaneous and orbital fat
  kBone,
  kSinus,       // air in paranasal sinuses and mastoid cells
  kGlobe,
  kCalcified,   // choroid plexus, pineal
  kCsfSurface,  // subarachnoid space over the convexity
  kSulcus,
  kCistern,     // basal and posterior fossa cisterns
  kSylvian,
  kFissure,     // interhemispheric fissure
  kVentricle,   // lateral ventricles
  kMidVentricle,  // third and fourth ventricles
  kGrey,
  kWhite,
  kDeepGrey,
  kBrainstem,
  kCerebellum,
  kDura,        // falx, tentorium
};

bool IsSubarachnoidSpace(uint8_t t) {
  return t == kCsfSurface || t == kSulcus || t == kCistern || t == kSylvian || t == kFissure;
}
bool IsParenchyma(uint8_t t) {
  return t == kGrey || t == kWhite || t == kDeepGrey || t == kBrainstem || t == kCerebellum;
}

// Suture planes (head frame, mm): the coronal suture separates the frontal
// bone from the parietal bones, the lambdoid the parietal from the occipital.
double CoronalY(double z) { return -14 + 0.12 * (z - 100); }
double LambdoidY(double z) { return 45 + 0.32 * (z - 35); }

// The seed's head: shapes, sizes, densities and placement in the field.
// Head frame: x to the patient's left, y posterior, z superior (mm), origin
// on the midline; z = 0 at the skull base end of the scanned range.
struct Anatomy {
  // Placement of the head frame in the images.
  int size = 512;
  int slices = 32;
  double pixel_mm = 0.47;
  double shift_x = 0, shift_y = 0, cos_yaw = 1, sin_yaw = 0, pitch = 0;
  double slice_mm = 5, z_scale = 1;  // nominal anatomy mm per acquired mm
  internal::Pose pose;  // follow-up: the patient's rigid motion in patient coordinates

  // Outer surface and skull.
  Vec3 head_centre;
  double semi_lat = 74, semi_ap = 94, semi_up = 100, semi_down = 140;
  double scalp = 5.5, skull = 6.5, base_extra = 5, bone_max = 16, floor_z = 30;
  Ellipsoid posterior_fossa, middle_fossa[2];

  // Deep structures.
  Tube lateral_ventricle[2], temporal_horn[2], brainstem, sylvian[2];
  Ellipsoid third_ventricle, fourth_ventricle, thalamus[2], lentiform[2], caudate[2];
  Ellipsoid suprasellar, quadrigeminal, cisterna_magna, deep_zone, choroid[2], pineal;
  bool has_pineal = true;
  Vec3 atrium[2];
  double brainstem_axis_y = 18;

  // Face and skull base.
  Ellipsoid orbit[2], globe[2], lens[2], sphenoid, ethmoid, nasal, mastoid[2];

  ValueNoise surface_noise, sulcus_noise, bone_noise, folia_noise, texture_noise;
  Vec3 brain_centre;

  double hu_grey = 40, hu_white = 28, hu_deep = 36, hu_csf = 5, hu_brainstem = 32, hu_cerebellum = 36;
  double csf_gap = 1.0, sulcus_width = 0.1, sulcus_depth = 15;

  // Voxel centre -> head frame.
  Vec3 HeadPoint(int i, int j, int k) const {
    if (pose.active) {
      // Patient coordinates as the DICOM writer places the voxel, moved back
      // to where that bit of the patient was without the shift.
      return HeadOfPatient(pose.ToPrior({(i - size * 0.5) * pixel_mm, (j - size * 0.5) * pixel_mm, k * slice_mm}));
    }
    const double xi = (i + 0.5 - size * 0.5) * pixel_mm - shift_x;
    const double yi = (j + 0.5 - size * 0.5) * pixel_mm - shift_y;
    const double x = cos_yaw * xi + sin_yaw * yi;
    const double y = -sin_yaw * xi + cos_yaw * yi;
    return {x, y, SliceZ(k) + pitch * y};
  }
  double SliceZ(int k) const { return (k + 0.5) * slice_mm * z_scale; }
  // Unshifted patient coordinates -> head frame (HeadPoint for continuous positions).
  Vec3 HeadOfPatient(Vec3 q) const {
    const double xi = q.x + 0.5 * pixel_mm - shift_x;
    const double yi = q.y + 0.5 * pixel_mm - shift_y;
    const double x = cos_yaw * xi + sin_yaw * yi;
    const double y = -sin_yaw * xi + cos_yaw * yi;
    return {x, y, (q.z + 0.5 * slice_mm) * z_scale + pitch * y};
  }
  // Head frame -> fractional voxel indices (column, row, slice).
  Vec3 VoxelOf(Vec3 p) const {
    const double xi = cos_yaw * p.x - sin_yaw * p.y + shift_x;
    const double yi = sin_yaw * p.x + cos_yaw * p.y + shift_y;
    if (pose.active) {
      const Vec3 c = pose.ToCurrent({xi - 0.5 * pixel_mm, yi - 0.5 * pixel_mm,
                                     (p.z - pitch * p.y) / z_scale - 0.5 * slice_mm});
      return {c.x / pixel_mm + size * 0.5, c.y / pixel_mm + size * 0.5, c.z / slice_mm};
    }
    return {xi / pixel_mm + size * 0.5 - 0.5, yi / pixel_mm + size * 0.5 - 0.5,
            (p.z - pitch * p.y) / (slice_mm * z_scale) - 0.5};
  }

  // Signed distance to the skin (mm, negative inside the head).
  double SkinDistance(Vec3 p) const {
    const Vec3 q = p - head_centre;
    const double rz = q.z > 0 ? semi_up : semi_down;
    const double k0 = std::sqrt((q.x / semi_lat) * (q.x / semi_lat) + (q.y / semi_ap) * (q.y / semi_ap) +
                                (q.z / rz) * (q.z / rz));
    const double ax = q.x / (semi_lat * semi_lat), ay = q.y / (semi_ap * semi_ap), az = q.z / (rz * rz);
    const double k1 = std::sqrt(ax * ax + ay * ay + az * az) + 1e-12;
    return k0 * (k0 - 1.0) / k1 + 1.6 * surface_noise(q * (1.0 / 28.0));
  }

  // Signed distance to the inner table of the skull (mm, negative inside the
  // cranial cavity), given the skin distance.
  double CavityDistance(Vec3 p, double skin) const {
    double d = skin + scalp + skull + base_extra * Smoothstep(75, 30, p.z);
    // Floor of the anterior and middle cranial fossae, domed over the orbits.
    const double orbit_roof = 5 * Smoothstep(-25, -45, p.y) * std::exp(-std::pow((std::abs(p.x) - 28) / 15, 2));
    d = std::max(d, floor_z - 0.04 * p.y + orbit_roof - p.z);
    if (p.z < posterior_fossa.ZMax() + 6) d = SmoothMin(d, posterior_fossa.Distance(p), 4);
    if (p.z < middle_fossa[0].ZMax() + 6) {
      d = SmoothMin(d, middle_fossa[p.x > 0 ? 1 : 0].Distance(p), 4);
    }
    return d;
  }

  bool Infratentorial(Vec3 p) const { return p.z < posterior_fossa.ZMax() && posterior_fossa.Distance(p) < 0; }

  std::string Zone(Vec3 p) const {
    if (Infratentorial(p)) return "posterior fossa";
    if (p.y < CoronalY(p.z)) return "frontal";
    if (p.y > LambdoidY(p.z)) return "occipital";
    if (p.z < 68) return "temporal";
    return "parietal";
  }
};

// A finding's shape, in the head frame.
struct Lesion {
  enum Kind { kExtraAxialLens, kExtraAxialCrescent, kSubarachnoidBlood, kParenchymal, kVentricular } kind;
  std::string label;
  std::string zone;
  int side = 1;  // +1 patient left, -1 right, 0 both
  double hu = 65;
  Vec3 lo, hi;   // bounding box (head frame) outside which the lesion is absent
  // Extra-axial: a collection under the inner table, thickness by angle.
  double phi = 0, theta = 0, reach_h = 30, reach_v = 30, thickness = 10;
  int plate = 1;  // epidural: 0 frontal, 1 temporoparietal, 2 occipital bone
  // Parenchymal: an irregular blob with an oedema rim.
  Ellipsoid blob;
  double irregularity = 0.1, oedema_mm = 0;
  ValueNoise noise;
  // Subarachnoid: the CSF spaces inside a region.
  Ellipsoid region;
  // Ventricular: lateral-ventricle CSF behind a fluid level (patient supine).
  double fluid_level_y = 0;
};

// Angular coordinates around the brain centre.
void Angles(const Anatomy& a, Vec3 p, double* phi, double* theta) {
  const Vec3 q = p - a.brain_centre;
  *phi = std::atan2(q.y, q.x);
  *theta = std::atan2(q.z, std::hypot(q.x, q.y));
}
constexpr double kArcRadius = 70;  // mm per radian when measuring along the convexity

// Thickness (mm) of an extra-axial collection under the inner table at p, 0 outside it.
double ExtraAxialThickness(const Anatomy& a, const Lesion& l, Vec3 p) {
  const double lateral = l.side * p.x;  // the falx / sagittal suture: never crosses the midline
  if (lateral < 1.5) return 0;
  double phi, theta;
  Angles(a, p, &phi, &theta);
  double dphi = phi - l.phi;
  if (dphi > kPi) dphi -= 2 * kPi;
  if (dphi < -kPi) dphi += 2 * kPi;
  const double u = dphi * kArcRadius * std::cos(theta) / l.reach_h;
  const double v = (theta - l.theta) * kArcRadius / l.reach_v;
  const double rho2 = u * u + v * v;
  if (rho2 >= 1) return 0;
  if (l.kind == Lesion::kExtraAxialLens) {
    // The dura is fixed at the sutures: an epidural stays on one bone.
    // The dura is fixed at the sutures: an epidural stays on one bone,
    // tapering to nothing at the sutures around it.
    const double to_suture = l.plate == 0   ? CoronalY(p.z) - p.y
                             : l.plate == 1 ? std::min(p.y - CoronalY(p.z), LambdoidY(p.z) - p.y)
                                            : p.y - LambdoidY(p.z);
    const double margin = 1.0;
    if (to_suture < margin) return 0;
    return l.thickness * (1 - rho2) * Smoothstep(margin, 12, to_suture) * Smoothstep(1.5, 12, lateral);  // biconvex lens
  }
  // Subdural: spreads over the hemisphere above the tentorium, tapering at its ends.
  if (p.z < 30 || a.Infratentorial(p)) return 0;
  return l.thickness * std::sqrt(1 - rho2 * rho2) * Smoothstep(1.5, 8, lateral);
}

bool Inside(const Lesion& l, Vec3 p) {
  return p.x >= l.lo.x && p.x <= l.hi.x && p.y >= l.lo.y && p.y <= l.hi.y && p.z >= l.lo.z && p.z <= l.hi.z;
}

double BlobDistance(const Lesion& l, Vec3 p) {
  return l.blob.Distance(p) + l.irregularity * l.blob.radii.x * l.noise(p * (1.0 / 6.0));
}

// One voxel of the rendered study.
struct VoxelValue {
  float hu;
  uint8_t tissue;
};

class HeadRenderer {
 public:
  explicit HeadRenderer(const Anatomy& a) : a_(a) {}

  // The clean anatomy at p given the skin distance, cavity distance and the
  // thickness of extra-axial blood above p (which compresses the brain).
  VoxelValue Render(Vec3 p, double skin, double cavity, double compressed) const {
    if (skin > 0) return {float(kAirHu), kAir};
    if (cavity > 0) return Extracranial(p, skin, cavity);
    return Intracranial(p, -cavity - compressed);
  }

 private:
  VoxelValue Extracranial(Vec3 p, double skin, double cavity) const {
    // Face and skull base air spaces, orbits.
    if (p.z < 45) {
      for (int s = 0; s < 2; ++s) {
        if (a_.orbit[s].Contains(p)) {
          if (a_.lens[s].Contains(p)) return {95.f, kGlobe};
          if (a_.globe[s].Contains(p)) return {12.f, kGlobe};
          return {float(-85 + 10 * a_.texture_noise(p * 0.5)), kFat};
        }
      }
      if (a_.sphenoid.Contains(p) || a_.ethmoid.Contains(p) || a_.nasal.Contains(p)) {
        // Thin bony septa through the air cells.
        if (a_.ethmoid.Contains(p) && std::abs(a_.bone_noise(p * (1.0 / 3.0))) < 0.06) return {600.f, kBone};
        return {float(kAirHu), kSinus};
      }
      for (int s = 0; s < 2; ++s) {
        if (a_.mastoid[s].Contains(p)) {
          return a_.bone_noise(p * (1.0 / 2.2)) > -0.1 ? VoxelValue{-950.f, kSinus} : VoxelValue{1100.f, kBone};
        }
      }
    }
    if (skin > -a_.scalp) {
      if (skin > -1.3) return {42.f, kSoft};
      if (skin > -a_.scalp + 1.6) return {float(-45 + 25 * a_.texture_noise(p * 0.4)), kFat};
      return {48.f, kSoft};
    }
    if (cavity > a_.bone_max + 4 * a_.bone_noise(p * 0.05)) {
      // Beyond the skull base bone: neck and face muscles with fat planes.
      return {float(48 + 4 * a_.texture_noise(p * 0.2)), kSoft};
    }
    const double from_outer = -(skin + a_.scalp);
    if (p.z > 40 && cavity > 0.8 && from_outer > 0.6) {
      const double wiggle = 1.2 * a_.bone_noise(p * (1.0 / 2.5));
      if (std::abs(p.y - CoronalY(p.z) + wiggle) < 0.45 || std::abs(p.y - LambdoidY(p.z) + wiggle) < 0.45 ||
          (p.z > 105 && std::abs(p.x + wiggle) < 0.45 && p.y > CoronalY(p.z) && p.y < LambdoidY(p.z))) {
        return {260.f, kBone};  // suture
      }
    }
    const bool table = cavity < 1.7 || from_outer < 1.9;
    double hu = table ? 1550 + 120 * a_.bone_noise(p * 0.3) : 780 + 260 * a_.bone_noise(p * (1.0 / 1.8));
    if (p.z < 38) hu = std::max(hu, 1300 + 350 * Smoothstep(38, 10, p.z) + 150 * a_.bone_noise(p * 0.25));
    return {float(hu), kBone};
  }

  VoxelValue Intracranial(Vec3 p, double depth) const {
    const Anatomy& a = a_;
    const bool low = p.z < 60;
    if (low && a.Infratentorial(p)) return PosteriorFossa(p, depth);
    // Tentorium between the occipital lobes and the cerebellum.
    if (low && p.z > 28 && p.y > a.posterior_fossa.centre.y - 8 && std::abs(a.posterior_fossa.Distance(p)) < 0.45) {
      return {44.f, kDura};
    }

    if (p.z > 25 && p.z < 60) {
      const double bs = a.brainstem.Distance(p);
      if (bs < 0) return {float(a.hu_brainstem), kBrainstem};
      if (bs < 3.5 && p.z < 47) return {float(a.hu_csf), kCistern};  // perimesencephalic cisterns
      if (a.suprasellar.Contains(p) || a.quadrigeminal.Contains(p)) return {float(a.hu_csf), kCistern};
    }
    if (p.z > 35 && p.z < 85) {
      if (a.third_ventricle.Contains(p)) return {float(a.hu_csf), kMidVentricle};
      if (a.has_pineal && a.pineal.Contains(p)) return {140.f, kCalcified};
      const int s = p.x > 0 ? 1 : 0;
      if (a.choroid[s].Contains(p)) return {150.f, kCalcified};
      if (a.lateral_ventricle[s].Distance(p) < 0 || a.temporal_horn[s].Distance(p) < 0) {
        return {float(a.hu_csf), kVentricle};
      }
      if (a.thalamus[s].Contains(p) || a.lentiform[s].Contains(p) || a.caudate[s].Contains(p)) {
        return {float(a.hu_deep + 1.5 * a.texture_noise(p * 0.3)), kDeepGrey};
      }
    }
    if (p.z > 28 && p.z < 65) {
      const double syl = a.sylvian[p.x > 0 ? 1 : 0].Distance(p);
      if (syl < 0) return {float(a.hu_csf), kSylvian};
      if (syl < 3.2) return {float(a.hu_grey), kGrey};  // insular and opercular cortex
    }
    // Interhemispheric fissure and falx.
    const double ax = std::abs(p.x + 0.6 * a.texture_noise(p * (1.0 / 12.0)));
    const double fissure_half = 0.8 + 0.8 * a.csf_gap;
    if (ax < fissure_half + 3.0 && p.z > 36 && !a.deep_zone.Contains(p)) {
      if (ax < 0.4) return {55.f, kDura};
      if (ax < fissure_half) return {float(a.hu_csf), kFissure};
      return {float(a.hu_grey), kGrey};
    }
    return Cortex(p, depth);
  }

  VoxelValue Cortex(Vec3 p, double depth) const {
    const Anatomy& a = a_;
    if (depth < a.csf_gap) return {float(a.hu_csf), kCsfSurface};
    const double ribbon = 2.8;
    if (depth < a.sulcus_depth + ribbon) {
      const Vec3 q = p - a.brain_centre;
      const double r = Length(q) + 1e-9;
      // Follow the normal out to the surface so sulci run perpendicular to it.
      const Vec3 g = p + q * (depth / r);
      const double n = std::abs(a.sulcus_noise.Fractal(g * (1.0 / 11.0), 2, 0.45));
      const double taper = Clamp(1.0 - (depth - a.csf_gap) / a.sulcus_depth, 0.0, 1.0);
      const double w = a.sulcus_width * taper;
      if (n < w) return {float(a.hu_csf), kSulcus};
      if (n < w + 0.22 * Smoothstep(a.sulcus_depth + ribbon, a.sulcus_depth - 2, depth)) {
        return {float(a.hu_grey), kGrey};
      }
    }
    if (depth < a.csf_gap + ribbon) return {float(a.hu_grey), kGrey};
    return {float(a.hu_white + 1.2 * a.texture_noise(p * 0.2)), kWhite};
  }

  VoxelValue PosteriorFossa(Vec3 p, double depth) const {
    const Anatomy& a = a_;
    const double bs = a.brainstem.Distance(p);
    // Posterior fossa reads a little lower (beam hardening between the petrous bones).
    const float pf_shift = -3.f;
    if (bs < 0) return {float(a.hu_brainstem) + pf_shift, kBrainstem};
    if (bs < 2.5 && p.y < a.brainstem_axis_y) return {float(a.hu_csf), kCistern};  // prepontine
    if (a.fourth_ventricle.Contains(p)) return {float(a.hu_csf), kMidVentricle};
    if (a.cisterna_magna.Contains(p) || depth < a.csf_gap * 0.8) return {float(a.hu_csf), kCistern};
    // Cerebellar folia: fine CSF clefts, a white core away from the surface.
    const double n = std::abs(a.folia_noise(Vec3{p.x * 0.12, p.y * 0.3, p.z * 0.55}));
    if (n < 0.07 && depth < 14) return {float(Lerp(a.hu_csf, a.hu_cerebellum, 0.4)), kCerebellum};
    const bool core = depth > 12 && std::abs(p.x) > 9;
    return {float((core ? a.hu_white + 2 : a.hu_cerebellum) + pf_shift), kCerebellum};
  }

  const Anatomy& a_;
};

Anatomy MakeAnatomy(const HeadCtOptions& o) {
  Anatomy a;
  Random r(MixSeed(o.seed, HashName("anatomy")));
  a.size = o.size;
  a.slices = o.slices;
  a.pixel_mm = r.Uniform(228, 246) / o.size;
  a.shift_x = r.Uniform(-5, 5);
  a.shift_y = r.Uniform(-4, 6);
  const double yaw = r.Uniform(-4, 4) * kPi / 180;
  a.cos_yaw = std::cos(yaw);
  a.sin_yaw = std::sin(yaw);
  a.pitch = std::tan(r.Uniform(-4, 4) * kPi / 180);
  a.slice_mm = o.slice_thickness_mm;
  a.z_scale = 160.0 / (o.slices * o.slice_thickness_mm);  // the scan covers the head whatever the slicing

  a.semi_lat = r.Uniform(70, 77);
  a.semi_ap = r.Uniform(89, 98);
  a.semi_up = r.Uniform(104, 110);
  a.head_centre = {0, 5, 59 + r.Uniform(-3, 3)};
  a.scalp = r.Uniform(4.5, 6.5);
  a.skull = r.Uniform(5.5, 7.5);
  a.base_extra = r.Uniform(4, 7);
  const double sx = a.semi_lat / 74, sy = a.semi_ap / 94;
  auto at = [&](double x, double y, double z) { return Vec3{x * sx, y * sy, z}; };
  a.brain_centre = at(0, 5, 65);

  a.posterior_fossa = {at(0, 40, 22), {50 * sx, 36 * sy, 28}};
  for (int s = 0; s < 2; ++s) {
    const double side = s ? 1 : -1;  // index 1 = patient left (+x)
    a.middle_fossa[s] = {at(side * 38, -5, 26), {20 * sx, 30 * sy, 22}};
  }

  const double v = r.Uniform(0.85, 1.3);  // ventricle size (age)
  a.csf_gap = r.Uniform(0.5, 1.0) + (v - 0.85) * 1.8;
  a.sulcus_width = r.Uniform(0.06, 0.09) + (v - 0.85) * 0.08;
  a.sulcus_depth = r.Uniform(12, 17);
  a.hu_grey = r.Uniform(37, 42);
  a.hu_white = r.Uniform(25, 30);
  a.hu_deep = r.Uniform(34, 37);
  a.hu_csf = r.Uniform(3, 8);
  a.hu_brainstem = r.Uniform(30, 34);
  a.hu_cerebellum = r.Uniform(34, 38);

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
    a.atrium[s] = at(side * 19, 28, 62);
    a.choroid[s] = {at(side * 20, 30, 61), {2.3, 2.8, 2.3}};
    a.thalamus[s] = {at(side * 10.5, 10, 54), {8, 13, 8}};
    a.lentiform[s] = {at(side * 23, -5, 54), {5.5, 13, 8}};
    a.caudate[s] = {at(side * (9.5 + 4 * v), -18, 61), {4.5, 9, 8}};
    Tube syl;
    syl.points = {at(side * 12, -9, 38), at(side * 34, -5, 41), at(side * 50, 3, 47), at(side * 58, 15, 56)};
    syl.radii = {1.6, 1.4 + 0.6 * v, 1.4 + 0.6 * v, 1.2};
    syl.scale = {1.0, 1.3, 1.0};
    a.sylvian[s] = syl;
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
  a.has_pineal = r.Chance(0.7);
  a.pineal = {at(0, 27, 52), {2.5, 2.5, 2.5}};
  a.sphenoid = {at(0, -22, 20), {11 * r.Uniform(0.8, 1.2), 9, 9}};
  a.ethmoid = {at(0, -62, 22), {7, 15, 9}};
  a.nasal = {at(0, -72, 2), {9, 18, 12}};

  a.surface_noise = ValueNoise(MixSeed(o.seed, 11));
  a.sulcus_noise = ValueNoise(MixSeed(o.seed, 12));
  a.bone_noise = ValueNoise(MixSeed(o.seed, 13));
  a.folia_noise = ValueNoise(MixSeed(o.seed, 14));
  a.texture_noise = ValueNoise(MixSeed(o.seed, 15));
  return a;
}

// Where along a ray from the brain centre the inner table lies (mm from the centre).
double InnerTableRadius(const Anatomy& a, Vec3 dir) {
  double lo = 5, hi = 160;
  for (int it = 0; it < 40; ++it) {
    const double mid = 0.5 * (lo + hi);
    const Vec3 p = a.brain_centre + dir * mid;
    if (a.CavityDistance(p, a.SkinDistance(p)) < 0) lo = mid; else hi = mid;
  }
  return lo;
}

Vec3 Direction(double phi, double theta) {
  return {std::cos(theta) * std::cos(phi), std::cos(theta) * std::sin(phi), std::sin(theta)};
}

// Bounding box of an extra-axial collection from rays over its footprint.
void ExtraAxialBounds(const Anatomy& a, Lesion* l) {
  l->lo = {1e9, 1e9, 1e9};
  l->hi = {-1e9, -1e9, -1e9};
  for (int iu = -6; iu <= 6; ++iu) {
    for (int iv = -6; iv <= 6; ++iv) {
      const double u = iu / 6.0, v = iv / 6.0;
      const double theta = l->theta + v * l->reach_v / kArcRadius;
      const double phi = l->phi + u * l->reach_h / (kArcRadius * std::max(0.2, std::cos(theta)));
      const Vec3 d = Direction(phi, theta);
      const double rad = InnerTableRadius(a, d);
      for (double depth : {-3.0, l->thickness + 4}) {
        const Vec3 p = a.brain_centre + d * (rad - depth);
        l->lo = {std::min(l->lo.x, p.x), std::min(l->lo.y, p.y), std::min(l->lo.z, p.z)};
        l->hi = {std::max(l->hi.x, p.x), std::max(l->hi.y, p.y), std::max(l->hi.z, p.z)};
      }
    }
  }
  const double m = 6;
  l->lo = l->lo - Vec3{m, m, m};
  l->hi = l->hi + Vec3{m, m, m};
}

// Voxel index box of a head-frame box, clipped to the volume.
struct IndexBox {
  int i0, i1, j0, j1, k0, k1;  // inclusive-exclusive
};
IndexBox IndexBoxOf(const Anatomy& a, Vec3 lo, Vec3 hi, int slices) {
  double i0 = 1e9, i1 = -1e9, j0 = 1e9, j1 = -1e9, k0 = 1e9, k1 = -1e9;
  for (int c = 0; c < 8; ++c) {
    const Vec3 p{(c & 1) ? hi.x : lo.x, (c & 2) ? hi.y : lo.y, (c & 4) ? hi.z : lo.z};
    const Vec3 v = a.VoxelOf(p);
    i0 = std::min(i0, v.x), i1 = std::max(i1, v.x);
    j0 = std::min(j0, v.y), j1 = std::max(j1, v.y);
    k0 = std::min(k0, v.z), k1 = std::max(k1, v.z);
  }
  auto clampi = [](double v, int n) { return static_cast<int>(Clamp(v, 0, n)); };
  return {clampi(std::floor(i0) - 1, a.size), clampi(std::ceil(i1) + 2, a.size), clampi(std::floor(j0) - 1, a.size),
          clampi(std::ceil(j1) + 2, a.size), clampi(std::floor(k0) - 1, slices), clampi(std::ceil(k1) + 2, slices)};
}

// Volume (mL) of an extra-axial collection, sampled on every other row and column.
double EstimateExtraAxialMl(const Anatomy& a, const Lesion& l, int slices) {
  const IndexBox b = IndexBoxOf(a, l.lo, l.hi, slices);
  int64_t n = 0;
  for (int k = b.k0; k < b.k1; ++k) {
    for (int j = b.j0; j < b.j1; j += 2) {
      for (int i = b.i0; i < b.i1; i += 2) {
        const Vec3 p = a.HeadPoint(i, j, k);
        const double t = ExtraAxialThickness(a, l, p);
        if (t <= 0) continue;
        const double depth = -a.CavityDistance(p, a.SkinDistance(p));
        if (depth >= 0 && depth < t) ++n;
      }
    }
  }
  return 4.0 * n * a.pixel_mm * a.pixel_mm * a.slice_mm / 1000.0;
}

void CalibrateExtraAxial(const Anatomy& a, Lesion* l, double target_ml, double max_thickness, int slices,
                         bool spread_sideways) {
  for (int it = 0; it < 3; ++it) {
    ExtraAxialBounds(a, l);
    const double ml = EstimateExtraAxialMl(a, *l, slices);
    if (ml <= 0) {
      l->thickness = std::min(max_thickness, l->thickness * 1.5);
      continue;
    }
    const double ratio = Clamp(target_ml / ml, 0.5, 2.0);
    if (std::abs(ratio - 1) < 0.06) break;
    // Thickness first; spread when the thickness is at its limit.
    const double t = std::min(max_thickness, l->thickness * ratio);
    const double rest = ratio * l->thickness / t;
    l->thickness = t;
    if (rest > 1.02) {
      l->reach_h *= spread_sideways ? std::sqrt(rest) : 1.0;
      l->reach_v *= spread_sideways ? std::sqrt(rest) : std::min(rest, 1.3);
    }
  }
  ExtraAxialBounds(a, l);
}

double LogLerp(double a, double b, double t) { return std::exp(Lerp(std::log(a), std::log(b), t)); }

Lesion MakeEpidural(const Anatomy& a, double d, Random& r, double scale) {
  Lesion l;
  l.kind = Lesion::kExtraAxialLens;
  l.label = kEpidural;
  l.side = r.Chance(0.5) ? 1 : -1;
  l.hu = Lerp(74, 55, d) + r.Uniform(-4, 4);
  const double target = LogLerp(55, 4, d) * r.Uniform(0.8, 1.25) * scale;
  const double u = r.Uniform();
  // Most epidurals are temporoparietal (middle meningeal artery).
  double y, z;
  double x = 60;
  if (u < 0.75) {
    l.plate = 1, y = 17 + r.Uniform(-5, 5), z = r.Uniform(58, 85);
  } else {
    l.plate = 0, x = 45, y = -52 + r.Uniform(-5, 5), z = r.Uniform(70, 90);
  }
  const Vec3 c{l.side * x, y, z};
  Angles(a, c, &l.phi, &l.theta);
  // Fit between the sutures: the plate is ~70 mm long at the convexity.
  // The footprint fits between the sutures (a plate is ~70 mm long at the
  // convexity); a large epidural is thicker and taller, never wider.
  const double reach = 14 + 18 * std::cbrt(target / 50);
  l.reach_h = std::min(reach, 30.0);
  l.reach_v = reach * 1.5;
  l.thickness = 2 * target * 1000 / (kPi * l.reach_h * l.reach_v);
  CalibrateExtraAxial(a, &l, target, 0.65 * l.reach_h, a.slices, false);
  return l;
}

Lesion MakeSubdural(const Anatomy& a, double d, Random& r, double scale) {
  Lesion l;
  l.kind = Lesion::kExtraAxialCrescent;
  l.label = kSubdural;
  l.side = r.Chance(0.5) ? 1 : -1;
  // Acute blood ~60-75 HU; at the limit of visibility thin and near-isodense.
  l.hu = Lerp(67, 47, d) + r.Uniform(-3, 3);
  const double target = LogLerp(70, 3.5, d) * r.Uniform(0.8, 1.25) * scale;
  const Vec3 c{l.side * 60.0, r.Uniform(-10, 20), r.Uniform(70, 88)};
  Angles(a, c, &l.phi, &l.theta);
  // Wide along the convexity (crossing the coronal and lambdoid sutures), thin.
  l.reach_h = Lerp(72, 45, d) * r.Uniform(0.9, 1.1);
  l.reach_v = Lerp(50, 34, d) * r.Uniform(0.9, 1.1);
  l.thickness = 1.4 * target * 1000 / (kPi * l.reach_h * l.reach_v);
  CalibrateExtraAxial(a, &l, target, 16, a.slices, true);
  return l;
}

Lesion MakeSubarachnoid(const Anatomy& a, double d, Random& r) {
  Lesion l;
  l.kind = Lesion::kSubarachnoidBlood;
  l.label = kSubarachnoid;
  l.hu = Lerp(68, 48, d) + r.Uniform(-3, 3);
  const bool basal = r.Chance(Lerp(0.8, 0.3, d));
  if (basal) {
    // Aneurysmal pattern: suprasellar and perimesencephalic cisterns, Sylvian fissures.
    l.side = 0;
    l.zone = "basal cisterns";
    const double s = Lerp(1.0, 0.55, d) * r.Uniform(0.9, 1.1);
    l.region = {a.suprasellar.centre + Vec3{r.Uniform(-6, 6), 6, 2}, {62 * s, 45 * s, 22 * s}};
  } else {
    // Convexity: blood in the sulci of one region.
    l.side = r.Chance(0.5) ? 1 : -1;
    double phi, theta;
    Angles(a, Vec3{l.side * 55.0, r.Uniform(-40, 30), r.Uniform(85, 110)}, &phi, &theta);
    const Vec3 dir = Direction(phi, theta);
    const Vec3 c = a.brain_centre + dir * (InnerTableRadius(a, dir) - 4);
    const double rad = Lerp(34, 16, d) * r.Uniform(0.9, 1.1);
    l.region = {c, {rad, rad * 1.2, rad}};
    l.zone = a.Zone(c);
  }
  l.lo = l.region.centre - l.region.radii;
  l.hi = l.region.centre + l.region.radii;
  return l;
}

Lesion MakeIntraparenchymal(const Anatomy& a, double d, Random& r, bool with_ventricular, double scale) {
  Lesion l;
  l.kind = Lesion::kParenchymal;
  l.label = kIntraparenchymal;
  l.side = r.Chance(0.5) ? 1 : -1;
  const int s = l.side > 0 ? 1 : 0;
  l.hu = Lerp(76, 60, d) + r.Uniform(-4, 4);
  const double target = LogLerp(32, 1.2, d) * r.Uniform(0.8, 1.25);
  const double rad = std::cbrt(3 * target * 1000 / (4 * kPi));
  const double u = r.Uniform();
  Vec3 c;
  if (with_ventricular || u < 0.45) {
    // Hypertensive pattern: putamen or thalamus, next to the ventricle.
    const bool thal = r.Chance(0.5);
    c = thal ? a.thalamus[s].centre : a.lentiform[s].centre;
    c.x += l.side * (thal ? 1.0 : 3.0);
    l.zone = thal ? "thalamus" : "basal ganglia";
  } else {
    // Lobar: under the cortex of one lobe.
    const double which = r.Uniform();
    const Vec3 toward = which < 0.3   ? Vec3{l.side * 35.0, -55, 80}
                        : which < 0.6 ? Vec3{l.side * 50.0, 15, 95}
                        : which < 0.8 ? Vec3{l.side * 55.0, 0, 50}
                                      : Vec3{l.side * 30.0, 65, 70};
    double phi, theta;
    Angles(a, toward, &phi, &theta);
    const Vec3 dir = Direction(phi, theta);
    c = a.brain_centre + dir * (InnerTableRadius(a, dir) - rad - 10);
    l.zone = a.Zone(c);
  }
  l.blob = {c, {rad * r.Uniform(1.0, 1.25), rad * r.Uniform(0.9, 1.2), rad * r.Uniform(0.75, 0.95)}};
  l.irregularity = Lerp(0.12, 0.2, d);
  l.oedema_mm = r.Chance(0.7) ? Lerp(3.5, 1.5, d) : 0;
  l.noise = ValueNoise(r.engine()());
  if (scale != 1) {
    // Follow-up: the same haematoma at another volume, around the same centre.
    const double k = std::cbrt(scale);
    l.blob.radii = l.blob.radii * k;
    l.oedema_mm *= k;
  }
  const double m = 0.6 * rad + l.oedema_mm + 4;
  l.lo = c - l.blob.radii - Vec3{m, m, m};
  l.hi = c + l.blob.radii + Vec3{m, m, m};
  return l;
}

Lesion MakeIntraventricular(const Anatomy& a, double d, Random& r, int side) {
  Lesion l;
  l.kind = Lesion::kVentricular;
  l.label = kIntraventricular;
  l.zone = "ventricular";
  l.side = side != 0 ? side : (r.Chance(0.5) ? 1 : -1);
  if (side == 0 && d < 0.35 && r.Chance(0.4)) l.side = 0;  // both occipital horns
  l.hu = Lerp(68, 50, d) + r.Uniform(-3, 3);
  // Supine: blood layers in the occipital horns behind a fluid level.
  l.fluid_level_y = a.atrium[1].y + Lerp(-3, 9, d) + r.Uniform(-2, 2);
  l.lo = {-60, l.fluid_level_y, 35};
  l.hi = {60, 90, 85};
  return l;
}

// Whether the voxel p of tissue t (already decided) belongs to a non-extra-axial lesion.
bool InLesion(const Lesion& l, Vec3 p, uint8_t t) {
  switch (l.kind) {
    case Lesion::kSubarachnoidBlood:
      return IsSubarachnoidSpace(t) && (l.side == 0 || l.side * p.x > -1) && l.region.Contains(p);
    case Lesion::kParenchymal:
      return t != kVentricle && t != kMidVentricle && t != kCalcified && BlobDistance(l, p) < 0;
    case Lesion::kVentricular:
      return t == kVentricle && p.y > l.fluid_level_y && (l.side == 0 || l.side * p.x > 0);
    default:
      return false;
  }
}

Laterality LateralityOf(double left_fraction, double midline_fraction) {
  if (midline_fraction > 0.7) return Laterality::kMidline;
  if (left_fraction > 0.85) return Laterality::kLeft;
  if (left_fraction < 0.15) return Laterality::kRight;
  return Laterality::kBilateral;
}

bool Has(const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// The dropped slices of a "missing_slices" study: a function of the seed and
// the acquired slice count only, so HeadCtSliceIndices can recover it.
int MissingCount(uint64_t seed) { return 2 + static_cast<int>(MixSeed(seed, HashName("missing_count")) % 3); }
int MissingStart(uint64_t seed, int slices) {
  const int k = MissingCount(seed);
  const int span = slices - k - 2 * (slices / 4);
  return slices / 4 + static_cast<int>(MixSeed(seed, HashName("missing_start")) % static_cast<uint64_t>(span));
}

}  // namespace

std::vector<std::string> HeadCtLabels() {
  return {kEpidural, kSubdural, kSubarachnoid, kIntraparenchymal, kIntraventricular};
}

std::vector<int> HeadCtSliceIndices(const Study& study) {
  std::vector<int> indices;
  if (study.series.empty()) return indices;
  const auto& images = study.series[0].images;
  for (size_t i = 0; i < images.size(); ++i) {
    indices.push_back(images[i].slice_index >= 0 ? images[i].slice_index : static_cast<int>(i));
  }
  return indices;
}

Study MakeHeadCt(const HeadCtOptions& options) {
  HeadCtOptions o = options;
  o.size = std::max(o.size, 32);
  o.slices = std::max(o.slices, 1);
  if (!(o.slice_thickness_mm > 0)) o.slice_thickness_mm = 5;
  const double d = Clamp(o.difficulty, 0, 1);

  const Anatomy base = MakeAnatomy(o);
  // Lesions are built in the unshifted frame (so their calibration does not
  // depend on the shift), then everything is rendered with the patient moved.
  Anatomy posed = base;
  posed.pose = internal::Pose::From(o.patient_shift);
  const Anatomy& a = posed;
  const HeadRenderer renderer(a);
  const int n = o.size, ns = o.slices;
  auto scale_of = [&](const std::string& label) {
    for (size_t i = 0; i < o.findings.size() && i < o.finding_scale.size(); ++i) {
      if (o.findings[i] == label) return o.finding_scale[i];
    }
    return 1.0;
  };

  // Findings, each from its own stream so one does not move another.
  std::vector<Lesion> lesions;
  const bool want_iph = Has(o.findings, kIntraparenchymal), want_ivh = Has(o.findings, kIntraventricular);
  int iph_side = 0;
  std::vector<bool> drawn;
  for (const std::string& label : HeadCtLabels()) {
    if (!Has(o.findings, label.c_str())) continue;
    Random r(MixSeed(o.seed, HashName(label.c_str())));
    const double scale = scale_of(label);
    const double size_scale = scale > 0 ? scale : 1.0;  // an undrawn lesion still fixes its neighbours' sides
    if (label == kEpidural) lesions.push_back(MakeEpidural(base, d, r, size_scale));
    if (label == kSubdural) lesions.push_back(MakeSubdural(base, d, r, size_scale));
    if (label == kSubarachnoid) lesions.push_back(MakeSubarachnoid(base, d, r));
    if (label == kIntraparenchymal) {
      lesions.push_back(MakeIntraparenchymal(base, d, r, want_ivh, size_scale));
      iph_side = lesions.back().side;
    }
    if (label == kIntraventricular) lesions.push_back(MakeIntraventricular(base, d, r, want_iph ? iph_side : 0));
    drawn.push_back(scale > 0);
  }
  for (size_t li = lesions.size(); li-- > 0;) {
    if (!drawn[li]) lesions.erase(lesions.begin() + static_cast<std::ptrdiff_t>(li));
  }
  // An epidural and a subdural on the same side: the subdural yields to the epidural where they meet.
  const size_t nl = lesions.size();

  FloatVolume hu(n, n, ns, float(kAirHu));
  std::vector<std::vector<uint8_t>> masks(nl, std::vector<uint8_t>(size_t(n) * n * ns, 0));
  std::vector<double> lesion_sum(nl, 0), background_sum(nl, 0);
  std::vector<int64_t> voxel_count(nl, 0);
  std::vector<Vec3> centroid(nl);
  std::vector<double> left_count(nl, 0), midline_count(nl, 0);
  std::vector<uint8_t> tissue(size_t(n) * n * ns, kAir);

  // Per slice, the lesions that can reach it.
  for (int k = 0; k < ns; ++k) {
    std::vector<size_t> active;
    for (size_t li = 0; li < nl; ++li) {
      const IndexBox b = IndexBoxOf(a, lesions[li].lo, lesions[li].hi, ns);
      if (k >= b.k0 && k < b.k1) active.push_back(li);
    }
    float* out = hu.Slice(k);
    uint8_t* tis = tissue.data() + size_t(k) * n * n;
    for (int j = 0; j < n; ++j) {
      // Skip the air around the head cheaply: the head frame's row extent.
      for (int i = 0; i < n; ++i) {
        const Vec3 p = a.HeadPoint(i, j, k);
        // Conservative outside test before the full skin distance.
        const Vec3 q = p - a.head_centre;
        const double e = (q.x * q.x) / ((a.semi_lat + 6) * (a.semi_lat + 6)) +
                         (q.y * q.y) / ((a.semi_ap + 6) * (a.semi_ap + 6));
        if (e > 1.0) continue;
        const double skin = a.SkinDistance(p);
        if (skin > 0) continue;
        const double cavity = a.CavityDistance(p, skin);
        double compressed = 0;
        int owner = -1;
        for (size_t li : active) {
          const Lesion& l = lesions[li];
          if (l.kind != Lesion::kExtraAxialLens && l.kind != Lesion::kExtraAxialCrescent) continue;
          if (!Inside(l, p) || cavity >= 0) continue;
          const double t = ExtraAxialThickness(a, l, p);
          if (t <= 0) continue;
          if (-cavity < t && owner < 0) owner = static_cast<int>(li);
          compressed = std::max(compressed, t);
        }
        const VoxelValue base = renderer.Render(p, skin, cavity, compressed);
        double value = base.hu;
        if (owner < 0) {
          for (size_t li : active) {
            const Lesion& l = lesions[li];
            if (l.kind == Lesion::kExtraAxialLens || l.kind == Lesion::kExtraAxialCrescent) continue;
            if (!Inside(l, p)) continue;
            if (InLesion(l, p, base.tissue)) {
              owner = static_cast<int>(li);
              break;
            }
            if (l.kind == Lesion::kParenchymal && l.oedema_mm > 0 && IsParenchyma(base.tissue) &&
                BlobDistance(l, p) < l.oedema_mm) {
              value -= 8;  // vasogenic oedema rim, not part of the mask
            }
          }
        }
        const size_t idx = size_t(k) * n * n + size_t(j) * n + i;
        tis[size_t(j) * n + i] = base.tissue;
        if (owner >= 0) {
          const Lesion& l = lesions[size_t(owner)];
          const double blood = l.hu + 2.0 * a.texture_noise(p * 0.35);
          masks[size_t(owner)][idx] = 1;
          lesion_sum[size_t(owner)] += blood;
          background_sum[size_t(owner)] += value;
          ++voxel_count[size_t(owner)];
          centroid[size_t(owner)] = centroid[size_t(owner)] + p;
          if (p.x > 0) left_count[size_t(owner)] += 1;
          if (std::abs(p.x) < 4) midline_count[size_t(owner)] += 1;
          value = blood;
        }
        out[size_t(j) * n + i] = static_cast<float>(value);
      }
    }
  }

  Study study;
  study.kind = "head_ct";
  study.seed = o.seed;
  const double voxel_ml = a.pixel_mm * a.pixel_mm * o.slice_thickness_mm / 1000.0;

  // Findings with their measured truth. Contrast: blood against the brain
  // around it (parenchyma within 3 pixels in the slice), in HU = stored units.
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
    if (count > 0) {
      const Vec3 c = centroid[li] * (1.0 / static_cast<double>(count));
      f.zone = l.zone.empty() ? a.Zone(c) : l.zone;
      f.laterality = LateralityOf(left_count[li] / count, midline_count[li] / count);
      double ring_sum = 0;
      int64_t ring_n = 0;
      const int rad = 3;
      for (int k = 0; k < ns; ++k) {
        const uint8_t* m = f.mask.bits.data() + size_t(k) * n * n;
        const uint8_t* t = tissue.data() + size_t(k) * n * n;
        const float* h = hu.Slice(k);
        for (int j = rad; j < n - rad; ++j) {
          for (int i = rad; i < n - rad; ++i) {
            const size_t x = size_t(j) * n + i;
            if (m[x] || !IsParenchyma(t[x])) continue;
            bool near = false;
            for (int dj = -rad; dj <= rad && !near; dj += rad) {
              for (int di = -rad; di <= rad && !near; di += rad) near = m[x + dj * n + di];
            }
            if (near) {
              ring_sum += h[x];
              ++ring_n;
            }
          }
        }
      }
      const double mean_blood = lesion_sum[li] / count;
      const double bg = ring_n > 0 ? ring_sum / ring_n : background_sum[li] / count;
      f.contrast = mean_blood - bg;
    } else {
      f.zone = l.zone;
      f.laterality = l.side > 0 ? Laterality::kLeft : l.side < 0 ? Laterality::kRight : Laterality::kBilateral;
    }
    study.findings.push_back(std::move(f));
  }

  // Acquisition: motion, quantum noise through a soft kernel, quantisation.
  Random defects(MixSeed(o.seed, HashName("defects")));
  if (Has(o.defects, "motion_blur") && ns >= 4) {
    const int count = defects.Int(2, 4);
    const int start = defects.Int(ns / 4, std::max(ns / 4, ns - count - 2));
    const double angle = defects.Uniform(0, kPi);
    const double length = defects.Uniform(8, 16) * 0.47 / a.pixel_mm;
    for (int k = start; k < std::min(ns, start + count); ++k) {
      internal::MotionBlurSlice(hu.Slice(k), n, n, length * std::cos(angle), length * std::sin(angle), 9);
    }
    study.quality_defects.push_back("motion_blur");
  }
  const bool noisy = Has(o.defects, "noise");
  if (noisy) study.quality_defects.push_back("noise");
  // Quantum noise with the grain of a soft kernel: white noise through
  // [1 2 1]^2 (which keeps 0.375 of its SD). Only the noise is filtered, so
  // a mask's voxels keep the blood's value instead of a share of the bone's.
  const double sigma = (noisy ? 15.0 : 4.0) / 0.375;
  Random quantum(MixSeed(o.acquisition_seed != 0 ? o.acquisition_seed : o.seed, HashName("quantum")));
  std::vector<float> grain(size_t(n) * n);
  for (int k = 0; k < ns; ++k) {
    for (float& g : grain) g = static_cast<float>(sigma * quantum.FastNormal());
    internal::BlurSlice121(grain.data(), n, n);
    float* s = hu.Slice(k);
    for (size_t x = 0; x < grain.size(); ++x) s[x] += grain[x];
  }

  bool gap = Has(o.defects, "missing_slices") && ns >= kMinSlicesForGap;
  const int gap_start = gap ? MissingStart(o.seed, ns) : ns;
  const int gap_count = gap ? MissingCount(o.seed) : 0;
  if (gap) study.quality_defects.push_back("missing_slices");

  Series series;
  SeriesInfo& info = series.info;
  info.modality = "CT";
  info.body_part = "HEAD";
  char desc[64];
  std::snprintf(desc, sizeof desc, "HEAD NON-CONTRAST %gMM", o.slice_thickness_mm);
  info.series_description = desc;
  info.protocol_name = "HEAD ROUTINE";
  info.bits_stored = 12;
  info.is_signed = false;
  info.rescale_intercept = -1024;
  info.rescale_slope = 1;
  info.window_center = 40;
  info.window_width = 80;
  info.slice_thickness_mm = o.slice_thickness_mm;
  info.slice_spacing_mm = o.slice_thickness_mm;
  for (int k = 0; k < ns; ++k) {
    if (k >= gap_start && k < gap_start + gap_count) continue;
    Image img;
    img.rows = n;
    img.columns = n;
    img.pixel_spacing_mm = {a.pixel_mm, a.pixel_mm};
    img.slice_index = k;
    img.pixels.resize(size_t(n) * n);
    const float* s = hu.Slice(k);
    for (size_t x = 0; x < img.pixels.size(); ++x) {
      img.pixels[x] = static_cast<int16_t>(Clamp(std::lround(s[x] + 1024.0), 0, 4095));
    }
    series.images.push_back(std::move(img));
  }
  study.series.push_back(std::move(series));
  return study;
}

}  // namespace parallax::phantom
