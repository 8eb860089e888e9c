#pragma once
// THE EHR TEST DOUBLE. A small in-memory FHIR R4 server standing in for the
// hospital EHR in tests and the demo (parallax-ehr-recorder). It is not an
// EHR: nothing persists, nothing is validated beyond resourceType and id.
//
// What it does as FHIR R4 specifies (https://hl7.org/fhir/R4/http.html):
//   PUT  {base}/{Type}?identifier=[system|]value   conditional update:
//        no match, no id in body -> create with a server id (201);
//        no match, body id unused -> update-as-create with that id (201);
//        no match, body id taken  -> 409;
//        one match, body id absent or equal -> update (200);
//        one match, body id different -> 400;
//        several matches -> 412.
//   POST {base}/{Type}   create with a server-assigned id (201); with
//        If-None-Exist: identifier=... a conditional create: one match ->
//        200 and nothing created, several -> 412. A plain POST always
//        creates, so a non-idempotent client leaves duplicates to be seen.
//   PUT  {base}/{Type}/{id}   update, or update-as-create (201).
//   GET  {base}/{Type}/{id}   read (404 when unknown).
//   GET  {base}/{Type}?identifier=...   searchset Bundle.
// Errors are OperationOutcomes. Every FHIR request is recorded.
//
// Test endpoints:
//   GET  /_recorded   JSON array: every FHIR request with method, type,
//                     identifier, id, response status and time
//   GET  /_stats      {"resources": {type: n}, "creates": n, "updates": n,
//                     "duplicate_identifiers": n, "requests": n,
//                     "refused_while_down": n}; duplicate_identifiers counts
//                     (type, identifier) pairs held by more than one
//                     resource: 0 when delivery is idempotent
//   POST /_control/down   answer 503 to every FHIR request until /_control/up
//   POST /_control/up
//   POST /_control/latency?ms=N   delay each FHIR answer by N ms
//   POST /_control/reset  forget everything
//
// Thread-safety: thread-safe (one mutex; handlers run on server threads).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "parallax/http/message.h"
#include "parallax/http/router.h"

namespace parallax::fhir_facade {

struct EhrRecorderOptions {
  // Path prefix of the FHIR endpoints, e.g. "/fhir"; "" serves them at "/".
  std::string base_path = "/fhir";
};

class EhrRecorder {
 public:
  explicit EhrRecorder(EhrRecorderOptions options);

  // Adds the FHIR and test routes. The recorder must outlive the router.
  void AddRoutes(http::Router& router);

  // The bodies of /_stats and /_recorded.
  nlohmann::json Stats() const;
  nlohmann::json Recorded() const;
  // The stored resource, or null JSON when unknown.
  nlohmann::json Get(const std::string& type, const std::string& id) const;
  void SetDown(bool down);

 private:
  struct Resource {
    std::string type;
    std::string id;
    int64_t version = 0;
    nlohmann::json json;
  };
  struct Outcome {
    http::Response response;
    std::string id;
  };

  http::Response Fhir(const http::Request& request, const std::string& method);
  Outcome Dispatch(const http::Request& request, const std::string& method, const std::string& type,
                   const std::string& id, const std::string& identifier);
  // Resources of type whose identifiers match the token "[system|]value".
  std::vector<Resource*> Match(const std::string& type, const std::string& token);
  Outcome Store(const std::string& type, std::string id, nlohmann::json body, bool create);
  Outcome Conditional(const std::string& type, const std::string& token, nlohmann::json body, bool create_only);

  EhrRecorderOptions options_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Resource> resources_;  // guarded by mu_
  nlohmann::json recorded_ = nlohmann::json::array();                 // guarded by mu_
  int64_t creates_ = 0, updates_ = 0, requests_ = 0, refused_ = 0, next_id_ = 1;  // guarded by mu_
  bool down_ = false;                                                  // guarded by mu_
  int latency_ms_ = 0;                                                 // guarded by mu_
};

}  // namespace parallax::fhir_facade
