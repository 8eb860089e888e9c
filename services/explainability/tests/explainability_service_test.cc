// The explainability service's logic on the shipped reference models and
// phantom studies read from files (the gRPC path through a real ingest is
// tested end to end in tests/).
#include "explainability_service.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <catch2/catch.hpp>

#include "file_study_source.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::explainability {
namespace {

namespace fs = std::filesystem;
namespace ph = parallax::phantom;
namespace pb = parallax::explainability::v1;
using ingest_client::testing::FileStudySource;

const std::vector<ExplainableModel>& Models() {
  static const std::vector<ExplainableModel> models = [] {
    auto m = LoadExplainableModels((fs::path(parallax::testing::SourceDir()) / "models").string(), "cpu", 1);
    if (!m.ok()) FAIL("models/ does not load: " << m.status().message());
    return std::move(*m);
  }();
  return models;
}

using Written = ingest_client::testing::WrittenPhantom;

Written Write(const ph::Study& study, uint64_t seed, const fs::path& dir) {
  return ingest_client::testing::WritePhantom(study, seed, dir.string());
}

pb::ExplainRequest Request(const Written& w, const std::string& model, const std::string& label) {
  pb::ExplainRequest r;
  r.mutable_study()->set_study_instance_uid(w.study_uid);
  r.set_series_instance_uid(w.series_uid);
  r.mutable_model()->set_model_id(model);
  r.set_finding_label(label);
  r.set_finding_id("f-test");
  return r;
}

ingest_client::Deadline In(int seconds) { return std::chrono::system_clock::now() + std::chrono::seconds(seconds); }

common::v1::Laterality Expected(ph::Laterality side) {
  switch (side) {
    case ph::Laterality::kLeft: return common::v1::LATERALITY_LEFT;
    case ph::Laterality::kRight: return common::v1::LATERALITY_RIGHT;
    case ph::Laterality::kBilateral: return common::v1::LATERALITY_BILATERAL;
    default: return common::v1::LATERALITY_UNSPECIFIED;
  }
}

TEST_CASE("a pneumothorax is explained with a region, its side, zone and area, a PNG and a Secondary Capture",
          "[explainability][slow]") {
  ph::ChestXrayOptions o;
  o.seed = 900011;
  o.difficulty = 0.05;
  o.findings = {"Pneumothorax"};
  const ph::Study study = ph::MakeChestXray(o);
  parallax::testing::TempDir tmp;
  Written w = Write(study, 900011, tmp.path());
  FileStudySource source(w.files);
  ExplainabilityService service(Models(), source, {}, nullptr);
  pb::ExplainRequest request = Request(w, "parallax.cxr", "Pneumothorax");
  request.set_include_png(true);
  request.set_dicom_evidence(pb::DICOM_EVIDENCE_TYPE_SECONDARY_CAPTURE);
  auto r = service.Run(request, In(60));
  REQUIRE(r.ok());
  CHECK(r->model().model_id() == "parallax.cxr");
  CHECK(r->finding_id() == "f-test");
  CHECK(r->peak_activation() > 0);
  REQUIRE(r->has_region());
  CHECK(r->region().width() > 0);
  CHECK(r->region().height() > 0);
  CHECK(r->has_area_cm2());
  CHECK(r->area_cm2() > 0);
  CHECK(r->laterality() != common::v1::LATERALITY_UNSPECIFIED);
  CHECK_FALSE(r->zone().empty());
  INFO("truth side " << static_cast<int>(study.findings.at(0).laterality) << ", explained side "
                     << r->laterality() << ", zone " << r->zone());
  CHECK(r->laterality() == Expected(study.findings.at(0).laterality));
  REQUIRE(r->heatmaps_size() == 1);
  CHECK(r->heatmaps(0).png().substr(1, 3) == "PNG");
  CHECK(r->heatmaps(0).overlay_png().substr(1, 3) == "PNG");
  CHECK(r->heatmaps(0).width() == study.series.at(0).images.at(0).columns);
  REQUIRE(r->has_dicom_evidence());
  const std::string& part10 = r->dicom_evidence().part10();
  auto header = dicom::ReadInstanceHeaderFromBuffer(part10.data(), part10.size());
  REQUIRE(header.ok());
  CHECK(header->study_instance_uid == w.study_uid);
  CHECK(header->sop_class_uid == "1.2.840.10008.5.1.4.1.1.7");
  REQUIRE(r->dicom_evidence().referenced_sop_instance_uids_size() == 1);

  // Deterministic: the same request explains the same way, with the same UIDs.
  auto again = service.Run(request, In(60));
  REQUIRE(again.ok());
  CHECK(again->region().x() == r->region().x());
  CHECK(again->dicom_evidence().sop_instance_uid() == r->dicom_evidence().sop_instance_uid());
}

TEST_CASE("a subdural haemorrhage is explained across its slices with a volume and a brain compartment",
          "[explainability][slow]") {
  ph::HeadCtOptions o;
  o.seed = 900003;
  o.difficulty = 0.05;
  o.findings = {"Subdural"};
  const ph::Study study = ph::MakeHeadCt(o);
  parallax::testing::TempDir tmp;
  Written w = Write(study, 900003, tmp.path());
  FileStudySource source(w.files);
  ExplainabilityService service(Models(), source, {}, nullptr);
  pb::ExplainRequest request = Request(w, "parallax.headct", "Intracranial haemorrhage");
  auto r = service.Run(request, In(120));
  REQUIRE(r.ok());
  REQUIRE(r->has_region());
  CHECK(r->region().last_slice() >= r->region().first_slice());
  CHECK(r->has_volume_ml());
  CHECK_FALSE(r->zone().empty());
  INFO("truth side " << static_cast<int>(study.findings.at(0).laterality) << ", explained side " << r->laterality()
                     << ", zone " << r->zone() << ", volume " << r->volume_ml());
  CHECK(r->laterality() == Expected(study.findings.at(0).laterality));
  CHECK(r->zone() == "extra-axial");
}

TEST_CASE("Grad-CAM of several slices in one backward pass equals Grad-CAM slice by slice",
          "[explainability][slow]") {
  ph::HeadCtOptions o;
  o.seed = 900003;
  o.difficulty = 0.05;
  o.findings = {"Subdural"};
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeHeadCt(o), 900003, tmp.path());
  const ExplainableModel* ct = nullptr;
  for (const ExplainableModel& m : Models()) {
    if (m.model->manifest().id == "parallax.headct") ct = &m;
  }
  REQUIRE(ct != nullptr);
  std::vector<inference::StudyInstance> instances(w.files.size());
  for (size_t i = 0; i < w.files.size(); ++i) instances[i].path = w.files[i];
  auto prepared = ct->analyzer->Prepare(instances);
  REQUIRE(prepared.ok());
  REQUIRE(prepared->analysis.applies);
  const size_t first = prepared->volumes.front().size() / 2 - 3, count = 6;
  auto batch = prepared->Input(first, count, ct->model->manifest().input);
  REQUIRE(batch.ok());
  for (inference::CamMethod method : {inference::CamMethod::kGradCam, inference::CamMethod::kLayerCam}) {
    auto maps = inference::GradCamBatch(*ct->model, *batch, 0, method);
    REQUIRE(maps.ok());
    REQUIRE(maps->size() == count);
    for (size_t i = 0; i < count; ++i) {
      auto one = prepared->Input(first + i, 1, ct->model->manifest().input);
      REQUIRE(one.ok());
      auto single = inference::GradCam(*ct->model, *one, 0, method);
      REQUIRE(single.ok());
      const inference::Heatmap& b = (*maps)[i];
      CHECK(b.empty == single->empty);
      CHECK(b.logit == Approx(single->logit).margin(1e-4));
      CHECK(b.raw_max == Approx(single->raw_max).epsilon(1e-4).margin(1e-9));
      REQUIRE(b.values.size() == single->values.size());
      float worst = 0;
      for (size_t j = 0; j < b.values.size(); ++j) worst = std::max(worst, std::abs(b.values[j] - single->values[j]));
      INFO("slice " << first + i << ", method " << static_cast<int>(method));
      CHECK(worst <= 1e-4f);
    }
  }
}

TEST_CASE("explain requests that name what does not exist are refused with the documented codes",
          "[explainability][slow]") {
  ph::ChestXrayOptions o;
  o.seed = 900016;
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(o), 900016, tmp.path());
  FileStudySource source(w.files);
  ExplainabilityService service(Models(), source, {}, nullptr);
  auto code = [&](const pb::ExplainRequest& r) { return service.Run(r, In(30)).status().code(); };
  CHECK(code(Request(w, "parallax.nope", "Pneumothorax")) == absl::StatusCode::kNotFound);
  CHECK(code(Request(w, "parallax.cxr", "Broken heart")) == absl::StatusCode::kNotFound);
  auto bad_threshold = Request(w, "parallax.cxr", "Pneumothorax");
  bad_threshold.set_region_threshold(1.5);
  CHECK(code(bad_threshold) == absl::StatusCode::kInvalidArgument);
  auto other_model = Request(w, "parallax.cxr", "Pneumothorax");
  other_model.mutable_model()->set_device_uid("2.25.1");
  CHECK(code(other_model) == absl::StatusCode::kFailedPrecondition);
  auto wrong_model = Request(w, "parallax.headct", "Subdural");
  CHECK(code(wrong_model) == absl::StatusCode::kFailedPrecondition);
  auto plus_plus = Request(w, "parallax.cxr", "Pneumothorax");
  plus_plus.set_method(pb::EXPLANATION_METHOD_GRAD_CAM_PLUS_PLUS);
  CHECK(code(plus_plus) == absl::StatusCode::kUnimplemented);
  auto no_instance = Request(w, "parallax.cxr", "Pneumothorax");
  no_instance.add_sop_instance_uids("1.2.3.4");
  CHECK(code(no_instance) == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace parallax::explainability
