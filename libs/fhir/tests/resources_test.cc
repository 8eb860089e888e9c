// The clinical content of the FHIR resources: codes, laterality, units,
// statuses, references that agree with each other, ids.
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fhir_test_support.h"
#include "parallax/fhir/resources.h"

namespace parallax::fhir {
namespace {

using testing::At;

ReportIds IdsFor(const v1::PublishReportRequest& r) {
  ReportIds ids;
  ids.diagnostic_report = LogicalId("report", r.report_id());
  for (const auto& o : r.observations()) ids.observations.push_back(LogicalId("obs", o.finding().finding_id()));
  ids.imaging_study = LogicalId("study", r.study().study_instance_uid());
  return ids;
}

// The component whose code has `code` in its first coding; null when none.
Json Component(const Json& obs, const std::string& code) {
  if (!obs.contains("component")) return Json();
  for (const Json& c : obs["component"]) {
    if (c["code"].contains("coding") && c["code"]["coding"][0]["code"] == code) return c;
  }
  return Json();
}

bool HasCoding(const Json& coded, const std::string& system, const std::string& code) {
  if (!coded.contains("coding")) return false;
  for (const Json& c : coded["coding"]) {
    if (c.value("system", "") == system && c.value("code", "") == code) return true;
  }
  return false;
}

const std::regex kFhirId("[A-Za-z0-9\\-\\.]{1,64}");
constexpr char kSnomed[] = "http://snomed.info/sct";
constexpr char kUcum[] = "http://unitsofmeasure.org";
constexpr char kDcm[] = "http://dicom.nema.org/resources/ontology/DCM";

TEST_CASE("LogicalId is deterministic, distinct per key and always a valid FHIR id", "[fhir]") {
  std::string a = LogicalId("report", "rpt-cxr-10001-1");
  CHECK(a == LogicalId("report", "rpt-cxr-10001-1"));
  CHECK(a != LogicalId("report", "rpt-cxr-10001-2"));
  CHECK(a != LogicalId("obs", "rpt-cxr-10001-1"));
  CHECK(a.rfind("report-", 0) == 0);
  CHECK(a.size() == std::string("report-").size() + 40);
  CHECK(std::regex_match(a, kFhirId));
  CHECK(IsValidFhirId(a));
  // A prefix outside the id alphabet or too long still gives a valid id.
  std::string odd = LogicalId("Diagnostic Report/with_odd:chars and far too long", "k");
  CHECK(std::regex_match(odd, kFhirId));
  CHECK(odd.size() == 64);
  CHECK(IsValidFhirId(LogicalId("", "k")));
  CHECK_FALSE(IsValidFhirId(""));
  CHECK_FALSE(IsValidFhirId("has_underscore"));
  CHECK_FALSE(IsValidFhirId(std::string(65, 'a')));
}

TEST_CASE("FhirInstant prints UTC with milliseconds and leaves unset timestamps out", "[fhir]") {
  CHECK(FhirInstant(At(1796386530, 123000000)) == "2026-12-04T12:15:30.123Z");
  CHECK(FhirInstant(At(1796386530)) == "2026-12-04T12:15:30Z");
  CHECK(FhirInstant(google::protobuf::Timestamp()) == "");
  CHECK(FhirInstant(At(-62135596800 - 1)) == "");
}

TEST_CASE("a positive right pneumothorax becomes a coded imaging Observation with side, area and model",
          "[fhir][observation]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  ReportIds ids = IdsFor(report);
  Json obs = BuildObservation(report, 0, ids, Settings{});

  CHECK(obs["resourceType"] == "Observation");
  CHECK(obs["id"] == ids.observations[0]);
  CHECK(obs["status"] == "final");
  CHECK(HasCoding(obs["category"][0], "http://terminology.hl7.org/CodeSystem/observation-category", "imaging"));
  CHECK(HasCoding(obs["code"], kSnomed, "36118008"));
  CHECK(obs["identifier"][0]["value"] == "fnd-cxr-10001-1-pneumothorax");
  CHECK(obs["subject"]["type"] == "Patient");
  CHECK(obs["subject"]["identifier"]["system"] == "urn:parallax:patient-id");
  CHECK(obs["subject"]["identifier"]["value"] == "PX-000123");
  CHECK(obs["subject"]["identifier"]["assigner"]["display"] == "PARALLAX-GENERAL");
  CHECK(obs["effectiveDateTime"] == "2026-12-04");
  CHECK(obs["issued"] == "2026-12-04T12:15:30.123Z");
  CHECK(HasCoding(obs["valueCodeableConcept"], kSnomed, "52101004"));
  CHECK(obs["interpretation"][0]["coding"][0]["code"] == "POS");
  CHECK(HasCoding(obs["bodySite"], kSnomed, "3341006"));
  CHECK(obs["bodySite"]["text"] == "right upper zone");

  Json side = Component(obs, "272741003");
  REQUIRE_FALSE(side.is_null());
  CHECK(HasCoding(side["valueCodeableConcept"], kSnomed, "24028007"));

  Json probability = Component(obs, "probability");
  REQUIRE_FALSE(probability.is_null());
  CHECK(probability["valueQuantity"]["value"].get<double>() == Approx(97.3));
  CHECK(probability["valueQuantity"]["code"] == "%");
  CHECK(probability["valueQuantity"]["system"] == kUcum);
  CHECK(Component(obs, "operating-point")["valueQuantity"]["value"].get<double>() == Approx(69.5));

  Json area = Component(obs, "42798000");
  REQUIRE_FALSE(area.is_null());
  CHECK(area["valueQuantity"]["value"].get<double>() == Approx(12.46));
  CHECK(area["valueQuantity"]["code"] == "cm2");
  CHECK(area["valueQuantity"]["system"] == kUcum);
  CHECK(Component(obs, "118565006").is_null());  // no volume on a radiograph
  CHECK(Component(obs, "quality-flag")["valueCodeableConcept"]["coding"][0]["code"] == "rotated");

  // The model as a contained Device (IHE AIR), referenced from device.
  common::v1::ModelRef model = testing::ModelOf("parallax.cxr");
  REQUIRE(obs["contained"].size() == 1);
  const Json& device = obs["contained"][0];
  CHECK(device["resourceType"] == "Device");
  CHECK(obs["device"]["reference"] == "#" + device["id"].get<std::string>());
  CHECK(device["identifier"][0]["system"] == "urn:dicom:uid");
  CHECK(device["identifier"][0]["value"] == "urn:oid:" + model.device_uid());
  CHECK(device["deviceName"][0]["name"] == model.model_id());
  CHECK(device["version"][0]["value"] == model.model_version());

  CHECK(obs["derivedFrom"][0]["reference"] == "ImagingStudy/" + ids.imaging_study);
  CHECK(obs["derivedFrom"][0]["identifier"]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.10001");
  CHECK(obs["method"]["coding"][0]["code"] == "ai-inference");
  bool organisation = false;
  bool radiologist = false;
  for (const Json& p : obs["performer"]) {
    organisation = organisation || p.value("type", "") == "Organization";
    radiologist = radiologist || (p.contains("identifier") && p["identifier"]["value"] == "u-radiologist-7");
  }
  CHECK(organisation);
  CHECK(radiologist);
}

TEST_CASE("a left subdural haemorrhage carries its volume in mL, subtype and midline shift", "[fhir][observation]") {
  v1::PublishReportRequest report = testing::HeadCtReport(v1::REPORT_STATUS_PRELIMINARY);
  Json obs = BuildObservation(report, 0, IdsFor(report), Settings{});
  CHECK(obs["status"] == "preliminary");
  CHECK(HasCoding(obs["code"], kSnomed, "35486000"));
  CHECK(HasCoding(Component(obs, "272741003")["valueCodeableConcept"], kSnomed, "7771000"));
  Json volume = Component(obs, "118565006");
  REQUIRE_FALSE(volume.is_null());
  CHECK(volume["valueQuantity"]["value"].get<double>() == Approx(45.2));
  CHECK(volume["valueQuantity"]["code"] == "mL");
  CHECK(volume["valueQuantity"]["unit"] == "mL");
  CHECK(Component(obs, "42798000").is_null());
  CHECK(Component(obs, "subtype")["valueString"] == "acute-on-chronic");
  Json shift = Component(obs, "midline-shift");
  CHECK(shift["valueQuantity"]["value"].get<double>() == Approx(6.5));
  CHECK(shift["valueQuantity"]["code"] == "mm");
  CHECK(obs["bodySite"]["text"] == "left frontoparietal convexity");
  CHECK_FALSE(obs["bodySite"].contains("coding"));
  // No verifying user on a preliminary AI result: only the organisation.
  CHECK(obs["performer"].size() == 1);
}

constexpr char kChange[] = "urn:parallax:change-since-prior";

TEST_CASE("a haemorrhage stable since the prior carries the change, both sizes, the interval and the prior study",
          "[fhir][observation][change]") {
  v1::PublishReportRequest report = testing::HeadCtFollowUpReport(v1::REPORT_STATUS_FINAL, common::v1::CHANGE_CLASS_STABLE);
  const ReportIds ids = IdsFor(report);
  Json obs = BuildObservation(report, 0, ids, Settings{});
  Json change = Component(obs, "change-since-prior");
  REQUIRE_FALSE(change.is_null());
  CHECK(change["code"]["coding"][0]["system"] == "urn:parallax:measurement");
  CHECK(HasCoding(change["valueCodeableConcept"], kChange, "stable"));
  CHECK(change["valueCodeableConcept"]["text"] == "stable since prior of 2026-09-03 (92 days): 44.0 mL -> 45.2 mL");
  Json prior = Component(obs, "prior-size");
  REQUIRE_FALSE(prior.is_null());
  CHECK(prior["valueQuantity"]["value"].get<double>() == Approx(44.0));
  CHECK(prior["valueQuantity"]["system"] == kUcum);
  CHECK(prior["valueQuantity"]["code"] == "mL");
  Json current = Component(obs, "current-size");
  REQUIRE_FALSE(current.is_null());
  CHECK(current["valueQuantity"]["value"].get<double>() == Approx(45.2));
  CHECK(current["valueQuantity"]["code"] == "mL");
  Json interval = Component(obs, "interval-since-prior");
  REQUIRE_FALSE(interval.is_null());
  CHECK(interval["valueQuantity"]["value"].get<double>() == 92);
  CHECK(interval["valueQuantity"]["code"] == "d");
  CHECK(interval["valueQuantity"]["system"] == kUcum);

  // derivedFrom: the current study first, then the prior by its UID.
  REQUIRE(obs["derivedFrom"].size() == 2);
  CHECK(obs["derivedFrom"][0]["reference"] == "ImagingStudy/" + ids.imaging_study);
  CHECK(obs["derivedFrom"][1]["type"] == "ImagingStudy");
  CHECK(obs["derivedFrom"][1]["identifier"]["system"] == "urn:dicom:uid");
  CHECK(obs["derivedFrom"][1]["identifier"]["value"] == std::string("urn:oid:") + testing::kPriorHeadCtStudyUid);
  CHECK(obs["derivedFrom"][1]["display"] == "Prior study of 2026-09-03 compared");
  CHECK_FALSE(obs["derivedFrom"][1].contains("reference"));

  // The DiagnosticReport names the prior study beside the current one.
  Json dr = BuildDiagnosticReport(report, ids, Settings{});
  REQUIRE(dr["imagingStudy"].size() == 2);
  CHECK(dr["imagingStudy"][0]["reference"] == "ImagingStudy/" + ids.imaging_study);
  CHECK(dr["imagingStudy"][1]["identifier"]["value"] == std::string("urn:oid:") + testing::kPriorHeadCtStudyUid);
}

TEST_CASE("each change class gets its own code, and a new finding has no prior size", "[fhir][observation][change]") {
  const std::vector<std::pair<common::v1::ChangeClass, std::string>> classes = {
      {common::v1::CHANGE_CLASS_NEW, "new"},         {common::v1::CHANGE_CLASS_LARGER, "larger"},
      {common::v1::CHANGE_CLASS_STABLE, "stable"},   {common::v1::CHANGE_CLASS_SMALLER, "smaller"},
      {common::v1::CHANGE_CLASS_RESOLVED, "resolved"}};
  for (const auto& [change, code] : classes) {
    v1::PublishReportRequest report = testing::HeadCtFollowUpReport(v1::REPORT_STATUS_FINAL, change);
    Json obs = BuildObservation(report, 0, IdsFor(report), Settings{});
    INFO(code);
    CHECK(HasCoding(Component(obs, "change-since-prior")["valueCodeableConcept"], kChange, code));
    CHECK(Component(obs, "prior-size").is_null() == (change == common::v1::CHANGE_CLASS_NEW));
    CHECK(Component(obs, "interval-since-prior")["valueQuantity"]["value"].get<double>() == 92);
  }
  v1::PublishReportRequest fresh = testing::HeadCtFollowUpReport(v1::REPORT_STATUS_FINAL, common::v1::CHANGE_CLASS_NEW);
  CHECK(Component(BuildObservation(fresh, 0, IdsFor(fresh), Settings{}), "change-since-prior")["valueCodeableConcept"]
            ["text"] == "new since prior of 2026-09-03 (92 days)");
}

TEST_CASE("a finding without a prior says no prior is available and one never compared says nothing",
          "[fhir][observation][change]") {
  v1::PublishReportRequest first = testing::HeadCtFollowUpReport(v1::REPORT_STATUS_FINAL, common::v1::CHANGE_CLASS_NO_PRIOR);
  const ReportIds ids = IdsFor(first);
  Json obs = BuildObservation(first, 0, ids, Settings{});
  Json change = Component(obs, "change-since-prior");
  REQUIRE_FALSE(change.is_null());
  CHECK(HasCoding(change["valueCodeableConcept"], kChange, "no-prior"));
  CHECK(change["valueCodeableConcept"]["coding"][0]["display"] == "No prior study available");
  CHECK(change["valueCodeableConcept"]["text"] == "no prior available");
  CHECK(Component(obs, "prior-size").is_null());
  CHECK(Component(obs, "interval-since-prior").is_null());
  CHECK(Component(obs, "current-size")["valueQuantity"]["value"].get<double>() == Approx(45.2));
  CHECK(obs["derivedFrom"].size() == 1);
  CHECK(BuildDiagnosticReport(first, ids, Settings{})["imagingStudy"].size() == 1);

  v1::PublishReportRequest plain = testing::HeadCtReport(v1::REPORT_STATUS_FINAL);
  Json none = BuildObservation(plain, 0, IdsFor(plain), Settings{});
  CHECK(Component(none, "change-since-prior").is_null());
  CHECK(Component(none, "current-size").is_null());
  CHECK(none["derivedFrom"].size() == 1);
}

TEST_CASE("the generated alert text says how the finding changed since the prior", "[fhir][communication][change]") {
  v1::PublishCommunicationRequest c;
  c.set_alert_id("alert-followup");
  c.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.20002");
  *c.mutable_finding() =
      testing::HeadCtFollowUpReport(v1::REPORT_STATUS_PRELIMINARY, common::v1::CHANGE_CLASS_LARGER).observations(0).finding();
  c.set_priority(v1::COMMUNICATION_PRIORITY_ASAP);
  Json comm = BuildCommunication(c, "alert-followup", "", Settings{});
  const std::string text = comm["payload"][0]["contentString"];
  CHECK_THAT(text, Catch::Contains("larger since prior of 2026-09-03 (92 days): 20.1 mL -> 45.2 mL, probability"));
}

TEST_CASE("a negative finding is coded Absent without side or size", "[fhir][observation]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  Json obs = BuildObservation(report, 1, IdsFor(report), Settings{});
  CHECK(HasCoding(obs["code"], kSnomed, "60046008"));
  CHECK(HasCoding(obs["valueCodeableConcept"], kSnomed, "2667000"));
  CHECK_FALSE(HasCoding(obs["valueCodeableConcept"], kSnomed, "52101004"));
  CHECK(obs["interpretation"][0]["coding"][0]["code"] == "NEG");
  CHECK(Component(obs, "272741003").is_null());
  CHECK(Component(obs, "42798000").is_null());
  CHECK(Component(obs, "probability")["valueQuantity"]["value"].get<double>() == Approx(4.1));
  CHECK_FALSE(obs.contains("bodySite"));
}

TEST_CASE("an out-of-range observation index gives null and ids fall back to the report and finding",
          "[fhir][observation]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  CHECK(BuildObservation(report, 2, IdsFor(report), Settings{}).is_null());
  CHECK(BuildObservation(report, -1, IdsFor(report), Settings{}).is_null());
  ReportIds no_ids;
  no_ids.diagnostic_report = "r";
  Json obs = BuildObservation(report, 0, no_ids, Settings{});
  CHECK(obs["id"] == LogicalId("obs", "rpt-cxr-10001-1/fnd-cxr-10001-1-pneumothorax"));
  Json dr = BuildDiagnosticReport(report, no_ids, Settings{});
  CHECK(dr["result"][0]["reference"] == "Observation/" + obs["id"].get<std::string>());
  // Without an ImagingStudy id the study is still named by its UID.
  CHECK_FALSE(obs["derivedFrom"][0].contains("reference"));
  CHECK(obs["derivedFrom"][0]["identifier"]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.10001");
}

TEST_CASE("the DiagnosticReport references its Observations and study and carries the heatmaps",
          "[fhir][report]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  ReportIds ids = IdsFor(report);
  Json dr = BuildDiagnosticReport(report, ids, Settings{});
  CHECK(dr["id"] == ids.diagnostic_report);
  CHECK(dr["status"] == "final");
  CHECK(HasCoding(dr["category"][0], "http://terminology.hl7.org/CodeSystem/v2-0074", "RAD"));
  CHECK(HasCoding(dr["code"], "http://loinc.org", "18748-4"));
  CHECK(dr["identifier"][0]["system"] == "urn:parallax:id");
  CHECK(dr["identifier"][0]["value"] == "rpt-cxr-10001-1");
  CHECK(dr["identifier"][1]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.10001.98.1");
  CHECK(dr["basedOn"][0]["identifier"]["value"] == "ACC2026120401");
  CHECK(dr["subject"] == BuildObservation(report, 0, ids, Settings{})["subject"]);
  REQUIRE(dr["result"].size() == 2);
  for (int i = 0; i < 2; ++i) {
    CHECK(dr["result"][i]["reference"] ==
          "Observation/" + BuildObservation(report, i, ids, Settings{})["id"].get<std::string>());
  }
  CHECK(dr["imagingStudy"][0]["reference"] == "ImagingStudy/" + ids.imaging_study);
  CHECK(dr["conclusion"] == report.conclusion());
  CHECK(HasCoding(dr["conclusionCode"][0], kSnomed, "36118008"));
  CHECK(dr["issued"] == "2026-12-04T12:15:30.123Z");
  CHECK(dr["resultsInterpreter"][0]["identifier"]["value"] == "u-radiologist-7");

  // Only the http(s) heatmap; no DICOM attachments without a DICOMweb base.
  REQUIRE(dr["presentedForm"].size() == 1);
  CHECK(dr["presentedForm"][0]["contentType"] == "image/png");
  CHECK(dr["presentedForm"][0]["url"] ==
        "https://parallax.example.org/evidence/fnd-cxr-10001-1-pneumothorax/heatmap.png");
  CHECK(dr.dump().find("file://") == std::string::npos);

  Settings dicomweb;
  dicomweb.dicomweb_base_url = "https://pacs.example.org/dicom-web/";
  Json with_wado = BuildDiagnosticReport(report, ids, dicomweb);
  REQUIRE(with_wado["presentedForm"].size() == 2);
  CHECK(with_wado["presentedForm"][1]["contentType"] == "application/dicom");
  CHECK(with_wado["presentedForm"][1]["url"] ==
        "https://pacs.example.org/dicom-web/studies/1.2.826.0.1.3680043.8.498.10001/series/"
        "1.2.826.0.1.3680043.8.498.10001.99/instances/1.2.826.0.1.3680043.8.498.10001.99.1");
}

TEST_CASE("a heatmap held by triage is presented through the facade's evidence URL", "[fhir][report]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  common::v1::EvidenceRef* held = report.mutable_observations(0)->mutable_finding()->add_evidence();
  held->set_kind(common::v1::EVIDENCE_KIND_HEATMAP_PNG);
  held->set_uri("parallax:triage/evidence/fnd-1/1.2.3.4");
  ReportIds ids = IdsFor(report);
  // Without an evidence base the triage-held PNG has no URL the EHR could follow.
  CHECK(BuildDiagnosticReport(report, ids, Settings{})["presentedForm"].size() == 1);
  Settings served;
  served.evidence_base_url = "http://127.0.0.1:8090/evidence/";
  Json dr = BuildDiagnosticReport(report, ids, served);
  REQUIRE(dr["presentedForm"].size() == 2);
  CHECK(dr["presentedForm"][1]["contentType"] == "image/png");
  CHECK(dr["presentedForm"][1]["url"] == "http://127.0.0.1:8090/evidence/fnd-1/1.2.3.4.png");
}

TEST_CASE("an amended report and its Observations are amended and name both interpreters", "[fhir][report]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_AMENDED);
  ReportIds ids = IdsFor(report);
  Json dr = BuildDiagnosticReport(report, ids, Settings{});
  Json obs = BuildObservation(report, 0, ids, Settings{});
  CHECK(dr["status"] == "amended");
  CHECK(obs["status"] == "amended");
  CHECK(dr["resultsInterpreter"].size() == 2);
  CHECK(obs["note"][0]["text"] == "Size revised after senior review.");
  CHECK(Component(obs, "42798000")["valueQuantity"]["value"].get<double>() == Approx(18.0));
  // Same logical resources as the final version: an amendment is a new version.
  CHECK(dr["id"] == BuildDiagnosticReport(testing::ChestReport(v1::REPORT_STATUS_FINAL), ids, Settings{})["id"]);
}

TEST_CASE("the ImagingStudy lists series and instances with DICOM and SNOMED codes", "[fhir][imagingstudy]") {
  Settings settings;
  Json study = BuildImagingStudy(testing::HeadCtManifest(), "study-2", settings);
  CHECK(study["status"] == "available");
  CHECK(study["identifier"][0]["system"] == "urn:dicom:uid");
  CHECK(study["identifier"][0]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.20002");
  CHECK(study["identifier"][1]["value"] == "ACC2026120402");
  CHECK(study["subject"]["identifier"]["value"] == "PX-000456");
  CHECK(study["modality"][0]["system"] == kDcm);
  CHECK(study["modality"][0]["code"] == "CT");
  CHECK(study["numberOfSeries"] == 1);
  CHECK(study["numberOfInstances"] == 3);
  CHECK(study["started"] == "2026-12-04");  // no UTC offset configured: date only
  const Json& series = study["series"][0];
  CHECK(series["uid"] == "1.2.826.0.1.3680043.8.498.20002.3");
  CHECK(series["number"] == 3);
  CHECK(series["modality"]["code"] == "CT");
  CHECK(series["bodySite"]["code"] == "69536005");
  REQUIRE(series["instance"].size() == 3);
  CHECK(series["instance"][2]["uid"] == "1.2.826.0.1.3680043.8.498.20002.3.3");
  CHECK(series["instance"][2]["sopClass"]["system"] == "urn:ietf:rfc:3986");
  CHECK(series["instance"][2]["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.2");

  settings.dicom_timezone_offset = "+01:00";
  CHECK(BuildImagingStudy(testing::HeadCtManifest(), "s", settings)["started"] == "2026-12-04T03:12:00+01:00");
  Json chest = BuildImagingStudy(testing::ChestRadiographManifest(), "s", settings);
  CHECK(chest["started"] == "2026-12-04T10:15:30.250000+01:00");
  CHECK(chest["series"][0]["bodySite"]["code"] == "51185008");
  CHECK(chest["referrer"]["display"] == "Referrer Ann  Dr");
  common::v1::StudyManifest bad = testing::HeadCtManifest();
  bad.set_study_date("20260230");
  CHECK_FALSE(BuildImagingStudy(bad, "s", settings).contains("started"));
}

TEST_CASE("each alert priority becomes the Communication priority with group recipient and report link",
          "[fhir][communication]") {
  const std::vector<std::pair<v1::CommunicationPriority, std::string>> priorities = {
      {v1::COMMUNICATION_PRIORITY_ROUTINE, "routine"},
      {v1::COMMUNICATION_PRIORITY_URGENT, "urgent"},
      {v1::COMMUNICATION_PRIORITY_ASAP, "asap"},
      {v1::COMMUNICATION_PRIORITY_STAT, "stat"}};
  for (const auto& [priority, code] : priorities) {
    v1::PublishCommunicationRequest c;
    c.set_alert_id("alert-77");
    c.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.10001");
    *c.mutable_manifest() = testing::ChestRadiographManifest();
    *c.mutable_finding() = testing::RightPneumothorax();
    c.set_priority(priority);
    c.set_recipient_group("thoracic-radiology");
    *c.mutable_sent() = At(1796386600);
    Json comm = BuildCommunication(c, "comm-1", "report-abc", Settings{});
    INFO(code);
    CHECK(comm["priority"] == code);
    CHECK(comm["status"] == "completed");
    CHECK(comm["sent"] == "2026-12-04T12:16:40Z");
    CHECK(comm["category"][0]["coding"][0]["code"] == "alert");
    CHECK(comm["identifier"][0]["value"] == "alert-77");
    CHECK(comm["recipient"][0]["type"] == "Group");
    CHECK(comm["recipient"][0]["identifier"]["system"] == "urn:parallax:group");
    CHECK(comm["recipient"][0]["identifier"]["value"] == "thoracic-radiology");
    CHECK(comm["about"][0]["reference"] == "DiagnosticReport/report-abc");
    CHECK(comm["subject"]["identifier"]["value"] == "PX-000123");
    CHECK(HasCoding(comm["reasonCode"][0], kSnomed, "36118008"));
    std::string text = comm["payload"][0]["contentString"];
    CHECK(text.find("Pneumothorax") != std::string::npos);
    CHECK(text.find("right") != std::string::npos);
    CHECK(text.find("12.5 cm2") != std::string::npos);
    CHECK(text.find("97%") != std::string::npos);
    CHECK(text.find("PX-000123") == std::string::npos);
  }
  // Not yet sent, negative, no report: in progress, a notification, about the
  // report by its Parallax id.
  v1::PublishCommunicationRequest pending;
  pending.set_alert_id("alert-78");
  *pending.mutable_finding() = testing::NoEffusion();
  pending.set_diagnostic_report_id("rpt-cxr-10001-1");
  pending.set_payload_text("No effusion.");
  Json comm = BuildCommunication(pending, "comm-2", "", Settings{});
  CHECK(comm["status"] == "in-progress");
  CHECK_FALSE(comm.contains("priority"));
  CHECK_FALSE(comm.contains("sent"));
  CHECK(comm["category"][0]["coding"][0]["code"] == "notification");
  CHECK(comm["about"][0]["identifier"]["value"] == "rpt-cxr-10001-1");
  CHECK(comm["payload"][0]["contentString"] == "No effusion.");
}

TEST_CASE("the alert's Communication status is the one the caller gives, else completed once sent",
          "[fhir][communication]") {
  const std::vector<std::pair<v1::CommunicationStatus, std::string>> statuses = {
      {v1::COMMUNICATION_STATUS_IN_PROGRESS, "in-progress"},
      {v1::COMMUNICATION_STATUS_COMPLETED, "completed"},
      {v1::COMMUNICATION_STATUS_ENTERED_IN_ERROR, "entered-in-error"},
      {v1::COMMUNICATION_STATUS_STOPPED, "stopped"}};
  for (const auto& [status, code] : statuses) {
    for (bool sent : {true, false}) {
      v1::PublishCommunicationRequest c;
      c.set_alert_id("alert-79");
      *c.mutable_finding() = testing::RightPneumothorax();
      if (sent) *c.mutable_sent() = At(1796386600);
      c.set_status(status);
      Json comm = BuildCommunication(c, "comm-3", "", Settings{});
      INFO(code << (sent ? " sent" : " not sent"));
      CHECK(comm["status"] == code);
      CHECK(comm.contains("sent") == sent);
    }
  }
  v1::PublishCommunicationRequest unspecified;
  unspecified.set_alert_id("alert-80");
  *unspecified.mutable_finding() = testing::RightPneumothorax();
  CHECK(BuildCommunication(unspecified, "comm-4", "", Settings{})["status"] == "in-progress");
  *unspecified.mutable_sent() = At(1796386600);
  CHECK(BuildCommunication(unspecified, "comm-4", "", Settings{})["status"] == "completed");
}

TEST_CASE("each escalation case status becomes the Task status with owner, due time and decision", "[fhir][task]") {
  const std::vector<std::pair<v1::TaskStatus, std::string>> statuses = {
      {v1::TASK_STATUS_REQUESTED, "requested"},  {v1::TASK_STATUS_ACCEPTED, "accepted"},
      {v1::TASK_STATUS_IN_PROGRESS, "in-progress"}, {v1::TASK_STATUS_COMPLETED, "completed"},
      {v1::TASK_STATUS_CANCELLED, "cancelled"}};
  for (const auto& [status, code] : statuses) {
    v1::PublishTaskRequest t;
    t.set_case_id("case-9");
    t.set_status(status);
    t.set_focus_resource_id("report-xyz");
    t.set_requester_user_id("u-radiologist-7");
    t.set_owner_group("neurosurgery");
    if (status != v1::TASK_STATUS_REQUESTED) t.set_owner_user_id("u-senior-2");
    t.set_priority(v1::COMMUNICATION_PRIORITY_STAT);
    *t.mutable_authored_on() = At(1796386700);
    *t.mutable_due() = At(1796388500);
    if (status == v1::TASK_STATUS_COMPLETED) t.set_outcome_text("Finding confirmed by senior.");
    Json task = BuildTask(t, "task-1", Settings{});
    INFO(code);
    CHECK(task["status"] == code);
    CHECK(task["intent"] == "order");
    CHECK(task["priority"] == "stat");
    CHECK(task["code"]["coding"][0]["code"] == "approve");
    CHECK(task["identifier"][0]["value"] == "case-9");
    CHECK(task["focus"]["reference"] == "DiagnosticReport/report-xyz");
    CHECK(task["requester"]["identifier"]["value"] == "u-radiologist-7");
    CHECK(task["authoredOn"] == "2026-12-04T12:18:20Z");
    CHECK(task["restriction"]["period"]["end"] == "2026-12-04T12:48:20Z");
    CHECK(task["restriction"]["recipient"][0]["identifier"]["value"] == "neurosurgery");
    if (status == v1::TASK_STATUS_REQUESTED) {
      CHECK(task["owner"]["type"] == "CareTeam");
      CHECK(task["owner"]["identifier"]["value"] == "neurosurgery");
    } else {
      CHECK(task["owner"]["type"] == "Practitioner");
      CHECK(task["owner"]["identifier"]["value"] == "u-senior-2");
    }
    CHECK(task.contains("output") == (status == v1::TASK_STATUS_COMPLETED));
    if (status == v1::TASK_STATUS_COMPLETED) CHECK(task["output"][0]["valueString"] == "Finding confirmed by senior.");
    CHECK_FALSE(task.contains("for"));
  }
  v1::PublishTaskRequest t;
  t.set_case_id("case-10");
  t.set_status(v1::TASK_STATUS_REQUESTED);
  t.set_focus_resource_id("Observation/obs-3");
  Json task = BuildTask(t, "task-2", testing::HeadCtManifest(), Settings{});
  CHECK(task["for"]["identifier"]["value"] == "PX-000456");
  CHECK(task["focus"]["reference"] == "Observation/obs-3");
}

TEST_CASE("audit entries become AuditEvents with DICOM event codes, actions and outcomes", "[fhir][audit]") {
  Settings settings;
  struct Expected {
    audit::v1::EventType type;
    const char* code;
    const char* action;
  };
  const std::vector<Expected> table = {
      {audit::v1::EVENT_TYPE_STUDY_RECEIVED, "110107", "C"},
      {audit::v1::EVENT_TYPE_STUDY_ANALYSED, "110103", "R"},
      {audit::v1::EVENT_TYPE_ALERT_SENT, "110106", "R"},
      {audit::v1::EVENT_TYPE_REPORT_SENT, "110106", "R"},
      {audit::v1::EVENT_TYPE_FINDING_VIEWED, "110110", "R"},
      {audit::v1::EVENT_TYPE_FINDING_ACCEPTED, "110110", "U"},
      {audit::v1::EVENT_TYPE_FINDING_REJECTED, "110110", "U"},
      {audit::v1::EVENT_TYPE_CASE_ESCALATED, "110110", "C"},
      {audit::v1::EVENT_TYPE_ACCESS_REFUSED, "110113", "E"},
      {audit::v1::EVENT_TYPE_UNSPECIFIED, "110100", "E"},
  };
  for (const Expected& e : table) {
    Json ae = BuildAuditEvent(testing::AuditEntry(e.type, audit::v1::OUTCOME_SUCCESS, 7), "audit-7", settings);
    INFO(audit::v1::EventType_Name(e.type));
    CHECK(ae["type"]["system"] == kDcm);
    CHECK(ae["type"]["code"] == e.code);
    CHECK(ae["action"] == e.action);
    CHECK(ae["outcome"] == "0");
  }

  audit::v1::AuditEvent refused = testing::AuditEntry(audit::v1::EVENT_TYPE_ACCESS_REFUSED, audit::v1::OUTCOME_DENIED, 12);
  auto* reason = refused.add_attributes();
  reason->set_key("reason");
  reason->set_value("role radiologist lacks override for pneumothorax");
  Json ae = BuildAuditEvent(refused, "audit-12", settings);
  CHECK(ae["type"]["code"] == "110113");
  CHECK(ae["subtype"][0]["system"] == kDcm);
  CHECK(ae["subtype"][0]["code"] == "110132");
  CHECK(ae["subtype"][1]["code"] == "access-refused");
  CHECK(ae["outcome"] == "4");
  CHECK(ae["outcomeDesc"] == "Access refused: role radiologist lacks override for pneumothorax");
  CHECK(ae["recorded"] == "2026-12-04T12:15:13Z");
  CHECK(ae["period"]["start"] == "2026-12-04T12:15:12.250Z");
  const Json& user = ae["agent"][0];
  CHECK(user["requestor"] == true);
  CHECK(user["who"]["identifier"]["value"] == "u-radiologist-7");
  CHECK(user["role"].size() == 2);
  CHECK(user["role"][0]["coding"][0]["code"] == "radiologist");
  CHECK(user["network"]["address"] == "10.20.30.40");
  CHECK(user["network"]["type"] == "2");
  CHECK(ae["agent"][1]["requestor"] == false);
  CHECK(ae["agent"][1]["who"]["identifier"]["value"] == "escalation");
  CHECK(ae["source"]["observer"]["identifier"]["value"] == "escalation");

  const Json& study = ae["entity"][0];
  CHECK(HasCoding(study["what"]["identifier"]["type"], kDcm, "110180"));
  CHECK(study["what"]["identifier"]["value"] == "urn:oid:1.2.826.0.1.3680043.8.498.10001");
  bool finding = false;
  std::string hash;
  std::string sequence;
  for (const Json& entity : ae["entity"]) {
    if (entity.value("name", "") == "finding") finding = entity["what"]["identifier"]["value"] == "fnd-cxr-10001-1-pneumothorax";
    if (entity.value("name", "") == "audit log entry") {
      for (const Json& d : entity["detail"]) {
        if (d["type"] == "hash") hash = d["valueString"];
        if (d["type"] == "sequence") sequence = d["valueString"];
      }
    }
  }
  CHECK(finding);
  CHECK(sequence == "12");
  std::string expected_hash;  // 32 bytes of 0xAC, as AuditEntry(..., 12) sets them
  for (int i = 0; i < 32; ++i) expected_hash += "ac";
  CHECK(hash == expected_hash);

  audit::v1::AuditEvent failed = testing::AuditEntry(audit::v1::EVENT_TYPE_REPORT_SENT, audit::v1::OUTCOME_FAILURE, 3);
  CHECK(BuildAuditEvent(failed, "audit-3", settings)["outcome"] == "8");

  audit::v1::AuditEvent roles = testing::AuditEntry(audit::v1::EVENT_TYPE_USER_CHANGED, audit::v1::OUTCOME_SUCCESS, 4);
  auto* a = roles.add_attributes();
  a->set_key("roles_added");
  a->set_value("senior");
  CHECK(BuildAuditEvent(roles, "audit-4", settings)["subtype"][0]["code"] == "110136");
  roles.clear_attributes();
  CHECK(BuildAuditEvent(roles, "audit-4", settings)["subtype"][0]["code"] == "110137");
}

TEST_CASE("an error status maps to one HTTP status and OperationOutcome issue code", "[fhir][outcome]") {
  struct Expected {
    absl::Status status;
    int http;
    const char* code;
  };
  const std::vector<Expected> table = {
      {absl::InvalidArgumentError("report_id is empty"), 400, "invalid"},
      {absl::NotFoundError("no such report"), 404, "not-found"},
      {absl::PermissionDeniedError("not an auditor"), 403, "forbidden"},
      {absl::UnauthenticatedError("no token"), 401, "login"},
      {absl::UnavailableError("store down"), 503, "transient"},
      {absl::ResourceExhaustedError("outbox full"), 503, "throttled"},
      {absl::FailedPreconditionError("amended before final"), 409, "conflict"},
      {absl::InternalError("bug"), 500, "exception"},
      {absl::DataLossError("torn write"), 500, "exception"},
  };
  for (const Expected& e : table) {
    INFO(e.status.ToString());
    CHECK(HttpStatusFor(e.status) == e.http);
    Json oo = BuildOperationOutcome(e.status);
    CHECK(oo["resourceType"] == "OperationOutcome");
    CHECK(oo["issue"][0]["severity"] == "error");
    CHECK(oo["issue"][0]["code"] == e.code);
    CHECK(oo["issue"][0]["diagnostics"] == std::string(e.status.message()));
  }
  CHECK(HttpStatusFor(absl::OkStatus()) == 200);
  CHECK_FALSE(BuildOperationOutcome(absl::InternalError(""))["issue"][0].contains("diagnostics"));
}

TEST_CASE("the CapabilityStatement and searchset Bundle describe the facade and its results", "[fhir][server]") {
  Settings settings;
  Json cs = BuildCapabilityStatement("http://127.0.0.1:8090/fhir/",
                                     {{"DiagnosticReport", {{"patient", "reference"}, {"status", "token"}}},
                                      {"AuditEvent", {}}},
                                     settings);
  CHECK(cs["fhirVersion"] == "4.0.1");
  CHECK(cs["kind"] == "instance");
  CHECK(cs["status"] == "active");
  CHECK(cs["date"] == settings.release_date);
  CHECK(cs["implementation"]["url"] == "http://127.0.0.1:8090/fhir");
  CHECK(cs["software"]["version"] == settings.software_version);
  const Json& resources = cs["rest"][0]["resource"];
  REQUIRE(resources.size() == 2);
  CHECK(resources[0]["type"] == "DiagnosticReport");
  CHECK(resources[0]["interaction"][0]["code"] == "read");
  CHECK(resources[0]["interaction"][1]["code"] == "search-type");
  CHECK(resources[0]["searchParam"][1]["name"] == "status");
  CHECK_FALSE(resources[1].contains("searchParam"));

  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  ReportIds ids = IdsFor(report);
  Json bundle = BuildSearchSet({BuildDiagnosticReport(report, ids, settings), BuildObservation(report, 0, ids, settings)},
                               "http://127.0.0.1:8090/fhir/", "http://127.0.0.1:8090/fhir/DiagnosticReport?_id=x");
  CHECK(bundle["type"] == "searchset");
  CHECK(bundle["total"] == 2);
  CHECK(bundle["link"][0]["relation"] == "self");
  CHECK(bundle["entry"][0]["fullUrl"] == "http://127.0.0.1:8090/fhir/DiagnosticReport/" + ids.diagnostic_report);
  CHECK(bundle["entry"][1]["fullUrl"] == "http://127.0.0.1:8090/fhir/Observation/" + ids.observations[0]);
  CHECK(bundle["entry"][0]["search"]["mode"] == "match");
  Json empty = BuildSearchSet({}, "http://x/fhir", "");
  CHECK(empty["total"] == 0);
  CHECK_FALSE(empty.contains("entry"));
}

TEST_CASE("every id the builders emit matches the FHIR id pattern", "[fhir]") {
  v1::PublishReportRequest report = testing::HeadCtReport(v1::REPORT_STATUS_FINAL);
  ReportIds ids = IdsFor(report);
  for (const Json& r : {BuildDiagnosticReport(report, ids, Settings{}), BuildObservation(report, 0, ids, Settings{})}) {
    CHECK(std::regex_match(r["id"].get<std::string>(), kFhirId));
    if (r.contains("contained")) {
      for (const Json& c : r["contained"]) CHECK(std::regex_match(c["id"].get<std::string>(), kFhirId));
    }
  }
}

}  // namespace
}  // namespace parallax::fhir
