#pragma once
// FHIR R4 JSON resources built from Parallax's results. Pure functions (no
// I/O, thread-safe); every resource they return validates against the
// official FHIR R4 JSON schema (tested with the npm schema validator).
// The JSON may carry patient identifiers (it goes to the EHR): never log it.
// Ids passed in (`id`, ReportIds) must be FHIR ids (IsValidFhirId); use
// LogicalId to make them. Strings from the inputs are carried as given, and
// empty ones are left out (FHIR JSON allows no empty values).
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/status.h>
#include <nlohmann/json.hpp>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/fhir/v1/fhir_facade.pb.h"

namespace parallax::fhir {

using Json = nlohmann::json;

// Site-wide identifier systems and names the resources carry.
struct Settings {
  // Identifier system of the hospital's patient ids (DICOM PatientID); the
  // subject is a logical reference by identifier.
  std::string patient_identifier_system = "urn:parallax:patient-id";
  // Identifier system of accession numbers (ServiceRequest / ImagingStudy).
  std::string accession_identifier_system = "urn:parallax:accession";
  // Identifier system of Parallax's own business ids (report_id, alert_id,
  // case_id, audit sequence, finding_id); conditional creates use it.
  std::string parallax_identifier_system = "urn:parallax:id";
  // Name of the reporting organisation / software shown as performer.
  std::string organisation_name = "Parallax";
  std::string software_version = "0.1.0";
  // Identifier systems of Parallax user ids (Practitioner by identifier),
  // routing group names (Group / CareTeam by identifier) and service names
  // (AuditEvent observer and service agents).
  std::string user_identifier_system = "urn:parallax:user";
  std::string group_identifier_system = "urn:parallax:group";
  std::string service_identifier_system = "urn:parallax:service";
  // DICOMweb WADO-RS base (e.g. "https://pacs.example.org/dicom-web"). When
  // set, DICOM evidence (SR, SC, SEG) becomes DiagnosticReport.presentedForm
  // attachments of type application/dicom with the WADO-RS instance URL;
  // when empty, only the SR is carried, as a report identifier (urn:oid).
  std::string dicomweb_base_url;
  // Where Parallax's own heatmap PNGs are served (the facade's /evidence
  // route, e.g. "http://127.0.0.1:8090/evidence"): a finding's evidence uri
  // "parallax:triage/evidence/<finding>/<sop>" becomes
  // "<evidence_base_url>/<finding>/<sop>.png". Empty: such PNGs are left out.
  std::string evidence_base_url;
  // UTC offset of the DICOM StudyDate/StudyTime (e.g. "+01:00"). DICOM times
  // carry no zone and FHIR requires one with a time: when empty,
  // ImagingStudy.started / effectiveDateTime carry the date only.
  std::string dicom_timezone_offset;
  // FHIR date of this software release: CapabilityStatement.date.
  std::string release_date = "2026-12-04";
};

// FHIR instant ("2026-01-02T03:04:05Z", or with ".123" milliseconds) of a
// protobuf timestamp; "" when the timestamp is unset (0) or outside the
// years 1..9999.
std::string FhirInstant(const google::protobuf::Timestamp& timestamp);

// True when `id` matches FHIR's id pattern [A-Za-z0-9\-\.]{1,64}.
bool IsValidFhirId(std::string_view id);

// A FHIR logical id for a Parallax business key: "<prefix>-" followed by the
// first 40 hex digits of SHA-256(key); matches [A-Za-z0-9\-\.]{1,64}.
std::string LogicalId(std::string_view prefix, std::string_view key);

// The logical ids of one report and its parts.
struct ReportIds {
  std::string diagnostic_report;           // DiagnosticReport id
  std::vector<std::string> observations;   // one per request.observations(), in order
  std::string imaging_study;               // ImagingStudy id (referenced, may be built separately)
};

// ImagingStudy for a study manifest (series, instances, modality, started).
//   identifier: Study Instance UID (urn:dicom:uid, urn:oid:<uid>) and the
//   accession number (type ACSN); status available; subject by identifier
//   (a display-only Patient reference when the manifest has no patient id,
//   since R4 requires one); started from StudyDate/StudyTime (see
//   Settings::dicom_timezone_offset); modality and series modality as DCM
//   codings; series bodySite as SNOMED CT for the common Body Part
//   Examined terms (display only otherwise), laterality L/R; instance uid,
//   sopClass urn:ietf:rfc:3986 "urn:oid:<class uid>", number.
Json BuildImagingStudy(const common::v1::StudyManifest& manifest, const std::string& id, const Settings& settings);

// Observation for one finding of a report: code, status following the
// report, valueCodeableConcept present/absent, bodySite with laterality,
// components for probability and area or volume, device (model name,
// version, device UID), derivedFrom the ImagingStudy, performer.
//   status: preliminary / final / amended as the report ("unknown" when
//     unspecified); category imaging; code = finding.code (text = label);
//   identifier: parallax system + finding_id;
//   subject: Patient by identifier (manifest patient id, issuer as
//     assigner); absent when the request has no manifest;
//   valueCodeableConcept: SNOMED 52101004 Present / 2667000 Absent, and
//     interpretation POS / NEG (v3-ObservationInterpretation);
//   bodySite: finding.site coded, zone as text;
//   laterality: a component coded SNOMED 272741003 "Laterality" whose
//     valueCodeableConcept is 7771000 Left / 24028007 Right / 51440002
//     Bilateral (Midline as text). R4 has no laterality element and a second
//     coding in bodySite would claim the side is the same concept as the
//     site, so a component it is;
//   components: probability and operating point (urn:parallax:measurement,
//     %, UCUM), area SNOMED 42798000 (cm2), volume SNOMED 118565006 (mL),
//     each Measurement (its code, its UCUM unit), subtype (valueString),
//     quality flags (urn:parallax:quality-flag);
//   device: "#model", a contained Device with the model id (deviceName,
//     modelNumber), version and the device UID as urn:oid identifier (IHE
//     AIR); method: urn:parallax:method ai-inference;
//   change since the prior study (finding.prior_comparison set, change not
//     UNSPECIFIED): a component urn:parallax:measurement
//     "change-since-prior" whose valueCodeableConcept is
//     urn:parallax:change-since-prior no-prior / new / larger / stable /
//     smaller / resolved with the change in words as text ("stable since
//     prior of 2026-06-01 (92 days): 12.1 mL -> 11.8 mL"; "no prior
//     available"); components "prior-size" and "current-size" (each when
//     measured, unit mL or cm2, UCUM) and "interval-since-prior" (days,
//     UCUM "d"; not for no-prior);
//   derivedFrom: the ImagingStudy (reference when ids.imaging_study is set,
//     and always its Study Instance UID identifier), then the prior study
//     compared with, as an ImagingStudy by its Study Instance UID
//     (urn:oid) with display "Prior study of <date> compared";
//   performer: the organisation, then each performer user (Practitioner by
//     identifier); effectiveDateTime from the study date, issued = report.
// The id is ids.observations[index], or LogicalId("obs", report_id + "/" +
// finding_id) when the caller gave none. Returns null Json when index is
// out of range.
Json BuildObservation(const v1::PublishReportRequest& report, int index, const ReportIds& ids,
                      const Settings& settings);

// DiagnosticReport (preliminary / final / amended) referencing its
// Observations and ImagingStudy, with the conclusion and the heatmap
// evidence as presentedForm or media links.
//   category RAD (v2-0074), code LOINC 18748-4; identifier: parallax system
//   + report_id (official) and, when sent, the DICOM SR's SOP Instance UID
//   as urn:oid (secondary); basedOn: ServiceRequest by accession number;
//   result: Observation/<id> in request order (the same ids
//   BuildObservation uses); imagingStudy: the study, then each prior study
//   a finding was compared with (by Study Instance UID, once each);
//   resultsInterpreter: Practitioners by identifier;
//   presentedForm: each finding's EVIDENCE_KIND_HEATMAP_PNG with an http(s)
//   uri as image/png, and, only when settings.dicomweb_base_url is set,
//   DICOM evidence (SC, SEG, SR) with a series UID as application/dicom at
//   its WADO-RS URL. Non-http evidence uris (file paths) are never carried.
Json BuildDiagnosticReport(const v1::PublishReportRequest& report, const ReportIds& ids, const Settings& settings);

// Communication of an alert: priority, recipient (group), payload text,
// `about` the preliminary DiagnosticReport when report_resource_id is set.
//   status: the request's status (in-progress / completed / entered-in-error / stopped); when unspecified completed if `sent` is set, else in-progress; category alert
//   (positive finding or priority above routine) or notification; priority
//   routine / urgent / asap / stat (absent when unspecified); recipient:
//   the routing group as Group by identifier (group system), then users as
//   Practitioners; about: DiagnosticReport/<report_resource_id>, else the
//   report by its Parallax id (identifier), then the ImagingStudy by UID;
//   reasonCode: the finding's code; payload: payload_text, or a generated
//   "AI finding: <name>, <side>, area/volume, <change since prior>,
//   probability" without patient data; identifier: alert_id.
Json BuildCommunication(const v1::PublishCommunicationRequest& request, const std::string& id,
                        const std::string& report_resource_id, const Settings& settings);

// Task for an escalation case: status, priority, focus, owner, requester,
// authoredOn, restriction.period.end = due, output = outcome.
//   status requested / accepted / in-progress / completed / cancelled
//   ("draft" when unspecified); intent order; code task-code "approve";
//   focus: focus_resource_id as "Type/id", a bare id taken as a
//   DiagnosticReport's (the ImagingStudy by UID when empty); owner: the
//   assigned user (Practitioner), else the group as a CareTeam by
//   identifier (R4 Task.owner cannot be a Group); restriction.recipient:
//   the group as Group; output: type "Decision", valueString outcome_text;
//   identifier: case_id. No `for`: see the overload with a manifest.
Json BuildTask(const v1::PublishTaskRequest& request, const std::string& id, const Settings& settings);
// The same Task with `for` = the patient of `manifest` (PublishTaskRequest
// carries no patient; the facade passes the study's manifest when it has it).
Json BuildTask(const v1::PublishTaskRequest& request, const std::string& id,
               const common::v1::StudyManifest& manifest, const Settings& settings);

// AuditEvent mirroring one audit log entry, with the DICOM / IHE audit codes
// (DCM 110100 application activity, 110110 patient record, 110114 user
// authentication, 110106 export, 110107 import, ...) where they apply.
//   type / action per EventType: STUDY_RECEIVED 110107 Import C;
//   STUDY_ANALYSED 110103 DICOM Instances Accessed R; ALERT_SENT and
//   REPORT_SENT 110106 Export R; FINDING_VIEWED 110110 Patient Record R;
//   CASE_ESCALATED 110110 C; ALERT_ACKNOWLEDGED, FINDING_ACCEPTED /
//   REJECTED / MODIFIED, CASE_DECIDED 110110 U; ACCESS_REFUSED 110113
//   Security Alert E, subtype 110132 Use of Restricted Function;
//   USER_CHANGED 110113 U, subtype 110136 Security Roles Changed when an
//   attribute key mentions "role", else 110137 User Security Attributes
//   Changed; unspecified 110100 Application Activity E. A second subtype
//   names the Parallax event type (urn:parallax:audit-event-type).
//   outcome: 0 success, 4 (minor failure) for DENIED (the system worked
//   and refused the request) and 8 (serious failure) for FAILURE;
//   outcomeDesc from an attribute "reason" / "error" when present.
//   recorded = recorded_at (else occurred_at, else the epoch); period =
//   occurred_at. agent[0] is the actor (requestor true; user as
//   Practitioner by identifier with roles as agent.role, service or
//   external system as Device; network address without gRPC scheme or
//   port, type 2 IP or 1 name); agent[1] is the recording service
//   (requestor false) when it is not the actor. source.observer = service.
//   entity: the study (identifier type DCM 110180 Study Instance UID,
//   urn:oid, generation as detail), SOP instance, finding (label and model
//   as details), alert, review, case, report (parallax ids), and the log
//   entry itself with details sequence, hash, previous_hash (hex),
//   event_id, trace_id and the attributes.
Json BuildAuditEvent(const audit::v1::AuditEvent& event, const std::string& id, const Settings& settings);

// OperationOutcome for an error status (issue severity error, code mapped
// from the status: invalid, not-found, forbidden, login, transient,
// throttled, exception), and the HTTP status that goes with it.
// The one table: INVALID_ARGUMENT / OUT_OF_RANGE 400 invalid,
// UNAUTHENTICATED 401 login, PERMISSION_DENIED 403 forbidden, NOT_FOUND 404
// not-found, ALREADY_EXISTS 409 duplicate, FAILED_PRECONDITION / ABORTED
// 409 conflict, UNIMPLEMENTED 501 not-supported, UNAVAILABLE 503
// transient, RESOURCE_EXHAUSTED 503 throttled, DEADLINE_EXCEEDED 504
// timeout, anything else 500 exception; OK 200 (severity information).
// diagnostics = the status message (left out when empty).
Json BuildOperationOutcome(const absl::Status& status);
int HttpStatusFor(const absl::Status& status);

// One search parameter a resource type supports, for the CapabilityStatement.
struct SearchParam {
  std::string name;  // e.g. "patient", "study", "status", "date"
  std::string type;  // FHIR search param type: "reference", "token", "date", "string"
};
struct ResourceCapability {
  std::string type;  // e.g. "DiagnosticReport"
  std::vector<SearchParam> search_params;
};

// CapabilityStatement (kind instance, fhirVersion 4.0.1, format json) for
// the facade at base_url with read and search-type per resource.
Json BuildCapabilityStatement(const std::string& base_url, const std::vector<ResourceCapability>& resources,
                              const Settings& settings);

// Bundle of type searchset with total and fullUrl per entry
// (base_url/<resourceType>/<id>, trailing '/' of base_url ignored); link
// self = self_url when non-empty; no entry array when there are none.
Json BuildSearchSet(const std::vector<Json>& resources, const std::string& base_url, const std::string& self_url);

}  // namespace parallax::fhir
