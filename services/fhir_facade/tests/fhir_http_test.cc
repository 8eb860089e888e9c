// The FHIR REST API over a real HTTP server and PostgreSQL: metadata,
// read, vread, search with paging, and an OperationOutcome for every error
// (authorisation refused, unknown type or id, bad parameter, wrong method,
// store down).
#include "fhir_http.h"

#include <memory>

#include <catch2/catch.hpp>

#include "parallax/http/client.h"
#include "parallax/http/server.h"
#include "parallax/testing/environment.h"
#include "store_fixture.h"

namespace parallax::fhir_facade {
namespace {

using nlohmann::json;
using testing::MakeWrite;
using testing::StoreFixture;

// The test authoriser: a fixed header stands in for a JWT.
absl::Status CheckTestToken(const http::Request& request) {
  const std::string_view token = request.Header("X-Test-Token");
  if (token.empty()) return absl::UnauthenticatedError("no credentials");
  if (token != "let-me-in") return absl::PermissionDeniedError("this user may not read FHIR resources");
  return absl::OkStatus();
}

struct Api {
  StoreFixture f;
  std::unique_ptr<FhirHttpApi> api;
  std::unique_ptr<http::Server> server;
  explicit Api(const std::string& purpose) : f(purpose) {
    api = std::make_unique<FhirHttpApi>(f.store.get(), FhirHttpOptions{}, CheckTestToken);
    server = std::make_unique<http::Server>(http::ServerOptions{.port = 0}, api->MakeHandler());
    REQUIRE(server->Start().ok());
  }
  http::Response Get(const std::string& path, const std::string& token = "let-me-in",
                     const std::string& method = "GET") {
    http::Headers headers;
    if (!token.empty()) headers.emplace_back("X-Test-Token", token);
    auto r = http::Fetch(method, "http://127.0.0.1:" + std::to_string(server->port()) + path, headers, "",
                         std::chrono::seconds(10));
    REQUIRE(r.ok());
    return *r;
  }
};

json Body(const http::Response& r) {
  CHECK(r.Header("Content-Type").rfind("application/fhir+json", 0) == 0);
  return json::parse(r.body);
}

void CheckOutcome(const http::Response& r, int status, const std::string& code) {
  INFO(r.body);
  CHECK(r.status == status);
  json outcome = Body(r);
  CHECK(outcome["resourceType"] == "OperationOutcome");
  REQUIRE(outcome["issue"].size() >= 1);
  CHECK(outcome["issue"][0]["severity"] == "error");
  CHECK(outcome["issue"][0]["code"] == code);
}

TEST_CASE("the FHIR API serves its CapabilityStatement without credentials", "[fhir_facade][db]") {
  Api api("fhir_http_metadata");
  http::Response r = api.Get("/fhir/metadata", "");
  REQUIRE(r.status == 200);
  json cs = Body(r);
  CHECK(cs["resourceType"] == "CapabilityStatement");
  CHECK(cs["fhirVersion"] == "4.0.1");
  std::vector<std::string> types;
  for (const json& resource : cs["rest"][0]["resource"]) types.push_back(resource["type"]);
  CHECK(types == SupportedTypes());
  CHECK(cs["implementation"]["url"].get<std::string>().find("/fhir") != std::string::npos);
}

TEST_CASE("the FHIR API reads resources and their versions with the store's meta", "[fhir_facade][db]") {
  Api api("fhir_http_read");
  REQUIRE(api.f.store->Put(MakeWrite("DiagnosticReport", "dr-1", "preliminary")).ok());
  REQUIRE(api.f.store->Put(MakeWrite("DiagnosticReport", "dr-1", "final")).ok());
  http::Response r = api.Get("/fhir/DiagnosticReport/dr-1");
  REQUIRE(r.status == 200);
  json dr = Body(r);
  CHECK(dr["id"] == "dr-1");
  CHECK(dr["status"] == "final");
  CHECK(dr["meta"]["versionId"] == "2");
  CHECK(r.Header("ETag") == "W/\"2\"");
  json v1 = Body(api.Get("/fhir/DiagnosticReport/dr-1/_history/1"));
  CHECK(v1["status"] == "preliminary");
  CheckOutcome(api.Get("/fhir/DiagnosticReport/dr-1/_history/3"), 404, "not-found");
}

TEST_CASE("the FHIR API searches by patient, status and date into a paged searchset Bundle", "[fhir_facade][db]") {
  Api api("fhir_http_search");
  REQUIRE(api.f.store->Put(MakeWrite("Observation", "obs-a", "final", "P-1", "1.1", "2026-12-01")).ok());
  REQUIRE(api.f.store->Put(MakeWrite("Observation", "obs-b", "final", "P-1", "1.2", "2026-12-02")).ok());
  REQUIRE(api.f.store->Put(MakeWrite("Observation", "obs-c", "preliminary", "P-1", "1.3", "2026-12-03")).ok());
  REQUIRE(api.f.store->Put(MakeWrite("Observation", "obs-d", "final", "P-2", "1.4", "2026-12-04")).ok());

  json bundle = Body(api.Get("/fhir/Observation?patient=P-1&status=final&date=ge2026-12-01&_count=1"));
  CHECK(bundle["resourceType"] == "Bundle");
  CHECK(bundle["type"] == "searchset");
  CHECK(bundle["total"] == 2);
  REQUIRE(bundle["entry"].size() == 1);
  CHECK(bundle["entry"][0]["resource"]["id"] == "obs-b");
  CHECK(bundle["entry"][0]["fullUrl"].get<std::string>().find("/fhir/Observation/obs-b") != std::string::npos);
  std::string next;
  for (const json& link : bundle["link"]) {
    if (link["relation"] == "next") next = link["url"];
  }
  REQUIRE_FALSE(next.empty());
  const std::string next_path = next.substr(next.find("/fhir/"));
  json page2 = Body(api.Get(next_path));
  REQUIRE(page2["entry"].size() == 1);
  CHECK(page2["entry"][0]["resource"]["id"] == "obs-a");

  json none = Body(api.Get("/fhir/Observation?study=9.9.9"));
  CHECK(none["total"] == 0);
  CHECK_FALSE(none.contains("entry"));
}

TEST_CASE("every error of the FHIR API is an OperationOutcome with the matching HTTP status", "[fhir_facade][db]") {
  Api api("fhir_http_errors");
  REQUIRE(api.f.store->Put(MakeWrite("Task", "task-1", "requested")).ok());
  http::Response anonymous = api.Get("/fhir/Task/task-1", "");
  CheckOutcome(anonymous, 401, "login");
  CHECK(anonymous.Header("WWW-Authenticate") == "Bearer");
  CheckOutcome(api.Get("/fhir/Task/task-1", "wrong"), 403, "forbidden");
  CheckOutcome(api.Get("/fhir/Task?status=requested", "wrong"), 403, "forbidden");
  CheckOutcome(api.Get("/fhir/Patient/p-1"), 404, "not-found");
  CheckOutcome(api.Get("/fhir/Patient?name=x"), 404, "not-found");
  CheckOutcome(api.Get("/fhir/Task/task-404"), 404, "not-found");
  CheckOutcome(api.Get("/fhir/Task?name=Smith"), 400, "invalid");
  CheckOutcome(api.Get("/fhir/Task?date=yesterday"), 400, "invalid");
  CheckOutcome(api.Get("/fhir/Task?_count=100000"), 400, "invalid");
  CheckOutcome(api.Get("/fhir/a/b/c/d/e"), 404, "not-found");
  http::Response post = api.Get("/fhir/Task/task-1", "let-me-in", "DELETE");
  CHECK(post.status == 405);
  CHECK(Body(post)["resourceType"] == "OperationOutcome");

  // The store goes away: 503, transient.
  auto admin = store::Database::Open({parallax::testing::DatabaseUrl(), 1});
  REQUIRE(admin.ok());
  const std::string name = api.f.url.substr(api.f.url.rfind('/') + 1);
  REQUIRE((*admin)->ExecScript("ALTER DATABASE \"" + name + "\" WITH ALLOW_CONNECTIONS false").ok());
  REQUIRE((*admin)->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", {name}).ok());
  CheckOutcome(api.Get("/fhir/Task/task-1"), 503, "transient");
  CheckOutcome(api.Get("/fhir/Task?status=requested"), 503, "transient");
  CHECK(api.Get("/fhir/metadata", "").status == 200);
  REQUIRE((*admin)->ExecScript("ALTER DATABASE \"" + name + "\" WITH ALLOW_CONNECTIONS true").ok());
}

}  // namespace
}  // namespace parallax::fhir_facade
