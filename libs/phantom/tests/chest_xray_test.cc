#include "parallax/phantom/chest_xray.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace parallax::phantom {
namespace {

ChestXrayOptions Opts(uint64_t seed, std::vector<std::string> findings = {}, int size = 384, double difficulty = 0.5) {
  ChestXrayOptions o;
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

// The mask shrunk by `k` pixels (a pixel stays if its (2k+1)^2 box is inside).
Mask Erode(const Mask& m, int k) {
  Mask out = m;
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < m.columns; ++c) {
      bool keep = m.bits[r * m.columns + c] != 0;
      for (int dr = -k; dr <= k && keep; ++dr) {
        for (int dc = -k; dc <= k && keep; ++dc) {
          const int rr = r + dr, cc = c + dc;
          keep = rr >= 0 && cc >= 0 && rr < m.rows && cc < m.columns && m.bits[rr * m.columns + cc];
        }
      }
      out.bits[r * m.columns + c] = keep ? 1 : 0;
    }
  }
  return out;
}

double MeanIn(const Image& img, const Mask& m) {
  double s = 0;
  size_t n = 0;
  for (size_t i = 0; i < m.bits.size(); ++i) {
    if (m.bits[i]) s += img.pixels[i], ++n;
  }
  return n ? s / n : 0;
}

// Median over the mask of the squared difference from the local 5x5 mean:
// texture and markings (the median ignores the few rib edges crossing it).
double LocalVarianceIn(const Image& img, const Mask& m) {
  std::vector<double> v;
  for (int r = 2; r < img.rows - 2; ++r) {
    for (int c = 2; c < img.columns - 2; ++c) {
      if (!m.bits[r * m.columns + c]) continue;
      double mean = 0;
      for (int dr = -2; dr <= 2; ++dr) {
        for (int dc = -2; dc <= 2; ++dc) mean += img.pixels[(r + dr) * img.columns + c + dc];
      }
      mean /= 25;
      const double d = img.pixels[r * img.columns + c] - mean;
      v.push_back(d * d);
    }
  }
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

double CentroidColumn(const Mask& m) {
  double s = 0;
  size_t n = 0;
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < m.columns; ++c) {
      if (m.bits[r * m.columns + c]) s += c + 0.5, ++n;
    }
  }
  return n ? s / n : -1;
}

// Debug helper (not API): an Image as an 8-bit PGM, windowed by the series.
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

const std::vector<std::string> kLateralLabels = {"Nodule", "Mass", "Lung Lesion", "Pneumothorax", "Effusion",
                                                 "Consolidation", "Pneumonia", "Atelectasis", "Pleural_Thickening",
                                                 "Fracture", "Lung Opacity", "Infiltration"};

TEST_CASE("the same chest X-ray options give bit-identical studies and another seed a different one", "[phantom]") {
  const auto o = Opts(7, {"Nodule", "Effusion"});
  const Study a = MakeChestXray(o), b = MakeChestXray(o);
  REQUIRE(ImageOf(a).pixels == ImageOf(b).pixels);
  REQUIRE(a.findings.size() == 2);
  for (size_t i = 0; i < a.findings.size(); ++i) {
    CHECK(a.findings[i].mask.bits == b.findings[i].mask.bits);
    CHECK(a.findings[i].contrast == b.findings[i].contrast);
    CHECK(a.findings[i].laterality == b.findings[i].laterality);
  }
  const Study c = MakeChestXray(Opts(8, {"Nodule", "Effusion"}));
  CHECK(ImageOf(c).pixels != ImageOf(a).pixels);
  CHECK(c.findings[0].mask.bits != a.findings[0].mask.bits);
}

TEST_CASE("a normal chest X-ray is a 12-bit DX image with no findings", "[phantom]") {
  ChestXrayOptions o;
  o.seed = 3;
  const Study s = MakeChestXray(o);
  CHECK(s.kind == "chest_xray");
  CHECK(s.findings.empty());
  CHECK(s.quality_defects.empty());
  REQUIRE(s.series.size() == 1);
  const SeriesInfo& info = s.series[0].info;
  CHECK(info.modality == "DX");
  CHECK(info.body_part == "CHEST");
  CHECK(info.view_position == "PA");
  CHECK(info.series_description == "CHEST PA");
  CHECK(info.bits_stored == 12);
  CHECK(info.photometric == "MONOCHROME2");
  CHECK(info.window_width > 256);
  const Image& img = ImageOf(s);
  CHECK(img.rows == 1024);
  CHECK(img.columns == 1024);
  CHECK(img.pixel_spacing_mm[0] == Approx(0.3516).epsilon(0.01));
  const auto [lo, hi] = std::minmax_element(img.pixels.begin(), img.pixels.end());
  CHECK(*lo >= 0);
  CHECK(*hi <= 4095);
  CHECK(*hi - *lo > 1500);  // lungs dark, mediastinum and bone bright
  // Aerated lung (mid right lung) is darker than the mediastinum at the same level.
  const auto lm = DescribeChestXray(o);
  const int row = static_cast<int>(lm.lung_apex_row + 0.45 * (lm.dome_row[0] - lm.lung_apex_row));
  const int mid = static_cast<int>(lm.midline_column);
  double lung = 0, centre = 0;
  for (int dc = -10; dc <= 10; ++dc) {
    lung += img.pixels[row * 1024 + mid - 230 + dc];
    centre += img.pixels[row * 1024 + mid + dc];
  }
  CHECK(lung + 21 * 600 < centre);
  // AP view is recorded as such.
  o.view = "AP";
  o.size = 256;
  CHECK(MakeChestXray(o).series[0].info.series_description == "CHEST AP");
}

TEST_CASE("every chest X-ray label yields a finding with a mask, zone, area and contrast", "[phantom]") {
  const auto labels = ChestXrayLabels();
  CHECK(labels.size() == 18);
  for (const auto& label : labels) {
    for (uint64_t seed : {1u, 2u}) {
      INFO(label << " seed " << seed);
      const Study s = MakeChestXray(Opts(seed, {label}));
      REQUIRE(s.findings.size() == 1);
      const Finding& f = s.findings[0];
      CHECK(f.label == label);
      CHECK(f.mask.rows == 384);
      CHECK(f.mask.columns == 384);
      CHECK(Count(f.mask) > 0);
      CHECK(f.area_cm2 == Approx(Count(f.mask) * std::pow(360.0 / 384, 2) / 100));
      CHECK(f.contrast != 0);
      CHECK(!f.zone.empty());
      CHECK(!f.subtle);
      if (label == "Nodule") CHECK(std::sqrt(f.area_cm2 * 4 / M_PI) < 3.0);
      if (label == "Mass") CHECK(std::sqrt(f.area_cm2 * 4 / M_PI) >= 3.0);
    }
  }
  CHECK_THROWS_AS(MakeChestXray(Opts(1, {"Unicorn"})), std::invalid_argument);
}

TEST_CASE("a pneumothorax is darker than the same lung and has no markings beyond the pleural line", "[phantom]") {
  for (uint64_t seed : {11u, 12u, 13u}) {
    INFO("seed " << seed);
    const Study normal = MakeChestXray(Opts(seed, {}, 512, 0.1));
    const Study ptx = MakeChestXray(Opts(seed, {"Pneumothorax"}, 512, 0.1));
    REQUIRE(ptx.findings.size() == 1);
    CHECK(ptx.findings[0].contrast < 0);
    // Away from the pleural line and the chest wall (the 5x5 variance window).
    const Mask inner = Erode(ptx.findings[0].mask, 5);
    REQUIRE(Count(inner) > 200);
    const double mean_ptx = MeanIn(ImageOf(ptx), inner), mean_norm = MeanIn(ImageOf(normal), inner);
    CHECK(mean_ptx < mean_norm - 50);
    const double var_ptx = LocalVarianceIn(ImageOf(ptx), inner), var_norm = LocalVarianceIn(ImageOf(normal), inner);
    CHECK(var_ptx < 0.7 * var_norm);
  }
}

TEST_CASE("cardiomegaly widens the heart beyond a cardiothoracic ratio of 0.5", "[phantom]") {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    for (const char* view : {"PA", "AP"}) {
      INFO("seed " << seed << " " << view);
      auto o = Opts(seed, {}, 256);
      o.view = view;
      const double normal = DescribeChestXray(o).cardiothoracic_ratio;
      CHECK(normal > 0.38);
      CHECK(normal < 0.5);
      for (double d : {0.0, 0.5, 1.0}) {
        o.findings = {"Cardiomegaly"};
        o.difficulty = d;
        const Study s = MakeChestXray(o);
        REQUIRE(s.findings.size() == 1);
        const std::string& zone = s.findings[0].zone;
        REQUIRE(zone.rfind("ctr=", 0) == 0);
        const double ctr = std::stod(zone.substr(4));
        CHECK(ctr > 0.5);
        CHECK(ctr == Approx(DescribeChestXray(o).cardiothoracic_ratio).margin(0.006));
        CHECK(s.findings[0].laterality == Laterality::kMidline);
      }
    }
  }
}

TEST_CASE("an effusion raises the intensity at the costophrenic angle of its side only", "[phantom]") {
  for (uint64_t seed : {21u, 22u}) {
    for (const char* side : {"right", "left"}) {
      INFO("seed " << seed << " " << side);
      const auto o = Opts(seed, {std::string("Effusion:") + side}, 512, 0.6);
      const Study eff = MakeChestXray(o);
      const Study normal = MakeChestXray(Opts(seed, {}, 512, 0.6));
      REQUIRE(eff.findings.size() == 1);
      const Finding& f = eff.findings[0];
      const int idx = std::string(side) == "right" ? 0 : 1;
      CHECK(f.laterality == (idx == 0 ? Laterality::kRight : Laterality::kLeft));
      CHECK(f.zone == "lower");
      const auto lm = DescribeChestXray(o);
      // A small box just inside the costophrenic angle tip.
      auto box_mean = [&](const Study& s, int which) {
        const auto [r0, c0] = lm.costophrenic_angle[which];
        const int inward = which == 0 ? 1 : -1;
        double sum = 0;
        int n = 0;
        for (int r = static_cast<int>(r0) - 14; r < static_cast<int>(r0) - 4; ++r) {
          for (int k = 2; k < 12; ++k) sum += ImageOf(s).pixels[r * 512 + static_cast<int>(c0) + inward * k], ++n;
        }
        return sum / n;
      };
      CHECK(box_mean(eff, idx) > box_mean(normal, idx) + 100);
      CHECK(std::abs(box_mean(eff, 1 - idx) - box_mean(normal, 1 - idx)) < 20);
    }
  }
}

TEST_CASE("laterality is recorded in patient terms: patient left is on the image right", "[phantom]") {
  for (const auto& label : kLateralLabels) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      INFO(label << " seed " << seed);
      const auto o = Opts(seed, {label});
      const Study s = MakeChestXray(o);
      const Finding& f = s.findings.at(0);
      const double midline = DescribeChestXray(o).midline_column;
      REQUIRE((f.laterality == Laterality::kLeft || f.laterality == Laterality::kRight));
      if (f.laterality == Laterality::kLeft) CHECK(CentroidColumn(f.mask) > midline);
      if (f.laterality == Laterality::kRight) CHECK(CentroidColumn(f.mask) < midline);
    }
    for (const char* side : {"left", "right"}) {
      const Study s = MakeChestXray(Opts(5, {label + ":" + side}));
      CHECK(s.findings.at(0).laterality == (std::string(side) == "left" ? Laterality::kLeft : Laterality::kRight));
    }
  }
  CHECK(MakeChestXray(Opts(1, {"Edema"})).findings[0].laterality == Laterality::kBilateral);
}

TEST_CASE("subtle chest findings have less contrast than obvious ones but are still present", "[phantom]") {
  for (const auto& label : ChestXrayLabels()) {
    for (uint64_t seed : {31u, 32u}) {
      INFO(label << " seed " << seed);
      const Study obvious = MakeChestXray(Opts(seed, {label}, 384, 0.05));
      const Study subtle = MakeChestXray(Opts(seed, {label}, 384, 0.9));
      const Finding &fo = obvious.findings.at(0), &fs = subtle.findings.at(0);
      CHECK(!fo.subtle);
      CHECK(fs.subtle);
      CHECK(std::abs(fs.contrast) > 0);
      CHECK(std::abs(fs.contrast) < std::abs(fo.contrast));
      CHECK(Count(fs.mask) > 0);
    }
  }
}

TEST_CASE("image-quality defects change the image and are recorded", "[phantom]") {
  const auto base_opts = Opts(41, {"Nodule"}, 256);
  const Study base = MakeChestXray(base_opts);
  double base_mean = 0;
  for (auto v : ImageOf(base).pixels) base_mean += v;
  for (const char* defect : {"rotation", "motion_blur", "underexposure", "noise"}) {
    INFO(defect);
    auto o = base_opts;
    o.defects = {defect};
    const Study s = MakeChestXray(o);
    CHECK(s.quality_defects == std::vector<std::string>{defect});
    CHECK(ImageOf(s).pixels != ImageOf(base).pixels);
    if (std::string(defect) == "rotation") {
      CHECK(s.findings[0].mask.bits != base.findings[0].mask.bits);
      CHECK(Count(s.findings[0].mask) == Approx(Count(base.findings[0].mask)).epsilon(0.1));
    } else {
      CHECK(s.findings[0].mask.bits == base.findings[0].mask.bits);
    }
    if (std::string(defect) == "underexposure") {
      double mean = 0;
      for (auto v : ImageOf(s).pixels) mean += v;
      CHECK(mean < 0.8 * base_mean);
    }
  }
  auto o = base_opts;
  o.defects = {"lens_flare"};
  CHECK_THROWS_AS(MakeChestXray(o), std::invalid_argument);
}

// Not run by default: PARALLAX_PHANTOM_DUMP_DIR=/tmp/cxr parallax_phantom_tests "[dump]"
TEST_CASE("dump chest X-ray phantoms as PGM for a human to look at", "[.][dump]") {
  const char* dir = std::getenv("PARALLAX_PHANTOM_DUMP_DIR");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  const double difficulty = std::getenv("DUMP_DIFFICULTY") ? std::atof(std::getenv("DUMP_DIFFICULTY")) : 0.2;
  std::vector<std::vector<std::string>> sets = {{}};
  for (const auto& l : ChestXrayLabels()) sets.push_back({l});
  for (const auto& set : sets) {
    ChestXrayOptions o;
    o.seed = 5;
    o.findings = set;
    o.difficulty = difficulty;
    const auto t0 = std::chrono::steady_clock::now();
    const Study s = MakeChestXray(o);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::string name = set.empty() ? "normal" : set[0];
    std::replace(name.begin(), name.end(), ' ', '_');
    WritePgm(s, std::filesystem::path(dir) / (name + ".pgm"));
    if (!s.findings.empty()) WritePgm(s, std::filesystem::path(dir) / (name + "_mask.pgm"), &s.findings[0].mask);
    std::printf("%-28s %7.1f ms", name.c_str(), ms);
    for (const auto& f : s.findings) {
      std::printf("  %s lat=%d zone=%s area=%.1fcm2 contrast=%.0f", f.label.c_str(), static_cast<int>(f.laterality),
                  f.zone.c_str(), f.area_cm2, f.contrast);
    }
    std::printf("\n");
  }
  for (const char* d : {"rotation", "motion_blur", "underexposure", "noise"}) {
    ChestXrayOptions o;
    o.seed = 5;
    o.defects = {d};
    WritePgm(MakeChestXray(o), std::filesystem::path(dir) / (std::string("defect_") + d + ".pgm"));
  }
  ChestXrayOptions o;
  o.seed = 6;
  o.view = "AP";
  WritePgm(MakeChestXray(o), std::filesystem::path(dir) / "normal_ap.pgm");
}

}  // namespace
}  // namespace parallax::phantom

