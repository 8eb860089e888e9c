#pragma once
// What the test environment (scripts/test) provides to tests that need real
// parts. Each accessor FAILs the current test with a message naming the
// variable when it is absent, so a missing part is a red test, never a
// silently skipped one.
#include <string>

namespace parallax::testing {

// libpq connection URL of the private test cluster (PARALLAX_TEST_DATABASE_URL).
std::string DatabaseUrl();

// The build tree (PARALLAX_BIN_DIR, else the tree these tests were built in).
std::string BinDir();

// The source tree (PARALLAX_SOURCE_DIR, else the tree these tests were built from).
std::string SourceDir();

// Value of an environment variable, or "" when unset.
std::string Env(const char* name);

}  // namespace parallax::testing
