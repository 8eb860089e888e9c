// Every resource the builders produce, from realistic inputs, validated by
// HL7's official FHIR R4 JSON schema (node tools/fhir-validator), and proof
// that the validator rejects what it must.
#include <fstream>

#include <catch2/catch.hpp>

#include "fhir_test_support.h"
#include "parallax/fhir/resources.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::fhir {
namespace {

using testing::At;
using Named = std::vector<std::pair<std::string, Json>>;

ReportIds IdsFor(const v1::PublishReportRequest& r) {
  ReportIds ids;
  ids.diagnostic_report = LogicalId("report", r.report_id());
  for (const auto& o : r.observations()) ids.observations.push_back(LogicalId("obs", o.finding().finding_id()));
  ids.imaging_study = LogicalId("study", r.study().study_instance_uid());
  return ids;
}

void AddReport(Named& out, const std::string& name, const v1::PublishReportRequest& r, const Settings& settings) {
  ReportIds ids = IdsFor(r);
  out.emplace_back(name + "-report", BuildDiagnosticReport(r, ids, settings));
  for (int i = 0; i < r.observations_size(); ++i) {
    out.emplace_back(name + "-observation-" + std::to_string(i), BuildObservation(r, i, ids, settings));
  }
}

Named EveryResource() {
  Settings settings;
  Settings dicomweb = settings;
  dicomweb.dicomweb_base_url = "https://pacs.example.org/dicom-web/";
  dicomweb.dicom_timezone_offset = "+01:00";
  Named out;

  out.emplace_back("imagingstudy-chest", BuildImagingStudy(testing::ChestRadiographManifest(), "study-1", settings));
  out.emplace_back("imagingstudy-headct-tz", BuildImagingStudy(testing::HeadCtManifest(), "study-2", dicomweb));
  common::v1::StudyManifest bare;
  bare.set_study_instance_uid("1.2.3.4");
  out.emplace_back("imagingstudy-bare", BuildImagingStudy(bare, "study-3", settings));

  AddReport(out, "chest-preliminary", testing::ChestReport(v1::REPORT_STATUS_PRELIMINARY), settings);
  AddReport(out, "chest-final", testing::ChestReport(v1::REPORT_STATUS_FINAL), settings);
  AddReport(out, "chest-amended-dicomweb", testing::ChestReport(v1::REPORT_STATUS_AMENDED), dicomweb);
  AddReport(out, "headct-final", testing::HeadCtReport(v1::REPORT_STATUS_FINAL), dicomweb);
  v1::PublishReportRequest no_manifest = testing::HeadCtReport(v1::REPORT_STATUS_PRELIMINARY);
  no_manifest.clear_manifest();
  AddReport(out, "headct-no-manifest", no_manifest, settings);
  // Every change class since a prior study (components, prior study refs).
  for (auto change : {common::v1::CHANGE_CLASS_NO_PRIOR, common::v1::CHANGE_CLASS_NEW, common::v1::CHANGE_CLASS_LARGER,
                      common::v1::CHANGE_CLASS_STABLE, common::v1::CHANGE_CLASS_SMALLER,
                      common::v1::CHANGE_CLASS_RESOLVED}) {
    AddReport(out, "headct-followup-" + common::v1::ChangeClass_Name(change),
              testing::HeadCtFollowUpReport(v1::REPORT_STATUS_FINAL, change), settings);
  }

  for (auto priority : {v1::COMMUNICATION_PRIORITY_UNSPECIFIED, v1::COMMUNICATION_PRIORITY_ROUTINE,
                        v1::COMMUNICATION_PRIORITY_URGENT, v1::COMMUNICATION_PRIORITY_ASAP,
                        v1::COMMUNICATION_PRIORITY_STAT}) {
    v1::PublishCommunicationRequest c;
    c.set_alert_id("alert-" + std::to_string(priority));
    c.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.10001");
    *c.mutable_manifest() = testing::ChestRadiographManifest();
    *c.mutable_finding() = testing::RightPneumothorax();
    c.set_priority(priority);
    c.set_recipient_group("thoracic-radiology");
    c.add_recipient_user_ids("u-radiologist-7");
    if (priority == v1::COMMUNICATION_PRIORITY_STAT) c.set_payload_text("Right pneumothorax, 12 cm2: please review now.");
    c.set_diagnostic_report_id("rpt-cxr-10001-1");
    if (priority != v1::COMMUNICATION_PRIORITY_UNSPECIFIED) *c.mutable_sent() = At(1796386600);
    out.emplace_back("communication-" + v1::CommunicationPriority_Name(priority),
                     BuildCommunication(c, LogicalId("alert", c.alert_id()),
                                        priority == v1::COMMUNICATION_PRIORITY_ASAP ? "" : "report-abc", settings));
  }

  {
    // An alert on a haemorrhage stable since the prior, with the generated text.
    v1::PublishCommunicationRequest c;
    c.set_alert_id("alert-followup");
    c.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.20002");
    *c.mutable_manifest() = testing::HeadCtManifest();
    *c.mutable_finding() =
        testing::HeadCtFollowUpReport(v1::REPORT_STATUS_PRELIMINARY, common::v1::CHANGE_CLASS_STABLE)
            .observations(0)
            .finding();
    c.set_priority(v1::COMMUNICATION_PRIORITY_URGENT);
    c.set_recipient_group("neuroradiology");
    out.emplace_back("communication-followup", BuildCommunication(c, "alert-followup", "report-abc", settings));
  }

  // Each alert state's Communication status (alert routing: open or
  // acknowledged in-progress, resolved completed, withdrawn
  // entered-in-error; stopped offered).
  for (auto status : {v1::COMMUNICATION_STATUS_IN_PROGRESS, v1::COMMUNICATION_STATUS_COMPLETED,
                      v1::COMMUNICATION_STATUS_ENTERED_IN_ERROR, v1::COMMUNICATION_STATUS_STOPPED}) {
    v1::PublishCommunicationRequest c;
    c.set_alert_id("alert-status-" + std::to_string(status));
    c.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.10001");
    *c.mutable_manifest() = testing::ChestRadiographManifest();
    *c.mutable_finding() = testing::RightPneumothorax();
    c.set_priority(v1::COMMUNICATION_PRIORITY_STAT);
    c.set_recipient_group("thoracic-radiology");
    c.set_payload_text("Resolved (finding accepted): Critical: pneumothorax, right");
    c.set_diagnostic_report_id("rpt-cxr-10001-1");
    *c.mutable_sent() = At(1796386600);
    c.set_status(status);
    out.emplace_back("communication-" + v1::CommunicationStatus_Name(status),
                     BuildCommunication(c, LogicalId("alert", c.alert_id()), "report-abc", settings));
  }

  for (auto status : {v1::TASK_STATUS_UNSPECIFIED, v1::TASK_STATUS_REQUESTED, v1::TASK_STATUS_ACCEPTED,
                      v1::TASK_STATUS_IN_PROGRESS, v1::TASK_STATUS_COMPLETED, v1::TASK_STATUS_CANCELLED}) {
    v1::PublishTaskRequest t;
    t.set_case_id("case-" + std::to_string(status));
    t.set_status(status);
    t.mutable_study()->set_study_instance_uid("1.2.826.0.1.3680043.8.498.20002");
    t.set_focus_resource_id(status == v1::TASK_STATUS_ACCEPTED ? "Observation/obs-1" : "report-1");
    t.set_requester_user_id("u-radiologist-7");
    t.set_owner_group("neurosurgery");
    if (status >= v1::TASK_STATUS_ACCEPTED) t.set_owner_user_id("u-senior-2");
    t.set_priority(v1::COMMUNICATION_PRIORITY_URGENT);
    t.set_description("Rejected critical finding: subdural haemorrhage. Senior review required.");
    *t.mutable_authored_on() = At(1796386700);
    *t.mutable_due() = At(1796388500);
    if (status == v1::TASK_STATUS_COMPLETED) t.set_outcome_text("Senior confirmed the AI finding; report amended.");
    out.emplace_back("task-" + v1::TaskStatus_Name(status), BuildTask(t, LogicalId("case", t.case_id()), settings));
    if (status == v1::TASK_STATUS_REQUESTED) {
      out.emplace_back("task-with-patient", BuildTask(t, "case-p", testing::HeadCtManifest(), settings));
    }
  }

  for (int type = audit::v1::EventType_MIN; type <= audit::v1::EventType_MAX; ++type) {
    auto t = static_cast<audit::v1::EventType>(type);
    auto outcome = t == audit::v1::EVENT_TYPE_ACCESS_REFUSED ? audit::v1::OUTCOME_DENIED : audit::v1::OUTCOME_SUCCESS;
    audit::v1::AuditEvent e = testing::AuditEntry(t, outcome, type + 1);
    if (t == audit::v1::EVENT_TYPE_USER_CHANGED) {
      auto* a = e.add_attributes();
      a->set_key("roles_added");
      a->set_value("senior");
    }
    out.emplace_back("auditevent-" + audit::v1::EventType_Name(t), BuildAuditEvent(e, LogicalId("audit", std::to_string(type + 1)), settings));
  }
  audit::v1::AuditEvent service = testing::AuditEntry(audit::v1::EVENT_TYPE_STUDY_RECEIVED,
                                                      audit::v1::OUTCOME_FAILURE, 40);
  service.mutable_actor()->Clear();
  service.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM);
  service.mutable_actor()->set_system_id("PACS_AE");
  service.mutable_actor()->set_network_address("ipv6:[::1]:11112");
  service.set_service("ingest");
  out.emplace_back("auditevent-external-failure", BuildAuditEvent(service, "audit-40", settings));
  audit::v1::AuditEvent minimal;
  minimal.set_type(audit::v1::EVENT_TYPE_STUDY_ANALYSED);
  minimal.set_service("triage");
  minimal.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_SERVICE);
  out.emplace_back("auditevent-minimal", BuildAuditEvent(minimal, "audit-41", settings));

  for (const absl::Status& s : {absl::OkStatus(), absl::InvalidArgumentError("status is unspecified"),
                                absl::NotFoundError("no DiagnosticReport with that id"),
                                absl::PermissionDeniedError("role radiologist may not read AuditEvent"),
                                absl::UnauthenticatedError("no bearer token"), absl::UnavailableError("store down"),
                                absl::ResourceExhaustedError("outbox full"),
                                absl::FailedPreconditionError("amended before any final report"),
                                absl::InternalError(""), absl::DeadlineExceededError("ingest timed out")}) {
    out.emplace_back("operationoutcome-" + std::to_string(static_cast<int>(s.code())), BuildOperationOutcome(s));
  }

  std::vector<ResourceCapability> caps = {
      {"DiagnosticReport", {{"patient", "reference"}, {"status", "token"}, {"date", "date"}, {"identifier", "token"}}},
      {"Observation", {{"patient", "reference"}, {"code", "token"}}},
      {"Communication", {}},
      {"Task", {{"status", "token"}}},
      {"AuditEvent", {{"date", "date"}, {"type", "token"}}},
  };
  out.emplace_back("capabilitystatement", BuildCapabilityStatement("http://127.0.0.1:8090/fhir/", caps, settings));

  std::vector<Json> found;
  for (const auto& [name, resource] : out) {
    if (name.rfind("chest-final", 0) == 0) found.push_back(resource);
  }
  out.emplace_back("bundle-searchset", BuildSearchSet(found, "http://127.0.0.1:8090/fhir",
                                                      "http://127.0.0.1:8090/fhir/DiagnosticReport?patient=x"));
  out.emplace_back("bundle-empty", BuildSearchSet({}, "http://127.0.0.1:8090/fhir", ""));
  return out;
}

TEST_CASE("every resource Parallax builds validates against the official FHIR R4 JSON schema", "[fhir][schema]") {
  Named resources = EveryResource();
  REQUIRE(resources.size() > 50);
  parallax::testing::TempDir dir("parallax-fhir");
  std::vector<std::string> files = testing::WriteResources(dir.path(), resources);
  testing::ValidatorRun run = testing::RunValidator(files);
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(run.output.find(std::to_string(files.size()) + " valid, 0 invalid") != std::string::npos);
  // PARALLAX_FHIR_EXAMPLES_DIR=<dir> keeps a copy of every resource to read.
  std::string keep = parallax::testing::Env("PARALLAX_FHIR_EXAMPLES_DIR");
  if (!keep.empty()) {
    std::filesystem::create_directories(keep);
    testing::WriteResources(keep, resources);
  }
}

TEST_CASE("the schema validator rejects deliberately invalid resources and names the file and path",
          "[fhir][schema]") {
  v1::PublishReportRequest report = testing::ChestReport(v1::REPORT_STATUS_FINAL);
  ReportIds ids = IdsFor(report);
  Json good = BuildObservation(report, 0, ids, Settings{});

  Json bogus_status = good;
  bogus_status["status"] = "bogus";
  Json no_code = good;
  no_code.erase("code");
  Json unknown_element = good;
  unknown_element["laterality"] = "right";  // not an R4 Observation element
  Json bad_id = good;
  bad_id["id"] = "obs_with_underscore";
  Json bad_instant = good;
  bad_instant["issued"] = "2026-12-04 12:15:30";
  Json bad_unit = good;
  bad_unit["component"][0]["valueQuantity"]["value"] = "97.3";
  Json empty_array = good;
  empty_array["performer"] = Json::array();

  parallax::testing::TempDir dir("parallax-fhir-invalid");
  std::vector<std::string> files = testing::WriteResources(
      dir.path(), {{"good", good},
                   {"bogus-status", bogus_status},
                   {"no-code", no_code},
                   {"unknown-element", unknown_element},
                   {"bad-id", bad_id},
                   {"bad-instant", bad_instant},
                   {"string-quantity", bad_unit},
                   {"empty-array", empty_array}});
  testing::ValidatorRun run = testing::RunValidator(files);
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK(run.output.find("1 valid, 7 invalid") != std::string::npos);
  CHECK(run.output.find("good.json:") == std::string::npos);
  CHECK(run.output.find("bogus-status.json: $.status:") != std::string::npos);
  CHECK(run.output.find("no-code.json: $.code: is required") != std::string::npos);
  CHECK(run.output.find("unknown-element.json: $.laterality:") != std::string::npos);
  CHECK(run.output.find("bad-id.json: $.id:") != std::string::npos);
  CHECK(run.output.find("bad-instant.json: $.issued:") != std::string::npos);
  CHECK(run.output.find("string-quantity.json: $.component[0].valueQuantity.value:") != std::string::npos);
  CHECK(run.output.find("empty-array.json: $.performer:") != std::string::npos);
}

TEST_CASE("the schema validator rejects an unknown resource type and unreadable JSON", "[fhir][schema]") {
  parallax::testing::TempDir dir("parallax-fhir-invalid");
  std::vector<std::string> files =
      testing::WriteResources(dir.path(), {{"unknown-type", Json{{"resourceType", "Finding"}, {"id", "x"}}}});
  std::string broken = (dir.path() / "broken.json").string();
  {
    std::ofstream out(broken);
    out << "{\"resourceType\": \"Observation\",";
  }
  files.push_back(broken);
  testing::ValidatorRun run = testing::RunValidator(files);
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK(run.output.find("unknown-type.json: $.resourceType: unknown resourceType") != std::string::npos);
  CHECK(run.output.find("broken.json: $: cannot read JSON") != std::string::npos);
}

}  // namespace
}  // namespace parallax::fhir
