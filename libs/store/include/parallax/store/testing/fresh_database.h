#pragma once
// Test support: a brand-new, empty database per test, on the cluster named by
// PARALLAX_TEST_DATABASE_URL (see parallax/testing/environment.h).
#include <string>

namespace parallax::store::testing {

// Creates a database with a unique name derived from purpose (for example
// "ingest_test") on the test cluster and returns its URL. The database is
// dropped when the process exits. FAILs the current Catch2 test when the
// variable is unset or the cluster cannot be reached.
std::string FreshDatabaseUrl(const std::string& purpose);

}  // namespace parallax::store::testing
