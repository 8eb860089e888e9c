#include "evidence_http.h"

#include <absl/strings/str_cat.h>

#include "parallax/fhir/resources.h"

namespace parallax::fhir_facade {
namespace {

http::Response Outcome(const absl::Status& status) {
  return http::Response::Make(fhir::HttpStatusFor(status), fhir::BuildOperationOutcome(status).dump(),
                              "application/fhir+json");
}

}  // namespace

void EvidenceHttp::AddRoutes(http::Router& router) const {
  router.Add("GET", "/evidence/{finding}/{file}", [this](const http::Request& request) {
    if (authorize_) {
      if (absl::Status allowed = authorize_(request); !allowed.ok()) return Outcome(allowed);
    }
    std::string file(request.PathParam("file"));
    const std::string suffix = ".png";
    if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return Outcome(absl::NotFoundError("evidence is served as <finding>/<sop instance uid>.png"));
    }
    file.resize(file.size() - suffix.size());
    auto png = fetch_(std::string(request.PathParam("finding")), file);
    if (!png.ok()) return Outcome(png.status());
    http::Response response = http::Response::Make(200, *std::move(png), "image/png");
    response.headers.emplace_back("Cache-Control", "private, max-age=3600");
    return response;
  });
}

}  // namespace parallax::fhir_facade
