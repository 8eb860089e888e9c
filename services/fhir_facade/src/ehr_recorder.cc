#include "ehr_recorder.h"

#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include <absl/strings/str_cat.h>

namespace parallax::fhir_facade {
namespace {

using nlohmann::json;

http::Response FhirJson(int status, const json& body) {
  return http::Response::Make(status, body.dump(), "application/fhir+json");
}

json OperationOutcome(const std::string& code, const std::string& text) {
  return {{"resourceType", "OperationOutcome"},
          {"issue", json::array({{{"severity", "error"}, {"code", code}, {"diagnostics", text}}})}};
}

std::string NowInstant() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return absl::StrCat(buffer, ".", ms < 100 ? (ms < 10 ? "00" : "0") : "", ms, "Z");
}

bool HasIdentifier(const json& resource, const std::string& token) {
  auto ids = resource.find("identifier");
  if (ids == resource.end() || !ids->is_array()) return false;
  const size_t bar = token.find('|');
  for (const json& id : *ids) {
    if (!id.is_object()) continue;
    const std::string system = id.value("system", "");
    const std::string value = id.value("value", "");
    if (bar == std::string::npos) {
      if (value == token) return true;
    } else if (system == token.substr(0, bar) && value == token.substr(bar + 1)) {
      return true;
    }
  }
  return false;
}

}  // namespace

EhrRecorder::EhrRecorder(EhrRecorderOptions options) : options_(std::move(options)) {
  while (!options_.base_path.empty() && options_.base_path.back() == '/') options_.base_path.pop_back();
}

void EhrRecorder::AddRoutes(http::Router& router) {
  router.Add("GET", "/_recorded", [this](const http::Request&) {
    return http::Response::Make(200, Recorded().dump(), "application/json");
  });
  router.Add("GET", "/_stats", [this](const http::Request&) {
    return http::Response::Make(200, Stats().dump(), "application/json");
  });
  router.Add("POST", "/_control/down", [this](const http::Request&) {
    SetDown(true);
    return http::Response::Make(200, "{\"down\":true}", "application/json");
  });
  router.Add("POST", "/_control/up", [this](const http::Request&) {
    SetDown(false);
    return http::Response::Make(200, "{\"down\":false}", "application/json");
  });
  router.Add("POST", "/_control/latency", [this](const http::Request& request) {
    const int ms = std::atoi(request.QueryParam("ms").value_or("0").c_str());
    std::lock_guard<std::mutex> lock(mu_);
    latency_ms_ = std::max(0, ms);
    return http::Response::Make(200, absl::StrCat("{\"latency_ms\":", latency_ms_, "}"), "application/json");
  });
  router.Add("POST", "/_control/reset", [this](const http::Request&) {
    std::lock_guard<std::mutex> lock(mu_);
    resources_.clear();
    recorded_ = json::array();
    creates_ = updates_ = requests_ = refused_ = 0;
    down_ = false;
    latency_ms_ = 0;
    return http::Response::Make(200, "{}", "application/json");
  });
  const std::string type_path = options_.base_path + "/{type}";
  const std::string id_path = options_.base_path + "/{type}/{id}";
  for (const char* method : {"GET", "PUT", "POST"}) {
    router.Add(method, type_path, [this, m = std::string(method)](const http::Request& r) { return Fhir(r, m); });
  }
  for (const char* method : {"GET", "PUT"}) {
    router.Add(method, id_path, [this, m = std::string(method)](const http::Request& r) { return Fhir(r, m); });
  }
}

void EhrRecorder::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

http::Response EhrRecorder::Fhir(const http::Request& request, const std::string& method) {
  int latency = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    latency = latency_ms_;
  }
  if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
  const std::string type(request.PathParam("type"));
  const std::string id(request.PathParam("id"));
  std::string identifier = request.QueryParam("identifier").value_or("");
  if (method == "POST") {
    const std::string condition(request.Header("If-None-Exist"));
    if (condition.rfind("identifier=", 0) == 0) identifier = http::PercentDecode(condition.substr(11), true);
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_;
  Outcome outcome;
  if (down_) {
    ++refused_;
    outcome.response = FhirJson(503, OperationOutcome("transient", "the EHR is down (test control)"));
  } else {
    outcome = Dispatch(request, method, type, id, identifier);
  }
  recorded_.push_back({{"method", method},
                       {"type", type},
                       {"identifier", identifier},
                       {"id", outcome.id.empty() ? id : outcome.id},
                       {"status", outcome.response.status},
                       {"time", NowInstant()}});
  return outcome.response;
}

EhrRecorder::Outcome EhrRecorder::Dispatch(const http::Request& request, const std::string& method,
                                           const std::string& type, const std::string& id,
                                           const std::string& identifier) {
  if (method == "GET" && !id.empty()) {
    auto it = resources_.find({type, id});
    if (it == resources_.end()) return {FhirJson(404, OperationOutcome("not-found", type + "/" + id + " is not known")), id};
    return {FhirJson(200, it->second.json), id};
  }
  if (method == "GET") {
    json bundle = {{"resourceType", "Bundle"}, {"type", "searchset"}, {"entry", json::array()}};
    for (Resource* r : Match(type, identifier)) bundle["entry"].push_back({{"resource", r->json}});
    bundle["total"] = bundle["entry"].size();
    return {FhirJson(200, bundle), ""};
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return {FhirJson(400, OperationOutcome("structure", "the body is not a JSON object")), id};
  }
  if (body.value("resourceType", "") != type) {
    return {FhirJson(400, OperationOutcome("invalid", "resourceType does not match the URL")), id};
  }
  if (method == "POST") {
    if (!identifier.empty()) return Conditional(type, identifier, std::move(body), /*create_only=*/true);
    body.erase("id");
    return Store(type, "", std::move(body), /*create=*/true);
  }
  if (!id.empty()) {  // PUT by id
    if (body.value("id", "") != id) {
      return {FhirJson(400, OperationOutcome("invalid", "the body's id does not match the URL")), id};
    }
    return Store(type, id, std::move(body), resources_.count({type, id}) == 0);
  }
  if (identifier.empty()) {
    return {FhirJson(400, OperationOutcome("invalid", "a conditional update needs search criteria (identifier)")), ""};
  }
  return Conditional(type, identifier, std::move(body), /*create_only=*/false);
}

std::vector<EhrRecorder::Resource*> EhrRecorder::Match(const std::string& type, const std::string& token) {
  std::vector<Resource*> out;
  for (auto& [key, resource] : resources_) {
    if (key.first == type && (token.empty() || HasIdentifier(resource.json, token))) out.push_back(&resource);
  }
  return out;
}

EhrRecorder::Outcome EhrRecorder::Conditional(const std::string& type, const std::string& token, json body,
                                              bool create_only) {
  std::vector<Resource*> matches = Match(type, token);
  if (matches.size() > 1) {
    return {FhirJson(412, OperationOutcome("multiple-matches", "the condition matches several resources")), ""};
  }
  if (create_only) {
    if (matches.size() == 1) return {FhirJson(200, matches[0]->json), matches[0]->id};
    body.erase("id");
    return Store(type, "", std::move(body), /*create=*/true);
  }
  const std::string body_id = body.value("id", "");
  if (matches.empty()) {
    if (!body_id.empty() && resources_.count({type, body_id}) != 0) {
      return {FhirJson(409, OperationOutcome("conflict", "no resource matches, and the body's id is taken")), body_id};
    }
    return Store(type, body_id, std::move(body), /*create=*/true);
  }
  if (!body_id.empty() && body_id != matches[0]->id) {
    return {FhirJson(400, OperationOutcome("invalid", "the body's id is not the id of the matching resource")), body_id};
  }
  return Store(type, matches[0]->id, std::move(body), /*create=*/false);
}

EhrRecorder::Outcome EhrRecorder::Store(const std::string& type, std::string id, json body, bool create) {
  if (id.empty()) id = absl::StrCat("ehr-", next_id_++);
  Resource& r = resources_[{type, id}];
  r.type = type;
  r.id = id;
  ++r.version;
  body["id"] = id;
  body["meta"] = {{"versionId", std::to_string(r.version)}, {"lastUpdated", NowInstant()}};
  r.json = std::move(body);
  if (create) ++creates_;
  else ++updates_;
  http::Response response = FhirJson(create ? 201 : 200, r.json);
  response.headers.emplace_back("Location",
                                absl::StrCat(options_.base_path, "/", type, "/", id, "/_history/", r.version));
  response.headers.emplace_back("ETag", absl::StrCat("W/\"", r.version, "\""));
  return {std::move(response), id};
}

json EhrRecorder::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  json per_type = json::object();
  std::map<std::string, int> holders;  // "type identifier" -> resources holding it
  for (const auto& [key, resource] : resources_) {
    per_type[key.first] = per_type.value(key.first, 0) + 1;
    std::set<std::string> own;
    if (auto ids = resource.json.find("identifier"); ids != resource.json.end() && ids->is_array()) {
      for (const json& id : *ids) {
        if (id.is_object()) own.insert(absl::StrCat(key.first, " ", id.value("system", ""), "|", id.value("value", "")));
      }
    }
    for (const std::string& k : own) ++holders[k];
  }
  int duplicates = 0;
  for (const auto& [k, n] : holders) duplicates += n > 1 ? 1 : 0;
  return {{"resources", per_type},   {"creates", creates_},   {"updates", updates_},
          {"duplicate_identifiers", duplicates}, {"requests", requests_}, {"refused_while_down", refused_}};
}

json EhrRecorder::Recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

json EhrRecorder::Get(const std::string& type, const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = resources_.find({type, id});
  return it == resources_.end() ? json() : it->second.json;
}

}  // namespace parallax::fhir_facade
