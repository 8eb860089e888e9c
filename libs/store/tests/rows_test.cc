#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "parallax/store/rows.h"

using parallax::store::Param;
using parallax::store::Row;
using parallax::store::Rows;

TEST_CASE("Param turns each kind of value into the text PostgreSQL reads", "[store]") {
  CHECK(Param(nullptr).is_null());
  CHECK(Param(std::nullopt).is_null());
  CHECK(Param(static_cast<const char*>(nullptr)).is_null());
  CHECK(Param(std::optional<int>()).is_null());
  CHECK_FALSE(Param("").is_null());
  CHECK(Param("").text().empty());
  CHECK(Param(std::string("a'b\"c")).text() == "a'b\"c");
  CHECK(Param(std::string_view("view")).text() == "view");
  CHECK(Param(true).text() == "true");
  CHECK(Param(false).text() == "false");
  CHECK(Param(42).text() == "42");
  CHECK(Param(std::numeric_limits<int64_t>::min()).text() == "-9223372036854775808");
  CHECK(Param(std::optional<int64_t>(7)).text() == "7");
  CHECK(Param(0.1).text() == "0.1");
  CHECK(Param(1e300).text() == "1e+300");
  CHECK(Param(std::nan("")).text() == "NaN");
  CHECK(Param(-HUGE_VAL).text() == "-Infinity");
}

TEST_CASE("Row getters convert text and refuse NULL, missing columns and wrong types", "[store]") {
  Row row({std::string("12"), std::nullopt, std::string("t"), std::string("2.5"), std::string("x")});
  CHECK(row.size() == 5);
  CHECK(row.Get(0) == std::optional<std::string>("12"));
  CHECK(row.Get(1) == std::nullopt);
  CHECK(row.Get(9) == std::nullopt);
  CHECK(row.IsNull(1));
  CHECK_FALSE(row.IsNull(0));
  REQUIRE(row.GetInt64(0).ok());
  CHECK(*row.GetInt64(0) == 12);
  CHECK(row.GetInt64(1).status().code() == absl::StatusCode::kInternal);
  CHECK(row.GetInt64(3).status().code() == absl::StatusCode::kInternal);
  CHECK(row.GetInt64(4).status().code() == absl::StatusCode::kInternal);
  CHECK(row.GetString(9).status().code() == absl::StatusCode::kInternal);
  CHECK(*row.GetBool(2) == true);
  CHECK_FALSE(row.GetBool(0).ok());
  CHECK(*row.GetDouble(3) == 2.5);
  // The message names the column, never the value.
  CHECK(std::string(row.GetInt64(4).status().message()).find("\"x\"") == std::string::npos);

  Rows rows({"a", "b"}, {Row({std::string("1"), std::nullopt})}, 1);
  CHECK(rows.columns() == 2);
  CHECK(rows.size() == 1);
  CHECK(rows.column_names()[1] == "b");
  CHECK(rows.affected_rows() == 1);
}
