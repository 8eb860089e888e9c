#include "parallax/status/http_status.h"

#include <nlohmann/json.hpp>

namespace parallax::status {

int ToHttp(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kFailedPrecondition: return 412;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kResourceExhausted: return 503;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

namespace {

// FHIR R4 IssueType codes (http://hl7.org/fhir/issue-type).
const char* FhirIssueType(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "informational";
    case absl::StatusCode::kInvalidArgument: return "invalid";
    case absl::StatusCode::kUnauthenticated: return "login";
    case absl::StatusCode::kPermissionDenied: return "forbidden";
    case absl::StatusCode::kNotFound: return "not-found";
    case absl::StatusCode::kAlreadyExists: return "duplicate";
    case absl::StatusCode::kFailedPrecondition: return "conflict";
    case absl::StatusCode::kUnimplemented: return "not-supported";
    case absl::StatusCode::kResourceExhausted: return "throttled";
    case absl::StatusCode::kUnavailable: return "transient";
    case absl::StatusCode::kDeadlineExceeded: return "timeout";
    default: return "exception";
  }
}

}  // namespace

std::string ToOperationOutcome(const absl::Status& status) {
  nlohmann::json issue = {
      {"severity", status.ok() ? "information" : "error"},
      {"code", FhirIssueType(status.code())},
      {"diagnostics", status.ok() ? std::string("OK") : std::string(status.message())},
  };
  nlohmann::json outcome = {{"resourceType", "OperationOutcome"}, {"issue", nlohmann::json::array({issue})}};
  return outcome.dump();
}

}  // namespace parallax::status
