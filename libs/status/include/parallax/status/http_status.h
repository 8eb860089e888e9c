#pragma once
// absl::Status -> HTTP status code and FHIR OperationOutcome, the HTTP table.
//
//   OK 200, INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
//   NOT_FOUND 404, ALREADY_EXISTS 409, FAILED_PRECONDITION 412,
//   UNIMPLEMENTED 501, RESOURCE_EXHAUSTED 503, UNAVAILABLE 503,
//   DEADLINE_EXCEEDED 504, anything else 500.
// Stateless and thread-safe.
#include <string>

#include <absl/status/status.h>

namespace parallax::status {

// Returns the HTTP status code for `status`.
int ToHttp(const absl::Status& status);

// Returns a FHIR R4 OperationOutcome (JSON text) describing `status`: one
// issue with severity "error" (or "information" for OK), the FHIR issue-type
// code matching the status code, and the message as diagnostics.
std::string ToOperationOutcome(const absl::Status& status);

}  // namespace parallax::status
