#include "parallax/store/migrations.h"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "parallax/store/database.h"
#include "parallax/store/testing/fresh_database.h"

namespace {

using parallax::store::ApplyMigrations;
using parallax::store::Database;
using parallax::store::DatabaseOptions;
using parallax::store::Migration;

std::unique_ptr<Database> Open(const std::string& url) {
  DatabaseOptions options;
  options.url = url;
  options.pool_size = 2;
  auto db = Database::Open(options);
  if (!db.ok()) FAIL(db.status().ToString());
  return *std::move(db);
}

// Deliberately not idempotent: running one twice fails.
const std::vector<Migration> kMigrations = {
    {1, "create studies", "CREATE TABLE svc.studies (id bigserial PRIMARY KEY, uid text NOT NULL);"
                          "INSERT INTO svc.studies (uid) VALUES ('seed')"},
    {2, "add studies.modality", "ALTER TABLE svc.studies ADD COLUMN modality text"},
};

std::vector<int64_t> Versions(Database& db, const std::string& schema) {
  auto rows = db.Exec("SELECT version FROM " + schema + ".schema_migrations ORDER BY version");
  REQUIRE(rows.ok());
  std::vector<int64_t> out;
  for (const auto& row : *rows) out.push_back(*row.GetInt64(0));
  return out;
}

int64_t Scalar(Database& db, const std::string& sql) {
  auto rows = db.Exec(sql);
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

}  // namespace

TEST_CASE("migrations apply once, in order, and a re-run changes nothing", "[store][db]") {
  auto db = Open(parallax::store::testing::FreshDatabaseUrl("migrations_once"));
  REQUIRE(ApplyMigrations(*db, "svc", {kMigrations[0]}).ok());
  CHECK(Versions(*db, "svc") == std::vector<int64_t>{1});

  absl::Status s = ApplyMigrations(*db, "svc", kMigrations);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(Versions(*db, "svc") == std::vector<int64_t>{1, 2});
  CHECK(Scalar(*db, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'svc' "
                    "AND table_name = 'studies' AND column_name = 'modality'") == 1);

  s = ApplyMigrations(*db, "svc", kMigrations);
  INFO(s.ToString());
  CHECK(s.ok());
  CHECK(Versions(*db, "svc") == std::vector<int64_t>{1, 2});
  CHECK(Scalar(*db, "SELECT count(*) FROM svc.studies") == 1);
  auto applied_at = db->Exec("SELECT description, applied_at IS NOT NULL FROM svc.schema_migrations WHERE version = 2");
  REQUIRE(applied_at.ok());
  CHECK(*(*applied_at)[0].GetString(0) == "add studies.modality");
  CHECK(*(*applied_at)[0].GetBool(1));
}

TEST_CASE("a binary refuses a database newer than itself or with a changed history", "[store][db]") {
  auto db = Open(parallax::store::testing::FreshDatabaseUrl("migrations_refuse"));
  REQUIRE(ApplyMigrations(*db, "svc", kMigrations).ok());

  absl::Status older = ApplyMigrations(*db, "svc", {kMigrations[0]});
  CHECK(older.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(older.message()).find("version 2") != std::string::npos);
  CHECK(std::string(older.message()).find("up to 1") != std::string::npos);

  std::vector<Migration> renamed = kMigrations;
  renamed[1].description = "something else";
  absl::Status mismatch = ApplyMigrations(*db, "svc", renamed);
  CHECK(mismatch.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(mismatch.message()).find("something else") != std::string::npos);

  REQUIRE(db->Exec("DELETE FROM svc.schema_migrations WHERE version = 1").ok());
  absl::Status gap = ApplyMigrations(*db, "svc", kMigrations);
  CHECK(gap.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(gap.message()).find("not version 1") != std::string::npos);
}

TEST_CASE("ApplyMigrations checks its arguments", "[store][db]") {
  auto db = Open(parallax::store::testing::FreshDatabaseUrl("migrations_args"));
  CHECK(ApplyMigrations(*db, "Svc", kMigrations).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ApplyMigrations(*db, "svc; DROP", kMigrations).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ApplyMigrations(*db, "", kMigrations).code() == absl::StatusCode::kInvalidArgument);
  std::vector<Migration> gap = {kMigrations[0], {3, "three", "SELECT 1"}};
  CHECK(ApplyMigrations(*db, "svc", gap).code() == absl::StatusCode::kInvalidArgument);
  // Nothing was created by the refused calls.
  CHECK(Scalar(*db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'svc'") == 0);
  // No migrations at all is valid: the schema and its bookkeeping exist.
  CHECK(ApplyMigrations(*db, "svc", {}).ok());
  CHECK(Scalar(*db, "SELECT count(*) FROM svc.schema_migrations") == 0);
}

TEST_CASE("a failing migration leaves no trace and the earlier ones applied", "[store][db]") {
  auto db = Open(parallax::store::testing::FreshDatabaseUrl("migrations_fail"));
  std::vector<Migration> migrations = kMigrations;
  migrations.push_back({3, "broken", "CREATE TABLE svc.half_done (id int); SELECT no_such_column FROM svc.studies"});
  absl::Status s = ApplyMigrations(*db, "svc", migrations);
  CHECK(s.code() == absl::StatusCode::kInternal);
  std::string message(s.message());
  CHECK(message.find("svc v3 (broken)") != std::string::npos);
  CHECK(message.find("42703") != std::string::npos);
  CHECK(Versions(*db, "svc") == std::vector<int64_t>{1, 2});
  CHECK(Scalar(*db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'svc' AND tablename = 'half_done'") == 0);

  migrations[2].sql = "CREATE TABLE svc.half_done (id int)";  // fixed before release
  CHECK(ApplyMigrations(*db, "svc", migrations).ok());
  CHECK(Versions(*db, "svc") == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("two processes starting at once apply each migration exactly once", "[store][db]") {
  const std::string url = parallax::store::testing::FreshDatabaseUrl("migrations_race");
  for (int round = 0; round < 5; ++round) {
    const std::string schema = "race" + std::to_string(round);
    // Slow, non-idempotent migrations widen the window for a race.
    std::vector<Migration> migrations = {
        {1, "create", "CREATE TABLE " + schema + ".t (id int PRIMARY KEY); SELECT pg_sleep(0.05)"},
        {2, "seed", "INSERT INTO " + schema + ".t VALUES (1); SELECT pg_sleep(0.05)"},
        {3, "more", "INSERT INTO " + schema + ".t VALUES (2)"},
    };
    auto db1 = Open(url);  // separate pools, like two replicas
    auto db2 = Open(url);
    absl::Status s1, s2;
    std::thread a([&] { s1 = ApplyMigrations(*db1, schema, migrations); });
    std::thread b([&] { s2 = ApplyMigrations(*db2, schema, migrations); });
    a.join();
    b.join();
    INFO(s1.ToString() << " / " << s2.ToString());
    CHECK(s1.ok());
    CHECK(s2.ok());
    CHECK(Versions(*db1, schema) == std::vector<int64_t>{1, 2, 3});
    CHECK(Scalar(*db1, "SELECT count(*) FROM " + schema + ".t") == 2);
  }
}
