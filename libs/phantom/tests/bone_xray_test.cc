#include "parallax/phantom/bone_xray.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace parallax::phantom {
namespace {

BoneXrayOptions Opts(uint64_t seed, std::vector<std::string> findings = {}, double difficulty = 0.3, int size = 512) {
  BoneXrayOptions o;
  o.seed = seed;
  o.size = size;
  o.findings = std::move(findings);
  o.difficulty = difficulty;
  return o;
}

const Image& ImageOf(const Study& s) { return s.series.at(0).images.at(0); }

size_t Count(const Mask& m) {
  size_t n = 0;
  for (uint8_t b : m.bits) n += b;
  return n;
}

double MeanIn(const Image& img, const Mask& m) {
  double s = 0;
  size_t n = 0;
  for (size_t i = 0; i < m.bits.size(); ++i) {
    if (m.bits[i]) s += img.pixels[i], ++n;
  }
  return n ? s / n : 0;
}

// The q-quantile of the pixels in a rectangle of the image.
double Quantile(const Image& img, int r0, int r1, int c0, int c1, double q) {
  std::vector<int> v;
  for (int r = r0; r < r1; ++r) {
    for (int c = c0; c < c1; ++c) v.push_back(img.pixels[r * img.columns + c]);
  }
  std::nth_element(v.begin(), v.begin() + static_cast<long>(q * (v.size() - 1)), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1))];
}

// Debug helper (not API): an Image as an 8-bit PGM, windowed by the series,
// with an optional mask outline in white.
void WritePgm(const Study& s, const std::filesystem::path& path, const Mask* outline = nullptr) {
  const Image& img = ImageOf(s);
  const double c = s.series[0].info.window_center, w = s.series[0].info.window_width;
  std::ofstream f(path, std::ios::binary);
  f << "P5\n" << img.columns << " " << img.rows << "\n255\n";
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    double v = (img.pixels[i] - (c - w / 2)) / w * 255;
    if (outline && outline->bits[i]) {
      const int r = static_cast<int>(i) / img.columns, col = static_cast<int>(i) % img.columns;
      bool edge = false;
      for (int k = 0; k < 4 && !edge; ++k) {
        const int rr = r + (k == 0) - (k == 1), cc = col + (k == 2) - (k == 3);
        edge = rr < 0 || cc < 0 || rr >= img.rows || cc >= img.columns || !outline->bits[rr * img.columns + cc];
      }
      if (edge) v = 255;
    }
    f.put(static_cast<char>(std::clamp(static_cast<int>(std::lround(v)), 0, 255)));
  }
}

TEST_CASE("the same bone X-ray options give bit-identical studies and another seed a different one", "[phantom]") {
  const auto o = Opts(7, {"Fracture"});
  const Study a = MakeBoneXray(o), b = MakeBoneXray(o);
  REQUIRE(ImageOf(a).pixels == ImageOf(b).pixels);
  REQUIRE(a.findings.size() == 1);
  CHECK(a.findings[0].mask.bits == b.findings[0].mask.bits);
  CHECK(a.findings[0].contrast == b.findings[0].contrast);
  CHECK(a.findings[0].zone == b.findings[0].zone);
  CHECK(a.series[0].info.protocol_name == b.series[0].info.protocol_name);
  const Study c = MakeBoneXray(Opts(8, {"Fracture"}));
  CHECK(ImageOf(c).pixels != ImageOf(a).pixels);
  CHECK(c.findings[0].mask.bits != a.findings[0].mask.bits);
}

TEST_CASE("a normal forearm X-ray is a 12-bit DX image where bone outshines soft tissue and soft tissue air",
          "[phantom]") {
  for (const char* view : {"AP", "LAT"}) {
    auto o = Opts(3);
    o.view = view;
    o.size = 768;
    const Study s = MakeBoneXray(o);
    CHECK(s.kind == "bone_xray");
    CHECK(s.findings.empty());
    CHECK(s.quality_defects.empty());
    REQUIRE(s.series.size() == 1);
    const auto& info = s.series[0].info;
    CHECK(info.modality == "DX");
    CHECK(info.body_part == "FOREARM");
    CHECK(info.view_position == view);
    CHECK(info.bits_stored == 12);
    CHECK(info.photometric == "MONOCHROME2");
    const Image& img = ImageOf(s);
    REQUIRE(img.rows == 768);
    REQUIRE(img.columns == 768);
    CHECK(img.pixel_spacing_mm[0] == Approx(0.2));
    CHECK(*std::min_element(img.pixels.begin(), img.pixels.end()) >= 0);
    CHECK(*std::max_element(img.pixels.begin(), img.pixels.end()) <= 4095);
    // Corners are air. Across the forearm (rows 600..700) the limb is mostly
    // soft tissue (its lower quartile) and its brightest pixels are bone.
    const double air = Quantile(img, 0, 40, 0, 40, 0.5);
    std::vector<int> limb;
    for (int r = 600; r < 700; ++r) {
      for (int c = 0; c < img.columns; ++c) {
        if (img.pixels[r * img.columns + c] > air + 100) limb.push_back(img.pixels[r * img.columns + c]);
      }
    }
    REQUIRE(limb.size() > 100u * 768 / 5);  // the forearm is at least a fifth of the width
    std::sort(limb.begin(), limb.end());
    const double tissue = limb[limb.size() / 4], bone = limb[limb.size() * 97 / 100];
    INFO(view << " air " << air << " tissue " << tissue << " bone " << bone);
    CHECK(tissue > air + 300);
    CHECK(bone > tissue + 500);
  }
}

TEST_CASE("the limb side comes from the options, or from the seed when left empty", "[phantom]") {
  for (const char* side : {"left", "right"}) {
    auto o = Opts(11, {"Fracture"});
    o.side = side;
    const Study s = MakeBoneXray(o);
    REQUIRE(s.findings.size() == 1);
    CHECK(s.findings[0].laterality == (std::string(side) == "left" ? Laterality::kLeft : Laterality::kRight));
    CHECK(s.series[0].info.protocol_name == (std::string(side) == "left" ? "FOREARM LEFT" : "FOREARM RIGHT"));
  }
  // Left and right limbs are mirror images: different pixels for one seed.
  auto l = Opts(11), r = Opts(11);
  l.side = "left";
  r.side = "right";
  CHECK(ImageOf(MakeBoneXray(l)).pixels != ImageOf(MakeBoneXray(r)).pixels);
  // Unset: both sides occur across seeds and the normal study says which.
  int left = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    const Study s = MakeBoneXray(Opts(seed, {}, 0.3, 128));
    left += s.series[0].info.protocol_name == "FOREARM LEFT";
  }
  CHECK(left > 0);
  CHECK(left < 12);
}

TEST_CASE("a fracture is a lucent line: its mask is darker than the same region of the normal image",
          "[phantom]") {
  int radius = 0, ulna = 0;
  for (uint64_t seed = 20; seed < 28; ++seed) {
    for (const char* kind : {"Fracture:displaced", "Fracture:undisplaced"}) {
      const Study frac = MakeBoneXray(Opts(seed, {kind}, 0.3));
      const Study norm = MakeBoneXray(Opts(seed, {}, 0.3));
      REQUIRE(frac.findings.size() == 1);
      const Finding& f = frac.findings[0];
      INFO("seed " << seed << " " << kind << " zone " << f.zone << " contrast " << f.contrast);
      CHECK(f.label == "Fracture");
      CHECK_FALSE(f.subtle);
      const bool known = f.zone == "distal radius" || f.zone == "radial shaft" || f.zone == "ulnar shaft" ||
                         f.zone == "ulnar styloid";
      CHECK(known);
      (f.zone.find("radi") != std::string::npos ? radius : ulna)++;
      const size_t px = Count(f.mask);
      CHECK(px > 30);
      CHECK(f.area_cm2 == Approx(px * 0.3 * 0.3 / 100.0).epsilon(1e-6));  // 153.6 mm / 512 = 0.3 mm pixels
      CHECK(f.area_cm2 < 3.0);
      CHECK(f.contrast < -20);
      CHECK(MeanIn(ImageOf(frac), f.mask) < MeanIn(ImageOf(norm), f.mask) - 15);
      // Outside the fracture the two images share anatomy and noise.
      size_t same = 0;
      for (size_t i = 0; i < f.mask.bits.size(); ++i) same += ImageOf(frac).pixels[i] == ImageOf(norm).pixels[i];
      CHECK(same > f.mask.bits.size() * 9 / 10);
    }
  }
  CHECK(radius > 0);
  CHECK(ulna > 0);
}

TEST_CASE("a displaced fracture changes the image more than an undisplaced one, a subtle one less than an obvious one",
          "[phantom]") {
  double displaced = 0, undisplaced = 0, obvious = 0, subtle = 0;
  for (uint64_t seed = 40; seed < 46; ++seed) {
    const Study d = MakeBoneXray(Opts(seed, {"Fracture:displaced"}, 0.3));
    const Study u = MakeBoneXray(Opts(seed, {"Fracture:undisplaced"}, 0.3));
    const Study s = MakeBoneXray(Opts(seed, {"Fracture:undisplaced"}, 0.85));
    const Study sd = MakeBoneXray(Opts(seed, {"Fracture:displaced"}, 0.85));
    REQUIRE(d.findings.size() == 1);
    INFO("seed " << seed << " displaced " << d.findings[0].contrast << " undisplaced " << u.findings[0].contrast
                 << " subtle " << s.findings[0].contrast << " subtle displaced " << sd.findings[0].contrast);
    CHECK(std::abs(d.findings[0].contrast) > std::abs(u.findings[0].contrast));
    CHECK(std::abs(s.findings[0].contrast) < std::abs(u.findings[0].contrast));
    CHECK(std::abs(sd.findings[0].contrast) < std::abs(d.findings[0].contrast));
    CHECK(sd.findings[0].subtle);
    CHECK(s.findings[0].subtle);
    CHECK_FALSE(u.findings[0].subtle);
    displaced += std::abs(d.findings[0].contrast);
    undisplaced += std::abs(u.findings[0].contrast);
    obvious += std::abs(u.findings[0].contrast);
    subtle += std::abs(s.findings[0].contrast);
  }
  CHECK(displaced > 1.5 * undisplaced);
  CHECK(subtle < 0.8 * obvious);
}

TEST_CASE("two fractures land on the two forearm bones", "[phantom]") {
  const Study s = MakeBoneXray(Opts(5, {"Fracture", "Fracture"}));
  REQUIRE(s.findings.size() == 2);
  const bool r0 = s.findings[0].zone.find("radi") != std::string::npos;
  const bool r1 = s.findings[1].zone.find("radi") != std::string::npos;
  CHECK(r0 != r1);
  for (const auto& f : s.findings) CHECK(f.contrast < 0);
}

TEST_CASE("bone X-ray quality defects change the image and are recorded", "[phantom]") {
  const auto base_opts = Opts(9, {"Fracture"});
  const Study base = MakeBoneXray(base_opts);
  const double base_mean = [&] {
    double m = 0;
    for (auto v : ImageOf(base).pixels) m += v;
    return m / ImageOf(base).pixels.size();
  }();
  for (const char* d : {"rotation", "motion_blur", "underexposure", "noise"}) {
    auto o = base_opts;
    o.defects = {d};
    const Study s = MakeBoneXray(o);
    INFO(d);
    CHECK(s.quality_defects == std::vector<std::string>{d});
    CHECK(ImageOf(s).pixels != ImageOf(base).pixels);
    REQUIRE(s.findings.size() == 1);
    if (std::string(d) == "rotation") CHECK(s.findings[0].mask.bits != base.findings[0].mask.bits);
    if (std::string(d) == "underexposure") {
      double m = 0;
      for (auto v : ImageOf(s).pixels) m += v;
      CHECK(m / ImageOf(s).pixels.size() < 0.8 * base_mean);
    }
  }
}

TEST_CASE("bone X-ray rejects unknown views, sides, labels, defects and sizes", "[phantom]") {
  auto o = Opts(1);
  o.view = "PA";
  CHECK_THROWS_AS(MakeBoneXray(o), std::invalid_argument);
  o = Opts(1);
  o.side = "bilateral";
  CHECK_THROWS_AS(MakeBoneXray(o), std::invalid_argument);
  CHECK_THROWS_AS(MakeBoneXray(Opts(1, {"Nodule"})), std::invalid_argument);
  CHECK_THROWS_AS(MakeBoneXray(Opts(1, {"Fracture:comminuted"})), std::invalid_argument);
  CHECK_THROWS_AS(MakeBoneXray(Opts(1, {"Fracture", "Fracture", "Fracture"})), std::invalid_argument);
  o = Opts(1);
  o.defects = {"lens_flare"};
  CHECK_THROWS_AS(MakeBoneXray(o), std::invalid_argument);
  o = Opts(1);
  o.size = 32;
  CHECK_THROWS_AS(MakeBoneXray(o), std::invalid_argument);
  CHECK(BoneXrayLabels() == std::vector<std::string>{"Fracture"});
}

TEST_CASE("a 768-pixel bone X-ray with a fracture renders in well under a second", "[phantom]") {
  auto o = Opts(2, {"Fracture"}, 0.5, 768);
  const auto t0 = std::chrono::steady_clock::now();
  const Study s = MakeBoneXray(o);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  CHECK(s.findings.size() == 1);
  CHECK(ms < 1000);  // budget is 200 ms in an optimised build; leave room for debug and sanitizer builds
}

// Not run by default: PARALLAX_PHANTOM_DUMP_DIR=/tmp/bone parallax_phantom_tests "[bone_dump]"
TEST_CASE("dump bone X-ray phantoms as PGM for a human to look at", "[.][dump][bone_dump]") {
  const char* dir = std::getenv("PARALLAX_PHANTOM_DUMP_DIR");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  const double difficulty = std::getenv("DUMP_DIFFICULTY") ? std::atof(std::getenv("DUMP_DIFFICULTY")) : 0.2;
  const uint64_t seed = std::getenv("PARALLAX_PHANTOM_SEED") ? std::strtoull(std::getenv("PARALLAX_PHANTOM_SEED"), nullptr, 10) : 5;
  for (const char* view : {"AP", "LAT"}) {
    for (const char* kind : {"", "Fracture:displaced", "Fracture:undisplaced"}) {
      BoneXrayOptions o;
      o.seed = seed;
      o.view = view;
      o.difficulty = difficulty;
      if (*kind) o.findings = {kind};
      const auto t0 = std::chrono::steady_clock::now();
      const Study s = MakeBoneXray(o);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::string name = std::string(view) + "_" + (*kind ? std::string(kind).substr(9) : "normal");
      WritePgm(s, std::filesystem::path(dir) / (name + ".pgm"));
      if (!s.findings.empty()) WritePgm(s, std::filesystem::path(dir) / (name + "_mask.pgm"), &s.findings[0].mask);
      std::printf("%-18s %7.1f ms  %s", name.c_str(), ms, s.series[0].info.protocol_name.c_str());
      for (const auto& f : s.findings) {
        std::printf("  %s lat=%s zone=%s area=%.2fcm2 contrast=%.0f subtle=%d", f.label.c_str(), LateralityName(f.laterality),
                    f.zone.c_str(), f.area_cm2, f.contrast, f.subtle ? 1 : 0);
      }
      std::printf("\n");
    }
  }
  for (const char* d : {"rotation", "motion_blur", "underexposure", "noise"}) {
    BoneXrayOptions o;
    o.seed = seed;
    o.defects = {d};
    WritePgm(MakeBoneXray(o), std::filesystem::path(dir) / (std::string("defect_") + d + ".pgm"));
  }
}

}  // namespace
}  // namespace parallax::phantom
