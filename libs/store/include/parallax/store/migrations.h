#pragma once
// Versioned schema migrations. Each service owns one PostgreSQL schema and
// lists its migrations in its source; ApplyMigrations brings the database up
// to the newest of them at start-up.
//
// State lives in <schema>.schema_migrations(version, description, applied_at).
// Every migration runs in its own transaction together with the row recording
// it, so a failed migration leaves no trace and the next start retries it.
// A transaction-scoped advisory lock keyed on the schema name serialises
// concurrent callers (several replicas starting at once): each sees what the
// others applied and applies only what is still missing.
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "parallax/store/database.h"

namespace parallax::store {

struct Migration {
  // 1, 2, 3, ... without gaps, in the order they must run. Never renumber or
  // edit a released migration: add a new one.
  int version = 0;
  // One line saying what it does; stored and compared on every start.
  std::string description;
  // SQL run in the migration's transaction; may hold several statements.
  // Name objects with the schema ("ingest.instances").
  std::string sql;
};

// Creates schema if absent and applies, in order, each migration whose version
// the database has not recorded yet. Thread-safe and safe across processes.
// Returns OK when the database is at the newest version (nothing to do is OK).
// INVALID_ARGUMENT when schema is not a lower-case identifier
// ([a-z_][a-z0-9_]*, at most 48 characters) or the versions are not 1..N in
// order. FAILED_PRECONDITION when the database records a version this binary
// does not know (it is newer than the binary), misses a version below one it
// records, or records a version under another description. A failing
// migration returns its Status, prefixed with the schema, version and
// description; the versions before it stay applied.
absl::Status ApplyMigrations(Database& db, std::string_view schema,
                             const std::vector<Migration>& migrations);

}  // namespace parallax::store
