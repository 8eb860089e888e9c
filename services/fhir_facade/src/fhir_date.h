#pragma once
// FHIR date, dateTime and instant values as time ranges, for the search
// columns of the resource store and the `date` search parameter. A value
// stands for the whole span of its precision: "2026" is the year,
// "2026-12-04" the day, "2026-12-04T10:30:00Z" that second. Pure functions;
// thread-safe.
#include <cstdint>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

namespace parallax::fhir_facade {

// [lower_ms, upper_ms) in milliseconds since 1970-01-01T00:00:00Z.
struct DateRange {
  int64_t lower_ms = 0;
  int64_t upper_ms = 0;
};

// Parses YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm[:ss[.fff]] with a
// zone (Z or +hh:mm / -hh:mm; a dateTime without a zone is taken as UTC).
// INVALID_ARGUMENT saying what is malformed (the value itself is quoted: it
// is a date, never patient data on its own).
absl::StatusOr<DateRange> ParseFhirDate(std::string_view text);

// The FHIR instant for a time in milliseconds: "2026-12-04T10:30:00.123Z".
std::string FormatInstant(int64_t epoch_ms);

}  // namespace parallax::fhir_facade
