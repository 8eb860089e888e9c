#include "parallax/testing/environment.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>

namespace parallax::testing {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string DatabaseUrl() {
  std::string url = Env("PARALLAX_TEST_DATABASE_URL");
  if (url.empty()) {
    FAIL("PARALLAX_TEST_DATABASE_URL is not set: run the tests through scripts/test, "
         "which starts the private PostgreSQL cluster");
  }
  return url;
}

std::string BinDir() {
  std::string dir = Env("PARALLAX_BIN_DIR");
  return dir.empty() ? PARALLAX_DEFAULT_BIN_DIR : dir;
}

std::string SourceDir() {
  std::string dir = Env("PARALLAX_SOURCE_DIR");
  return dir.empty() ? PARALLAX_DEFAULT_SOURCE_DIR : dir;
}

}  // namespace parallax::testing
