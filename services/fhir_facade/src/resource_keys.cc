#include "resource_keys.h"

#include <algorithm>
#include <regex>

namespace parallax::fhir_facade {
namespace {

std::string StringAt(const Json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(std::string(key));
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

void IdentifierFrom(const Json& reference, std::string* system, std::string* value) {
  if (!reference.is_object()) return;
  auto it = reference.find("identifier");
  if (it == reference.end() || !it->is_object()) return;
  *system = StringAt(*it, "system");
  *value = StringAt(*it, "value");
}

void CollectReferences(const Json& node, std::vector<std::string>* out) {
  static const std::regex kRelative("^[A-Z][A-Za-z]+/[A-Za-z0-9\\-\\.]{1,64}$");
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "reference" && it->is_string()) {
        const std::string& ref = it->get_ref<const std::string&>();
        if (std::regex_match(ref, kRelative)) out->push_back(ref);
      } else {
        CollectReferences(*it, out);
      }
    }
  } else if (node.is_array()) {
    for (const Json& item : node) CollectReferences(item, out);
  }
}

}  // namespace

const std::vector<std::string>& SupportedTypes() {
  static const std::vector<std::string> kTypes = {"ImagingStudy", "DiagnosticReport", "Observation",
                                                  "Communication", "Task",            "AuditEvent"};
  return kTypes;
}

bool IsSupportedType(std::string_view type) {
  const auto& types = SupportedTypes();
  return std::find(types.begin(), types.end(), type) != types.end();
}

ResourceKeys StandardKeys(std::string_view type, const Json& resource, std::string_view business_system,
                          std::string_view patient_system) {
  ResourceKeys keys;
  if (auto ids = resource.find("identifier"); ids != resource.end() && ids->is_array()) {
    for (const Json& id : *ids) {
      if (StringAt(id, "system") == business_system && !StringAt(id, "value").empty()) {
        keys.identifier_system = StringAt(id, "system");
        keys.identifier_value = StringAt(id, "value");
        break;
      }
    }
    if (keys.identifier_value.empty()) {
      for (const Json& id : *ids) {
        if (!StringAt(id, "system").empty() && !StringAt(id, "value").empty()) {
          keys.identifier_system = StringAt(id, "system");
          keys.identifier_value = StringAt(id, "value");
          break;
        }
      }
    }
  }
  if (type == "Task") {
    if (resource.contains("for")) IdentifierFrom(resource["for"], &keys.patient_system, &keys.patient);
  } else if (type == "AuditEvent") {
    if (auto entities = resource.find("entity"); entities != resource.end() && entities->is_array()) {
      for (const Json& entity : *entities) {
        std::string system, value;
        if (entity.is_object() && entity.contains("what")) IdentifierFrom(entity["what"], &system, &value);
        if (!value.empty() && system == patient_system) {
          keys.patient_system = system;
          keys.patient = value;
          break;
        }
      }
    }
  } else if (resource.contains("subject")) {
    IdentifierFrom(resource["subject"], &keys.patient_system, &keys.patient);
  }
  keys.status = StringAt(resource, "status");
  if (type == "DiagnosticReport" || type == "Observation") {
    keys.date = StringAt(resource, "effectiveDateTime");
    if (keys.date.empty()) keys.date = StringAt(resource, "issued");
  } else if (type == "ImagingStudy") {
    keys.date = StringAt(resource, "started");
  } else if (type == "Communication") {
    keys.date = StringAt(resource, "sent");
  } else if (type == "Task") {
    keys.date = StringAt(resource, "authoredOn");
  } else if (type == "AuditEvent") {
    keys.date = StringAt(resource, "recorded");
  }
  return keys;
}

std::vector<std::string> References(const Json& resource) {
  std::vector<std::string> out;
  CollectReferences(resource, &out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace parallax::fhir_facade
