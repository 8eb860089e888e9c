// Evidence on the labelled phantoms: the truth mask stands in for the
// heatmap, and side / zone / compartment / size must agree with the truth.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "parallax/evidence/evidence.h"
#include "parallax/phantom/bone_xray.h"
#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"

namespace ev = parallax::evidence;
namespace ph = parallax::phantom;

namespace {

ev::Side ToSide(ph::Laterality l) {
  switch (l) {
    case ph::Laterality::kLeft: return ev::Side::kLeft;
    case ph::Laterality::kRight: return ev::Side::kRight;
    case ph::Laterality::kBilateral: return ev::Side::kBilateral;
    case ph::Laterality::kMidline: return ev::Side::kMidline;
    case ph::Laterality::kNone: return ev::Side::kUnspecified;
  }
  return ev::Side::kUnspecified;
}

// The input the explainability service would build from the written DICOM
// (libs/dicom's study_writer geometry): volumes axial LPS 1\0\0\0\1\0 with
// x0 = -columns * spacing / 2; films PatientOrientation L\F.
ev::EvidenceInput FromStudy(const ph::Study& study, const ph::Finding& finding, ev::BodyRegion region,
                            size_t series = 0) {
  const ph::Series& s = study.series[series];
  const ph::Image& first = s.images.front();
  ev::EvidenceInput in;
  in.body_region = region;
  auto& g = in.geometry;
  g.rows = first.rows;
  g.columns = first.columns;
  g.slices = static_cast<int>(s.images.size());
  g.pixel_spacing_mm = first.pixel_spacing_mm;
  const bool volume = s.images.size() > 1;
  if (volume) {
    g.orientation = std::array<double, 6>{1, 0, 0, 0, 1, 0};
    for (size_t i = 0; i < s.images.size(); ++i) {
      const int index = s.images[i].slice_index >= 0 ? s.images[i].slice_index : static_cast<int>(i);
      g.positions.push_back({-0.5 * first.columns * first.pixel_spacing_mm[1],
                             -0.5 * first.rows * first.pixel_spacing_mm[0], index * s.info.slice_spacing_mm});
    }
  } else {
    g.patient_orientation = {"L", "F"};
  }
  const std::string& p = s.info.protocol_name;
  if (p.find("LEFT") != std::string::npos) g.laterality_attribute = "L";
  if (p.find("RIGHT") != std::string::npos) g.laterality_attribute = "R";
  const size_t plane = static_cast<size_t>(g.rows) * g.columns;
  for (size_t i = 0; i < s.images.size(); ++i) {
    const ph::Image& im = s.images[i];
    const int index = im.slice_index >= 0 ? im.slice_index : static_cast<int>(i);
    for (size_t k = 0; k < plane; ++k) {
      in.image.push_back(static_cast<float>(im.pixels[k] * s.info.rescale_slope + s.info.rescale_intercept));
      in.heatmap.push_back(finding.mask.bits[static_cast<size_t>(index) * plane + k] ? 1.f : 0.f);
    }
  }
  return in;
}

ph::HeadCtOptions HeadCt(uint64_t seed, const std::string& label) {
  ph::HeadCtOptions o;
  o.seed = seed;
  o.size = 256;
  o.findings = {label};
  o.difficulty = 0.2;
  return o;
}

}  // namespace

TEST_CASE("evidence: head CT phantoms: side and compartment of each haemorrhage agree with the truth", "[evidence][phantom]") {
  struct Case {
    const char* label;
    const char* compartment;
  };
  for (const Case& c : {Case{"Subdural", "extra-axial"}, Case{"Epidural", "extra-axial"},
                        Case{"Intraparenchymal", "intra-axial"}, Case{"Intraventricular", "intraventricular"}}) {
    for (uint64_t seed : {1, 2, 3}) {
      const ph::Study study = ph::MakeHeadCt(HeadCt(seed, c.label));
      REQUIRE(study.findings.size() == 1);
      const ph::Finding& f = study.findings[0];
      auto e = ev::DescribeEvidence(FromStudy(study, f, ev::BodyRegion::kHeadCt));
      REQUIRE(e.ok());
      INFO(c.label << " seed " << seed << " truth " << ph::LateralityName(f.laterality) << " / " << f.zone
                   << "; got " << ev::SideName(e->laterality) << " (" << e->laterality_reason << ", left "
                   << e->left_fraction << ", mid " << e->midline_fraction << ") / " << e->zone << " ("
                   << e->zone_reason << ")");
      if (f.laterality == ph::Laterality::kLeft || f.laterality == ph::Laterality::kRight) {
        CHECK(e->laterality == ToSide(f.laterality));
      }
      if (f.zone == "thalamus" || f.zone == "basal ganglia") {
        // Deep grey nuclei lie beside the ventricles: geometry cannot tell them apart.
        CHECK((e->zone.rfind("intra-axial", 0) == 0 || e->zone.rfind("intraventricular", 0) == 0));
      } else {
        CHECK(e->zone.rfind(c.compartment, 0) == 0);
      }
      // A connected truth mask is the whole region: the volume is the truth's.
      REQUIRE(e->volume_ml.has_value());
      if (e->region.voxel_count == static_cast<int64_t>(std::count(f.mask.bits.begin(), f.mask.bits.end(), 1))) {
        CHECK(*e->volume_ml == Approx(f.volume_ml).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("evidence: head CT phantom: the side flips when the image is mirrored and its orientation says so", "[evidence][phantom]") {
  const ph::Study study = ph::MakeHeadCt(HeadCt(4, "Subdural"));
  const ph::Finding& f = study.findings[0];
  REQUIRE((f.laterality == ph::Laterality::kLeft || f.laterality == ph::Laterality::kRight));
  ev::EvidenceInput in = FromStudy(study, f, ev::BodyRegion::kHeadCt);
  auto e = ev::DescribeEvidence(in);
  REQUIRE(e.ok());
  CHECK(e->laterality == ToSide(f.laterality));
  // Mirror the columns: the same patient stored with columns running to the
  // patient's right (IOP -1\0\0\0\1\0). The side must not change.
  const int rows = in.geometry.rows, columns = in.geometry.columns;
  ev::EvidenceInput mirrored = in;
  for (int s = 0; s < in.geometry.slices; ++s) {
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < columns; ++c) {
        const size_t from = (static_cast<size_t>(s) * rows + r) * columns + c;
        const size_t to = (static_cast<size_t>(s) * rows + r) * columns + (columns - 1 - c);
        mirrored.image[to] = in.image[from];
        mirrored.heatmap[to] = in.heatmap[from];
      }
    }
  }
  mirrored.geometry.orientation = std::array<double, 6>{-1, 0, 0, 0, 1, 0};
  e = ev::DescribeEvidence(mirrored);
  REQUIRE(e.ok());
  CHECK(e->laterality == ToSide(f.laterality));
  // Mirrored pixels with the original orientation claim the other side.
  mirrored.geometry.orientation = std::array<double, 6>{1, 0, 0, 0, 1, 0};
  e = ev::DescribeEvidence(mirrored);
  REQUIRE(e.ok());
  CHECK(e->laterality != ToSide(f.laterality));
}

TEST_CASE("evidence: brain MR phantom: an enhancing tumour is intra-axial on the truth's side", "[evidence][phantom]") {
  for (uint64_t seed : {1, 2}) {
    ph::BrainMriOptions o;
    o.seed = seed;
    o.findings = {"Enhancing tumour"};
    o.difficulty = 0.2;
    const ph::Study study = ph::MakeBrainMri(o);
    REQUIRE(study.findings.size() == 1);
    const ph::Finding& f = study.findings[0];
    auto e = ev::DescribeEvidence(FromStudy(study, f, ev::BodyRegion::kBrainMr));
    REQUIRE(e.ok());
    INFO("seed " << seed << " truth " << ph::LateralityName(f.laterality) << " / " << f.zone << "; got "
                 << ev::SideName(e->laterality) << " (" << e->laterality_reason << ") / " << e->zone << " ("
                 << e->zone_reason << ")");
    if (f.laterality == ph::Laterality::kLeft || f.laterality == ph::Laterality::kRight) {
      CHECK(e->laterality == ToSide(f.laterality));
    }
    CHECK(e->zone.rfind("intra", 0) == 0);
  }
}

TEST_CASE("evidence: chest film phantoms: side and lung zone of a pneumothorax and an effusion agree with the truth",
          "[evidence][phantom]") {
  for (const char* label : {"Pneumothorax:left", "Pneumothorax:right", "Effusion:left", "Nodule:right"}) {
    for (uint64_t seed : {1, 2}) {
      ph::ChestXrayOptions o;
      o.seed = seed;
      o.size = 512;
      o.findings = {label};
      o.difficulty = 0.2;
      const ph::Study study = ph::MakeChestXray(o);
      REQUIRE(study.findings.size() == 1);
      const ph::Finding& f = study.findings[0];
      auto e = ev::DescribeEvidence(FromStudy(study, f, ev::BodyRegion::kChestFilm));
      REQUIRE(e.ok());
      INFO(label << " seed " << seed << " truth " << ph::LateralityName(f.laterality) << " / " << f.zone << "; got "
                 << ev::SideName(e->laterality) << " (" << e->laterality_reason << ") / " << e->zone << " ("
                 << e->zone_reason << ")");
      CHECK(e->laterality == ToSide(f.laterality));
      CHECK(e->zone == std::string(ph::LateralityName(f.laterality)) + " " + f.zone + " zone");
      REQUIRE(e->area_cm2.has_value());
      if (e->region.voxel_count == static_cast<int64_t>(std::count(f.mask.bits.begin(), f.mask.bits.end(), 1))) {
        CHECK(*e->area_cm2 == Approx(f.area_cm2).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("evidence: bone film phantom: the fracture's side is the limb's, from the Laterality attribute", "[evidence][phantom]") {
  for (const char* side : {"left", "right"}) {
    ph::BoneXrayOptions o;
    o.seed = 3;
    o.side = side;
    o.size = 256;
    o.findings = {"Fracture"};
    const ph::Study study = ph::MakeBoneXray(o);
    REQUIRE(study.findings.size() == 1);
    auto e = ev::DescribeEvidence(FromStudy(study, study.findings[0], ev::BodyRegion::kBoneFilm));
    REQUIRE(e.ok());
    CHECK(e->laterality == ToSide(study.findings[0].laterality));
  }
}
