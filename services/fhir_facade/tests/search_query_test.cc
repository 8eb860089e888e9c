#include "search_query.h"

#include <catch2/catch.hpp>

namespace parallax::fhir_facade {
namespace {

TEST_CASE("search parameters parse into one query with every condition", "[fhir_facade]") {
  auto q = ParseSearchQuery(
      "patient=urn%3Aparallax%3Apatient-id%7CP-7&study=urn:oid:1.2.3&status=final,amended"
      "&date=ge2026-12-01&date=lt2026-12-05&_count=10&_offset=20");
  REQUIRE(q.ok());
  CHECK(q->patient_system == "urn:parallax:patient-id");
  CHECK(q->patient == "P-7");
  CHECK(q->study_instance_uid == "1.2.3");
  CHECK(q->statuses == std::vector<std::string>{"final", "amended"});
  REQUIRE(q->dates.size() == 2);
  CHECK(q->dates[0].comparator == DateComparator::kGe);
  CHECK(q->dates[1].comparator == DateComparator::kLt);
  CHECK(q->dates[1].value == "2026-12-05");
  CHECK(q->count == 10);
  CHECK(q->offset == 20);
}

TEST_CASE("a search without parameters asks for the first page of everything", "[fhir_facade]") {
  auto q = ParseSearchQuery("");
  REQUIRE(q.ok());
  CHECK(q->patient.empty());
  CHECK(q->statuses.empty());
  CHECK(q->count == kDefaultCount);
  CHECK(q->offset == 0);
  auto bare = ParseSearchQuery("date=2026-12-04");
  REQUIRE(bare.ok());
  CHECK(bare->dates[0].comparator == DateComparator::kEq);
}

TEST_CASE("unknown, repeated, empty or out-of-range search parameters are refused", "[fhir_facade]") {
  for (const char* bad : {"subject=P-7", "patient=", "status=final&status=amended", "_count=0", "_count=501",
                          "_count=ten", "_offset=-1", "date=xx2026", "date=ge2026-13", "_format=xml", "patient=sys|"}) {
    INFO(bad);
    auto q = ParseSearchQuery(bad);
    REQUIRE_FALSE(q.ok());
    CHECK(q.status().code() == absl::StatusCode::kInvalidArgument);
  }
  // The message names the parameter, not the identifier asked for.
  auto unknown = ParseSearchQuery("name=Smith");
  CHECK(std::string(unknown.status().message()).find("'name'") != std::string::npos);
  CHECK(std::string(unknown.status().message()).find("Smith") == std::string::npos);
}

TEST_CASE("the query string of another page keeps every condition", "[fhir_facade]") {
  auto q = ParseSearchQuery("patient=P%207&status=final&date=le2026-12&_count=5");
  REQUIRE(q.ok());
  const std::string next = SearchQueryString(*q, 5);
  CHECK(next == "patient=P%207&status=final&date=le2026-12&_count=5&_offset=5");
  auto again = ParseSearchQuery(next);
  REQUIRE(again.ok());
  CHECK(again->patient == "P 7");
  CHECK(again->offset == 5);
}

}  // namespace
}  // namespace parallax::fhir_facade
