#include "parallax/http/router.h"

#include <algorithm>
#include <utility>

namespace parallax::http {
namespace {

// Non-empty '/'-separated segments of `path`.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) segments.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return segments;
}

}  // namespace

void Router::Add(std::string method, std::string_view pattern, Handler handler) {
  Entry entry;
  entry.method = std::move(method);
  for (std::string_view segment : SplitPath(pattern)) {
    Segment s;
    if (segment.size() > 2 && segment.front() == '{' && segment.back() == '}') {
      s.is_param = true;
      s.text = std::string(segment.substr(1, segment.size() - 2));
    } else {
      s.text = std::string(segment);
    }
    entry.segments.push_back(std::move(s));
  }
  entry.handler = std::move(handler);
  routes_.push_back(std::move(entry));
}

Response Router::Route(Request& request) const {
  const std::vector<std::string_view> segments = SplitPath(request.path);
  std::vector<std::string_view> allowed;  // methods whose pattern matches the path
  for (const Entry& entry : routes_) {
    if (entry.segments.size() != segments.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      match = entry.segments[i].is_param || entry.segments[i].text == segments[i];
    }
    if (!match) continue;
    const bool head_as_get = request.method == "HEAD" && entry.method == "GET";
    if (entry.method != request.method && !head_as_get) {
      if (std::find(allowed.begin(), allowed.end(), entry.method) == allowed.end()) {
        allowed.push_back(entry.method);
      }
      continue;
    }
    request.path_params.clear();
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (entry.segments[i].is_param) {
        request.path_params[entry.segments[i].text] = PercentDecode(segments[i]);
      }
    }
    return entry.handler(request);
  }
  if (allowed.empty()) return Response::Make(404, "no route for this path\n");
  std::string allow;
  for (std::string_view method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  Response response = Response::Make(405, "method not allowed; allowed: " + allow + "\n");
  response.headers.emplace_back("Allow", allow);
  return response;
}

}  // namespace parallax::http
