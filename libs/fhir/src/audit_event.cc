// AuditEvent mirroring one entry of Parallax's hash-chained audit log, coded
// with the DICOM audit event vocabulary (PS3.15 A.5 / PS3.16 DCM codes) as
// IHE ATNA and the FHIR R4 AuditEvent value sets use it.
#include <cctype>
#include <string>

#include "fhir_common.h"
#include "parallax/fhir/resources.h"

namespace parallax::fhir {

using namespace internal;  // NOLINT: private helpers of this library

namespace {

constexpr char kEntityType[] = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr char kObjectRole[] = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr char kSecurityRoleType[] = "http://terminology.hl7.org/CodeSystem/extra-security-role-type";
constexpr char kSourceType[] = "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr char kNetworkMachineName[] = "1";
constexpr char kNetworkIpAddress[] = "2";

struct AuditCoding {
  const char* type_code;     // DCM event id
  const char* type_display;
  const char* action;        // C R U D E
  const char* subtype_code;  // DCM event type code, or nullptr
  const char* subtype_display;
};

// One table: Parallax event type -> DICOM audit event id, action and subtype.
AuditCoding CodingFor(const audit::v1::AuditEvent& event) {
  using audit::v1::EventType;
  switch (event.type()) {
    case EventType::EVENT_TYPE_STUDY_RECEIVED:
      return {"110107", "Import", "C", nullptr, nullptr};
    case EventType::EVENT_TYPE_STUDY_ANALYSED:
      return {"110103", "DICOM Instances Accessed", "R", nullptr, nullptr};
    case EventType::EVENT_TYPE_ALERT_SENT:
    case EventType::EVENT_TYPE_REPORT_SENT:
      return {"110106", "Export", "R", nullptr, nullptr};
    case EventType::EVENT_TYPE_FINDING_VIEWED:
      return {"110110", "Patient Record", "R", nullptr, nullptr};
    case EventType::EVENT_TYPE_CASE_ESCALATED:
      return {"110110", "Patient Record", "C", nullptr, nullptr};
    case EventType::EVENT_TYPE_ALERT_ACKNOWLEDGED:
    case EventType::EVENT_TYPE_FINDING_ACCEPTED:
    case EventType::EVENT_TYPE_FINDING_REJECTED:
    case EventType::EVENT_TYPE_FINDING_MODIFIED:
    case EventType::EVENT_TYPE_CASE_DECIDED:
      return {"110110", "Patient Record", "U", nullptr, nullptr};
    case EventType::EVENT_TYPE_PRIOR_RETRIEVED:
      return {"110104", "DICOM Instances Transferred", "C", nullptr, nullptr};
    case EventType::EVENT_TYPE_ACCESS_REFUSED:
      return {"110113", "Security Alert", "E", "110132", "Use of Restricted Function"};
    case EventType::EVENT_TYPE_USER_CHANGED: {
      bool roles = false;
      for (const auto& a : event.attributes()) {
        std::string key;
        for (char c : a.key()) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (key.find("role") != std::string::npos) roles = true;
      }
      return roles ? AuditCoding{"110113", "Security Alert", "U", "110136", "Security Roles Changed"}
                   : AuditCoding{"110113", "Security Alert", "U", "110137", "User Security Attributes Changed"};
    }
    default:
      return {"110100", "Application Activity", "E", nullptr, nullptr};
  }
}

// EVENT_TYPE_FINDING_ACCEPTED -> finding-accepted
std::string ParallaxTypeCode(audit::v1::EventType type) {
  const std::string& name = audit::v1::EventType_Name(type);
  if (name.empty()) return "unknown";
  std::string code;
  for (char c : name.substr(std::string_view("EVENT_TYPE_").size())) {
    code.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return code;
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

// "ipv4:10.1.2.3:5000" (gRPC peer) -> "10.1.2.3"; "ipv6:[::1]:5000" -> "::1";
// anything else as given. Sets `is_ip` when the result is an IP address.
std::string NetworkAddress(const std::string& raw, bool* is_ip) {
  std::string a = raw;
  bool ipv4 = false;
  bool ipv6 = false;
  if (a.rfind("ipv4:", 0) == 0) {
    a = a.substr(5);
    ipv4 = true;
  } else if (a.rfind("ipv6:", 0) == 0) {
    a = a.substr(5);
    ipv6 = true;
  }
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    if (close != std::string::npos) a = a.substr(1, close - 1);
    ipv6 = true;
  } else if (ipv4 || a.find(':') == a.rfind(':')) {
    // host:port or a plain IPv4 / host name
    size_t colon = a.find(':');
    if (colon != std::string::npos) a = a.substr(0, colon);
  } else {
    ipv6 = true;  // several colons: a bare IPv6 address
  }
  bool dotted = !a.empty();
  for (char c : a) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0 && c != '.') dotted = false;
  }
  *is_ip = ipv4 || ipv6 || dotted;
  return a;
}

Json Detail(const std::string& type, const std::string& value) {
  return Json{{"type", type}, {"valueString", value}};
}

Json ParallaxEntity(const char* name, const std::string& value, const char* role_code, const char* role_display,
                    const Settings& settings) {
  Json identifier{{"type", Json{{"text", std::string(name) + " id"}}},
                  {"system", settings.parallax_identifier_system},
                  {"value", value}};
  return Json{{"what", Json{{"identifier", identifier}}},
              {"type", Coding(kEntityType, "2", "System Object")},
              {"role", Coding(kObjectRole, role_code, role_display)},
              {"name", name}};
}

Json Agent(const audit::v1::Actor& actor, const std::string& service, const Settings& settings) {
  Json agent = Json::object();
  switch (actor.kind()) {
    case audit::v1::ACTOR_KIND_USER:
      agent["type"] = Concept(kSecurityRoleType, "humanuser", "human user");
      break;
    case audit::v1::ACTOR_KIND_SERVICE:
      agent["type"] = Concept(kSecurityRoleType, "dataprocessor", "data processor");
      break;
    case audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM:
      agent["type"] = Concept(kDcm, "110153", "Source Role ID");
      break;
    default:
      break;
  }
  Json roles = Json::array();
  for (const std::string& role : actor.roles()) {
    bool code_ok = !role.empty() && role.find_first_of(" \t\r\n") == std::string::npos;
    if (!role.empty()) roles.push_back(code_ok ? Concept(kParallaxRole, role, "", role) : Json{{"text", role}});
  }
  if (!roles.empty()) agent["role"] = roles;
  if (!actor.user_id().empty()) {
    agent["who"] = IdentifierReference("Practitioner", settings.user_identifier_system, actor.user_id());
    if (!actor.system_id().empty()) agent["altId"] = actor.system_id();
  } else if (!actor.system_id().empty()) {
    agent["who"] = IdentifierReference("Device", settings.service_identifier_system, actor.system_id(),
                                       actor.system_id());
  } else {
    agent["who"] = IdentifierReference("Device", settings.service_identifier_system, service, service);
  }
  // The actor initiated the event.
  agent["requestor"] = true;
  if (!actor.network_address().empty()) {
    bool is_ip = false;
    std::string address = NetworkAddress(actor.network_address(), &is_ip);
    if (!address.empty()) {
      agent["network"] = Json{{"address", address}, {"type", is_ip ? kNetworkIpAddress : kNetworkMachineName}};
    }
  }
  return agent;
}

}  // namespace

Json BuildAuditEvent(const audit::v1::AuditEvent& event, const std::string& id, const Settings& settings) {
  const AuditCoding coding = CodingFor(event);
  Json ae{{"resourceType", "AuditEvent"}, {"id", id}};
  ae["type"] = Coding(kDcm, coding.type_code, coding.type_display);
  Json subtypes = Json::array();
  if (coding.subtype_code != nullptr) subtypes.push_back(Coding(kDcm, coding.subtype_code, coding.subtype_display));
  subtypes.push_back(Coding(kParallaxAuditEventType, ParallaxTypeCode(event.type()), ""));
  ae["subtype"] = subtypes;
  ae["action"] = coding.action;
  std::string occurred = FhirInstant(event.occurred_at());
  if (!occurred.empty()) ae["period"] = Json{{"start", occurred}, {"end", occurred}};
  std::string recorded = FhirInstant(event.recorded_at());
  // recorded is mandatory: an entry not yet recorded by the audit service
  // falls back to when it happened, then to the Unix epoch.
  ae["recorded"] = !recorded.empty() ? recorded : !occurred.empty() ? occurred : "1970-01-01T00:00:00Z";

  // DICOM outcome: 0 success, 4 minor failure, 8 serious failure. A refused
  // access is a minor failure (the system worked, the request was denied);
  // a failed action is a serious failure.
  std::string reason;
  for (const auto& a : event.attributes()) {
    if ((a.key() == "reason" || a.key() == "error" || a.key() == "denied_reason") && !a.value().empty()) {
      reason = a.value();
      break;
    }
  }
  switch (event.outcome()) {
    case audit::v1::OUTCOME_DENIED:
      ae["outcome"] = "4";
      ae["outcomeDesc"] = reason.empty() ? "Access refused" : "Access refused: " + reason;
      break;
    case audit::v1::OUTCOME_FAILURE:
      ae["outcome"] = "8";
      ae["outcomeDesc"] = reason.empty() ? "Failed" : "Failed: " + reason;
      break;
    default:
      ae["outcome"] = "0";
      break;
  }

  Json agents = Json::array({Agent(event.actor(), event.service(), settings)});
  // The recording service, when it is not itself the actor.
  if (!event.service().empty() &&
      !(event.actor().kind() == audit::v1::ACTOR_KIND_SERVICE &&
        (event.actor().system_id().empty() || event.actor().system_id() == event.service()))) {
    agents.push_back(Json{{"type", Concept(kSecurityRoleType, "dataprocessor", "data processor")},
                          {"who", IdentifierReference("Device", settings.service_identifier_system, event.service(),
                                                      event.service())},
                          {"requestor", false}});
  }
  ae["agent"] = agents;

  Json source{{"site", settings.organisation_name}};
  const std::string& observer = event.service().empty() ? settings.organisation_name : event.service();
  source["observer"] = IdentifierReference("Device", settings.service_identifier_system, observer, observer);
  source["type"] = Json::array({Coding(kSourceType, "4", "Application Server")});
  ae["source"] = source;

  Json entities = Json::array();
  const audit::v1::Subject& s = event.subject();
  if (!s.study_instance_uid().empty()) {
    Json identifier = DicomUidIdentifier(s.study_instance_uid());
    identifier["type"] = Concept(kDcm, "110180", "Study Instance UID");
    Json study{{"what", Json{{"identifier", identifier}}},
               {"type", Coding(kEntityType, "2", "System Object")},
               {"role", Coding(kObjectRole, "3", "Report")}};
    if (s.generation() > 0) study["detail"] = Json::array({Detail("generation", std::to_string(s.generation()))});
    entities.push_back(study);
  }
  if (!s.sop_instance_uid().empty()) {
    entities.push_back(Json{{"what", Json{{"identifier", DicomUidIdentifier(s.sop_instance_uid())}}},
                            {"type", Coding(kEntityType, "2", "System Object")},
                            {"role", Coding(kObjectRole, "3", "Report")},
                            {"name", "SOP Instance"}});
  }
  if (!s.finding_id().empty()) {
    Json finding = ParallaxEntity("finding", s.finding_id(), "4", "Domain Resource", settings);
    Json details = Json::array();
    if (!s.label().empty()) details.push_back(Detail("label", s.label()));
    if (!s.model_id().empty()) details.push_back(Detail("model_id", s.model_id()));
    if (!s.model_version().empty()) details.push_back(Detail("model_version", s.model_version()));
    if (!details.empty()) finding["detail"] = details;
    entities.push_back(finding);
  }
  if (!s.alert_id().empty()) entities.push_back(ParallaxEntity("alert", s.alert_id(), "4", "Domain Resource", settings));
  if (!s.review_id().empty()) {
    entities.push_back(ParallaxEntity("review", s.review_id(), "4", "Domain Resource", settings));
  }
  if (!s.case_id().empty()) entities.push_back(ParallaxEntity("case", s.case_id(), "20", "Job", settings));
  if (!s.report_id().empty()) {
    entities.push_back(ParallaxEntity("report", s.report_id(), "3", "Report", settings));
  }
  if (s.finding_id().empty() && (!s.label().empty() || !s.model_id().empty())) {
    Json details = Json::array();
    if (!s.label().empty()) details.push_back(Detail("label", s.label()));
    if (!s.model_id().empty()) details.push_back(Detail("model_id", s.model_id()));
    if (!s.model_version().empty()) details.push_back(Detail("model_version", s.model_version()));
    entities.push_back(Json{{"type", Coding(kEntityType, "2", "System Object")}, {"name", "model"}, {"detail", details}});
  }

  // The log entry itself: its place in the hash chain, its idempotency key
  // and the free attributes.
  Json chain_details = Json::array();
  if (event.sequence() > 0) chain_details.push_back(Detail("sequence", std::to_string(event.sequence())));
  if (!event.hash().empty()) chain_details.push_back(Detail("hash", Hex(event.hash())));
  if (!event.previous_hash().empty()) chain_details.push_back(Detail("previous_hash", Hex(event.previous_hash())));
  if (!event.event_id().empty()) chain_details.push_back(Detail("event_id", event.event_id()));
  if (!event.trace_id().empty()) chain_details.push_back(Detail("trace_id", event.trace_id()));
  for (const auto& a : event.attributes()) {
    if (!a.key().empty() && !a.value().empty()) chain_details.push_back(Detail(a.key(), a.value()));
  }
  if (event.sequence() > 0 || !chain_details.empty()) {
    Json entry{{"type", Coding(kEntityType, "2", "System Object")},
               {"role", Coding(kObjectRole, "13", "Security Resource")},
               {"name", "audit log entry"}};
    if (event.sequence() > 0) {
      entry["what"] = Json{{"identifier", Json{{"type", Json{{"text", "audit sequence"}}},
                                               {"system", settings.parallax_identifier_system + ":audit-sequence"},
                                               {"value", std::to_string(event.sequence())}}}};
    }
    if (!chain_details.empty()) entry["detail"] = chain_details;
    entities.push_back(entry);
  }
  if (!entities.empty()) ae["entity"] = entities;
  return ae;
}

}  // namespace parallax::fhir
