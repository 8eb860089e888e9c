#pragma once
// A client of the standard gRPC health checking protocol, for scripts and
// tests. Thread-safe.
#include <chrono>
#include <string>

#include <absl/status/statusor.h>

namespace parallax::rpc {

// Returns "SERVING", "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN" as the
// server reports it for `service` ("" = the server as a whole); NOT_FOUND
// when the service name is unknown to the server; UNAVAILABLE or
// DEADLINE_EXCEEDED when the server cannot be reached in time.
absl::StatusOr<std::string> CheckHealth(const std::string& target, const std::string& service,
                                        std::chrono::milliseconds timeout);

}  // namespace parallax::rpc
