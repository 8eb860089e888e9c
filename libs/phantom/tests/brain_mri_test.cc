#include "parallax/phantom/brain_mri.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace parallax::phantom {
namespace {

constexpr int kT1 = 0, kFlair = 1;

BrainMriOptions Options(uint64_t seed, std::vector<std::string> findings = {}, double difficulty = 0.1) {
  BrainMriOptions o;
  o.seed = seed;
  o.findings = std::move(findings);
  o.difficulty = difficulty;
  return o;
}

double Value(const Study& s, int series, int k, int j, int i) {
  const Image& img = s.series[size_t(series)].images[size_t(k)];
  return static_cast<uint16_t>(img.pixels[size_t(j) * img.columns + i]);
}

const Finding& Only(const Study& s, const std::string& label) {
  REQUIRE(s.findings.size() == 1);
  REQUIRE(s.findings[0].label == label);
  return s.findings[0];
}

int64_t Count(const Mask& m) { return std::count(m.bits.begin(), m.bits.end(), uint8_t{1}); }

bool Bit(const Mask& m, int k, int j, int i) {
  if (i < 0 || j < 0 || i >= m.columns || j >= m.rows) return false;
  return m.bits[size_t(k) * m.rows * m.columns + size_t(j) * m.columns + i] != 0;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}
double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

// In-plane distance (pixels, Chebyshev) from a voxel to the mask on its
// slice, up to `limit` (limit + 1 when farther).
int DistanceToMask(const Mask& m, int k, int j, int i, int limit) {
  for (int r = 0; r <= limit; ++r) {
    for (int dj = -r; dj <= r; ++dj)
      for (int di = -r; di <= r; ++di)
        if ((std::abs(dj) == r || std::abs(di) == r) && Bit(m, k, j + dj, i + di)) return r;
  }
  return limit + 1;
}

// Where the head is on a slice: the centroid of the pixels above the noise.
struct Centre {
  double column = 0, row = 0;
};
Centre HeadCentre(const Study& s, int k) {
  double sc = 0, sr = 0, n = 0;
  const Image& img = s.series[0].images[size_t(k)];
  for (int j = 0; j < img.rows; ++j)
    for (int i = 0; i < img.columns; ++i)
      if (Value(s, kT1, k, j, i) > 150) sc += i, sr += j, n += 1;
  return {sc / n, sr / n};
}

// The voxels of a slice band around a mask: inside (within `rim` pixels of
// its edge) and outside (between `near` and `far` pixels from it), plus the
// outside voxels mirrored across the head's midline.
struct Around {
  std::vector<double> inside_rim, inside, outside, mirrored;
};
Around Sample(const Study& s, int series, const Mask& m, int rim, int near, int far) {
  Around a;
  for (int k = 0; k < m.slices; ++k) {
    // The mask's box on this slice, grown by `far`.
    int j0 = m.rows, j1 = -1, i0 = m.columns, i1 = -1;
    for (int j = 0; j < m.rows; ++j)
      for (int i = 0; i < m.columns; ++i)
        if (Bit(m, k, j, i)) j0 = std::min(j0, j), j1 = std::max(j1, j), i0 = std::min(i0, i), i1 = std::max(i1, i);
    if (j1 < 0) continue;
    const double mid = HeadCentre(s, k).column;
    for (int j = std::max(0, j0 - far); j <= std::min(m.rows - 1, j1 + far); ++j) {
      for (int i = std::max(0, i0 - far); i <= std::min(m.columns - 1, i1 + far); ++i) {
        if (Bit(m, k, j, i)) {
          a.inside.push_back(Value(s, series, k, j, i));
          bool edge = false;
          for (int dj = -rim; dj <= rim && !edge; ++dj)
            for (int di = -rim; di <= rim && !edge; ++di) edge = !Bit(m, k, j + dj, i + di);
          if (edge) a.inside_rim.push_back(Value(s, series, k, j, i));
          continue;
        }
        const int dist = DistanceToMask(m, k, j, i, far);
        if (dist < near || dist > far) continue;
        a.outside.push_back(Value(s, series, k, j, i));
        const int mi = static_cast<int>(std::lround(2 * mid - i));
        if (mi >= 0 && mi < m.columns && !Bit(m, k, j, mi)) a.mirrored.push_back(Value(s, series, k, j, mi));
      }
    }
  }
  return a;
}

double CentroidColumn(const Mask& m) {
  double sum = 0;
  int64_t n = 0;
  for (int k = 0; k < m.slices; ++k)
    for (int j = 0; j < m.rows; ++j)
      for (int i = 0; i < m.columns; ++i)
        if (Bit(m, k, j, i)) sum += i, ++n;
  return n ? sum / n : 0;
}

// 3-D connected components of a mask (6-connectivity).
int Components(const Mask& m) {
  std::vector<uint8_t> seen(m.bits.size(), 0);
  int count = 0;
  std::vector<size_t> stack;
  const size_t plane = size_t(m.rows) * m.columns;
  for (size_t start = 0; start < m.bits.size(); ++start) {
    if (!m.bits[start] || seen[start]) continue;
    ++count;
    stack.push_back(start);
    seen[start] = 1;
    while (!stack.empty()) {
      const size_t x = stack.back();
      stack.pop_back();
      const int k = int(x / plane), j = int((x % plane) / m.columns), i = int(x % m.columns);
      const int nb[6][3] = {{0, 0, 1}, {0, 0, -1}, {0, 1, 0}, {0, -1, 0}, {1, 0, 0}, {-1, 0, 0}};
      for (const auto& d : nb) {
        const int kk = k + d[0], jj = j + d[1], ii = i + d[2];
        if (kk < 0 || jj < 0 || ii < 0 || kk >= m.slices || jj >= m.rows || ii >= m.columns) continue;
        const size_t y = size_t(kk) * plane + size_t(jj) * m.columns + ii;
        if (m.bits[y] && !seen[y]) seen[y] = 1, stack.push_back(y);
      }
    }
  }
  return count;
}

// Test-only: one slice of a series as an 8-bit PGM through the series
// window, the mask outlined (checkerboard) when given.
void WritePgm(const std::filesystem::path& path, const Study& s, int series, int k, const Mask* outline = nullptr) {
  const SeriesInfo& info = s.series[size_t(series)].info;
  const Image& img = s.series[size_t(series)].images[size_t(k)];
  std::ofstream f(path, std::ios::binary);
  f << "P5\n" << img.columns << " " << img.rows << "\n255\n";
  const double lo = info.window_center - info.window_width / 2;
  for (int j = 0; j < img.rows; ++j) {
    for (int i = 0; i < img.columns; ++i) {
      double v = (Value(s, series, k, j, i) - lo) / info.window_width * 255.0;
      if (outline && Bit(*outline, k, j, i) &&
          (!Bit(*outline, k, j, i - 1) || !Bit(*outline, k, j, i + 1) || !Bit(*outline, k, j - 1, i) ||
           !Bit(*outline, k, j + 1, i))) {
        v = (i + j) % 2 ? 255 : 0;
      }
      f.put(static_cast<char>(static_cast<unsigned char>(std::clamp(v, 0.0, 255.0))));
    }
  }
}

TEST_CASE("brain MRI: the same options give a bit-identical study", "[phantom]") {
  BrainMriOptions o = Options(7, {"Enhancing tumour", "White matter lesions"}, 0.4);
  o.defects = {"noise", "motion_blur"};
  const Study a = MakeBrainMri(o), b = MakeBrainMri(o);
  REQUIRE(a.series.size() == 2);
  for (size_t v = 0; v < 2; ++v) {
    REQUIRE(a.series[v].images.size() == b.series[v].images.size());
    for (size_t k = 0; k < a.series[v].images.size(); ++k) {
      REQUIRE(a.series[v].images[k].pixels == b.series[v].images[k].pixels);
    }
  }
  REQUIRE(a.findings.size() == 2);
  for (size_t f = 0; f < a.findings.size(); ++f) {
    CHECK(a.findings[f].mask.bits == b.findings[f].mask.bits);
    CHECK(a.findings[f].volume_ml == b.findings[f].volume_ml);
    CHECK(a.findings[f].contrast == b.findings[f].contrast);
  }
  CHECK(a.quality_defects == b.quality_defects);
  o.seed = 8;
  const Study c = MakeBrainMri(o);
  CHECK(c.series[0].images[12].pixels != a.series[0].images[12].pixels);
  CHECK(c.series[1].images[12].pixels != a.series[1].images[12].pixels);
}

TEST_CASE("brain MRI: two co-registered series, T1 POST and FLAIR, with the same geometry", "[phantom]") {
  const Study s = MakeBrainMri(Options(3));
  CHECK(s.kind == "brain_mri");
  CHECK(s.seed == 3);
  CHECK(s.findings.empty());
  CHECK(s.quality_defects.empty());
  REQUIRE(s.series.size() == 2);
  CHECK(s.series[0].info.series_description == "AX T1 POST GD");
  CHECK(s.series[1].info.series_description == "AX FLAIR");
  for (const Series& series : s.series) {
    const SeriesInfo& info = series.info;
    CHECK(info.modality == "MR");
    CHECK(info.body_part == "BRAIN");
    CHECK(info.protocol_name == "BRAIN TUMOUR");
    CHECK(info.bits_stored == 12);
    CHECK_FALSE(info.is_signed);
    CHECK(info.window_width > 0);
    CHECK(info.window_center > 0);
    CHECK(info.slice_thickness_mm == 5);
    CHECK(info.slice_spacing_mm == 5);
    REQUIRE(series.images.size() == 24);
    for (size_t k = 0; k < series.images.size(); ++k) {
      const Image& img = series.images[k];
      const Image& ref = s.series[0].images[k];
      CHECK(img.rows == 256);
      CHECK(img.columns == 256);
      CHECK(img.slice_index == int(k));
      CHECK(img.pixel_spacing_mm == ref.pixel_spacing_mm);
      CHECK(img.pixel_spacing_mm[0] > 0.85);
      CHECK(img.pixel_spacing_mm[0] < 0.95);
      CHECK(*std::min_element(img.pixels.begin(), img.pixels.end()) >= 0);
      CHECK(*std::max_element(img.pixels.begin(), img.pixels.end()) <= 4095);
    }
  }
  // Co-registered: the head outline is the same on both series.
  const int k = 14;
  int64_t both = 0, either = 0;
  for (int j = 0; j < 256; ++j) {
    for (int i = 0; i < 256; ++i) {
      const bool a = Value(s, kT1, k, j, i) > 200, b = Value(s, kFlair, k, j, i) > 200;
      both += a && b;
      either += a || b;
    }
  }
  CHECK(double(both) / double(either) > 0.8);
}

TEST_CASE("brain MRI: normal tissue contrasts of T1 POST and FLAIR", "[phantom]") {
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    const Study s = MakeBrainMri(Options(seed));
    const double mm = s.series[0].images[0].pixel_spacing_mm[0];
    // Deep white matter of the centrum semiovale, both hemispheres.
    const int high = 15;
    const Centre c = HeadCentre(s, high);
    std::vector<double> wm[2];
    for (int side : {-1, 1}) {
      for (int dj = -6; dj <= 6; ++dj)
        for (int di = -6; di <= 6; ++di) {
          const int i = int(std::lround(c.column + side * 26 / mm)) + di, j = int(std::lround(c.row)) + dj;
          wm[kT1].push_back(Value(s, kT1, high, j, i));
          wm[kFlair].push_back(Value(s, kFlair, high, j, i));
        }
    }
    // The cortex: along rays from the centre, the head's outer edge is the
    // last pixel above the noise; 10-18 mm inside it (scalp, skull, CSF)
    // the brightest FLAIR parenchyma (T1 neither CSF/bone nor vessel) of each
    // ray is its cortex.
    std::vector<double> gm[2];
    for (int ray = 0; ray < 72; ++ray) {
      const double ang = ray * 2 * M_PI / 72;
      auto at = [&](double r, int* i, int* j) {
        *i = int(std::lround(c.column + r * std::cos(ang) / mm));
        *j = int(std::lround(c.row + r * std::sin(ang) / mm));
        return *i >= 0 && *j >= 0 && *i < 256 && *j < 256;
      };
      double edge = 0;
      int i = 0, j = 0;
      for (double r = 0; r < 130 && at(r, &i, &j); r += 0.5)
        if (Value(s, kT1, high, j, i) > 400) edge = r;
      double best = -1, best_t1 = 0;
      for (double r = edge - 18; r <= edge - 10; r += 0.5) {
        at(r, &i, &j);
        const double t1 = Value(s, kT1, high, j, i), fl = Value(s, kFlair, high, j, i);
        if (t1 > 450 && t1 < 1250 && fl > best) best = fl, best_t1 = t1;
      }
      if (best > 0) gm[kT1].push_back(best_t1), gm[kFlair].push_back(best);
    }
    // Ventricular CSF: the bodies of the lateral ventricles.
    const int mid = 9;
    const Centre v = HeadCentre(s, mid);
    std::vector<double> csf[2];
    for (int side : {-1, 1}) {
      // The darkest 3x3 mean of FLAIR near where each ventricle body is.
      double best = 1e9;
      int bi = 0, bj = 0;
      for (int j = int(v.row - 14 / mm); j <= int(v.row + 8 / mm); ++j)
        for (int i = int(v.column + side * 4 / mm); side * (i - v.column) <= 16 / mm; i += side) {
          double sum = 0;
          for (int dj = -1; dj <= 1; ++dj)
            for (int di = -1; di <= 1; ++di) sum += Value(s, kFlair, mid, j + dj, i + di);
          if (sum < best) best = sum, bi = i, bj = j;
        }
      for (int dj = -1; dj <= 1; ++dj)
        for (int di = -1; di <= 1; ++di) {
          csf[kT1].push_back(Value(s, kT1, mid, bj + dj, bi + di));
          csf[kFlair].push_back(Value(s, kFlair, mid, bj + dj, bi + di));
        }
    }
    const double wm_t1 = Median(wm[kT1]), wm_flair = Median(wm[kFlair]);
    const double gm_t1 = Median(gm[kT1]), gm_flair = Median(gm[kFlair]);
    const double csf_t1 = Median(csf[kT1]), csf_flair = Median(csf[kFlair]);
    INFO("T1 wm " << wm_t1 << " gm " << gm_t1 << " csf " << csf_t1 << "; FLAIR wm " << wm_flair << " gm " << gm_flair
                  << " csf " << csf_flair);
    CHECK(csf_t1 < 0.5 * wm_t1);
    CHECK(csf_flair < 0.4 * wm_flair);
    CHECK(wm_t1 > gm_t1 + 120);
    CHECK(gm_flair > wm_flair + 60);
    // Noise: Rician in the air (a few units, never negative).
    std::vector<double> air;
    for (int j = 0; j < 30; ++j)
      for (int i = 0; i < 30; ++i) air.push_back(Value(s, kT1, high, j, i));
    CHECK(Mean(air) > 5);
    CHECK(Mean(air) < 40);
  }
}

TEST_CASE("brain MRI: every label is a finding with an exact 3-D mask", "[phantom]") {
  for (const std::string& label : BrainMriLabels()) {
    for (uint64_t seed : {1, 2}) {
      INFO(label << " seed " << seed);
      const Study s = MakeBrainMri(Options(seed, {label}, 0.1));
      const Finding& f = Only(s, label);
      CHECK(f.mask.slices == 24);
      CHECK(f.mask.rows == 256);
      CHECK(f.mask.columns == 256);
      REQUIRE(f.mask.bits.size() == size_t(24) * 256 * 256);
      const int64_t n = Count(f.mask);
      REQUIRE(n > 0);
      const auto& sp = s.series[0].images[0].pixel_spacing_mm;
      CHECK(f.volume_ml == Approx(double(n) * sp[0] * sp[1] * 5.0 / 1000.0).epsilon(1e-12));
      CHECK_FALSE(f.subtle);
      CHECK_FALSE(f.zone.empty());
      CHECK(f.laterality != Laterality::kNone);
      CHECK(f.contrast > 150);
      const int components = Components(f.mask);
      if (label == "Enhancing tumour" || label == "Non-enhancing lesion") {
        CHECK(f.volume_ml >= 1);
        CHECK(f.volume_ml <= 60);
        CHECK(components <= 2);
        CHECK(f.zone != "periventricular");
      }
      if (label == "Metastases") {
        CHECK(components >= 2);
        CHECK(components <= 6);
        CHECK(f.volume_ml < 8);
      }
      if (label == "White matter lesions") {
        CHECK(components >= 3);
        CHECK(f.zone == "periventricular");
        CHECK(f.volume_ml < 5);
      }
    }
  }
}

TEST_CASE("brain MRI: an enhancing tumour has a bright rim on T1 POST and FLAIR-bright oedema", "[phantom]") {
  int rings = 0;
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    const Study s = MakeBrainMri(Options(seed, {"Enhancing tumour"}, 0.1));
    const Finding& f = Only(s, "Enhancing tumour");
    const Around t1 = Sample(s, kT1, f.mask, 2, 2, 6);
    const Around fl = Sample(s, kFlair, f.mask, 2, 2, 6);
    INFO("T1 rim " << Mean(t1.inside_rim) << " inside " << Mean(t1.inside) << " around " << Mean(t1.outside)
                   << "; FLAIR around " << Mean(fl.outside) << " mirrored " << Mean(fl.mirrored));
    CHECK(Mean(t1.inside_rim) > Mean(t1.outside) + 300);
    CHECK(Mean(t1.inside_rim) > Mean(t1.mirrored) + 300);
    CHECK(Mean(fl.outside) > Mean(fl.mirrored) + 150);
    // Oedema is dark-ish on T1, not enhancing.
    CHECK(Mean(t1.outside) < Mean(t1.mirrored) + 50);
    rings += Mean(t1.inside) < Mean(t1.inside_rim) - 150;  // a necrotic centre
    CHECK(std::abs(f.contrast - (Mean(t1.inside) - Mean(t1.mirrored))) < 400);
  }
  CHECK(rings >= 1);
}

TEST_CASE("brain MRI: a non-enhancing lesion is bright on FLAIR and not on T1 POST", "[phantom]") {
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    const Study s = MakeBrainMri(Options(seed, {"Non-enhancing lesion"}, 0.1));
    const Finding& f = Only(s, "Non-enhancing lesion");
    const Around t1 = Sample(s, kT1, f.mask, 2, 2, 6);
    const Around fl = Sample(s, kFlair, f.mask, 2, 2, 6);
    INFO("FLAIR inside " << Mean(fl.inside) << " around " << Mean(fl.outside) << " mirrored " << Mean(fl.mirrored)
                         << "; T1 inside " << Mean(t1.inside) << " around " << Mean(t1.outside));
    CHECK(Mean(fl.inside) > Mean(fl.outside) + 250);
    CHECK(Mean(fl.inside) > Mean(fl.mirrored) + 250);
    CHECK(Mean(t1.inside) < Mean(t1.outside));
    CHECK(Mean(t1.inside) < Mean(t1.mirrored));
    CHECK(f.contrast > 200);
  }
}

TEST_CASE("brain MRI: metastases enhance, white matter lesions only show on FLAIR", "[phantom]") {
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    const Study m = MakeBrainMri(Options(seed, {"Metastases"}, 0.1));
    const Finding& mf = Only(m, "Metastases");
    const Around mt1 = Sample(m, kT1, mf.mask, 1, 2, 5);
    CHECK(Mean(mt1.inside) > Mean(mt1.outside) + 250);

    const Study w = MakeBrainMri(Options(seed, {"White matter lesions"}, 0.1));
    const Finding& wf = Only(w, "White matter lesions");
    const Around wfl = Sample(w, kFlair, wf.mask, 1, 2, 4);
    const Around wt1 = Sample(w, kT1, wf.mask, 1, 2, 4);
    INFO("WML FLAIR " << Mean(wfl.inside) << " vs " << Mean(wfl.outside) << "; T1 " << Mean(wt1.inside) << " vs "
                      << Mean(wt1.outside));
    CHECK(Mean(wfl.inside) > Mean(wfl.outside) + 150);
    CHECK(Mean(wt1.inside) < Mean(wt1.outside) + 30);
  }
}

TEST_CASE("brain MRI: laterality is in patient terms, the patient's left on the image right", "[phantom]") {
  int lefts = 0, rights = 0;
  for (uint64_t seed : {1, 5, 7, 8}) {  // both sides of each
    for (const char* label : {"Enhancing tumour", "Non-enhancing lesion"}) {
      INFO(label << " seed " << seed);
      const Study s = MakeBrainMri(Options(seed, {label}, 0.3));
      const Finding& f = Only(s, label);
      const double column = CentroidColumn(f.mask);
      const double mid = HeadCentre(s, 12).column;
      REQUIRE((f.laterality == Laterality::kLeft || f.laterality == Laterality::kRight));
      if (f.laterality == Laterality::kLeft) {
        CHECK(column > mid + 5);
        ++lefts;
      } else {
        CHECK(column < mid - 5);
        ++rights;
      }
    }
  }
  CHECK(lefts > 0);
  CHECK(rights > 0);
}

TEST_CASE("brain MRI: subtle findings are fainter or smaller than obvious ones", "[phantom]") {
  for (const std::string& label : BrainMriLabels()) {
    for (uint64_t seed : {2}) {
      INFO(label << " seed " << seed);
      const Finding obvious = Only(MakeBrainMri(Options(seed, {label}, 0.05)), label);
      const Finding subtle = Only(MakeBrainMri(Options(seed, {label}, 0.95)), label);
      INFO("contrast " << obvious.contrast << " -> " << subtle.contrast << ", volume " << obvious.volume_ml << " -> "
                       << subtle.volume_ml);
      CHECK_FALSE(obvious.subtle);
      CHECK(subtle.subtle);
      CHECK((subtle.contrast < 0.7 * obvious.contrast || subtle.volume_ml < 0.5 * obvious.volume_ml));
      CHECK(subtle.volume_ml > 0);
      CHECK(subtle.contrast > 0);
    }
  }
}

TEST_CASE("brain MRI: defects are drawn and recorded", "[phantom]") {
  BrainMriOptions o = Options(5);
  const Study clean = MakeBrainMri(o);
  o.defects = {"noise"};
  const Study noisy = MakeBrainMri(o);
  CHECK(noisy.quality_defects == std::vector<std::string>{"noise"});
  auto air_mean = [](const Study& s, int series) {
    double sum = 0;
    for (int j = 0; j < 30; ++j)
      for (int i = 0; i < 30; ++i) sum += Value(s, series, 12, j, i);
    return sum / 900;
  };
  CHECK(air_mean(noisy, kT1) > 2.5 * air_mean(clean, kT1));
  CHECK(air_mean(noisy, kFlair) > 2.5 * air_mean(clean, kFlair));

  o.defects = {"motion_blur"};
  const Study moved = MakeBrainMri(o);
  CHECK(moved.quality_defects == std::vector<std::string>{"motion_blur"});
  int changed = 0;
  for (int v = 0; v < 2; ++v)
    for (int k = 0; k < 24; ++k)
      changed += moved.series[size_t(v)].images[size_t(k)].pixels != clean.series[size_t(v)].images[size_t(k)].pixels;
  CHECK(changed >= 2);
  CHECK(changed <= 4);
}

// Not part of the suite: renders studies into $PARALLAX_PHANTOM_DUMP (both
// series through their windows; findings outlined on the *_mask copies)
// and prints how long each took.
TEST_CASE("brain MRI: dump slices for a person to look at", "[.][dump]") {
  const char* dir = std::getenv("PARALLAX_PHANTOM_DUMP");
  if (dir == nullptr) {
    WARN("set PARALLAX_PHANTOM_DUMP to a directory");
    return;
  }
  std::filesystem::create_directories(dir);
  struct Case {
    std::string name;
    std::vector<std::string> findings;
    double difficulty;
    std::vector<std::string> defects;
  };
  const std::vector<Case> cases = {{"normal", {}, 0.5, {}},
                                   {"tumour", {"Enhancing tumour"}, 0.1, {}},
                                   {"tumour_subtle", {"Enhancing tumour"}, 0.9, {}},
                                   {"nonenh", {"Non-enhancing lesion"}, 0.1, {}},
                                   {"mets", {"Metastases"}, 0.1, {}},
                                   {"wml", {"White matter lesions"}, 0.1, {}},
                                   {"motion", {}, 0.5, {"motion_blur", "noise"}}};
  const uint64_t seed =
      std::getenv("PARALLAX_PHANTOM_SEED") ? std::strtoull(std::getenv("PARALLAX_PHANTOM_SEED"), nullptr, 10) : 3;
  for (const Case& c : cases) {
    BrainMriOptions o;
    o.seed = seed;
    o.findings = c.findings;
    o.difficulty = c.difficulty;
    o.defects = c.defects;
    const auto t0 = std::chrono::steady_clock::now();
    const Study s = MakeBrainMri(o);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-14s %6.0f ms", c.name.c_str(), ms);
    for (const Finding& f : s.findings) {
      std::printf("  %s %s %s %.2f mL %+.0f%s", f.label.c_str(), LateralityName(f.laterality), f.zone.c_str(),
                  f.volume_ml, f.contrast, f.subtle ? " subtle" : "");
    }
    for (const std::string& d : s.quality_defects) std::printf(" [%s]", d.c_str());
    std::printf("\n");
    for (int k = 0; k < 24; ++k) {
      for (int v = 0; v < 2; ++v) {
        char name[80];
        std::snprintf(name, sizeof name, "%s_%s_%02d.pgm", c.name.c_str(), v == kT1 ? "t1" : "flair", k);
        WritePgm(std::filesystem::path(dir) / name, s, v, k);
        if (!s.findings.empty()) {
          std::snprintf(name, sizeof name, "%s_%s_%02d_mask.pgm", c.name.c_str(), v == kT1 ? "t1" : "flair", k);
          WritePgm(std::filesystem::path(dir) / name, s, v, k, &s.findings[0].mask);
        }
      }
    }
  }
}

}  // namespace
}  // namespace parallax::phantom
