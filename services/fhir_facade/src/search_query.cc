#include "search_query.h"

#include <charconv>
#include <utility>

#include <absl/strings/str_cat.h>

#include "parallax/http/message.h"

namespace parallax::fhir_facade {
namespace {

absl::StatusOr<int64_t> ParseNumber(std::string_view name, std::string_view text, int64_t min, int64_t max) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("search parameter ", std::string(name), " must be a whole number from ", min, " to ", max));
  }
  return value;
}

// Non-empty pieces of `text` between `separator`s.
std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string_view ComparatorPrefix(DateComparator c) {
  switch (c) {
    case DateComparator::kEq: return "eq";
    case DateComparator::kGe: return "ge";
    case DateComparator::kLe: return "le";
    case DateComparator::kGt: return "gt";
    case DateComparator::kLt: return "lt";
  }
  return "eq";
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<SearchQuery> ParseSearchQuery(std::string_view query) {
  SearchQuery q;
  bool seen_patient = false, seen_study = false, seen_status = false, seen_count = false, seen_offset = false;
  for (std::string_view pair : Split(query, '&')) {
    const size_t eq = pair.find('=');
    const std::string name = http::PercentDecode(pair.substr(0, eq), true);
    const std::string value = eq == std::string_view::npos ? "" : http::PercentDecode(pair.substr(eq + 1), true);
    auto once = [&](bool& seen) -> absl::Status {
      if (seen) return absl::InvalidArgumentError(absl::StrCat("search parameter ", name, " given more than once"));
      seen = true;
      if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("search parameter ", name, " has no value"));
      return absl::OkStatus();
    };
    if (name == "patient") {
      if (auto s = once(seen_patient); !s.ok()) return s;
      const size_t bar = value.find('|');
      if (bar == std::string::npos) {
        q.patient = value;
      } else {
        q.patient_system = value.substr(0, bar);
        q.patient = value.substr(bar + 1);
        if (q.patient.empty()) return absl::InvalidArgumentError("search parameter patient has no value after '|'");
      }
    } else if (name == "study") {
      if (auto s = once(seen_study); !s.ok()) return s;
      q.study_instance_uid = value.rfind("urn:oid:", 0) == 0 ? value.substr(8) : value;
    } else if (name == "status") {
      if (auto s = once(seen_status); !s.ok()) return s;
      for (std::string_view code : Split(value, ',')) q.statuses.emplace_back(code);
      if (q.statuses.empty()) return absl::InvalidArgumentError("search parameter status has no code");
    } else if (name == "date") {
      if (value.empty()) return absl::InvalidArgumentError("search parameter date has no value");
      DateCondition condition;
      std::string_view date = value;
      if (date.size() >= 2 && std::isalpha(static_cast<unsigned char>(date[0]))) {
        const std::string_view prefix = date.substr(0, 2);
        if (prefix == "eq") condition.comparator = DateComparator::kEq;
        else if (prefix == "ge") condition.comparator = DateComparator::kGe;
        else if (prefix == "le") condition.comparator = DateComparator::kLe;
        else if (prefix == "gt") condition.comparator = DateComparator::kGt;
        else if (prefix == "lt") condition.comparator = DateComparator::kLt;
        else {
          return absl::InvalidArgumentError(
              absl::StrCat("search parameter date: prefix '", std::string(prefix), "' is not one of eq, ge, le, gt, lt"));
        }
        date.remove_prefix(2);
      }
      auto range = ParseFhirDate(date);
      if (!range.ok()) return absl::InvalidArgumentError(absl::StrCat("search parameter date: ", range.status().message()));
      condition.range = *range;
      condition.value = std::string(date);
      q.dates.push_back(condition);
    } else if (name == "_count") {
      if (auto s = once(seen_count); !s.ok()) return s;
      auto n = ParseNumber(name, value, 1, kMaxCount);
      if (!n.ok()) return n.status();
      q.count = static_cast<int>(*n);
    } else if (name == "_offset") {
      if (auto s = once(seen_offset); !s.ok()) return s;
      auto n = ParseNumber(name, value, 0, 1000000000);
      if (!n.ok()) return n.status();
      q.offset = *n;
    } else if (name == "_format") {
      if (value != "json" && value != "application/fhir+json" && value != "application/json") {
        return absl::InvalidArgumentError("search parameter _format: only json is supported");
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unsupported search parameter '", name.substr(0, 64),
          "'; supported: patient, study, status, date, _count, _offset, _format"));
    }
  }
  return q;
}

std::string SearchQueryString(const SearchQuery& q, int64_t offset) {
  std::vector<std::string> parts;
  if (!q.patient.empty()) {
    parts.push_back("patient=" + PercentEncode(q.patient_system.empty() ? q.patient : q.patient_system + "|" + q.patient));
  }
  if (!q.study_instance_uid.empty()) parts.push_back("study=" + PercentEncode(q.study_instance_uid));
  if (!q.statuses.empty()) {
    std::string joined;
    for (const std::string& s : q.statuses) joined += (joined.empty() ? "" : ",") + s;
    parts.push_back("status=" + PercentEncode(joined));
  }
  for (const DateCondition& d : q.dates) {
    parts.push_back(absl::StrCat("date=", std::string(ComparatorPrefix(d.comparator)), PercentEncode(d.value)));
  }
  parts.push_back(absl::StrCat("_count=", q.count));
  parts.push_back(absl::StrCat("_offset=", offset));
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "&") + p;
  return out;
}

}  // namespace parallax::fhir_facade
