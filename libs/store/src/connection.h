#pragma once
// One libpqxx connection plus the statements prepared on it. Used by one
// thread at a time (the pool hands it out).
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/statusor.h"

namespace parallax::store::internal {

class Connection {
 public:
  // Connects; UNAVAILABLE (or INVALID_ARGUMENT for a malformed URL) on failure.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& conninfo);

  explicit Connection(std::unique_ptr<pqxx::connection> conn);
  ~Connection();

  pqxx::connection& raw() { return *conn_; }

  // The name of sql's prepared statement on this connection, defining it on
  // first use; nullptr when the cache already holds `limit` statements.
  const std::string* PreparedName(std::string_view sql, int limit);
  // Stops using the prepared statement for sql (its plan went stale).
  void ForgetPrepared(std::string_view sql);

  void MarkBroken() { broken_ = true; }
  bool usable() const { return !broken_ && conn_->is_open(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unique_ptr<pqxx::connection> conn_;
  // Swallows server notices and libpqxx warnings, which libpqxx would
  // otherwise print to stderr. Declared after conn_: unregisters first.
  std::unique_ptr<pqxx::errorhandler> quiet_;
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> prepared_;
  int next_statement_ = 0;
  bool broken_ = false;
};

// Appends connect_timeout to a libpq URL or keyword string unless it has one.
std::string WithConnectTimeout(const std::string& url, int seconds);

}  // namespace parallax::store::internal
