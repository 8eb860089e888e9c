#pragma once
// Serves the workspace's static files (index.html, app.css, js/*.js) from
// one directory. Only plain file names of known types are served (no "..",
// no hidden files, no subfolders other than the ones routed), with a
// Content-Security-Policy that allows nothing from elsewhere, and
// "no-cache" so that a new version is picked up at once (files are small).
//
// Thread-safe: reads files per request; holds no state besides the root.
#include <string>

#include "parallax/http/router.h"

namespace parallax::fhir_facade::workspace {

class StaticFiles {
 public:
  explicit StaticFiles(std::string root) : root_(std::move(root)) {}

  // GET /  (index.html), /{file}, /js/{file}.
  void AddRoutes(http::Router& router) const;

  // The response for `relative` (e.g. "js/app.js"): 200 with its type, 404
  // for a name that is not served or not there.
  http::Response Serve(const std::string& relative) const;

 private:
  std::string root_;
};

}  // namespace parallax::fhir_facade::workspace
