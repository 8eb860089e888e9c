#pragma once
// What the facade indexes and delivers a FHIR resource by, besides its type
// and logical id: the business identifier (the key of the conditional update
// to the EHR), the patient identifier, the study, the status and the date
// (the search columns), and the other resources it references (the
// outbox's ordering). Pure functions; thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace parallax::fhir_facade {

using Json = nlohmann::json;

// The six resource types the facade serves and delivers.
const std::vector<std::string>& SupportedTypes();
bool IsSupportedType(std::string_view type);

struct ResourceKeys {
  // Business identifier; empty value when the type has none (AuditEvent).
  std::string identifier_system;
  std::string identifier_value;
  // The subject's patient identifier (search parameter `patient`).
  std::string patient_system;
  std::string patient;
  // Study Instance UID (search parameter `study`; the outbox delivers the
  // resources of one study in the order they were stored).
  std::string study_instance_uid;
  // FHIR status code (search parameter `status`); empty when none.
  std::string status;
  // FHIR date/dateTime/instant (search parameter `date`); empty when none.
  std::string date;
};

// Keys read from the resource's standard elements:
//   identifier   the first identifier whose system is `business_system`,
//                else the first identifier with a system and a value;
//   patient      subject.identifier (Task: for.identifier; AuditEvent: the
//                entity whose what.identifier.system is `patient_system`);
//   status       status;
//   date         DiagnosticReport/Observation effectiveDateTime or issued,
//                ImagingStudy started, Communication sent, Task authoredOn,
//                AuditEvent recorded.
// study_instance_uid is not a standard element of most of these types: the
// caller sets it.
ResourceKeys StandardKeys(std::string_view type, const Json& resource, std::string_view business_system,
                          std::string_view patient_system);

// Every "Type/id" relative reference in the resource (values of "reference"
// elements), sorted and without duplicates.
std::vector<std::string> References(const Json& resource);

}  // namespace parallax::fhir_facade
