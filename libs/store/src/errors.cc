#include "errors.h"

#include <exception>
#include <pqxx/pqxx>
#include <string>

#include "absl/strings/str_cat.h"

namespace parallax::store::internal {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

ClassifiedError FromSqlError(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  std::string message = SanitizeServerMessage(e.what(), state);
  std::string text = absl::StrCat("SQLSTATE ", state.empty() ? "unknown" : state, ": ", message);
  if (state == "23505") return {absl::AlreadyExistsError(text), ErrorKind::kOther};
  if (state == "40001" || state == "40P01") return {absl::AbortedError(text), ErrorKind::kRetryable};
  if (state == "0A000" && message.find("cached plan must not change result type") != std::string::npos) {
    return {absl::AbortedError(text), ErrorKind::kStalePlan};
  }
  // Connection exceptions and server shutdown: the session is unusable.
  if (StartsWith(state, "08") || state == "57P01" || state == "57P02" || state == "57P03") {
    return {absl::UnavailableError(text), ErrorKind::kBroken};
  }
  if (state == "53300") return {absl::UnavailableError(text), ErrorKind::kOther};
  if (state == "53100") return {absl::ResourceExhaustedError(text), ErrorKind::kOther};
  if (state == "57014") return {absl::DeadlineExceededError(text), ErrorKind::kOther};
  return {absl::InternalError(text), ErrorKind::kOther};
}

std::string FirstLine(std::string_view s) {
  return std::string(s.substr(0, s.find('\n')));
}

}  // namespace

std::string SanitizeServerMessage(std::string_view message, std::string_view sqlstate) {
  std::string_view line = message.substr(0, message.find('\n'));
  for (std::string_view prefix : {"ERROR:  ", "FATAL:  ", "PANIC:  "}) {
    if (StartsWith(line, prefix)) {
      line.remove_prefix(prefix.size());
      break;
    }
  }
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  if (!StartsWith(sqlstate, "22")) return std::string(line);
  // Data exceptions quote the offending input: `invalid input syntax for
  // type bigint: "Doe^John"`. Drop every quoted part.
  std::string out;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      if (!quoted) out += "\"...\"";
      quoted = !quoted;
    } else if (!quoted) {
      out += c;
    }
  }
  return out;
}

ClassifiedError ClassifyCurrentException() {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return {absl::UnknownError(absl::StrCat(
                "connection lost during COMMIT; the transaction may or may not have committed: ",
                FirstLine(e.what()))),
            ErrorKind::kInDoubt};
  } catch (const pqxx::broken_connection& e) {
    return {absl::UnavailableError(absl::StrCat("database connection failed: ", FirstLine(e.what()))),
            ErrorKind::kBroken};
  } catch (const pqxx::sql_error& e) {
    return FromSqlError(e);
  } catch (const pqxx::serialization_failure& e) {
    // libpqxx 6 derives the class 40 errors from pqxx::failure, not
    // sql_error, so they carry no SQLSTATE of their own.
    return {absl::AbortedError(absl::StrCat("SQLSTATE 40001: ", SanitizeServerMessage(e.what(), "40001"))),
            ErrorKind::kRetryable};
  } catch (const pqxx::deadlock_detected& e) {
    return {absl::AbortedError(absl::StrCat("SQLSTATE 40P01: ", SanitizeServerMessage(e.what(), "40P01"))),
            ErrorKind::kRetryable};
  } catch (const pqxx::statement_completion_unknown& e) {
    return {absl::UnknownError(absl::StrCat("SQLSTATE 40003: statement outcome unknown: ",
                                            SanitizeServerMessage(e.what(), "40003"))),
            ErrorKind::kInDoubt};
  } catch (const pqxx::transaction_rollback& e) {
    return {absl::AbortedError(absl::StrCat("SQLSTATE 40xxx: ", SanitizeServerMessage(e.what(), "40"))),
            ErrorKind::kOther};
  } catch (const pqxx::usage_error& e) {
    return {absl::InternalError(absl::StrCat("database library misuse: ", FirstLine(e.what()))),
            ErrorKind::kOther};
  } catch (const pqxx::failure& e) {
    return {absl::InternalError(absl::StrCat("database failure: ", FirstLine(e.what()))),
            ErrorKind::kOther};
  } catch (const std::bad_alloc&) {
    return {absl::ResourceExhaustedError("out of memory while talking to the database"),
            ErrorKind::kOther};
  } catch (const std::exception& e) {
    return {absl::InternalError(absl::StrCat("database client error: ", FirstLine(e.what()))),
            ErrorKind::kOther};
  } catch (...) {
    return {absl::UnknownError("unknown exception in the database client"), ErrorKind::kOther};
  }
}

}  // namespace parallax::store::internal
