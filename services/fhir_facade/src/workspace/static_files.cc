#include "workspace/static_files.h"

#include <fstream>
#include <sstream>

#include <absl/strings/match.h>

namespace parallax::fhir_facade::workspace {
namespace {

std::string TypeOf(const std::string& name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js") || absl::EndsWith(name, ".mjs")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  if (absl::EndsWith(name, ".png")) return "image/png";
  if (absl::EndsWith(name, ".ico")) return "image/x-icon";
  return "";
}

bool PlainName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

http::Response StaticFiles::Serve(const std::string& relative) const {
  const size_t slash = relative.find('/');
  const std::string folder = slash == std::string::npos ? "" : relative.substr(0, slash);
  const std::string name = slash == std::string::npos ? relative : relative.substr(slash + 1);
  const std::string type = TypeOf(name);
  if ((folder != "" && folder != "js") || !PlainName(name) || type.empty()) {
    return http::Response::Make(404, "not found\n");
  }
  std::ifstream in(root_ + "/" + relative, std::ios::binary);
  if (!in) return http::Response::Make(404, "not found\n");
  std::ostringstream body;
  body << in.rdbuf();
  http::Response response = http::Response::Make(200, body.str(), type);
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (absl::EndsWith(name, ".html")) {
    response.headers.emplace_back("Content-Security-Policy",
                                  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                  "img-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'");
  }
  return response;
}

void StaticFiles::AddRoutes(http::Router& router) const {
  router.Add("GET", "/", [this](const http::Request&) { return Serve("index.html"); });
  router.Add("GET", "/js/{file}",
             [this](const http::Request& r) { return Serve("js/" + std::string(r.PathParam("file"))); });
  router.Add("GET", "/{file}", [this](const http::Request& r) { return Serve(std::string(r.PathParam("file"))); });
}

}  // namespace parallax::fhir_facade::workspace
