// Communication (an alert) and Task (an escalation case).
#include <cmath>
#include <string>

#include "fhir_common.h"
#include "parallax/fhir/resources.h"

namespace parallax::fhir {

using namespace internal;  // NOLINT: private helpers of this library

namespace {

// FHIR request-priority code; "" for unspecified.
const char* PriorityCode(v1::CommunicationPriority priority) {
  switch (priority) {
    case v1::COMMUNICATION_PRIORITY_ROUTINE:
      return "routine";
    case v1::COMMUNICATION_PRIORITY_URGENT:
      return "urgent";
    case v1::COMMUNICATION_PRIORITY_ASAP:
      return "asap";
    case v1::COMMUNICATION_PRIORITY_STAT:
      return "stat";
    default:
      return "";
  }
}

// FHIR EventStatus code of a Communication; "" for unspecified.
const char* CommunicationStatusCode(v1::CommunicationStatus status) {
  switch (status) {
    case v1::COMMUNICATION_STATUS_IN_PROGRESS:
      return "in-progress";
    case v1::COMMUNICATION_STATUS_COMPLETED:
      return "completed";
    case v1::COMMUNICATION_STATUS_ENTERED_IN_ERROR:
      return "entered-in-error";
    case v1::COMMUNICATION_STATUS_STOPPED:
      return "stopped";
    default:
      return "";
  }
}

const char* TaskStatusCode(v1::TaskStatus status) {
  switch (status) {
    case v1::TASK_STATUS_REQUESTED:
      return "requested";
    case v1::TASK_STATUS_ACCEPTED:
      return "accepted";
    case v1::TASK_STATUS_IN_PROGRESS:
      return "in-progress";
    case v1::TASK_STATUS_COMPLETED:
      return "completed";
    case v1::TASK_STATUS_CANCELLED:
      return "cancelled";
    default:
      return "draft";  // not yet actionable
  }
}

const char* SideText(common::v1::Laterality laterality) {
  switch (laterality) {
    case common::v1::LATERALITY_LEFT:
      return "left";
    case common::v1::LATERALITY_RIGHT:
      return "right";
    case common::v1::LATERALITY_BILATERAL:
      return "bilateral";
    case common::v1::LATERALITY_MIDLINE:
      return "midline";
    default:
      return "";
  }
}

// "AI finding: Pneumothorax, right, area 12.5 cm2, probability 97%" (with
// the change since the prior, ChangeSincePriorText, before the probability
// when the finding carries a comparison): the payload when the caller gave
// no text. Carries no patient data.
std::string DefaultAlertText(const common::v1::Finding& f) {
  std::string name = f.code().display().empty() ? f.label() : f.code().display();
  std::string text = "AI finding: " + (name.empty() ? std::string("unnamed finding") : name);
  if (!f.subtype().empty()) text += " (" + f.subtype() + ")";
  if (*SideText(f.laterality()) != '\0') text += ", " + std::string(SideText(f.laterality()));
  char buffer[64];
  if (f.has_area_cm2() && std::isfinite(f.area_cm2())) {
    std::snprintf(buffer, sizeof buffer, ", area %.1f cm2", f.area_cm2());
    text += buffer;
  }
  if (f.has_volume_ml() && std::isfinite(f.volume_ml())) {
    std::snprintf(buffer, sizeof buffer, ", volume %.0f mL", f.volume_ml());
    text += buffer;
  }
  if (f.has_prior_comparison()) {
    if (std::string change = ChangeSincePriorText(f.prior_comparison()); !change.empty()) text += ", " + change;
  }
  if (std::isfinite(f.probability())) {
    std::snprintf(buffer, sizeof buffer, ", probability %.0f%%", f.probability() * 100.0);
    text += buffer;
  }
  return text;
}

Json StudyAbout(const std::string& study_uid) {
  return Json{{"type", "ImagingStudy"}, {"identifier", DicomUidIdentifier(study_uid)}};
}

Json TaskImpl(const v1::PublishTaskRequest& request, const std::string& id, const Json& patient,
              const Settings& settings) {
  Json task{{"resourceType", "Task"}, {"id", id}};
  if (!request.case_id().empty()) {
    task["identifier"] = Json::array({Json{{"system", settings.parallax_identifier_system}, {"value", request.case_id()}}});
  }
  task["status"] = TaskStatusCode(request.status());
  task["intent"] = "order";
  SetIfNotEmpty(task, "priority", PriorityCode(request.priority()));
  task["code"] = Concept("http://hl7.org/fhir/CodeSystem/task-code", "approve", "Activate/approve the focal resource",
                         "Senior review of an AI finding");
  SetIfNotEmpty(task, "description", request.description());
  // focus_resource_id: "DiagnosticReport/<id>" or "Observation/<id>" as
  // given; a bare logical id is a DiagnosticReport's.
  const std::string& focus = request.focus_resource_id();
  if (!focus.empty()) {
    task["focus"] = Json{{"reference", focus.find('/') == std::string::npos ? "DiagnosticReport/" + focus : focus}};
  } else if (!request.study().study_instance_uid().empty()) {
    task["focus"] = StudyAbout(request.study().study_instance_uid());
  }
  if (!patient.is_null()) task["for"] = patient;
  SetIfNotEmpty(task, "authoredOn", FhirInstant(request.authored_on()));
  if (!request.requester_user_id().empty()) task["requester"] = UserReference(request.requester_user_id(), settings);
  // Task.owner cannot be a Group in R4: an assigned user is a Practitioner,
  // an unassigned case belongs to the routing group as a CareTeam.
  if (!request.owner_user_id().empty()) {
    task["owner"] = UserReference(request.owner_user_id(), settings);
  } else if (!request.owner_group().empty()) {
    task["owner"] = IdentifierReference("CareTeam", settings.group_identifier_system, request.owner_group(),
                                        request.owner_group());
  }
  Json restriction = Json::object();
  std::string due = FhirInstant(request.due());
  if (!due.empty()) restriction["period"] = Json{{"end", due}};
  if (!request.owner_group().empty()) {
    restriction["recipient"] = Json::array({IdentifierReference("Group", settings.group_identifier_system,
                                                                request.owner_group(), request.owner_group())});
  }
  if (!restriction.empty()) task["restriction"] = restriction;
  if (!request.outcome_text().empty()) {
    task["output"] = Json::array({Json{{"type", Json{{"text", "Decision"}}}, {"valueString", request.outcome_text()}}});
  }
  return task;
}

}  // namespace

Json BuildCommunication(const v1::PublishCommunicationRequest& request, const std::string& id,
                        const std::string& report_resource_id, const Settings& settings) {
  const common::v1::Finding& f = request.finding();
  Json c{{"resourceType", "Communication"}, {"id", id}};
  if (!request.alert_id().empty()) {
    c["identifier"] = Json::array({Json{{"system", settings.parallax_identifier_system}, {"value", request.alert_id()}}});
  }
  std::string sent = FhirInstant(request.sent());
  // The caller's status; unspecified keeps the older rule (completed once
  // sent, in-progress before).
  const std::string status = CommunicationStatusCode(request.status());
  c["status"] = !status.empty() ? status : sent.empty() ? "in-progress" : "completed";
  // An alert is a positive finding or anything above routine priority;
  // otherwise it is a notification.
  bool alert = f.positive() || request.priority() == v1::COMMUNICATION_PRIORITY_URGENT ||
               request.priority() == v1::COMMUNICATION_PRIORITY_ASAP ||
               request.priority() == v1::COMMUNICATION_PRIORITY_STAT;
  c["category"] = Json::array({Concept("http://terminology.hl7.org/CodeSystem/communication-category",
                                       alert ? "alert" : "notification", alert ? "Alert" : "Notification")});
  SetIfNotEmpty(c, "priority", PriorityCode(request.priority()));
  Json subject = PatientReference(request.manifest(), settings);
  if (!subject.is_null()) c["subject"] = subject;

  Json about = Json::array();
  if (!report_resource_id.empty()) {
    Json ref = LiteralReference("DiagnosticReport", report_resource_id);
    about.push_back(ref);
  } else if (!request.diagnostic_report_id().empty()) {
    about.push_back(IdentifierReference("DiagnosticReport", settings.parallax_identifier_system,
                                        request.diagnostic_report_id()));
  }
  std::string study_uid = request.study().study_instance_uid().empty() ? request.manifest().study_instance_uid()
                                                                        : request.study().study_instance_uid();
  if (!study_uid.empty()) about.push_back(StudyAbout(study_uid));
  if (!about.empty()) c["about"] = about;
  SetIfNotEmpty(c, "sent", sent);

  Json recipients = Json::array();
  if (!request.recipient_group().empty()) {
    recipients.push_back(IdentifierReference("Group", settings.group_identifier_system, request.recipient_group(),
                                             request.recipient_group()));
  }
  for (const std::string& user : request.recipient_user_ids()) {
    if (!user.empty()) recipients.push_back(UserReference(user, settings));
  }
  if (!recipients.empty()) c["recipient"] = recipients;
  c["sender"] = Json{{"type", "Device"}, {"display", settings.organisation_name}};
  Json reason = ConceptOf(f.code(), f.label());
  if (!reason.is_null()) c["reasonCode"] = Json::array({reason});
  c["payload"] = Json::array(
      {Json{{"contentString", request.payload_text().empty() ? DefaultAlertText(f) : request.payload_text()}}});
  return c;
}

Json BuildTask(const v1::PublishTaskRequest& request, const std::string& id, const Settings& settings) {
  return TaskImpl(request, id, Json(), settings);
}

Json BuildTask(const v1::PublishTaskRequest& request, const std::string& id,
               const common::v1::StudyManifest& manifest, const Settings& settings) {
  return TaskImpl(request, id, PatientReference(manifest, settings), settings);
}

}  // namespace parallax::fhir
