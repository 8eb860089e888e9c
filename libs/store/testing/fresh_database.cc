#include "parallax/store/testing/fresh_database.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <mutex>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "parallax/store/database.h"
#include "parallax/testing/environment.h"

namespace parallax::store::testing {
namespace {

// Databases this process created, dropped at exit.
struct Created {
  std::mutex mu;
  std::string admin_url;
  std::vector<std::string> names;
};

Created& Registry() {
  static Created* created = new Created();  // never destroyed: used from atexit
  return *created;
}

void DropAll() {
  Created& c = Registry();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.names.empty()) return;
  DatabaseOptions options;
  options.url = c.admin_url;
  options.pool_size = 1;
  auto db = Database::Open(options);
  if (!db.ok()) return;
  for (const std::string& name : c.names) {
    (void)(*db)->ExecScript("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }
  c.names.clear();
}

// The URL with its database name replaced (libpq URL or keyword string).
std::string WithDatabaseName(const std::string& url, const std::string& name) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return absl::StrCat(url, " dbname=", name);
  size_t query = url.find('?', scheme + 3);
  size_t path_end = query == std::string::npos ? url.size() : query;
  size_t slash = url.find('/', scheme + 3);
  if (slash == std::string::npos || slash > path_end) {
    return absl::StrCat(url.substr(0, path_end), "/", name, url.substr(path_end));
  }
  return absl::StrCat(url.substr(0, slash + 1), name, url.substr(path_end));
}

std::string UniqueName(const std::string& purpose) {
  static std::atomic<int> counter{0};
  std::string clean;
  for (char c : purpose) {
    if (clean.size() >= 24) break;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      clean += c;
    } else if (c >= 'A' && c <= 'Z') {
      clean += static_cast<char>(c - 'A' + 'a');
    } else if (!clean.empty() && clean.back() != '_') {
      clean += '_';
    }
  }
  std::random_device rd;
  return absl::StrCat("px_test_", clean, "_", ::getpid(), "_", counter++, "_", rd() % 100000);
}

}  // namespace

std::string FreshDatabaseUrl(const std::string& purpose) {
  const std::string admin_url = parallax::testing::DatabaseUrl();
  DatabaseOptions options;
  options.url = admin_url;
  options.pool_size = 1;
  auto admin = Database::Open(options);
  if (!admin.ok()) FAIL("cannot reach the test database cluster: " << admin.status().ToString());

  const std::string name = UniqueName(purpose);
  absl::Status created = (*admin)->ExecScript("CREATE DATABASE " + name);
  if (!created.ok()) FAIL("cannot create test database " << name << ": " << created.ToString());

  Created& registry = Registry();
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    if (registry.admin_url.empty()) {
      registry.admin_url = admin_url;
      std::atexit(DropAll);
    }
    registry.names.push_back(name);
  }
  return WithDatabaseName(admin_url, name);
}

}  // namespace parallax::store::testing
