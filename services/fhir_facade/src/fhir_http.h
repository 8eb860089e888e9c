#pragma once
// The facade's FHIR R4 REST API (read and search) on libs/http:
//   GET {base}/metadata                      CapabilityStatement (no authorisation)
//   GET {base}/{Type}/{id}                   read
//   GET {base}/{Type}/{id}/_history/{vid}    vread
//   GET {base}/{Type}?patient=&study=&status=&date=&_count=&_offset=
//                                            searchset Bundle (search_query.h)
// for ImagingStudy, DiagnosticReport, Observation, Communication, Task and
// AuditEvent, as application/fhir+json. Every error is an OperationOutcome:
// unknown type or id 404, bad search parameter 400, method not allowed 405,
// refused authorisation 401/403, store down 503.
//
// Authorisation: `authorize` runs first on every request except
// /metadata; a non-OK status is answered with its OperationOutcome
// (UNAUTHENTICATED 401 with WWW-Authenticate: Bearer, PERMISSION_DENIED
// 403).
//
// Thread-safety: thread-safe once built (handlers only read the store and
// the options); `authorize` must be thread-safe.
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "parallax/fhir/resources.h"
#include "parallax/http/message.h"
#include "parallax/http/router.h"
#include "resource_store.h"

namespace parallax::fhir_facade {

using Authorizer = std::function<absl::Status(const http::Request&)>;

struct FhirHttpOptions {
  // Path the API is served under.
  std::string base_path = "/fhir";
  // Absolute base URL for Bundle fullUrl and links and the
  // CapabilityStatement, e.g. "https://parallax.example.org/fhir"; empty:
  // "http://" + the request's Host + base_path.
  std::string public_base_url;
  fhir::Settings settings;
};

class FhirHttpApi {
 public:
  // store must outlive the API.
  FhirHttpApi(ResourceStore* store, FhirHttpOptions options, Authorizer authorize);

  // Adds the routes to `router` (the API must outlive it).
  void AddRoutes(http::Router& router);

  // A handler serving only this API: its routes, and an OperationOutcome
  // for any other path (404) or method (405). The API must outlive it.
  // `extra_routes` adds routes beside the FHIR ones (e.g. the evidence PNGs).
  http::Handler MakeHandler(const std::function<void(http::Router&)>& extra_routes = {});

  // The resource types and search parameters served (CapabilityStatement).
  static std::vector<fhir::ResourceCapability> Capabilities();

 private:
  http::Response Metadata(const http::Request& request) const;
  http::Response Read(const http::Request& request) const;
  http::Response VersionRead(const http::Request& request) const;
  http::Response Search(const http::Request& request) const;
  std::string BaseUrl(const http::Request& request) const;

  ResourceStore* store_;
  FhirHttpOptions options_;
  Authorizer authorize_;
};

// The OperationOutcome response for `status` (fhir::HttpStatusFor).
http::Response OperationOutcomeResponse(const absl::Status& status);

}  // namespace parallax::fhir_facade
