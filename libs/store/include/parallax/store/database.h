#pragma once
// PostgreSQL access for Parallax services.
//
// Database is a pool of connections to one database; Transaction runs
// statements inside Database::InTransaction. Both speak Parallax types only:
// Param in, Rows out, absl::Status for every failure. Errors map as follows:
//   connection lost, server down, pool exhausted  -> UNAVAILABLE (retryable)
//   unique constraint violated (SQLSTATE 23505)   -> ALREADY_EXISTS
//   serialization failure / deadlock (40001/40P01) -> ABORTED (InTransaction retries)
//   commit outcome unknown (connection lost in COMMIT) -> UNKNOWN
//   any other SQL error                            -> INTERNAL "SQLSTATE xxxxx: message"
// Messages never carry parameter values: they may hold patient data.
//
// Thread-safety: Database is thread-safe. A Transaction belongs to the thread
// running the InTransaction body that received it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "parallax/store/rows.h"

namespace parallax::store {

namespace internal {
class Pool;
struct TransactionState;
}  // namespace internal

struct DatabaseOptions {
  // libpq connection URL, e.g. postgresql://parallax@db:5432/parallax.
  std::string url;
  // Maximum number of open connections; they are opened when first needed.
  int pool_size = 8;
  // How long a caller waits for a free connection before UNAVAILABLE.
  std::chrono::milliseconds acquire_timeout{5000};
  // How long opening one connection may take (libpq connect_timeout), unless
  // the URL sets connect_timeout itself.
  std::chrono::seconds connect_timeout{5};
  // Statements whose plans each connection keeps (prepared by SQL text, so a
  // repeated statement is parsed and planned once per connection). 0 disables.
  int prepared_statement_cache = 256;
};

// Statements inside one READ COMMITTED transaction. Obtained only from
// Database::InTransaction. After a statement fails, the transaction is dead:
// later calls return FAILED_PRECONDITION and InTransaction rolls back and
// returns the first failure, whatever the body returns.
class Transaction {
 public:
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Runs one statement with parameters $1..$n. Returns its rows, or a Status
  // mapped as described at the top of this file.
  absl::StatusOr<Rows> Exec(std::string_view sql, std::initializer_list<Param> params = {});
  absl::StatusOr<Rows> Exec(std::string_view sql, const std::vector<Param>& params);

  // Runs SQL text that may hold several statements separated by ';' and no
  // parameters (DDL, migrations). OK, or a Status mapped as Exec.
  absl::Status ExecScript(std::string_view sql);

 private:
  friend class Database;
  explicit Transaction(internal::TransactionState* state) : state_(state) {}
  internal::TransactionState* state_;
};

// A fixed-size pool of connections to one PostgreSQL database. Thread-safe.
// Destroy it only after every call into it has returned.
class Database {
 public:
  // Validates the options and opens the first connection, so a wrong URL or an
  // unreachable server shows at start-up. INVALID_ARGUMENT for bad options,
  // UNAVAILABLE when the server cannot be reached or refuses the connection.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const DatabaseOptions& options);

  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs body in a READ COMMITTED transaction on one pooled connection. When
  // body returns OK (and none of its statements failed) the transaction
  // commits and InTransaction returns OK; otherwise it rolls back and returns
  // body's Status (or, when body returned OK after one of its statements
  // failed, that statement's). An exception from body propagates after the
  // rollback. When a statement or the
  // commit hits a serialization failure or deadlock, or the connection turns
  // out broken before COMMIT was sent, the whole body runs again on a fresh
  // transaction, up to max_attempts runs in all; then ABORTED (or
  // UNAVAILABLE). Body must therefore be safe to re-run: keep side effects
  // outside the database until InTransaction returns OK.
  // UNAVAILABLE when no connection frees up within acquire_timeout; body must
  // not itself call into this Database (it would need a second connection).
  // UNKNOWN when the connection broke during COMMIT (the outcome is unknown).
  absl::Status InTransaction(const std::function<absl::Status(Transaction&)>& body,
                             int max_attempts = 3);

  // One statement in its own implicit transaction (autocommit): a single round
  // trip. Errors as Transaction::Exec; not retried (a connection lost during a
  // write leaves its outcome unknown, reported as UNAVAILABLE).
  absl::StatusOr<Rows> Exec(std::string_view sql, std::initializer_list<Param> params = {});
  absl::StatusOr<Rows> Exec(std::string_view sql, const std::vector<Param>& params);

  // SQL text of one or more statements without parameters, autocommit. Needed
  // for statements that cannot run in a transaction (CREATE DATABASE).
  absl::Status ExecScript(std::string_view sql);

  struct PoolStats {
    int open = 0;             // connections currently open
    int idle = 0;             // of which waiting in the pool
    int64_t discarded = 0;    // connections dropped as broken since Open
  };
  PoolStats Stats() const;

  const DatabaseOptions& options() const { return options_; }

 private:
  Database(DatabaseOptions options, std::unique_ptr<internal::Pool> pool);

  DatabaseOptions options_;
  std::unique_ptr<internal::Pool> pool_;
};

}  // namespace parallax::store
