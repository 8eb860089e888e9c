#pragma once
// The heatmap PNGs Parallax shows as evidence, over HTTP for the EHR and the
// workspace: GET /evidence/{finding_id}/{sop_instance_uid}.png answers the
// overlay PNG triage stored for that finding and source slice (the URL the
// DiagnosticReport's presentedForm carries). Every request is authorised
// first (the same bearer tokens as the FHIR API); an unknown finding or slice
// is 404, triage unreachable 503, each as an OperationOutcome. Thread-safe.
#include <functional>
#include <string>

#include <absl/status/statusor.h>

#include "fhir_http.h"
#include "parallax/http/router.h"

namespace parallax::fhir_facade {

class EvidenceHttp {
 public:
  // The overlay PNG of one finding on one source slice. NOT_FOUND when none
  // is stored; UNAVAILABLE when the holder cannot be reached.
  using FetchPng = std::function<absl::StatusOr<std::string>(const std::string& finding_id,
                                                             const std::string& sop_instance_uid)>;

  EvidenceHttp(FetchPng fetch, Authorizer authorize) : fetch_(std::move(fetch)), authorize_(std::move(authorize)) {}

  // Adds GET /evidence/{finding}/{file} to `router`.
  void AddRoutes(http::Router& router) const;

 private:
  FetchPng fetch_;
  Authorizer authorize_;
};

}  // namespace parallax::fhir_facade
