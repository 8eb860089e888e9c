#include "parallax/store/database.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <latch>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "parallax/store/testing/fresh_database.h"
#include "parallax/testing/environment.h"

namespace {

using parallax::store::Database;
using parallax::store::DatabaseOptions;
using parallax::store::Param;
using parallax::store::Rows;
using parallax::store::Transaction;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Database> OpenFresh(const std::string& purpose, int pool_size = 4,
                                    std::chrono::milliseconds acquire_timeout = std::chrono::seconds(5)) {
  DatabaseOptions options;
  options.url = parallax::store::testing::FreshDatabaseUrl(purpose);
  options.pool_size = pool_size;
  options.acquire_timeout = acquire_timeout;
  auto db = Database::Open(options);
  if (!db.ok()) FAIL("Database::Open: " << db.status().ToString());
  return *std::move(db);
}

int64_t Count(Database& db, const std::string& table) {
  auto rows = db.Exec("SELECT count(*) FROM " + table);
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

int64_t BackendPid(Database& db) {
  auto rows = db.Exec("SELECT pg_backend_pid()");
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

void Terminate(int64_t pid) {
  DatabaseOptions admin;
  admin.url = parallax::testing::DatabaseUrl();
  admin.pool_size = 1;
  auto db = Database::Open(admin);
  REQUIRE(db.ok());
  auto r = (*db)->Exec("SELECT pg_terminate_backend($1::int)", {pid});
  REQUIRE(r.ok());
  REQUIRE(*(*r)[0].GetBool(0));
  // pg_terminate_backend only signals; give the backend a moment to exit.
  for (int i = 0; i < 100; ++i) {
    auto alive = (*db)->Exec("SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", {pid});
    REQUIRE(alive.ok());
    if (*(*alive)[0].GetInt64(0) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("backend " << pid << " did not exit");
}

}  // namespace

TEST_CASE("a statement round-trips every kind of parameter, NULL included", "[store][db]") {
  auto db = OpenFresh("round_trip");
  const std::string text = "Ünïcödé 'quoted' \"double\" \\ back";
  const int64_t big = std::numeric_limits<int64_t>::min();
  auto rows = db->Exec(
      "SELECT $1::text AS t, $2::bigint AS i, $3::float8 AS d, $4::bool AS b, $5::text AS n, "
      "$6::text AS e, $7::int AS small",
      {text, big, 0.1, true, nullptr, "", 42});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK(rows->columns() == 7);
  CHECK(rows->column_names()[0] == "t");
  const auto& row = (*rows)[0];
  CHECK(*row.GetString(0) == text);
  CHECK(*row.GetInt64(1) == big);
  CHECK(*row.GetDouble(2) == 0.1);
  CHECK(*row.GetBool(3) == true);
  CHECK(row.Get(4) == std::nullopt);
  CHECK(row.IsNull(4));
  CHECK(row.Get(5) == std::optional<std::string>(""));  // empty text is not NULL
  CHECK(*row.GetInt64(6) == 42);

  // The same SQL again runs through the connection's prepared statement.
  auto again = db->Exec("SELECT $1::text AS t, $2::bigint AS i, $3::float8 AS d, $4::bool AS b, "
                        "$5::text AS n, $6::text AS e, $7::int AS small",
                        {std::optional<std::string>(), int64_t{7}, 1e300, false, "x", "y", -1});
  REQUIRE(again.ok());
  CHECK((*again)[0].IsNull(0));
  CHECK(*(*again)[0].GetDouble(2) == 1e300);
  CHECK(*(*again)[0].GetBool(3) == false);

  std::vector<Param> dynamic{Param(1), Param(2), Param(3)};
  auto sum = db->Exec("SELECT $1::int + $2::int + $3::int", dynamic);
  REQUIRE(sum.ok());
  CHECK(*(*sum)[0].GetInt64(0) == 6);
}

TEST_CASE("Exec reports how many rows a write changed", "[store][db]") {
  auto db = OpenFresh("affected_rows");
  REQUIRE(db->ExecScript("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX ON t (v)").ok());
  auto inserted = db->Exec("INSERT INTO t SELECT g, 'v' FROM generate_series(1, $1::int) g", {5});
  REQUIRE(inserted.ok());
  CHECK(inserted->affected_rows() == 5);
  CHECK(inserted->empty());
  auto updated = db->Exec("UPDATE t SET v = $1 WHERE id > $2", {"w", 3});
  REQUIRE(updated.ok());
  CHECK(updated->affected_rows() == 2);
  auto returning = db->Exec("DELETE FROM t WHERE id = $1 RETURNING id", {1});
  REQUIRE(returning.ok());
  CHECK(returning->affected_rows() == 1);
  CHECK(*(*returning)[0].GetInt64(0) == 1);
}

TEST_CASE("SQL errors map to Status codes whose messages leave out the values", "[store][db]") {
  auto db = OpenFresh("errors");
  REQUIRE(db->ExecScript("CREATE TABLE patients (id int PRIMARY KEY, name text UNIQUE, age int)").ok());
  REQUIRE(db->Exec("INSERT INTO patients VALUES ($1, $2, $3)", {1, "Doe^John", 40}).ok());

  auto duplicate = db->Exec("INSERT INTO patients VALUES ($1, $2, $3)", {2, "Doe^John", 41});
  REQUIRE_FALSE(duplicate.ok());
  CHECK(duplicate.status().code() == absl::StatusCode::kAlreadyExists);
  std::string message(duplicate.status().message());
  CHECK(message.find("23505") != std::string::npos);
  CHECK(message.find("patients_name_key") != std::string::npos);
  CHECK(message.find("Doe^John") == std::string::npos);

  auto bad_value = db->Exec("INSERT INTO patients VALUES ($1, $2, $3)", {3, "x", "Smith^Jane"});
  REQUIRE_FALSE(bad_value.ok());
  CHECK(bad_value.status().code() == absl::StatusCode::kInternal);
  CHECK(std::string(bad_value.status().message()).find("22P02") != std::string::npos);
  CHECK(std::string(bad_value.status().message()).find("Smith") == std::string::npos);

  auto syntax = db->Exec("SELEC 1");
  REQUIRE_FALSE(syntax.ok());
  CHECK(syntax.status().code() == absl::StatusCode::kInternal);
  CHECK(std::string(syntax.status().message()).find("SQLSTATE 42601") != std::string::npos);

  auto missing = db->Exec("SELECT * FROM no_such_table");
  REQUIRE_FALSE(missing.ok());
  CHECK(std::string(missing.status().message()).find("42P01") != std::string::npos);

  // The connection stays usable after each failure.
  CHECK(Count(*db, "patients") == 1);
}

TEST_CASE("InTransaction commits on OK and rolls back when body returns an error", "[store][db]") {
  auto db = OpenFresh("rollback");
  REQUIRE(db->ExecScript("CREATE TABLE t (id int PRIMARY KEY)").ok());

  absl::Status failed = db->InTransaction([](Transaction& tx) -> absl::Status {
    auto r = tx.Exec("INSERT INTO t VALUES ($1)", {1});
    if (!r.ok()) return r.status();
    return absl::InvalidArgumentError("caller changed its mind");
  });
  CHECK(failed.code() == absl::StatusCode::kInvalidArgument);
  CHECK(failed.message() == "caller changed its mind");
  CHECK(Count(*db, "t") == 0);

  absl::Status ok = db->InTransaction([](Transaction& tx) -> absl::Status {
    for (int id : {1, 2}) {
      auto r = tx.Exec("INSERT INTO t VALUES ($1)", {id});
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  });
  CHECK(ok.ok());
  CHECK(Count(*db, "t") == 2);
}

TEST_CASE("a failed statement rolls the transaction back even when body returns OK", "[store][db]") {
  auto db = OpenFresh("failed_statement");
  REQUIRE(db->ExecScript("CREATE TABLE t (id int PRIMARY KEY)").ok());
  REQUIRE(db->Exec("INSERT INTO t VALUES (1)").ok());

  absl::Status later_call;
  absl::Status s = db->InTransaction([&](Transaction& tx) -> absl::Status {
    (void)tx.Exec("INSERT INTO t VALUES ($1)", {2});
    (void)tx.Exec("INSERT INTO t VALUES ($1)", {1});  // duplicate: aborts the transaction
    later_call = tx.Exec("INSERT INTO t VALUES ($1)", {3}).status();
    return absl::OkStatus();  // ignores the failure
  });
  CHECK(s.code() == absl::StatusCode::kAlreadyExists);
  CHECK(later_call.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Count(*db, "t") == 1);
}

TEST_CASE("InTransaction reruns the body after a serialization failure", "[store][db]") {
  auto db = OpenFresh("serialization_retry");
  REQUIRE(db->ExecScript("CREATE TABLE t (attempt int)").ok());
  const char* kFailOnce =
      "DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = 'serialization_failure'; END $$";

  int runs = 0;
  absl::Status s = db->InTransaction([&](Transaction& tx) -> absl::Status {
    ++runs;
    auto r = tx.Exec("INSERT INTO t VALUES ($1)", {runs});
    if (!r.ok()) return r.status();
    if (runs == 1) {
      if (absl::Status f = tx.ExecScript(kFailOnce); !f.ok()) return f;
    }
    return absl::OkStatus();
  });
  CHECK(s.ok());
  CHECK(runs == 2);
  // Only the second run's insert committed.
  auto rows = db->Exec("SELECT attempt FROM t");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK(*(*rows)[0].GetInt64(0) == 2);

  runs = 0;
  absl::Status gave_up = db->InTransaction(
      [&](Transaction& tx) -> absl::Status {
        ++runs;
        return tx.ExecScript(kFailOnce);
      },
      3);
  CHECK(gave_up.code() == absl::StatusCode::kAborted);
  CHECK(std::string(gave_up.message()).find("40001") != std::string::npos);
  CHECK(runs == 3);

  CHECK(db->InTransaction([](Transaction&) { return absl::OkStatus(); }, 0).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("InTransaction reruns the victim of a real deadlock", "[store][db][slow]") {
  auto db = OpenFresh("deadlock_retry");
  REQUIRE(db->ExecScript("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)").ok());

  std::latch both_hold_first_lock(2);
  std::atomic<int> runs{0};
  auto transfer = [&](int first, int second) {
    bool first_run = true;
    return db->InTransaction([&, first, second](Transaction& tx) -> absl::Status {
      runs++;
      auto a = tx.Exec("UPDATE t SET v = v + 1 WHERE id = $1", {first});
      if (!a.ok()) return a.status();
      if (first_run) {
        first_run = false;
        both_hold_first_lock.arrive_and_wait();  // now each waits for the other's row
      }
      auto b = tx.Exec("UPDATE t SET v = v + 1 WHERE id = $1", {second});
      if (!b.ok()) return b.status();
      return absl::OkStatus();
    });
  };
  absl::Status s1, s2;
  std::thread t1([&] { s1 = transfer(1, 2); });
  std::thread t2([&] { s2 = transfer(2, 1); });
  t1.join();
  t2.join();
  CHECK(s1.ok());
  CHECK(s2.ok());
  CHECK(runs.load() == 3);  // the deadlock victim ran twice
  auto sum = db->Exec("SELECT sum(v) FROM t");
  REQUIRE(sum.ok());
  CHECK(*(*sum)[0].GetInt64(0) == 4);  // each committed transfer counted once
}

TEST_CASE("an exhausted pool answers UNAVAILABLE after acquire_timeout", "[store][db]") {
  auto db = OpenFresh("pool_exhaustion", 1, std::chrono::milliseconds(300));

  absl::Status inner;
  auto elapsed = std::chrono::milliseconds(0);
  absl::Status outer = db->InTransaction([&](Transaction& tx) -> absl::Status {
    auto start = Clock::now();
    inner = db->Exec("SELECT 1").status();  // needs a second connection
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return tx.Exec("SELECT 1").status();
  });
  CHECK(outer.ok());
  CHECK(inner.code() == absl::StatusCode::kUnavailable);
  CHECK(elapsed >= std::chrono::milliseconds(290));
  CHECK(elapsed < std::chrono::milliseconds(3000));
  CHECK(db->Stats().open == 1);

  // A waiter gets the connection as soon as it is returned.
  std::latch holding(1);
  std::thread holder([&] {
    (void)db->InTransaction([&](Transaction&) {
      holding.count_down();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return absl::OkStatus();
    });
  });
  holding.wait();
  auto waited = db->Exec("SELECT 1");
  holder.join();
  CHECK(waited.ok());
}

TEST_CASE("a broken connection is discarded and replaced", "[store][db]") {
  auto db = OpenFresh("broken_connection", 1);
  const int64_t first = BackendPid(*db);
  Terminate(first);

  // Autocommit: the statement fails (its outcome could be unknown), then the
  // pool opens a new connection.
  auto failed = db->Exec("SELECT 1");
  CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
  CHECK(db->Stats().discarded == 1);
  const int64_t second = BackendPid(*db);
  CHECK(second != first);

  // In a transaction the break is found before COMMIT, so the body reruns on
  // a fresh connection and the caller sees success.
  Terminate(second);
  int runs = 0;
  int64_t pid_in_tx = 0;
  absl::Status s = db->InTransaction([&](Transaction& tx) -> absl::Status {
    ++runs;
    auto r = tx.Exec("SELECT pg_backend_pid()");
    if (!r.ok()) return r.status();
    pid_in_tx = *(*r)[0].GetInt64(0);
    return absl::OkStatus();
  });
  CHECK(s.ok());
  CHECK(runs >= 1);
  CHECK(pid_in_tx != second);
  CHECK(db->Stats().discarded == 2);
}

TEST_CASE("Open refuses bad options and unreachable servers", "[store][db]") {
  DatabaseOptions options;
  options.url = parallax::testing::DatabaseUrl();
  options.pool_size = 0;
  CHECK(Database::Open(options).status().code() == absl::StatusCode::kInvalidArgument);

  options.pool_size = 1;
  options.url = "postgresql://postgres@127.0.0.1:1/postgres";
  CHECK(Database::Open(options).status().code() == absl::StatusCode::kUnavailable);

  options.url = "postgresql://postgres@127.0.0.1:5432/postgres?no_such_option=1";
  CHECK(Database::Open(options).status().code() == absl::StatusCode::kInvalidArgument);

  options.url = "";
  CHECK(Database::Open(options).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("cached statements keep working when the schema changes under them", "[store][db]") {
  auto db = OpenFresh("stale_plan", 1);
  REQUIRE(db->ExecScript("CREATE TABLE t (a int); INSERT INTO t VALUES (1)").ok());
  auto before = db->Exec("SELECT * FROM t");
  REQUIRE(before.ok());
  CHECK(before->columns() == 1);
  REQUIRE(db->ExecScript("ALTER TABLE t ADD COLUMN b int DEFAULT 2").ok());
  auto after = db->Exec("SELECT * FROM t");
  REQUIRE(after.ok());
  CHECK(after->columns() == 2);

  REQUIRE(db->ExecScript("ALTER TABLE t ADD COLUMN c int DEFAULT 3").ok());
  size_t columns = 0;
  absl::Status s = db->InTransaction([&](Transaction& tx) -> absl::Status {
    auto r = tx.Exec("SELECT * FROM t");
    if (!r.ok()) return r.status();
    columns = r->columns();
    return absl::OkStatus();
  });
  CHECK(s.ok());
  CHECK(columns == 3);
}

TEST_CASE("many threads share a small pool without losing writes", "[store][db]") {
  auto db = OpenFresh("concurrency", 4);
  REQUIRE(db->ExecScript("CREATE TABLE t (thread int, n int, PRIMARY KEY (thread, n))").ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 50; ++n) {
        absl::Status s = db->InTransaction([&](Transaction& tx) -> absl::Status {
          auto r = tx.Exec("INSERT INTO t VALUES ($1, $2)", {t, n});
          return r.status();
        });
        if (!s.ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  CHECK(Count(*db, "t") == 400);
  CHECK(db->Stats().open <= 4);
}
