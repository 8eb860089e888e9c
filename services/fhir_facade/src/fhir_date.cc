#include "fhir_date.h"

#include <cctype>
#include <cstdio>

#include <absl/strings/str_cat.h>

namespace parallax::fhir_facade {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at text[*pos]; false when they are not all digits.
bool Digits(std::string_view text, size_t* pos, size_t n, int* out) {
  if (*pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

absl::Status Malformed(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed FHIR date '", std::string(text.substr(0, 40)), "': ", std::string(why)));
}

constexpr int64_t kMsPerDay = 86400000;

}  // namespace

absl::StatusOr<DateRange> ParseFhirDate(std::string_view text) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0;
  if (!Digits(text, &pos, 4, &year)) return Malformed(text, "expected a four-digit year");
  if (pos == text.size()) {
    return DateRange{DaysFromCivil(year, 1, 1) * kMsPerDay, DaysFromCivil(year + 1, 1, 1) * kMsPerDay};
  }
  if (!Expect(text, &pos, '-') || !Digits(text, &pos, 2, &month) || month < 1 || month > 12) {
    return Malformed(text, "expected -MM with a month 01..12");
  }
  if (pos == text.size()) {
    const int64_t next = month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, month + 1, 1);
    return DateRange{DaysFromCivil(year, month, 1) * kMsPerDay, next * kMsPerDay};
  }
  if (!Expect(text, &pos, '-') || !Digits(text, &pos, 2, &day) || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, month)) {
    return Malformed(text, "expected -DD with a day that exists in that month");
  }
  const int64_t day_ms = DaysFromCivil(year, month, day) * kMsPerDay;
  if (pos == text.size()) return DateRange{day_ms, day_ms + kMsPerDay};
  int hour = 0, minute = 0, second = 0;
  if (!Expect(text, &pos, 'T') || !Digits(text, &pos, 2, &hour) || hour > 23 || !Expect(text, &pos, ':') ||
      !Digits(text, &pos, 2, &minute) || minute > 59) {
    return Malformed(text, "expected Thh:mm after the date");
  }
  int64_t precision_ms = 60000;
  int64_t fraction_ms = 0;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!Digits(text, &pos, 2, &second) || second > 60) return Malformed(text, "expected :ss seconds");
    precision_ms = 1000;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      size_t digits = 0;
      int64_t scale = 100;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (digits < 3) fraction_ms += (text[pos] - '0') * scale;
        scale /= 10;
        ++digits;
        ++pos;
      }
      if (digits == 0) return Malformed(text, "expected digits after the decimal point");
      precision_ms = 1;
    }
  }
  int64_t offset_ms = 0;
  if (pos < text.size()) {
    const char zone = text[pos];
    if (zone == 'Z') {
      ++pos;
    } else if (zone == '+' || zone == '-') {
      ++pos;
      int oh = 0, om = 0;
      if (!Digits(text, &pos, 2, &oh) || oh > 14 || !Expect(text, &pos, ':') || !Digits(text, &pos, 2, &om) ||
          om > 59) {
        return Malformed(text, "expected a zone offset +hh:mm or -hh:mm");
      }
      offset_ms = (static_cast<int64_t>(oh) * 60 + om) * 60000 * (zone == '+' ? 1 : -1);
    } else {
      return Malformed(text, "unexpected text after the time");
    }
  }
  if (pos != text.size()) return Malformed(text, "unexpected text after the zone");
  const int64_t lower = day_ms + ((static_cast<int64_t>(hour) * 60 + minute) * 60 + second) * 1000 + fraction_ms -
                        offset_ms;
  return DateRange{lower, lower + precision_ms};
}

std::string FormatInstant(int64_t epoch_ms) {
  int64_t days = epoch_ms >= 0 ? epoch_ms / kMsPerDay : -((-epoch_ms + kMsPerDay - 1) / kMsPerDay);
  int64_t rest = epoch_ms - days * kMsPerDay;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, &y, &m, &d);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y), m,
                d, static_cast<long long>(rest / 3600000), static_cast<long long>(rest / 60000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return buffer;
}

}  // namespace parallax::fhir_facade
