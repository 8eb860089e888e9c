#pragma once
// Values crossing the database boundary: Param (a statement parameter) and
// Rows/Row (a statement's result). Plain values: safe to move between threads,
// not to mutate from several at once.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace parallax::store {

// One statement parameter ($1, $2, ...): NULL, text, an integer, a double or a
// bool. Every value travels as text and PostgreSQL converts it to the column
// type, so `$1::bigint` or a typed column decides the SQL type.
class Param {
 public:
  Param(std::nullptr_t) {}
  Param(std::nullopt_t) {}
  // A null pointer is NULL.
  Param(const char* v) : null_(v == nullptr), text_(v ? v : "") {}
  Param(std::string_view v) : null_(false), text_(v) {}
  Param(const std::string& v) : null_(false), text_(v) {}
  Param(std::string&& v) : null_(false), text_(std::move(v)) {}
  Param(bool v) : null_(false), text_(v ? "true" : "false") {}
  Param(int v) : null_(false), text_(std::to_string(v)) {}
  Param(long v) : null_(false), text_(std::to_string(v)) {}
  Param(long long v) : null_(false), text_(std::to_string(v)) {}
  Param(unsigned v) : null_(false), text_(std::to_string(v)) {}
  Param(unsigned long v) : null_(false), text_(std::to_string(v)) {}
  Param(unsigned long long v) : null_(false), text_(std::to_string(v)) {}
  // Shortest text that reads back as the same double; NaN and infinities in
  // PostgreSQL's spelling.
  Param(double v);
  Param(float v) : Param(static_cast<double>(v)) {}
  // An empty optional is NULL.
  template <typename T>
  Param(const std::optional<T>& v) : Param(v ? Param(*v) : Param(nullptr)) {}
  // Any other pointer would silently become a bool.
  template <typename T>
  Param(T*) = delete;

  static Param Null() { return Param(nullptr); }

  bool is_null() const { return null_; }
  // The text sent to the server; empty when is_null().
  const std::string& text() const { return text_; }

 private:
  bool null_ = true;
  std::string text_;
};

// One result row. Columns are numbered from 0 in the order of the SELECT list.
class Row {
 public:
  Row() = default;
  explicit Row(std::vector<std::optional<std::string>> cells) : cells_(std::move(cells)) {}

  // Number of columns.
  size_t size() const { return cells_.size(); }

  // True when the column is NULL or does not exist.
  bool IsNull(size_t col) const { return col >= cells_.size() || !cells_[col].has_value(); }

  // The column's value as PostgreSQL's text; std::nullopt when it is NULL (or
  // when col is out of range).
  std::optional<std::string> Get(size_t col) const {
    return col < cells_.size() ? cells_[col] : std::nullopt;
  }

  // The column's text. INTERNAL when it is NULL or col is out of range.
  absl::StatusOr<std::string> GetString(size_t col) const;
  // The column as a 64-bit integer. INTERNAL when it is NULL, out of range, or
  // not an integer (the message never quotes the value).
  absl::StatusOr<int64_t> GetInt64(size_t col) const;
  // The column as a double (float8, numeric, integer). INTERNAL as GetInt64.
  absl::StatusOr<double> GetDouble(size_t col) const;
  // The column as a bool (PostgreSQL's "t"/"f", also "true"/"false"). INTERNAL as GetInt64.
  absl::StatusOr<bool> GetBool(size_t col) const;

 private:
  absl::StatusOr<const std::string*> Cell(size_t col) const;

  std::vector<std::optional<std::string>> cells_;
};

// The result of one statement: its rows (empty for INSERT/UPDATE/DELETE
// without RETURNING), column names, and the number of rows it changed.
class Rows {
 public:
  Rows() = default;
  Rows(std::vector<std::string> column_names, std::vector<Row> rows, int64_t affected_rows)
      : column_names_(std::move(column_names)), rows_(std::move(rows)), affected_rows_(affected_rows) {}

  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  const Row& operator[](size_t i) const { return rows_[i]; }
  std::vector<Row>::const_iterator begin() const { return rows_.begin(); }
  std::vector<Row>::const_iterator end() const { return rows_.end(); }

  // Number of columns of the result (0 for a statement returning no rows).
  size_t columns() const { return column_names_.size(); }
  const std::vector<std::string>& column_names() const { return column_names_; }

  // Rows inserted, updated or deleted (or returned by SELECT); 0 for other statements.
  int64_t affected_rows() const { return affected_rows_; }

 private:
  std::vector<std::string> column_names_;
  std::vector<Row> rows_;
  int64_t affected_rows_ = 0;
};

}  // namespace parallax::store
