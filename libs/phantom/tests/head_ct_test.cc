#include "parallax/phantom/head_ct.h"

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

// A smaller study keeps the suite quick; geometry scales with the size.
HeadCtOptions Options(uint64_t seed, std::vector<std::string> findings = {}, double difficulty = 0.1,
                      int size = 256) {
  HeadCtOptions o;
  o.seed = seed;
  o.size = size;
  o.findings = std::move(findings);
  o.difficulty = difficulty;
  return o;
}

double Hu(const Study& s, int k, int j, int i) {
  const Image& img = s.series[0].images[size_t(k)];
  return img.pixels[size_t(j) * img.columns + i] * s.series[0].info.rescale_slope + s.series[0].info.rescale_intercept;
}

const Finding& Only(const Study& s, const std::string& label) {
  REQUIRE(s.findings.size() == 1);
  REQUIRE(s.findings[0].label == label);
  return s.findings[0];
}

int64_t Count(const Mask& m) { return std::count(m.bits.begin(), m.bits.end(), uint8_t{1}); }

bool Bit(const Mask& m, int k, int j, int i) {
  return m.bits[size_t(k) * m.rows * m.columns + size_t(j) * m.columns + i] != 0;
}

double MeanHuInMask(const Study& s, const Mask& m) {
  double sum = 0;
  int64_t n = 0;
  for (int k = 0; k < m.slices; ++k)
    for (int j = 0; j < m.rows; ++j)
      for (int i = 0; i < m.columns; ++i)
        if (Bit(m, k, j, i)) sum += Hu(s, k, j, i), ++n;
  return n ? sum / n : 0;
}

// The slice where the mask covers most pixels.
int LargestSlice(const Mask& m) {
  int best = 0;
  int64_t best_n = -1;
  for (int k = 0; k < m.slices; ++k) {
    const auto b = m.bits.begin() + int64_t(k) * m.rows * m.columns;
    const int64_t n = std::count(b, b + int64_t(m.rows) * m.columns, uint8_t{1});
    if (n > best_n) best = k, best_n = n;
  }
  return best;
}

struct Shape {
  double area = 0;        // pixels
  double hull_area = 0;   // pixels
  double length = 0;      // longest pixel-pair distance on the hull, pixels
  double Solidity() const { return hull_area > 0 ? area / hull_area : 0; }
  double Thickness() const { return length > 0 ? area / length : 0; }  // mean thickness across the length
};

// Area, convex hull and length of one slice of a mask.
Shape SliceShape(const Mask& m, int k) {
  std::vector<std::pair<double, double>> pts;
  Shape sh;
  for (int j = 0; j < m.rows; ++j) {
    for (int i = 0; i < m.columns; ++i) {
      if (!Bit(m, k, j, i)) continue;
      sh.area += 1;
      // Pixel corners, so a one-pixel-wide shape still has a hull.
      for (double dj : {-0.5, 0.5})
        for (double di : {-0.5, 0.5}) pts.push_back({i + di, j + dj});
    }
  }
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  if (pts.size() < 3) return sh;
  auto cross = [](auto o, auto a, auto b) {
    return (a.first - o.first) * (b.second - o.second) - (a.second - o.second) * (b.first - o.first);
  };
  std::vector<std::pair<double, double>> hull(2 * pts.size());
  size_t h = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    while (h >= 2 && cross(hull[h - 2], hull[h - 1], pts[i]) <= 0) --h;
    hull[h++] = pts[i];
  }
  for (size_t i = pts.size() - 1, t = h + 1; i > 0; --i) {
    while (h >= t && cross(hull[h - 2], hull[h - 1], pts[i - 1]) <= 0) --h;
    hull[h++] = pts[i - 1];
  }
  hull.resize(h - 1);
  for (size_t i = 0; i < hull.size(); ++i) {
    const auto& p = hull[i];
    const auto& q = hull[(i + 1) % hull.size()];
    sh.hull_area += p.first * q.second - q.first * p.second;
    for (const auto& r : hull) sh.length = std::max(sh.length, std::hypot(p.first - r.first, p.second - r.second));
  }
  sh.hull_area = std::abs(sh.hull_area) / 2;
  return sh;
}

// Mean column of the mask's voxels.
double CentroidColumn(const Mask& m) {
  double sum = 0;
  int64_t n = 0;
  for (int k = 0; k < m.slices; ++k)
    for (int j = 0; j < m.rows; ++j)
      for (int i = 0; i < m.columns; ++i)
        if (Bit(m, k, j, i)) sum += i, ++n;
  return n ? sum / n : 0;
}

// Brain window (40/80) 8-bit PGM, blood outlined when a mask is given.
void WritePgm(const std::filesystem::path& path, const Study& s, int k, const Mask* outline = nullptr) {
  const Image& img = s.series[0].images[size_t(k)];
  std::ofstream f(path, std::ios::binary);
  f << "P5\n" << img.columns << " " << img.rows << "\n255\n";
  for (int j = 0; j < img.rows; ++j) {
    for (int i = 0; i < img.columns; ++i) {
      double v = (Hu(s, k, j, i) - 0) / 80.0 * 255.0;
      if (outline && Bit(*outline, k, j, i) &&
          (i == 0 || j == 0 || i + 1 == img.columns || j + 1 == img.rows || !Bit(*outline, k, j, i - 1) ||
           !Bit(*outline, k, j, i + 1) || !Bit(*outline, k, j - 1, i) || !Bit(*outline, k, j + 1, i))) {
        v = (i + j) % 2 ? 255 : 0;
      }
      f.put(static_cast<char>(static_cast<unsigned char>(std::clamp(v, 0.0, 255.0))));
    }
  }
}

TEST_CASE("head CT: the same options give a bit-identical study", "[phantom]") {
  HeadCtOptions o = Options(7, {"Subdural", "Intraparenchymal"}, 0.4);
  o.defects = {"noise", "motion_blur"};
  const Study a = MakeHeadCt(o), b = MakeHeadCt(o);
  REQUIRE(a.series.size() == 1);
  REQUIRE(a.series[0].images.size() == b.series[0].images.size());
  for (size_t k = 0; k < a.series[0].images.size(); ++k) {
    REQUIRE(a.series[0].images[k].pixels == b.series[0].images[k].pixels);
  }
  REQUIRE(a.findings.size() == 2);
  for (size_t f = 0; f < a.findings.size(); ++f) {
    CHECK(a.findings[f].mask.bits == b.findings[f].mask.bits);
    CHECK(a.findings[f].volume_ml == b.findings[f].volume_ml);
    CHECK(a.findings[f].contrast == b.findings[f].contrast);
  }
  o.seed = 8;
  const Study c = MakeHeadCt(o);
  CHECK(c.series[0].images[16].pixels != a.series[0].images[16].pixels);
}

TEST_CASE("head CT: a normal study is a plausible head in Hounsfield units", "[phantom]") {
  for (uint64_t seed : {1, 2, 3}) {
    const Study s = MakeHeadCt(Options(seed, {}, 0.5, 512));
    CHECK(s.kind == "head_ct");
    CHECK(s.findings.empty());
    CHECK(s.quality_defects.empty());
    REQUIRE(s.series.size() == 1);
    const SeriesInfo& info = s.series[0].info;
    CHECK(info.modality == "CT");
    CHECK(info.body_part == "HEAD");
    CHECK(info.series_description == "HEAD NON-CONTRAST 5MM");
    CHECK(info.rescale_intercept == -1024);
    CHECK(info.window_center == 40);
    CHECK(info.window_width == 80);
    CHECK(info.slice_spacing_mm == 5);
    REQUIRE(s.series[0].images.size() == 32);
    const Image& img = s.series[0].images[0];
    CHECK(img.rows == 512);
    CHECK(img.pixel_spacing_mm[0] > 0.44);
    CHECK(img.pixel_spacing_mm[0] < 0.5);

    // Brain parenchyma: the middle of a slice high in the head (centrum semiovale).
    const int k = 20, n = 512;
    std::vector<double> centre;
    for (int j = n / 2 - 40; j < n / 2 + 40; ++j)
      for (int i = n / 2 - 60; i < n / 2 - 20; ++i) centre.push_back(Hu(s, k, j, i));
    std::nth_element(centre.begin(), centre.begin() + centre.size() / 2, centre.end());
    const double median = centre[centre.size() / 2];
    CHECK(median > 20);
    CHECK(median < 45);

    // Skull along the row through the middle; air in the corners.
    double row_max = -2000;
    for (int i = 0; i < n; ++i) row_max = std::max(row_max, Hu(s, k, n / 2, i));
    CHECK(row_max > 700);
    double corner = 0;
    for (int j = 0; j < 20; ++j)
      for (int i = 0; i < 20; ++i) corner += Hu(s, k, j, i) / 400.0;
    CHECK(corner < -900);

    // The head narrows from the middle to the vertex.
    auto head_pixels = [&](int slice) {
      int64_t c = 0;
      for (int16_t v : s.series[0].images[size_t(slice)].pixels) c += v - 1024 > -300;
      return c;
    };
    CHECK(head_pixels(31) < head_pixels(20) / 3);
    CHECK(head_pixels(12) > head_pixels(28));

    // Quantum noise in air: a few HU.
    double sum = 0, sum2 = 0;
    for (int j = 0; j < 40; ++j)
      for (int i = 0; i < 40; ++i) sum += Hu(s, k, j, i), sum2 += Hu(s, k, j, i) * Hu(s, k, j, i);
    const double sd = std::sqrt(sum2 / 1600 - (sum / 1600) * (sum / 1600));
    CHECK(sd > 2);
    CHECK(sd < 7);
  }
}

TEST_CASE("head CT: every subtype is drawn as hyperdense blood with an exact 3-D mask", "[phantom]") {
  for (const std::string& label : HeadCtLabels()) {
    for (uint64_t seed : {1, 2}) {
      INFO(label << " seed " << seed);
      const Study s = MakeHeadCt(Options(seed, {label}, 0.1));
      const Finding& f = Only(s, label);
      CHECK(f.mask.slices == 32);
      CHECK(f.mask.rows == 256);
      CHECK(f.mask.columns == 256);
      REQUIRE(f.mask.bits.size() == size_t(32) * 256 * 256);
      const int64_t n = Count(f.mask);
      REQUIRE(n > 0);
      const double mean = MeanHuInMask(s, f.mask);
      CHECK(mean > 45);
      CHECK(mean < 95);
      CHECK(f.contrast > 10);
      CHECK_FALSE(f.subtle);
      CHECK_FALSE(f.zone.empty());
      CHECK(f.laterality != Laterality::kNone);
      // Exact volume: voxels x voxel volume.
      const auto& sp = s.series[0].images[0].pixel_spacing_mm;
      CHECK(f.volume_ml == Approx(double(n) * sp[0] * sp[1] * 5.0 / 1000.0).epsilon(1e-12));
      // The mask covers more than one slice: it is 3-D.
      int slices_hit = 0;
      for (int k = 0; k < 32; ++k) {
        const auto b = f.mask.bits.begin() + int64_t(k) * 256 * 256;
        slices_hit += std::count(b, b + 256 * 256, uint8_t{1}) > 0;
      }
      CHECK(slices_hit >= 2);
    }
  }
}

TEST_CASE("head CT: an epidural is a lens against the skull, a subdural a thin crescent", "[phantom]") {
  for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    INFO("seed " << seed);
    const Study e = MakeHeadCt(Options(seed, {"Epidural"}, 0.1));
    const Study sd = MakeHeadCt(Options(seed, {"Subdural"}, 0.1));
    const Finding& ef = Only(e, "Epidural");
    const Finding& sf = Only(sd, "Subdural");
    CHECK(ef.volume_ml > 20);
    CHECK(ef.volume_ml < 100);
    CHECK(sf.volume_ml > 10);

    // Epidural blood lies against the inner table: on every slice it is
    // on, a good share of its outline touches bone (> 500 HU within 2 pixels).
    const int n = 256;
    for (int k = 0; k < 32; ++k) {
      int64_t in = 0, edge = 0, against = 0;
      for (int j = 3; j < n - 3; ++j) {
        for (int i = 3; i < n - 3; ++i) {
          if (!Bit(ef.mask, k, j, i)) continue;
          ++in;
          if (Bit(ef.mask, k, j - 1, i) && Bit(ef.mask, k, j + 1, i) && Bit(ef.mask, k, j, i - 1) &&
              Bit(ef.mask, k, j, i + 1)) {
            continue;
          }
          ++edge;
          bool bone = false;
          for (int dj = -2; dj <= 2 && !bone; ++dj)
            for (int di = -2; di <= 2 && !bone; ++di) bone = Hu(e, k, j + dj, i + di) > 500;
          against += bone;
        }
      }
      if (in > 30) {
        INFO("slice " << k << ": " << against << " of " << edge << " outline pixels against bone");
        CHECK(double(against) / edge > 0.3);
      }
    }
    // Shapes on the largest slice: the lens is convex and thick for its
    // length; the crescent hugs the convexity, concave and thin.
    const Shape es = SliceShape(ef.mask, LargestSlice(ef.mask));
    const Shape ss = SliceShape(sf.mask, LargestSlice(sf.mask));
    CHECK(es.Solidity() > 0.75);
    INFO("solidity lens " << es.Solidity() << " crescent " << ss.Solidity());
    CHECK(ss.Solidity() < 0.7);
    CHECK(ss.length / ss.Thickness() > 6);
    CHECK(es.length / es.Thickness() < ss.length / ss.Thickness());
  }
}

TEST_CASE("head CT: laterality is in patient terms, the patient's left on the image right", "[phantom]") {
  int lefts = 0, rights = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    for (const char* label : {"Epidural", "Subdural", "Intraparenchymal"}) {
      INFO(label << " seed " << seed);
      const Study s = MakeHeadCt(Options(seed, {label}, 0.2));
      const Finding& f = Only(s, label);
      const double column = CentroidColumn(f.mask);
      REQUIRE((f.laterality == Laterality::kLeft || f.laterality == Laterality::kRight));
      if (f.laterality == Laterality::kLeft) {
        CHECK(column > 128);
        ++lefts;
      } else {
        CHECK(column < 128);
        ++rights;
      }
    }
  }
  CHECK(lefts > 0);
  CHECK(rights > 0);
}

TEST_CASE("head CT: subtle findings are fainter or smaller than obvious ones", "[phantom]") {
  for (const std::string& label : HeadCtLabels()) {
    for (uint64_t seed : {1, 2, 3}) {
      INFO(label << " seed " << seed);
      const Finding obvious = Only(MakeHeadCt(Options(seed, {label}, 0.05)), label);
      const Finding subtle = Only(MakeHeadCt(Options(seed, {label}, 0.95)), label);
      CHECK_FALSE(obvious.subtle);
      CHECK(subtle.subtle);
      CHECK((subtle.contrast < obvious.contrast - 5 || subtle.volume_ml < 0.6 * obvious.volume_ml));
      CHECK(subtle.volume_ml > 0);
    }
  }
}

TEST_CASE("head CT: intraparenchymal with intraventricular extension share a side", "[phantom]") {
  for (uint64_t seed : {1, 2, 3}) {
    const Study s = MakeHeadCt(Options(seed, {"Intraparenchymal", "Intraventricular"}, 0.2));
    REQUIRE(s.findings.size() == 2);
    const Finding& iph = s.findings[0];
    const Finding& ivh = s.findings[1];
    CHECK(iph.label == "Intraparenchymal");
    CHECK(ivh.label == "Intraventricular");
    CHECK(ivh.zone == "ventricular");
    CHECK(((iph.laterality == ivh.laterality) || ivh.laterality == Laterality::kBilateral));
    // Masks are disjoint.
    int64_t both = 0;
    for (size_t x = 0; x < iph.mask.bits.size(); ++x) both += iph.mask.bits[x] && ivh.mask.bits[x];
    CHECK(both == 0);
    double total = 0;
    for (const Finding& f : s.findings) total += f.volume_ml;
    CHECK(total > iph.volume_ml);
  }
}

TEST_CASE("head CT: defects are drawn and recorded", "[phantom]") {
  HeadCtOptions o = Options(5);
  const Study clean = MakeHeadCt(o);
  o.defects = {"noise"};
  const Study noisy = MakeHeadCt(o);
  CHECK(noisy.quality_defects == std::vector<std::string>{"noise"});
  auto air_sd = [](const Study& s) {
    double sum = 0, sum2 = 0;
    for (int j = 0; j < 30; ++j)
      for (int i = 0; i < 30; ++i) sum += Hu(s, 16, j, i), sum2 += Hu(s, 16, j, i) * Hu(s, 16, j, i);
    return std::sqrt(sum2 / 900 - (sum / 900) * (sum / 900));
  };
  CHECK(air_sd(noisy) > 2.5 * air_sd(clean));

  o.defects = {"missing_slices"};
  o.findings = {"Subdural"};
  const Study gap = MakeHeadCt(o);
  CHECK(gap.quality_defects == std::vector<std::string>{"missing_slices"});
  const size_t images = gap.series[0].images.size();
  CHECK(images >= 28);
  CHECK(images <= 30);
  const std::vector<int> idx = HeadCtSliceIndices(gap);
  REQUIRE(idx.size() == images);
  CHECK(idx.front() == 0);
  CHECK(idx.back() == 31);
  int jumps = 0;
  for (size_t i = 1; i < idx.size(); ++i) jumps += idx[i] - idx[i - 1] > 1;
  CHECK(jumps == 1);
  // The images kept are the acquired slices at those indices.
  const Study full = MakeHeadCt(Options(5, {"Subdural"}));
  for (size_t i = 0; i < images; ++i) CHECK(gap.series[0].images[i].pixels == full.series[0].images[size_t(idx[i])].pixels);
  CHECK(gap.findings[0].mask.slices == 32);  // the truth covers the acquired volume
  const std::vector<int> plain = HeadCtSliceIndices(full);
  CHECK(plain.size() == 32);
  CHECK(plain.back() == 31);

  o.defects = {"motion_blur"};
  o.findings = {};
  const Study blurred = MakeHeadCt(o);
  CHECK(blurred.quality_defects == std::vector<std::string>{"motion_blur"});
  int changed = 0;
  for (int k = 0; k < 32; ++k) changed += blurred.series[0].images[size_t(k)].pixels != clean.series[0].images[size_t(k)].pixels;
  CHECK(changed >= 2);
  CHECK(changed <= 4);
}

// Not part of the suite: renders full-size studies into
// $PARALLAX_PHANTOM_DUMP (brain-window PGMs, blood outlined on the *_mask
// copies) and prints how long each took.
TEST_CASE("head CT: dump slices for a person to look at", "[.][dump]") {
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
                                   {"edh", {"Epidural"}, 0.1, {}},
                                   {"sdh", {"Subdural"}, 0.1, {}},
                                   {"sdh_subtle", {"Subdural"}, 0.9, {}},
                                   {"sah", {"Subarachnoid"}, 0.1, {}},
                                   {"iph_ivh", {"Intraparenchymal", "Intraventricular"}, 0.2, {}},
                                   {"motion", {}, 0.5, {"motion_blur"}}};
  const uint64_t seed = std::getenv("PARALLAX_PHANTOM_SEED") ? std::strtoull(std::getenv("PARALLAX_PHANTOM_SEED"), nullptr, 10) : 3;
  for (const Case& c : cases) {
    HeadCtOptions o;
    o.seed = seed;
    o.findings = c.findings;
    o.difficulty = c.difficulty;
    o.defects = c.defects;
    const auto t0 = std::chrono::steady_clock::now();
    const Study s = MakeHeadCt(o);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-10s %7.0f ms", c.name.c_str(), ms);
    for (const Finding& f : s.findings) {
      std::printf("  %s %s %s %.1f mL +%.0f HU%s", f.label.c_str(), LateralityName(f.laterality), f.zone.c_str(),
                  f.volume_ml, f.contrast, f.subtle ? " subtle" : "");
    }
    std::printf("\n");
    const int picks[] = {2, 6, 9, 12, 14, 17, 21, 26, 30};
    for (int k : picks) {
      char name[64];
      std::snprintf(name, sizeof name, "%s_%02d.pgm", c.name.c_str(), k);
      WritePgm(std::filesystem::path(dir) / name, s, k);
      if (!s.findings.empty()) {
        std::snprintf(name, sizeof name, "%s_%02d_mask.pgm", c.name.c_str(), k);
        WritePgm(std::filesystem::path(dir) / name, s, k, &s.findings[0].mask);
      }
    }
  }
}

}  // namespace
}  // namespace parallax::phantom
