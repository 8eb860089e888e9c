#pragma once
// Dispatches requests on method and path pattern, e.g.
//
//   Router router;
//   router.Add("POST", "/studies", StoreInstances);
//   router.Add("GET", "/studies/{study}/series/{series}", RetrieveSeries);
//   Server server(options, std::move(router));
//
// A pattern is a '/'-separated path; a segment written exactly "{name}"
// matches any one non-empty segment and its percent-decoded value is put in
// Request::path_params["name"]. Other segments match literally (case
// sensitive). Empty segments are ignored on both sides, so "/a/" matches
// "/a". The first route added that matches wins; a HEAD request is served
// by a GET route (the Server then sends the headers without the body).
//
// Thread-safety: build it completely before serving; Route() is const and
// may then be called from many threads at once.
#include <string>
#include <string_view>
#include <vector>

#include "parallax/http/message.h"

namespace parallax::http {

class Router {
 public:
  // Registers `handler` for `method` (exact, e.g. "GET") on `pattern`.
  void Add(std::string method, std::string_view pattern, Handler handler);

  // Calls the handler of the first matching route after filling
  // request.path_params. Returns 404 when no pattern matches the path, and
  // 405 with an Allow header when patterns match but none for this method.
  Response Route(Request& request) const;

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool is_param = false;
  };
  struct Entry {
    std::string method;
    std::vector<Segment> segments;
    Handler handler;
  };
  std::vector<Entry> routes_;
};

}  // namespace parallax::http
