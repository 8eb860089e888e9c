// The FHIR server's own resources: OperationOutcome (with its HTTP status),
// CapabilityStatement and searchset Bundles.
#include <string>

#include "fhir_common.h"
#include "parallax/fhir/resources.h"

namespace parallax::fhir {

using namespace internal;  // NOLINT: private helpers of this library

namespace {

struct ErrorMapping {
  int http;
  const char* issue_code;  // FHIR issue-type
};

// The one table from absl::Status to HTTP and FHIR issue type.
ErrorMapping MappingFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return {200, "informational"};
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return {400, "invalid"};
    case absl::StatusCode::kUnauthenticated:
      return {401, "login"};
    case absl::StatusCode::kPermissionDenied:
      return {403, "forbidden"};
    case absl::StatusCode::kNotFound:
      return {404, "not-found"};
    case absl::StatusCode::kAlreadyExists:
      return {409, "duplicate"};
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return {409, "conflict"};
    case absl::StatusCode::kUnimplemented:
      return {501, "not-supported"};
    case absl::StatusCode::kUnavailable:
      return {503, "transient"};
    case absl::StatusCode::kResourceExhausted:
      return {503, "throttled"};
    case absl::StatusCode::kDeadlineExceeded:
      return {504, "timeout"};
    default:
      return {500, "exception"};
  }
}

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

int HttpStatusFor(const absl::Status& status) { return MappingFor(status.code()).http; }

Json BuildOperationOutcome(const absl::Status& status) {
  ErrorMapping m = MappingFor(status.code());
  Json issue{{"severity", status.ok() ? "information" : "error"}, {"code", m.issue_code}};
  Json details = Concept("", "", "", absl::StatusCodeToString(status.code()));
  issue["details"] = details;
  SetIfNotEmpty(issue, "diagnostics", std::string(status.message()));
  return Json{{"resourceType", "OperationOutcome"}, {"issue", Json::array({issue})}};
}

Json BuildCapabilityStatement(const std::string& base_url, const std::vector<ResourceCapability>& resources,
                              const Settings& settings) {
  Json cs{{"resourceType", "CapabilityStatement"},
          {"id", "parallax-fhir-facade"},
          {"name", "ParallaxFhirFacade"},
          {"title", settings.organisation_name + " FHIR facade"},
          {"status", "active"},
          {"experimental", false},
          {"date", settings.release_date},
          {"publisher", settings.organisation_name},
          {"description",
           "Read and search access to the AI second-opinion results (DiagnosticReport, Observation, Communication, "
           "Task, AuditEvent) that Parallax publishes."},
          {"kind", "instance"},
          {"software", Json{{"name", settings.organisation_name}, {"version", settings.software_version}}},
          {"fhirVersion", "4.0.1"},
          {"format", Json::array({"json", "application/fhir+json"})}};
  Json implementation{{"description", settings.organisation_name + " FHIR facade"}};
  SetIfNotEmpty(implementation, "url", TrimSlash(base_url));
  cs["implementation"] = implementation;
  Json rest_resources = Json::array();
  for (const ResourceCapability& r : resources) {
    if (r.type.empty()) continue;
    Json jr{{"type", r.type},
            {"interaction", Json::array({Json{{"code", "read"}}, Json{{"code", "search-type"}}})},
            {"versioning", "versioned"},
            {"readHistory", false}};
    Json params = Json::array();
    for (const SearchParam& p : r.search_params) {
      if (p.name.empty() || p.type.empty()) continue;
      params.push_back(Json{{"name", p.name}, {"type", p.type}});
    }
    if (!params.empty()) jr["searchParam"] = params;
    rest_resources.push_back(jr);
  }
  Json rest{{"mode", "server"}};
  if (!rest_resources.empty()) rest["resource"] = rest_resources;
  cs["rest"] = Json::array({rest});
  return cs;
}

Json BuildSearchSet(const std::vector<Json>& resources, const std::string& base_url, const std::string& self_url) {
  Json bundle{{"resourceType", "Bundle"}, {"type", "searchset"}, {"total", resources.size()}};
  if (!self_url.empty()) bundle["link"] = Json::array({Json{{"relation", "self"}, {"url", self_url}}});
  Json entries = Json::array();
  std::string base = TrimSlash(base_url);
  for (const Json& resource : resources) {
    Json entry = Json::object();
    if (!base.empty() && resource.contains("resourceType") && resource.contains("id") &&
        resource["id"].is_string() && resource["resourceType"].is_string()) {
      entry["fullUrl"] = base + "/" + resource["resourceType"].get<std::string>() + "/" + resource["id"].get<std::string>();
    }
    entry["resource"] = resource;
    entry["search"] = Json{{"mode", "match"}};
    entries.push_back(entry);
  }
  if (!entries.empty()) bundle["entry"] = entries;
  return bundle;
}

}  // namespace parallax::fhir
