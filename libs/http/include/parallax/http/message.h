#pragma once
// The HTTP request and response as Parallax code sees them: plain structs,
// no Boost types. A Request is what a Handler receives from the Server; a
// Response is what it returns, and what the client's Fetch returns.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "parallax/http/headers.h"

namespace parallax::http {

struct Request {
  std::string method;  // as sent, e.g. "GET", "POST"
  std::string target;  // path and query as sent, e.g. "/studies?limit=10"
  std::string path;    // target before '?', not percent-decoded
  std::string query;   // target after '?' (without it); "" when none
  Headers headers;     // in arrival order, names as sent
  std::string body;    // whole body (the Server enforces max_body_bytes)
  // Values of the {name} segments of the matched Router pattern,
  // percent-decoded. Empty when the Server was built with a plain Handler.
  std::map<std::string, std::string> path_params;

  // Value of the first header named `name` (case-insensitive); "" if absent.
  std::string_view Header(std::string_view name) const;
  // Value of path parameter `name`; "" if the pattern has no such segment.
  std::string_view PathParam(std::string_view name) const;
  // Decoded value of the first query parameter `name` ('+' is a space and
  // %XX is decoded); nullopt when absent. "?flag" yields "".
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;  // Content-Length is computed by the Server; do not set it
  std::string body;

  // Value of the first header named `name` (case-insensitive); "" if absent.
  std::string_view Header(std::string_view name) const;

  // A response with `body` and the given Content-Type.
  static Response Make(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
};

// Handles one request. Called on one of the Server's threads; several calls
// may run at the same time, so a Handler must be thread-safe. An exception
// escaping it becomes a 500 response (and an error log line).
using Handler = std::function<Response(const Request&)>;

// Decodes %XX escapes (and '+' as space when `plus_is_space`). Malformed
// escapes are kept as they are.
std::string PercentDecode(std::string_view text, bool plus_is_space = false);

}  // namespace parallax::http
