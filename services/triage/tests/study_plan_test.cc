// Triage's planning from headers and its urgency score, on phantom studies.
#include "study_plan.h"

#include <filesystem>

#include <catch2/catch.hpp>

#include "parallax/dicom/study_writer.h"
#include "parallax/ingest_client/manifest_headers.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"
#include "urgency.h"

namespace parallax::triage {
namespace {

namespace fs = std::filesystem;
namespace ph = parallax::phantom;

const std::vector<inference::ModelManifest>& Models() {
  static const std::vector<inference::ModelManifest> models = [] {
    auto m = LoadManifests((fs::path(parallax::testing::SourceDir()) / "models").string());
    if (!m.ok()) FAIL(m.status().message());
    return *m;
  }();
  return models;
}

common::v1::StudyManifest ManifestOf(const ph::Study& study, uint64_t seed) {
  parallax::testing::TempDir tmp;
  dicom::StudyIdentity id;
  id.uid_seed = seed;
  auto written = dicom::WritePhantomStudy(study, id, tmp.path().string());
  REQUIRE(written.ok());
  std::vector<dicom::InstanceHeader> headers;
  for (const std::string& f : written->files) {
    auto h = dicom::ReadInstanceHeaderFromFile(f);
    REQUIRE(h.ok());
    headers.push_back(*h);
  }
  return ingest_client::ManifestFromHeaders(headers);
}

const PlannedModel* Planned(const StudyPlan& plan, const std::string& id) {
  for (const PlannedModel& m : plan.models) {
    if (m.model_id == id) return &m;
  }
  return nullptr;
}

bool Has(const StudyPlan& plan, common::v1::QualityFlag flag) {
  return std::find(plan.quality_flags.begin(), plan.quality_flags.end(), flag) != plan.quality_flags.end();
}

TEST_CASE("triage: a chest film is planned for the chest model only, the others say why not", "[triage]") {
  ph::ChestXrayOptions o;
  o.seed = 11;
  o.size = 512;
  const common::v1::StudyManifest m = ManifestOf(ph::MakeChestXray(o), 11);
  const StudyPlan plan = PlanStudy(m, Models());
  REQUIRE(plan.models.size() == 1);
  const PlannedModel* cxr = Planned(plan, "parallax.cxr");
  REQUIRE(cxr != nullptr);
  CHECK(cxr->sop_instance_uids.size() == 1);
  CHECK(plan.modality == "DX");
  CHECK_FALSE(plan.head);
  CHECK(plan.skipped.size() == Models().size() - 1);
  for (const SkippedModel& s : plan.skipped) CHECK_FALSE(s.reason.empty());
  CHECK(plan.quality_flags.empty());
}

TEST_CASE("triage: a head CT is planned as a volume, and a gap in it raises MISSING_SLICES", "[triage]") {
  ph::HeadCtOptions o;
  o.seed = 12;
  o.size = 256;
  const StudyPlan whole = PlanStudy(ManifestOf(ph::MakeHeadCt(o), 12), Models());
  const PlannedModel* ct = Planned(whole, "parallax.headct");
  REQUIRE(ct != nullptr);
  CHECK(ct->sop_instance_uids.empty());  // the whole series
  CHECK(whole.head);
  CHECK_FALSE(Has(whole, common::v1::QUALITY_FLAG_MISSING_SLICES));

  o.defects = {"missing_slices"};
  const StudyPlan gappy = PlanStudy(ManifestOf(ph::MakeHeadCt(o), 13), Models());
  REQUIRE(Planned(gappy, "parallax.headct") != nullptr);
  CHECK(Has(gappy, common::v1::QUALITY_FLAG_MISSING_SLICES));
  REQUIRE_FALSE(gappy.notes.empty());
  CHECK(gappy.notes.front().find("gap") != std::string::npos);
}

TEST_CASE("triage: headers that contradict each other are flagged, and the study is still read", "[triage]") {
  ph::ChestXrayOptions o;
  o.seed = 14;
  o.size = 512;
  common::v1::StudyManifest m = ManifestOf(ph::MakeChestXray(o), 14);
  m.mutable_series(0)->set_series_description("HEAD AP");
  const StudyPlan plan = PlanStudy(m, Models());
  CHECK(Planned(plan, "parallax.cxr") != nullptr);
  CHECK(Has(plan, common::v1::QUALITY_FLAG_HEADER_CONFLICT));
  REQUIRE_FALSE(plan.notes.empty());
  CHECK(plan.notes.front() == "BodyPartExamined says CHEST but SeriesDescription names HEAD");
}

TEST_CASE("triage: a study no model applies to gets every model's reason", "[triage]") {
  ph::ChestXrayOptions o;
  o.seed = 15;
  o.size = 512;
  common::v1::StudyManifest m = ManifestOf(ph::MakeChestXray(o), 15);
  m.mutable_series(0)->set_modality("US");
  const StudyPlan plan = PlanStudy(m, Models());
  CHECK(plan.models.empty());
  const std::string reason = plan.NotApplicableReason();
  for (const auto& model : Models()) CHECK(reason.find(model.id + ": ") != std::string::npos);
  CHECK(reason.find("modality US") != std::string::npos);
}

TEST_CASE("triage: the patient setting comes from the requested priority", "[triage]") {
  CHECK(SettingFromPriority("STAT") == PatientSetting::kEmergency);
  CHECK(SettingFromPriority("stat ") == PatientSetting::kUnknown);  // not a DICOM defined term as written
  CHECK(SettingFromPriority("HIGH") == PatientSetting::kInpatient);
  CHECK(SettingFromPriority("ROUTINE") == PatientSetting::kOutpatient);
  CHECK(SettingFromPriority("") == PatientSetting::kUnknown);
}

TEST_CASE("triage: urgency puts an emergency head CT with a bleed above a routine positive film", "[triage]") {
  common::v1::Finding bleed;
  bleed.set_label("Intracranial haemorrhage");
  bleed.set_positive(true);
  bleed.set_probability(0.99);
  common::v1::Finding effusion;
  effusion.set_label("Effusion");
  effusion.set_positive(true);
  effusion.set_probability(0.99);
  common::v1::Finding negative;
  negative.set_label("Pneumothorax");
  negative.set_probability(0.2);

  const int er_head = InitialUrgency(PatientSetting::kEmergency, "CT", true);
  const int routine_film = InitialUrgency(PatientSetting::kOutpatient, "DX", false);
  CHECK(er_head > routine_film);
  CHECK(FinalUrgency(er_head, {bleed}, false) > FinalUrgency(er_head, {negative}, false));
  CHECK(FinalUrgency(routine_film, {effusion}, false) > FinalUrgency(routine_film, {negative}, false));
  // A critical finding on a routine film outranks a normal emergency film.
  const int er_film = InitialUrgency(PatientSetting::kEmergency, "DX", false);
  common::v1::Finding ptx = negative;
  ptx.set_positive(true);
  ptx.set_probability(0.95);
  CHECK(FinalUrgency(routine_film, {ptx}, false) > FinalUrgency(er_film, {negative}, false));
  // An analysis that could not decide is bumped so that someone looks.
  CHECK(FinalUrgency(routine_film, {negative}, true) > FinalUrgency(routine_film, {negative}, false));
}

TEST_CASE("triage: a bleed the prior study already showed at the same size ranks below a new one", "[triage]") {
  common::v1::Finding bleed;
  bleed.set_label("Intracranial haemorrhage");
  bleed.set_positive(true);
  bleed.set_probability(0.99);
  const int er_head = InitialUrgency(PatientSetting::kEmergency, "CT", true);
  common::v1::Finding first_seen = bleed;  // no prior: as urgent as a new bleed
  first_seen.mutable_prior_comparison()->set_change(common::v1::CHANGE_CLASS_NO_PRIOR);
  common::v1::Finding fresh = bleed;
  fresh.mutable_prior_comparison()->set_change(common::v1::CHANGE_CLASS_NEW);
  common::v1::Finding larger = bleed;
  larger.mutable_prior_comparison()->set_change(common::v1::CHANGE_CLASS_LARGER);
  common::v1::Finding stable = bleed;
  stable.mutable_prior_comparison()->set_change(common::v1::CHANGE_CLASS_STABLE);
  common::v1::Finding smaller = bleed;
  smaller.mutable_prior_comparison()->set_change(common::v1::CHANGE_CLASS_SMALLER);
  CHECK(FinalUrgency(er_head, {fresh}, false) == FinalUrgency(er_head, {bleed}, false));
  CHECK(FinalUrgency(er_head, {first_seen}, false) == FinalUrgency(er_head, {bleed}, false));
  CHECK(FinalUrgency(er_head, {larger}, false) == FinalUrgency(er_head, {fresh}, false));
  CHECK(FinalUrgency(er_head, {stable}, false) < FinalUrgency(er_head, {fresh}, false));
  CHECK(FinalUrgency(er_head, {smaller}, false) < FinalUrgency(er_head, {fresh}, false));
  // Still above the same head CT without a bleed.
  common::v1::Finding negative = bleed;
  negative.set_positive(false);
  negative.set_probability(0.1);
  CHECK(FinalUrgency(er_head, {stable}, false) > FinalUrgency(er_head, {negative}, false));
}

}  // namespace
}  // namespace parallax::triage
