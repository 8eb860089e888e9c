#include "parallax/http/router.h"

#include <catch2/catch.hpp>

namespace {

using parallax::http::Request;
using parallax::http::Response;
using parallax::http::Router;

Request Make(std::string method, std::string target) {
  Request request;
  request.method = std::move(method);
  request.target = target;
  auto q = target.find('?');
  request.path = target.substr(0, q);
  if (q != std::string::npos) request.query = target.substr(q + 1);
  return request;
}

Router ExampleRouter() {
  Router router;
  router.Add("GET", "/studies/{study}/series/{series}", [](const Request& r) {
    return Response::Make(200, "series " + std::string(r.PathParam("study")) + " " +
                                   std::string(r.PathParam("series")));
  });
  router.Add("GET", "/studies/{study}", [](const Request& r) {
    return Response::Make(200, "study " + std::string(r.PathParam("study")));
  });
  router.Add("DELETE", "/studies/{study}", [](const Request&) { return Response::Make(204, ""); });
  router.Add("POST", "/studies", [](const Request&) { return Response::Make(201, "stored"); });
  return router;
}

}  // namespace

TEST_CASE("router fills path parameters from {name} segments", "[http][router]") {
  Router router = ExampleRouter();
  Request request = Make("GET", "/studies/1.2.840.1/series/1.2.840.1.2");
  Response response = router.Route(request);
  CHECK(response.status == 200);
  CHECK(response.body == "series 1.2.840.1 1.2.840.1.2");
  CHECK(request.PathParam("study") == "1.2.840.1");
  CHECK(request.PathParam("series") == "1.2.840.1.2");
  CHECK(request.PathParam("instance").empty());

  Request encoded = Make("GET", "/studies/a%2Fb%20c/");
  CHECK(router.Route(encoded).body == "study a/b c");
}

TEST_CASE("router answers 404 for unknown paths and 405 with Allow for other methods",
          "[http][router]") {
  Router router = ExampleRouter();
  Request unknown = Make("GET", "/patients/1");
  CHECK(router.Route(unknown).status == 404);
  Request too_long = Make("GET", "/studies/1/series/2/instances");
  CHECK(router.Route(too_long).status == 404);

  Request put = Make("PUT", "/studies/1");
  Response response = router.Route(put);
  CHECK(response.status == 405);
  CHECK(response.Header("allow") == "GET, DELETE");

  Request del = Make("DELETE", "/studies/1");
  CHECK(router.Route(del).status == 204);
  Request post = Make("POST", "/studies");
  CHECK(router.Route(post).status == 201);
}

TEST_CASE("request query parameters are decoded", "[http][router]") {
  Request request = Make("GET", "/studies?PatientID=A%2B1&limit=10&fuzzy&name=a+b");
  CHECK(request.QueryParam("PatientID") == "A+1");
  CHECK(request.QueryParam("limit") == "10");
  CHECK(request.QueryParam("fuzzy") == "");
  CHECK(request.QueryParam("name") == "a b");
  CHECK_FALSE(request.QueryParam("offset").has_value());
}
