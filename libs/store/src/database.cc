#include "parallax/store/database.h"

#include <libpq-fe.h>

#include <pqxx/pqxx>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "connection.h"
#include "errors.h"
#include "parallax/log/log.h"
#include "pool.h"

namespace parallax::store {
namespace internal {

struct TransactionState {
  Connection* conn = nullptr;
  pqxx::transaction_base* work = nullptr;
  int prepared_cache = 0;
  // The first failed statement; the server has aborted the transaction.
  absl::Status first_error;
  ErrorKind first_kind = ErrorKind::kOther;
};

namespace {

Rows ToRows(const pqxx::result& r) {
  const auto columns = static_cast<size_t>(r.columns());
  std::vector<std::string> names;
  names.reserve(columns);
  for (size_t c = 0; c < columns; ++c) names.emplace_back(r.column_name(static_cast<pqxx::row::size_type>(c)));
  std::vector<Row> rows;
  rows.reserve(r.size());
  for (const auto& row : r) {
    std::vector<std::optional<std::string>> cells;
    cells.reserve(columns);
    for (const auto& field : row) {
      if (field.is_null()) {
        cells.emplace_back(std::nullopt);
      } else {
        cells.emplace_back(std::in_place, field.c_str(), field.size());
      }
    }
    rows.emplace_back(std::move(cells));
  }
  int64_t affected = 0;
  try {
    affected = static_cast<int64_t>(r.affected_rows());
  } catch (...) {
    affected = 0;
  }
  return Rows(std::move(names), std::move(rows), affected);
}

// Runs one parameterised statement, through the connection's prepared
// statement for this SQL text when the cache allows. Throws pqxx exceptions.
pqxx::result RunStatement(Connection& conn, pqxx::transaction_base& tx, std::string_view sql,
                          const Param* params, size_t count, int prepared_cache) {
  std::vector<const char*> values;
  values.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    values.push_back(params[i].is_null() ? nullptr : params[i].text().c_str());
  }
  if (prepared_cache > 0) {
    if (const std::string* name = conn.PreparedName(sql, prepared_cache)) {
      return tx.exec_prepared(*name, pqxx::prepare::make_dynamic_params(values));
    }
  }
  return tx.exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(values));
}

absl::StatusOr<Rows> ExecInTransaction(TransactionState& state, std::string_view sql,
                                       const Param* params, size_t count) {
  if (!state.first_error.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the transaction already failed and will roll back: ", state.first_error.message()));
  }
  try {
    return ToRows(RunStatement(*state.conn, *state.work, sql, params, count, state.prepared_cache));
  } catch (...) {
    ClassifiedError e = ClassifyCurrentException();
    if (e.kind == ErrorKind::kBroken) state.conn->MarkBroken();
    if (e.kind == ErrorKind::kStalePlan) state.conn->ForgetPrepared(sql);
    state.first_error = e.status;
    state.first_kind = e.kind;
    return e.status;
  }
}

// Whether a failure of this kind, before COMMIT, allows running the body again.
bool WorthRetrying(ErrorKind kind) {
  return kind == ErrorKind::kRetryable || kind == ErrorKind::kBroken ||
         kind == ErrorKind::kStalePlan;
}

void Backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int max_ms = std::min(5 << attempt, 200);
  std::uniform_int_distribution<int> dist(1, max_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(dist(rng)));
}

absl::StatusOr<Rows> ExecAutocommit(Pool& pool, int prepared_cache, std::string_view sql,
                                    const Param* params, size_t count) {
  auto lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  Connection& conn = **lease;
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::nontransaction tx(conn.raw());
      return ToRows(RunStatement(conn, tx, sql, params, count, prepared_cache));
    } catch (...) {
      ClassifiedError e = ClassifyCurrentException();
      if (e.kind == ErrorKind::kBroken) conn.MarkBroken();
      if (e.kind == ErrorKind::kStalePlan) {
        conn.ForgetPrepared(sql);
        // Planning failed, so the statement did not run: safe to run it once more.
        if (attempt == 1) continue;
      }
      return e.status;
    }
  }
}

void RollBack(pqxx::transaction_base& work, Connection& conn) {
  try {
    work.abort();
  } catch (...) {
    conn.MarkBroken();
  }
}

}  // namespace
}  // namespace internal

using internal::ClassifiedError;
using internal::ClassifyCurrentException;
using internal::ErrorKind;

absl::StatusOr<Rows> Transaction::Exec(std::string_view sql, std::initializer_list<Param> params) {
  return internal::ExecInTransaction(*state_, sql, params.begin(), params.size());
}

absl::StatusOr<Rows> Transaction::Exec(std::string_view sql, const std::vector<Param>& params) {
  return internal::ExecInTransaction(*state_, sql, params.data(), params.size());
}

absl::Status Transaction::ExecScript(std::string_view sql) {
  internal::TransactionState& state = *state_;
  if (!state.first_error.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the transaction already failed and will roll back: ", state.first_error.message()));
  }
  try {
    state.work->exec(std::string(sql));
    return absl::OkStatus();
  } catch (...) {
    ClassifiedError e = ClassifyCurrentException();
    if (e.kind == ErrorKind::kBroken) state.conn->MarkBroken();
    state.first_error = e.status;
    state.first_kind = e.kind;
    return e.status;
  }
}

Database::Database(DatabaseOptions options, std::unique_ptr<internal::Pool> pool)
    : options_(std::move(options)), pool_(std::move(pool)) {}

Database::~Database() = default;

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  if (options.url.empty()) return absl::InvalidArgumentError("database URL is empty");
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("database pool_size must be at least 1, got ", options.pool_size));
  }
  if (options.acquire_timeout.count() < 0 || options.connect_timeout.count() < 0 ||
      options.prepared_statement_cache < 0) {
    return absl::InvalidArgumentError("database timeouts and cache size must not be negative");
  }
  // libpq parses the URL without connecting; its message never echoes a password.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.url.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string why = parse_error ? parse_error : "out of memory";
    PQfreemem(parse_error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return absl::InvalidArgumentError(absl::StrCat("bad database URL: ", why));
  }
  PQconninfoFree(parsed);

  std::string conninfo =
      internal::WithConnectTimeout(options.url, static_cast<int>(options.connect_timeout.count()));
  auto pool = std::make_unique<internal::Pool>(conninfo, options.pool_size, options.acquire_timeout);
  {
    // Open the first connection now so a wrong URL or a down server shows at start-up.
    auto first = pool->Acquire();
    if (!first.ok()) return first.status();
  }
  return std::unique_ptr<Database>(new Database(options, std::move(pool)));
}

absl::Status Database::InTransaction(const std::function<absl::Status(Transaction&)>& body,
                                     int max_attempts) {
  if (max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be at least 1, got ", max_attempts));
  }
  absl::Status last;
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    if (attempt > 1) {
      log::Warning("store transaction retried",
                   {{"attempt", attempt}, {"reason", absl::StatusCodeToString(last.code())}});
      internal::Backoff(attempt);
    }
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    internal::Connection& conn = **lease;

    std::unique_ptr<pqxx::work> work;
    try {
      work = std::make_unique<pqxx::work>(conn.raw());
    } catch (...) {
      ClassifiedError e = ClassifyCurrentException();
      if (e.kind == ErrorKind::kBroken) conn.MarkBroken();
      last = e.status;
      if (internal::WorthRetrying(e.kind)) continue;
      return last;
    }

    internal::TransactionState state;
    state.conn = &conn;
    state.work = work.get();
    state.prepared_cache = options_.prepared_statement_cache;
    Transaction tx(&state);
    absl::Status body_status = body(tx);

    if (!state.first_error.ok()) {
      internal::RollBack(*work, conn);
      last = body_status.ok() ? state.first_error : body_status;
      if (internal::WorthRetrying(state.first_kind)) {
        last = state.first_error;
        continue;
      }
      return last;
    }
    if (!body_status.ok()) {
      internal::RollBack(*work, conn);
      return body_status;
    }
    try {
      work->commit();
      return absl::OkStatus();
    } catch (...) {
      ClassifiedError e = ClassifyCurrentException();
      if (e.kind == ErrorKind::kBroken || e.kind == ErrorKind::kInDoubt) {
        // COMMIT was sent: whether it took effect is unknown, so no retry.
        conn.MarkBroken();
        return absl::UnknownError(absl::StrCat(
            "connection lost during COMMIT; the transaction may or may not have committed: ",
            e.status.message()));
      }
      last = e.status;
      if (e.kind == ErrorKind::kRetryable) continue;
      return last;
    }
  }
  return last;
}

absl::StatusOr<Rows> Database::Exec(std::string_view sql, std::initializer_list<Param> params) {
  return internal::ExecAutocommit(*pool_, options_.prepared_statement_cache, sql, params.begin(),
                                  params.size());
}

absl::StatusOr<Rows> Database::Exec(std::string_view sql, const std::vector<Param>& params) {
  return internal::ExecAutocommit(*pool_, options_.prepared_statement_cache, sql, params.data(),
                                  params.size());
}

absl::Status Database::ExecScript(std::string_view sql) {
  auto lease = pool_->Acquire();
  if (!lease.ok()) return lease.status();
  internal::Connection& conn = **lease;
  try {
    pqxx::nontransaction tx(conn.raw());
    tx.exec(std::string(sql));
    return absl::OkStatus();
  } catch (...) {
    ClassifiedError e = ClassifyCurrentException();
    if (e.kind == ErrorKind::kBroken) conn.MarkBroken();
    return e.status;
  }
}

Database::PoolStats Database::Stats() const {
  PoolStats s;
  s.open = pool_->open();
  s.idle = pool_->idle();
  s.discarded = pool_->discarded();
  return s;
}

}  // namespace parallax::store
