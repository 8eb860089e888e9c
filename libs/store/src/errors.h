#pragma once
// The one place where libpqxx and standard exceptions become absl::Status.
#include <string_view>

#include "absl/status/status.h"

namespace parallax::store::internal {

enum class ErrorKind {
  kOther,       // the statement failed; the connection is fine
  kBroken,      // the connection is gone: discard it
  kRetryable,   // serialization failure or deadlock: rerun the transaction
  kStalePlan,   // a cached prepared statement no longer fits the schema
  kInDoubt,     // the connection broke during COMMIT
};

struct ClassifiedError {
  absl::Status status;
  ErrorKind kind = ErrorKind::kOther;
};

// Call only inside a catch block: maps the exception being handled.
// The status message never carries parameter values or DETAIL lines.
ClassifiedError ClassifyCurrentException();

// "ERROR:  x\nDETAIL:  y" -> "x"; for data exceptions (SQLSTATE class 22),
// quoted values are replaced by "...". Exposed for tests.
std::string SanitizeServerMessage(std::string_view message, std::string_view sqlstate);

}  // namespace parallax::store::internal
