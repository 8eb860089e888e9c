#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "parallax/store/rows.h"

namespace parallax::store {

Param::Param(double v) : null_(false) {
  if (std::isnan(v)) {
    text_ = "NaN";
  } else if (std::isinf(v)) {
    text_ = v > 0 ? "Infinity" : "-Infinity";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    text_.assign(buf, ec == std::errc() ? end : buf);
  }
}

absl::StatusOr<const std::string*> Row::Cell(size_t col) const {
  if (col >= cells_.size()) {
    return absl::InternalError(
        absl::StrCat("result column ", col, " does not exist (the row has ", cells_.size(), ")"));
  }
  if (!cells_[col].has_value()) {
    return absl::InternalError(absl::StrCat("result column ", col, " is NULL"));
  }
  return &*cells_[col];
}

absl::StatusOr<std::string> Row::GetString(size_t col) const {
  auto cell = Cell(col);
  if (!cell.ok()) return cell.status();
  return **cell;
}

absl::StatusOr<int64_t> Row::GetInt64(size_t col) const {
  auto cell = Cell(col);
  if (!cell.ok()) return cell.status();
  const std::string& s = **cell;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return absl::InternalError(absl::StrCat("result column ", col, " is not a 64-bit integer"));
  }
  return value;
}

absl::StatusOr<double> Row::GetDouble(size_t col) const {
  auto cell = Cell(col);
  if (!cell.ok()) return cell.status();
  const std::string& s = **cell;
  if (s == "NaN") return std::nan("");
  if (s == "Infinity") return HUGE_VAL;
  if (s == "-Infinity") return -HUGE_VAL;
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return absl::InternalError(absl::StrCat("result column ", col, " is not a number"));
  }
  return value;
}

absl::StatusOr<bool> Row::GetBool(size_t col) const {
  auto cell = Cell(col);
  if (!cell.ok()) return cell.status();
  const std::string& s = **cell;
  if (s == "t" || s == "true") return true;
  if (s == "f" || s == "false") return false;
  return absl::InternalError(absl::StrCat("result column ", col, " is not a boolean"));
}

}  // namespace parallax::store
