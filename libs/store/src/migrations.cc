#include "parallax/store/migrations.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "parallax/log/log.h"

namespace parallax::store {
namespace {

constexpr size_t kMaxSchemaLength = 48;

bool IsPlainIdentifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxSchemaLength) return false;
  if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  for (char c : s) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// Checks what the database recorded against what the binary knows.
// Returns the number of versions applied (they are 1..n).
absl::StatusOr<int> CheckRecorded(const std::string& schema, const Rows& recorded,
                                  const std::vector<Migration>& known) {
  int expected = 1;
  for (const Row& row : recorded) {
    auto version = row.GetInt64(0);
    if (!version.ok()) return version.status();
    auto description = row.GetString(1);
    if (!description.ok()) return description.status();
    if (*version > static_cast<int64_t>(known.size())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema '", schema, "' is at version ", recorded[recorded.size() - 1].Get(0).value_or("?"),
          " but this binary knows versions up to ", known.size(),
          ": it is older than the database; deploy a binary that has those migrations"));
    }
    if (*version != expected) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema '", schema, "' records version ", *version, " but not version ",
          expected, ": the schema_migrations table is inconsistent; repair it by hand"));
    }
    const Migration& m = known[static_cast<size_t>(expected - 1)];
    if (*description != m.description) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema '", schema, "' version ", expected, " was applied as \"", *description,
          "\" but this binary's version ", expected, " is \"", m.description,
          "\": a released migration was changed or renumbered"));
    }
    ++expected;
  }
  return expected - 1;
}

}  // namespace

absl::Status ApplyMigrations(Database& db, std::string_view schema,
                             const std::vector<Migration>& migrations) {
  const std::string s(schema);
  if (!IsPlainIdentifier(s)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schema name '", s, "' is not a lower-case identifier of at most ", kMaxSchemaLength,
        " characters"));
  }
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i + 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migrations for schema '", s, "' must be numbered 1, 2, 3, ... in order; entry ",
          i + 1, " has version ", migrations[i].version));
    }
  }

  const std::string lock_sql = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
  const std::string lock_key = "parallax.schema_migrations." + s;
  const std::string create_table = absl::StrCat(
      "CREATE TABLE ", s, ".schema_migrations (version integer PRIMARY KEY, "
      "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
  const std::string select_applied =
      absl::StrCat("SELECT version, description FROM ", s, ".schema_migrations ORDER BY version");
  const std::string insert_applied =
      absl::StrCat("INSERT INTO ", s, ".schema_migrations (version, description) VALUES ($1, $2)");

  // One transaction per migration: each takes the lock, re-reads the state
  // (another process may have moved on meanwhile) and applies the next one.
  for (;;) {
    bool done = false;
    const Migration* applied = nullptr;
    absl::Status st = db.InTransaction([&](Transaction& tx) -> absl::Status {
      done = false;
      applied = nullptr;
      if (auto r = tx.Exec(lock_sql, {lock_key}); !r.ok()) return r.status();
      // Create only what is missing: CREATE ... IF NOT EXISTS would need the
      // CREATE privilege even when the schema is there.
      auto exists = tx.Exec(
          "SELECT to_regnamespace($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
          {s, s + ".schema_migrations"});
      if (!exists.ok()) return exists.status();
      if (!(*exists)[0].GetBool(0).value_or(false)) {
        if (auto r = tx.ExecScript("CREATE SCHEMA " + s); !r.ok()) return r;
      }
      if (!(*exists)[0].GetBool(1).value_or(false)) {
        if (auto r = tx.ExecScript(create_table); !r.ok()) return r;
      }
      auto recorded = tx.Exec(select_applied);
      if (!recorded.ok()) return recorded.status();
      auto count = CheckRecorded(s, *recorded, migrations);
      if (!count.ok()) return count.status();
      if (*count == static_cast<int>(migrations.size())) {
        done = true;
        return absl::OkStatus();
      }
      const Migration& next = migrations[static_cast<size_t>(*count)];
      if (auto r = tx.ExecScript(next.sql); !r.ok()) {
        return absl::Status(r.code(), absl::StrCat("migration ", s, " v", next.version, " (",
                                                   next.description, ") failed: ", r.message()));
      }
      if (auto r = tx.Exec(insert_applied, {next.version, next.description}); !r.ok()) {
        return r.status();
      }
      applied = &next;
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
    if (applied != nullptr) {
      log::Info("store applied schema migration",
                {{"schema", s}, {"version", applied->version}, {"description", applied->description}});
    }
    if (done) return absl::OkStatus();
  }
}

}  // namespace parallax::store
