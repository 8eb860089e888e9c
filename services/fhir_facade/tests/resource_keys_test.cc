#include "resource_keys.h"

#include <catch2/catch.hpp>

namespace parallax::fhir_facade {
namespace {

const Json kReport = Json::parse(R"({
  "resourceType": "DiagnosticReport",
  "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.9"},
                 {"use": "official", "system": "urn:parallax:id", "value": "report-1"}],
  "status": "final",
  "subject": {"type": "Patient", "identifier": {"system": "urn:parallax:patient-id", "value": "P-7"}},
  "effectiveDateTime": "2026-12-04",
  "imagingStudy": [{"reference": "ImagingStudy/study-abc"}],
  "result": [{"reference": "Observation/obs-1"}, {"reference": "Observation/obs-2"},
             {"reference": "Observation/obs-1"}],
  "basedOn": [{"type": "ServiceRequest", "identifier": {"value": "ACC"}}],
  "presentedForm": [{"url": "http://pacs/x"}]
})");

TEST_CASE("standard keys come from the resource's identifier, subject, status and date", "[fhir_facade]") {
  ResourceKeys keys = StandardKeys("DiagnosticReport", kReport, "urn:parallax:id", "urn:parallax:patient-id");
  CHECK(keys.identifier_system == "urn:parallax:id");
  CHECK(keys.identifier_value == "report-1");
  CHECK(keys.patient_system == "urn:parallax:patient-id");
  CHECK(keys.patient == "P-7");
  CHECK(keys.status == "final");
  CHECK(keys.date == "2026-12-04");
  CHECK(keys.study_instance_uid.empty());

  // Without an identifier of the business system, the first complete one.
  ResourceKeys other = StandardKeys("DiagnosticReport", kReport, "urn:other", "urn:parallax:patient-id");
  CHECK(other.identifier_system == "urn:dicom:uid");
  CHECK(other.identifier_value == "urn:oid:1.2.9");
}

TEST_CASE("a Task's patient is its for element and an AuditEvent has no identifier", "[fhir_facade]") {
  Json task = {{"resourceType", "Task"},
               {"status", "requested"},
               {"authoredOn", "2026-12-04T10:00:00Z"},
               {"for", {{"identifier", {{"system", "urn:parallax:patient-id"}, {"value", "P-8"}}}}}};
  ResourceKeys t = StandardKeys("Task", task, "urn:parallax:id", "urn:parallax:patient-id");
  CHECK(t.patient == "P-8");
  CHECK(t.date == "2026-12-04T10:00:00Z");
  CHECK(t.identifier_value.empty());

  Json audit = {{"resourceType", "AuditEvent"}, {"recorded", "2026-12-04T10:00:00Z"}};
  ResourceKeys a = StandardKeys("AuditEvent", audit, "urn:parallax:id", "urn:parallax:patient-id");
  CHECK(a.identifier_value.empty());
  CHECK(a.status.empty());
  CHECK(a.date == "2026-12-04T10:00:00Z");
}

TEST_CASE("references lists each relative reference once", "[fhir_facade]") {
  CHECK(References(kReport) ==
        std::vector<std::string>{"ImagingStudy/study-abc", "Observation/obs-1", "Observation/obs-2"});
  CHECK(IsSupportedType("Observation"));
  CHECK_FALSE(IsSupportedType("Patient"));
}

}  // namespace
}  // namespace parallax::fhir_facade
