#pragma once
// The search parameters the facade supports on every resource type, parsed
// from a URL query string:
//   patient=<value> | patient=<system>|<value>   the subject's patient identifier
//   study=<StudyInstanceUID>                      (urn:oid: prefix accepted)
//   status=<code>[,<code>...]                     any of the codes
//   date=[eq|ge|le|gt|lt]<FHIR date>              may repeat (all must hold)
//   _count=<1..500>   page size (default 50)
//   _offset=<n>       first result of the page (default 0)
//   _format=json | application/fhir+json | application/json  (accepted, ignored)
// Any other parameter is an error, so a typo never silently widens a search.
// Pure functions; thread-safe.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "fhir_date.h"

namespace parallax::fhir_facade {

enum class DateComparator { kEq, kGe, kLe, kGt, kLt };

struct DateCondition {
  DateComparator comparator = DateComparator::kEq;
  DateRange range;  // the span the search value stands for
  std::string value;  // the date as given, without the prefix
};

struct SearchQuery {
  std::string patient_system;  // empty: any system
  std::string patient;         // empty: no patient condition
  std::string study_instance_uid;
  std::vector<std::string> statuses;  // empty: any status
  std::vector<DateCondition> dates;
  int count = 50;
  int64_t offset = 0;
};

inline constexpr int kDefaultCount = 50;
inline constexpr int kMaxCount = 500;

// Parses `query` (the part of the URL after '?', percent-encoded, '+' as
// space). INVALID_ARGUMENT naming the parameter for an unknown parameter, a
// repeated single-valued one, an empty value, a bad date or prefix, or a
// _count/_offset that is not a number in range (the message never quotes a
// patient identifier).
absl::StatusOr<SearchQuery> ParseSearchQuery(std::string_view query);

// The query string that asks for the same search at another offset (for
// Bundle links), canonical and percent-encoded.
std::string SearchQueryString(const SearchQuery& query, int64_t offset);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string PercentEncode(std::string_view text);

}  // namespace parallax::fhir_facade
