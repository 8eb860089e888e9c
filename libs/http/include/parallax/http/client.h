#pragma once
// A minimal blocking HTTP/1.1 client, for tests and for simple outbound
// calls. One connection per call; plain http:// only for now.
// Thread-safe: each call uses its own connection and I/O context.
#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "parallax/http/headers.h"
#include "parallax/http/message.h"

namespace parallax::http {

// Sends `method` to `url` ("http://host[:port][/path][?query]", host may be
// a name, an IPv4 literal or a bracketed IPv6 literal) with `headers` and
// `body` (Host and Content-Length are added), and reads the whole response.
// Returns the response whatever its status; INVALID_ARGUMENT for a
// malformed or non-http URL; UNAVAILABLE when the host cannot be resolved,
// the connection is refused or breaks, or the reply is not HTTP;
// DEADLINE_EXCEEDED when the whole exchange takes longer than `timeout`.
absl::StatusOr<Response> Fetch(const std::string& method, const std::string& url,
                               const Headers& headers, const std::string& body,
                               std::chrono::milliseconds timeout);

}  // namespace parallax::http
