// The inference service's logic on the shipped reference models and phantom
// studies read from files (the gRPC path through a real ingest is tested end
// to end in tests/).
#include "inference_service.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "file_study_source.h"
#include "finding_mapping.h"
#include "loaded_models.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::inference_service {
namespace {

namespace fs = std::filesystem;
namespace ph = parallax::phantom;
using ingest_client::testing::FileStudySource;

const std::vector<LoadedModel>& Models() {
  static const std::vector<LoadedModel> models = [] {
    auto m = LoadModels((fs::path(parallax::testing::SourceDir()) / "models").string(), {.batch_size = 16});
    if (!m.ok()) FAIL("models/ does not load: " << m.status().message());
    return std::move(*m);
  }();
  return models;
}

using Written = ingest_client::testing::WrittenPhantom;

Written Write(const ph::Study& study, uint64_t seed, const fs::path& dir) {
  return ingest_client::testing::WritePhantom(study, seed, dir.string());
}

inference::v1::AnalyzeRequest Request(const Written& w, const std::string& model_id) {
  inference::v1::AnalyzeRequest r;
  r.mutable_study()->set_study_instance_uid(w.study_uid);
  r.mutable_study()->set_generation(1);
  auto* sel = r.add_selections();
  sel->set_model_id(model_id);
  sel->set_series_instance_uid(w.series_uid);
  return r;
}

ingest_client::Deadline In(std::chrono::seconds s) { return std::chrono::system_clock::now() + s; }

const common::v1::Finding& FindingOf(const inference::v1::AnalyzeResponse& r, const std::string& label) {
  for (const auto& m : r.results()) {
    for (const auto& f : m.findings()) {
      if (f.label() == label) return f;
    }
  }
  FAIL("no finding " << label);
  throw std::logic_error("unreachable");
}

ph::ChestXrayOptions Chest(uint64_t seed, std::vector<std::string> findings) {
  ph::ChestXrayOptions o;
  o.seed = seed;
  o.difficulty = 0.05;
  o.findings = std::move(findings);
  return o;
}

TEST_CASE("a chest film with a pneumothorax yields a positive, stable, well-formed finding", "[inference][slow]") {
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(Chest(900011, {"Pneumothorax"})), 900011, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {.max_concurrent = 2, .instance_read_parallelism = 4, .replica = "test"}, nullptr);

  auto first = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(first.ok());
  CHECK(first->decision() == inference::v1::STUDY_DECISION_POSITIVE);
  REQUIRE(first->results_size() == 1);
  const auto& result = first->results(0);
  CHECK(result.outcome() == inference::v1::MODEL_OUTCOME_OK);
  CHECK(result.device() == "cpu");
  CHECK(result.findings_size() == 18);  // one per label, positive or not
  const common::v1::Finding& ptx = FindingOf(*first, "Pneumothorax");
  CHECK(ptx.positive());
  CHECK(ptx.probability() >= ptx.operating_point());
  CHECK(ptx.code().system() == "http://snomed.info/sct");
  CHECK(ptx.code().code() == "36118008");
  CHECK(ptx.model().model_id() == "parallax.cxr");
  CHECK_FALSE(ptx.model().device_uid().empty());
  CHECK(ptx.series_instance_uid() == w.series_uid);
  REQUIRE(ptx.source_sop_instance_uids_size() == 1);
  CHECK(ptx.finding_id() == FindingId(w.study_uid, 1, ptx.model().device_uid(), "Pneumothorax"));

  // The same request again gives the same ids and probabilities (retry-safe).
  auto second = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(second.ok());
  CHECK(FindingOf(*second, "Pneumothorax").finding_id() == ptx.finding_id());
  CHECK(FindingOf(*second, "Pneumothorax").probability() == ptx.probability());
}

TEST_CASE("a normal chest film yields no positive finding", "[inference][slow]") {
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(Chest(900011, {})), 900012, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {}, nullptr);
  auto r = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(r.ok());
  CHECK(r->decision() == inference::v1::STUDY_DECISION_NEGATIVE);
  CHECK(r->positive_labels().empty());
}

TEST_CASE("a head CT with a subdural haemorrhage is typed and its volume measured", "[inference][slow]") {
  ph::HeadCtOptions o;
  o.seed = 900003;
  o.difficulty = 0.05;
  o.findings = {"Subdural"};
  const ph::Study study = ph::MakeHeadCt(o);
  parallax::testing::TempDir tmp;
  Written w = Write(study, 900003, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {}, nullptr);
  auto r = service.Run(Request(w, "parallax.headct"), In(std::chrono::seconds(120)));
  REQUIRE(r.ok());
  CHECK(r->decision() == inference::v1::STUDY_DECISION_POSITIVE);
  const common::v1::Finding& ich = FindingOf(*r, "Intracranial haemorrhage");
  CHECK(ich.positive());
  CHECK(ich.subtype() == "subdural");
  REQUIRE(ich.has_volume_ml());
  const double truth = study.findings.at(0).volume_ml;
  INFO("measured " << ich.volume_ml() << " mL, truth " << truth << " mL");
  CHECK(std::abs(ich.volume_ml() - truth) <= 0.3 * truth);
  CHECK(FindingOf(*r, "Subdural").subtype() == "subdural");
  // Source slices: those at or above the operating point, a subset of the series.
  CHECK(ich.source_sop_instance_uids_size() >= 1);
  CHECK(ich.source_sop_instance_uids_size() < static_cast<int>(w.files.size()));
  REQUIRE(r->results(0).measurements_size() == 1);
  CHECK(r->results(0).measurements(0).name() == "ich_volume");
}

TEST_CASE("a model that does not apply says why, and the study is then indeterminate", "[inference][slow]") {
  ph::HeadCtOptions o;
  o.seed = 900004;
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeHeadCt(o), 900004, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {}, nullptr);
  auto r = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(r.ok());
  REQUIRE(r->results_size() == 1);
  CHECK(r->results(0).outcome() == inference::v1::MODEL_OUTCOME_NOT_APPLICABLE);
  CHECK(r->results(0).error().find("modality CT") != std::string::npos);
  CHECK(r->results(0).findings().empty());
  CHECK(r->decision() == inference::v1::STUDY_DECISION_INDETERMINATE);
}

TEST_CASE("a broken image is refused as rejected input naming the instance, the call still answers",
          "[inference][slow]") {
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(Chest(900013, {"Pneumothorax"})), 900013, tmp.path());
  FileStudySource source(w.files);
  std::ifstream in(w.files.front(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto manifest = source.GetStudy(w.study_uid, In(std::chrono::seconds(5)));
  REQUIRE(manifest.ok());
  const std::string sop = manifest->series(0).instances(0).sop_instance_uid();
  source.Override(sop, bytes.substr(0, bytes.size() / 2));  // pixel data cut short
  InferenceService service(Models(), source, {}, nullptr);
  auto r = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(r.ok());
  CHECK(r->results(0).outcome() == inference::v1::MODEL_OUTCOME_REJECTED_INPUT);
  INFO(r->results(0).error());
  CHECK(r->results(0).error().find("instance") != std::string::npos);
  CHECK(r->decision() == inference::v1::STUDY_DECISION_INDETERMINATE);
}

TEST_CASE("requests naming what does not exist are refused with the documented codes", "[inference][slow]") {
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(Chest(900014, {})), 900014, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {}, nullptr);
  auto deadline = In(std::chrono::seconds(30));

  auto unknown_model = Request(w, "parallax.nope");
  CHECK(service.Run(unknown_model, deadline).status().code() == absl::StatusCode::kNotFound);
  auto pinned = Request(w, "parallax.cxr");
  pinned.mutable_selections(0)->set_model_version("0.0.1");
  CHECK(service.Run(pinned, deadline).status().code() == absl::StatusCode::kFailedPrecondition);
  auto no_series = Request(w, "parallax.cxr");
  no_series.mutable_selections(0)->set_series_instance_uid("1.2.3.4");
  CHECK(service.Run(no_series, deadline).status().code() == absl::StatusCode::kNotFound);
  auto empty = Request(w, "parallax.cxr");
  empty.clear_selections();
  CHECK(service.Run(empty, deadline).status().code() == absl::StatusCode::kInvalidArgument);
  auto unknown_study = Request(w, "parallax.cxr");
  unknown_study.mutable_study()->set_study_instance_uid("1.2.3.999");
  CHECK(service.Run(unknown_study, deadline).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("beyond its concurrency limit the replica refuses at once, and a passed deadline ends the call",
          "[inference][slow]") {
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(Chest(900015, {})), 900015, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {.max_concurrent = 1, .instance_read_parallelism = 4, .replica = "test"}, nullptr);
  source.Hold();
  auto blocked = std::async(std::launch::async, [&] {
    return service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(30)));
  });
  while (source.reads() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  auto refused = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(30)));
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  source.Release();
  CHECK(blocked.get().ok());

  source.Hold();
  auto late = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(0)) + std::chrono::milliseconds(200));
  source.Release();
  CHECK(late.status().code() == absl::StatusCode::kDeadlineExceeded);
}

TEST_CASE("a motion-blurred film is analysed and its findings carry the quality flag", "[inference][slow]") {
  ph::ChestXrayOptions o = Chest(900017, {"Pneumothorax"});
  o.defects = {"motion_blur"};
  parallax::testing::TempDir tmp;
  Written w = Write(ph::MakeChestXray(o), 900017, tmp.path());
  FileStudySource source(w.files);
  InferenceService service(Models(), source, {}, nullptr);
  auto r = service.Run(Request(w, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(r.ok());
  const auto& result = r->results(0);
  REQUIRE(result.outcome() == inference::v1::MODEL_OUTCOME_OK);
  auto has_motion = [](const auto& flags) {
    return std::find(flags.begin(), flags.end(), common::v1::QUALITY_FLAG_MOTION_ARTEFACT) != flags.end();
  };
  CHECK(has_motion(result.quality_flags()));
  REQUIRE(result.quality_notes_size() >= 1);
  for (const auto& f : result.findings()) CHECK(has_motion(f.quality_flags()));

  // Its clean twin carries no flag.
  o.defects.clear();
  parallax::testing::TempDir tmp2;
  Written clean = Write(ph::MakeChestXray(o), 900018, tmp2.path());
  FileStudySource clean_source(clean.files);
  InferenceService clean_service(Models(), clean_source, {}, nullptr);
  auto c = clean_service.Run(Request(clean, "parallax.cxr"), In(std::chrono::seconds(60)));
  REQUIRE(c.ok());
  CHECK(c->results(0).quality_flags().empty());
}

TEST_CASE("a brain MRI is read from its T1 post-contrast and FLAIR series, a clean one without quality flags",
          "[inference][slow]") {
  ph::BrainMriOptions o;
  o.seed = 900007;
  o.difficulty = 0.05;
  o.findings = {"Enhancing tumour"};
  parallax::testing::TempDir tmp;
  const ph::Study study = ph::MakeBrainMri(o);
  REQUIRE(study.series.size() >= 2);
  Written w = Write(study, 900007, tmp.path());
  FileStudySource source(w.files);
  auto manifest = source.GetStudy(w.study_uid, In(std::chrono::seconds(5)));
  REQUIRE(manifest.ok());
  REQUIRE(manifest->series_size() >= 2);
  InferenceService service(Models(), source, {}, nullptr);
  // The first series alone is not enough for a two-role model ...
  auto one = service.Run(Request(w, "parallax.brainmri"), In(std::chrono::seconds(60)));
  REQUIRE(one.ok());
  CHECK(one->results(0).outcome() == inference::v1::MODEL_OUTCOME_NOT_APPLICABLE);
  // ... with the other series named, it reads both.
  auto request = Request(w, "parallax.brainmri");
  for (int i = 0; i < manifest->series_size(); ++i) {
    if (manifest->series(i).series_instance_uid() != w.series_uid) {
      request.mutable_selections(0)->add_additional_series_instance_uids(manifest->series(i).series_instance_uid());
    }
  }
  auto both = service.Run(request, In(std::chrono::seconds(60)));
  REQUIRE(both.ok());
  INFO(both->results(0).error());
  REQUIRE(both->results(0).outcome() == inference::v1::MODEL_OUTCOME_OK);
  CHECK(FindingOf(*both, "Enhancing tumour").positive());
  CHECK(both->results(0).quality_flags().empty());
}

TEST_CASE("a model directory with a broken model refuses to load, naming the file", "[inference]") {
  parallax::testing::TempDir tmp;
  const fs::path models = fs::path(parallax::testing::SourceDir()) / "models";
  fs::copy_file(models / "parallax.cxr.json", tmp.path() / "parallax.cxr.json");
  { std::ofstream(tmp.path() / "parallax.cxr.pt") << "not a model"; }
  auto loaded = LoadModels(tmp.path().string(), {});
  REQUIRE_FALSE(loaded.ok());
  CHECK(std::string(loaded.status().message()).find("parallax.cxr.pt") != std::string::npos);
}

}  // namespace
}  // namespace parallax::inference_service
