#include "fhir_http.h"

#include <charconv>
#include <memory>
#include <utility>

#include <absl/strings/str_cat.h>

namespace parallax::fhir_facade {
namespace {

constexpr char kFhirJson[] = "application/fhir+json; charset=utf-8";

http::Response FhirResponse(int status, const Json& body) { return http::Response::Make(status, body.dump(), kFhirJson); }

http::Response ResourceResponse(const StoredResource& r) {
  http::Response response = FhirResponse(200, r.resource);
  response.headers.emplace_back("ETag", absl::StrCat("W/\"", r.version_id, "\""));
  return response;
}

absl::Status UnknownType(const std::string& type) {
  return absl::NotFoundError(absl::StrCat("resource type '", type.substr(0, 64),
                                          "' is not served here; served: ImagingStudy, DiagnosticReport, "
                                          "Observation, Communication, Task, AuditEvent"));
}

}  // namespace

http::Response OperationOutcomeResponse(const absl::Status& status) {
  http::Response response = FhirResponse(fhir::HttpStatusFor(status), fhir::BuildOperationOutcome(status));
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return response;
}

FhirHttpApi::FhirHttpApi(ResourceStore* store, FhirHttpOptions options, Authorizer authorize)
    : store_(store), options_(std::move(options)), authorize_(std::move(authorize)) {
  while (!options_.base_path.empty() && options_.base_path.back() == '/') options_.base_path.pop_back();
  while (!options_.public_base_url.empty() && options_.public_base_url.back() == '/') {
    options_.public_base_url.pop_back();
  }
}

std::vector<fhir::ResourceCapability> FhirHttpApi::Capabilities() {
  std::vector<fhir::ResourceCapability> out;
  for (const std::string& type : SupportedTypes()) {
    out.push_back({type,
                   {{"patient", "token"}, {"study", "token"}, {"status", "token"}, {"date", "date"}}});
  }
  return out;
}

void FhirHttpApi::AddRoutes(http::Router& router) {
  const std::string& base = options_.base_path;
  auto guarded = [this](http::Response (FhirHttpApi::*handler)(const http::Request&) const) {
    return [this, handler](const http::Request& request) {
      if (authorize_) {
        if (absl::Status allowed = authorize_(request); !allowed.ok()) return OperationOutcomeResponse(allowed);
      }
      return (this->*handler)(request);
    };
  };
  router.Add("GET", base + "/metadata", [this](const http::Request& request) { return Metadata(request); });
  router.Add("GET", base + "/{type}", guarded(&FhirHttpApi::Search));
  router.Add("GET", base + "/{type}/{id}", guarded(&FhirHttpApi::Read));
  router.Add("GET", base + "/{type}/{id}/_history/{vid}", guarded(&FhirHttpApi::VersionRead));
}

http::Handler FhirHttpApi::MakeHandler(const std::function<void(http::Router&)>& extra_routes) {
  auto router = std::make_shared<http::Router>();
  AddRoutes(*router);
  if (extra_routes) extra_routes(*router);
  return [router](const http::Request& original) {
    http::Request request = original;
    http::Response response = router->Route(request);
    if ((response.status == 404 || response.status == 405) &&
        response.Header("Content-Type").rfind("application/fhir+json", 0) != 0) {
      absl::Status status = response.status == 404
                                ? absl::NotFoundError("no FHIR endpoint at this path")
                                : absl::UnimplementedError(absl::StrCat("method ", request.method.substr(0, 16),
                                                                        " is not allowed here; the API is read-only"));
      http::Response outcome = FhirResponse(response.status, fhir::BuildOperationOutcome(status));
      if (auto allow = response.Header("Allow"); !allow.empty()) outcome.headers.emplace_back("Allow", std::string(allow));
      return outcome;
    }
    return response;
  };
}

std::string FhirHttpApi::BaseUrl(const http::Request& request) const {
  if (!options_.public_base_url.empty()) return options_.public_base_url;
  std::string host(request.Header("Host"));
  if (host.empty()) host = "localhost";
  return absl::StrCat("http://", host, options_.base_path);
}

http::Response FhirHttpApi::Metadata(const http::Request& request) const {
  return FhirResponse(200, fhir::BuildCapabilityStatement(BaseUrl(request), Capabilities(), options_.settings));
}

http::Response FhirHttpApi::Read(const http::Request& request) const {
  const std::string type(request.PathParam("type"));
  const std::string id(request.PathParam("id"));
  if (!IsSupportedType(type)) return OperationOutcomeResponse(UnknownType(type));
  if (!IsValidLogicalId(id)) {
    return OperationOutcomeResponse(absl::NotFoundError(absl::StrCat(type, ": not a valid logical id")));
  }
  auto stored = store_->Read(type, id);
  if (!stored.ok()) return OperationOutcomeResponse(stored.status());
  return ResourceResponse(*stored);
}

http::Response FhirHttpApi::VersionRead(const http::Request& request) const {
  const std::string type(request.PathParam("type"));
  const std::string id(request.PathParam("id"));
  const std::string vid(request.PathParam("vid"));
  if (!IsSupportedType(type)) return OperationOutcomeResponse(UnknownType(type));
  int64_t version = 0;
  auto [end, ec] = std::from_chars(vid.data(), vid.data() + vid.size(), version);
  if (!IsValidLogicalId(id) || ec != std::errc() || end != vid.data() + vid.size() || version < 1) {
    return OperationOutcomeResponse(absl::NotFoundError(absl::StrCat(type, ": no such version")));
  }
  auto stored = store_->ReadVersion(type, id, version);
  if (!stored.ok()) return OperationOutcomeResponse(stored.status());
  return ResourceResponse(*stored);
}

http::Response FhirHttpApi::Search(const http::Request& request) const {
  const std::string type(request.PathParam("type"));
  if (!IsSupportedType(type)) return OperationOutcomeResponse(UnknownType(type));
  auto query = ParseSearchQuery(request.query);
  if (!query.ok()) return OperationOutcomeResponse(query.status());
  auto page = store_->Search(type, *query);
  if (!page.ok()) return OperationOutcomeResponse(page.status());
  std::vector<Json> resources;
  resources.reserve(page->resources.size());
  for (const StoredResource& r : page->resources) resources.push_back(r.resource);
  const std::string base = BaseUrl(request);
  const std::string self = absl::StrCat(base, "/", type, "?", SearchQueryString(*query, query->offset));
  Json bundle = fhir::BuildSearchSet(resources, base, self);
  bundle["total"] = page->total;
  if (!bundle.contains("link")) bundle["link"] = Json::array();
  if (query->offset + query->count < page->total) {
    bundle["link"].push_back({{"relation", "next"},
                              {"url", absl::StrCat(base, "/", type, "?",
                                                   SearchQueryString(*query, query->offset + query->count))}});
  }
  if (query->offset > 0) {
    const int64_t previous = std::max<int64_t>(0, query->offset - query->count);
    bundle["link"].push_back(
        {{"relation", "previous"}, {"url", absl::StrCat(base, "/", type, "?", SearchQueryString(*query, previous))}});
  }
  return FhirResponse(200, bundle);
}

}  // namespace parallax::fhir_facade
