// The reference models Parallax ships (models/ at the top of the repository,
// made by scripts/models/build_reference_models): they load through the
// service's code path, meet the contract, compute what Python computed at
// export (within 1e-4), and find an obvious finding in a fresh phantom (a
// seed training and calibration never used) while leaving its normal twin
// below every operating point of that label. The held-out figures are in
// models/evaluation (scripts/models/evaluate_reference_models).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parallax/dicom/study_writer.h"
#include "parallax/inference/model.h"
#include "parallax/inference/model_directory.h"
#include "parallax/inference/study_analysis.h"
#include "parallax/phantom/bone_xray.h"
#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;
namespace inf = parallax::inference;
namespace ph = parallax::phantom;

fs::path ModelsDir() { return fs::path(parallax::testing::SourceDir()) / "models"; }

const std::vector<std::unique_ptr<inf::Model>>& Models() {
  static const auto* models = [] {
    inf::LoadOptions opts;
    opts.intra_op_threads = 2;
    auto loaded = inf::LoadModelDirectory(ModelsDir().string(), opts);
    if (!loaded.ok()) FAIL("models/ does not load: " << loaded.status().ToString());
    return new std::vector<std::unique_ptr<inf::Model>>(std::move(*loaded));
  }();
  return *models;
}

const inf::Model& ById(const std::string& id) {
  for (const auto& m : Models()) {
    if (m->manifest().id == id) return *m;
  }
  FAIL("models/ has no model " << id);
  throw std::logic_error("unreachable");
}

std::vector<inf::StudyInstance> Write(const ph::Study& study, uint64_t seed, const fs::path& dir) {
  parallax::dicom::StudyIdentity id;
  id.uid_seed = seed;
  id.patient_id = "TEST-" + std::to_string(seed);
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.string());
  REQUIRE(written.ok());
  std::vector<inf::StudyInstance> out;
  for (const auto& f : written->files) out.push_back({f, {}});
  return out;
}

const inf::LabelResult& Label(const inf::StudyAnalysis& a, const std::string& name) {
  for (const auto& l : a.labels) {
    if (l.name == name) return l;
  }
  FAIL("no label " << name);
  throw std::logic_error("unreachable");
}

// Analyses a positive study (written with `seed`) and its normal twin.
std::pair<inf::StudyAnalysis, inf::StudyAnalysis> AnalyseTwins(const std::string& model_id, const ph::Study& positive,
                                                               const ph::Study& normal, uint64_t seed) {
  const inf::StudyAnalyzer analyzer(ById(model_id));
  parallax::testing::TempDir tmp;
  auto pos = analyzer.Analyze(Write(positive, seed, tmp.path() / "positive"));
  auto neg = analyzer.Analyze(Write(normal, seed + 1, tmp.path() / "normal"));
  REQUIRE(pos.ok());
  REQUIRE(neg.ok());
  REQUIRE(pos->applies);
  REQUIRE(neg->applies);
  return {std::move(*pos), std::move(*neg)};
}

// Checks that `label` is positive on the positive study and not on its twin.
void CheckFinds(const std::string& model_id, const ph::Study& positive, const ph::Study& normal,
                const std::string& label, uint64_t seed) {
  const auto [pos, neg] = AnalyseTwins(model_id, positive, normal, seed);
  const auto& p = Label(pos, label);
  const auto& n = Label(neg, label);
  INFO(model_id << " " << label << ": positive study p=" << p.probability << ", normal study p=" << n.probability
                << ", operating point " << p.operating_point);
  CHECK(p.positive);
  CHECK_FALSE(n.positive);
  CHECK(p.probability > n.probability);
}

}  // namespace

TEST_CASE("the shipped models load, meet the contract and agree with Python") {
  const auto& models = Models();
  REQUIRE(models.size() == 4);
  for (const auto& m : models) {
    const auto& man = m->manifest();
    INFO(man.id);
    for (const auto& l : man.labels) {
      CHECK(l.operating_point > 0);
      CHECK(l.operating_point <= 1);
      CHECK_FALSE(l.code.code.empty());
    }
    std::ifstream in(ModelsDir() / (man.id + ".probe.txt"));
    REQUIRE(in);
    const auto probe = nlohmann::json::parse(in);
    std::vector<int64_t> shape = probe.at("shape").get<std::vector<int64_t>>();
    REQUIRE(shape == man.input.Shape(1));
    inf::Tensor x;
    x.shape = shape;
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    x.data.resize(n);
    for (size_t i = 0; i < n; ++i) x.data[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    auto logits = m->Logits(x);
    REQUIRE(logits.ok());
    const auto expected = probe.at("logits").get<std::vector<float>>();
    REQUIRE(logits->size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) CHECK(std::abs((*logits)[i] - expected[i]) <= 1e-4f);
  }
}

TEST_CASE("the chest model finds obvious cardiomegaly and passes its normal twin") {
  ph::ChestXrayOptions o;
  o.seed = 900001;
  o.difficulty = 0.05;
  o.findings = {"Cardiomegaly"};
  ph::ChestXrayOptions n = o;
  n.findings.clear();
  CheckFinds("parallax.cxr", ph::MakeChestXray(o), ph::MakeChestXray(n), "Cardiomegaly", 900001);
}

TEST_CASE("the chest model finds an obvious pneumothorax and passes its normal twin") {
  ph::ChestXrayOptions o;
  o.seed = 900011;
  o.difficulty = 0.05;
  o.findings = {"Pneumothorax"};
  ph::ChestXrayOptions n = o;
  n.findings.clear();
  CheckFinds("parallax.cxr", ph::MakeChestXray(o), ph::MakeChestXray(n), "Pneumothorax", 900011);
}

TEST_CASE("the head CT model finds an obvious subdural haemorrhage, types it and measures it") {
  ph::HeadCtOptions o;
  o.seed = 900003;
  o.difficulty = 0.05;
  o.findings = {"Subdural"};
  ph::HeadCtOptions n = o;
  n.findings.clear();
  const ph::Study positive = ph::MakeHeadCt(o);
  REQUIRE(positive.findings.size() == 1);
  const double true_ml = positive.findings[0].volume_ml;
  CheckFinds("parallax.headct", positive, ph::MakeHeadCt(n), "Intracranial haemorrhage", 900003);

  const inf::StudyAnalyzer analyzer(ById("parallax.headct"));
  parallax::testing::TempDir tmp;
  auto a = analyzer.Analyze(Write(positive, 900003, tmp.path()));
  REQUIRE(a.ok());
  const auto& subdural = Label(*a, "Subdural");
  for (const char* other : {"Epidural", "Subarachnoid", "Intraparenchymal", "Intraventricular"}) {
    INFO("Subdural p=" << subdural.probability << ", " << other << " p=" << Label(*a, other).probability);
    CHECK(subdural.probability > Label(*a, other).probability);
  }
  REQUIRE(a->measurements.size() == 1);
  const auto& volume = a->measurements[0];
  INFO("measured " << volume.value << " mL (" << volume.note << "), true " << true_ml << " mL");
  REQUIRE(volume.available);
  CHECK(std::abs(volume.value - true_ml) <= 0.3 * true_ml);
}

TEST_CASE("the bone model finds an obvious fracture and passes its normal twin") {
  ph::BoneXrayOptions o;
  o.seed = 900005;
  o.difficulty = 0.05;
  o.findings = {"Fracture"};
  ph::BoneXrayOptions n = o;
  n.findings.clear();
  CheckFinds("parallax.bone", ph::MakeBoneXray(o), ph::MakeBoneXray(n), "Fracture", 900005);
}

TEST_CASE("the brain MRI model finds an obvious enhancing tumour and passes its normal twin") {
  ph::BrainMriOptions o;
  o.seed = 900007;
  o.difficulty = 0.05;
  o.findings = {"Enhancing tumour"};
  ph::BrainMriOptions n = o;
  n.findings.clear();
  CheckFinds("parallax.brainmri", ph::MakeBrainMri(o), ph::MakeBrainMri(n), "Enhancing tumour", 900007);
}
