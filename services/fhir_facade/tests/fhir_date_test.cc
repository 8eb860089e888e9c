#include "fhir_date.h"

#include <catch2/catch.hpp>

namespace parallax::fhir_facade {
namespace {

constexpr int64_t kDay = 86400000;
// 2026-12-04T00:00:00Z
constexpr int64_t kDec4 = 1796342400000;

TEST_CASE("a FHIR date stands for the whole span of its precision", "[fhir_facade]") {
  auto day = ParseFhirDate("2026-12-04");
  REQUIRE(day.ok());
  CHECK(day->lower_ms == kDec4);
  CHECK(day->upper_ms == kDec4 + kDay);

  auto month = ParseFhirDate("2026-02");
  REQUIRE(month.ok());
  CHECK(month->upper_ms - month->lower_ms == 28 * kDay);
  auto leap = ParseFhirDate("2028-02");
  REQUIRE(leap.ok());
  CHECK(leap->upper_ms - leap->lower_ms == 29 * kDay);

  auto year = ParseFhirDate("2026");
  REQUIRE(year.ok());
  CHECK(year->upper_ms - year->lower_ms == 365 * kDay);
  CHECK(year->upper_ms == ParseFhirDate("2027")->lower_ms);
}

TEST_CASE("a FHIR dateTime is converted to UTC with its zone offset", "[fhir_facade]") {
  auto utc = ParseFhirDate("2026-12-04T10:30:00Z");
  REQUIRE(utc.ok());
  CHECK(utc->lower_ms == kDec4 + (10 * 60 + 30) * 60000);
  CHECK(utc->upper_ms - utc->lower_ms == 1000);

  auto plus_one = ParseFhirDate("2026-12-04T11:30:00+01:00");
  REQUIRE(plus_one.ok());
  CHECK(plus_one->lower_ms == utc->lower_ms);

  auto millis = ParseFhirDate("2026-12-04T10:30:00.250Z");
  REQUIRE(millis.ok());
  CHECK(millis->lower_ms == utc->lower_ms + 250);
  CHECK(millis->upper_ms - millis->lower_ms == 1);

  auto minutes = ParseFhirDate("2026-12-04T10:30Z");
  REQUIRE(minutes.ok());
  CHECK(minutes->upper_ms - minutes->lower_ms == 60000);
}

TEST_CASE("malformed FHIR dates are refused with INVALID_ARGUMENT", "[fhir_facade]") {
  for (const char* bad : {"", "26", "2026-13", "2026-02-30", "2026-12-04T25:00", "2026-12-04T10:30:00+1", "2026/12/04",
                          "2026-12-04X"}) {
    INFO(bad);
    auto parsed = ParseFhirDate(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("FormatInstant writes a UTC instant with milliseconds that parses back", "[fhir_facade]") {
  CHECK(FormatInstant(kDec4 + 1234) == "2026-12-04T00:00:01.234Z");
  CHECK(FormatInstant(0) == "1970-01-01T00:00:00.000Z");
  auto back = ParseFhirDate(FormatInstant(kDec4 + 987654321));
  REQUIRE(back.ok());
  CHECK(back->lower_ms == kDec4 + 987654321);
}

}  // namespace
}  // namespace parallax::fhir_facade
