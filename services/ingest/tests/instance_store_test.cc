// The on-disk store's durability steps, without a database.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "instance_store.h"
#include "parallax/testing/temp_dir.h"

using parallax::ingest::InstanceStore;
using parallax::ingest::InstanceStoreOptions;

namespace {
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("a committed instance is in place under its UID and its staging file is gone", "[ingest]") {
  parallax::testing::TempDir dir;
  InstanceStore store(InstanceStoreOptions{dir.path().string(), 0});
  REQUIRE(store.Open().ok());
  auto staging = store.WriteStaging("DICOM-BYTES", "1.2.3.4");
  REQUIRE(staging.ok());
  auto relative = store.Commit(*staging, "1.2.3.4");
  REQUIRE(relative.ok());
  CHECK(*relative == InstanceStore::RelativePathFor("1.2.3.4"));
  CHECK(Slurp(store.AbsolutePath(*relative)) == "DICOM-BYTES");
  CHECK_FALSE(std::filesystem::exists(*staging));
}

TEST_CASE("commit never replaces an instance in place, replace does", "[ingest]") {
  parallax::testing::TempDir dir;
  InstanceStore store(InstanceStoreOptions{dir.path().string(), 0});
  REQUIRE(store.Open().ok());
  auto first = store.WriteStaging("FIRST", "1.2.3.5");
  REQUIRE(store.Commit(*first, "1.2.3.5").ok());
  auto second = store.WriteStaging("SECOND", "1.2.3.5");
  auto again = store.Commit(*second, "1.2.3.5");
  REQUIRE(again.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(std::filesystem::exists(*second));  // kept for the caller to decide
  CHECK(Slurp(store.AbsolutePath(InstanceStore::RelativePathFor("1.2.3.5"))) == "FIRST");
  REQUIRE(store.Replace(*second, "1.2.3.5").ok());
  CHECK(Slurp(store.AbsolutePath(InstanceStore::RelativePathFor("1.2.3.5"))) == "SECOND");
}

TEST_CASE("opening the store removes staging files a crash left behind", "[ingest]") {
  parallax::testing::TempDir dir;
  {
    InstanceStore store(InstanceStoreOptions{dir.path().string(), 0});
    REQUIRE(store.Open().ok());
    REQUIRE(store.WriteStaging("HALF", "1.2.3.6").ok());
  }
  InstanceStore reopened(InstanceStoreOptions{dir.path().string(), 0});
  REQUIRE(reopened.Open().ok());
  int staging = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind(".incoming-", 0) == 0) ++staging;
  }
  CHECK(staging == 0);
}

TEST_CASE("a store below its free-space reserve reports RESOURCE_EXHAUSTED", "[ingest]") {
  parallax::testing::TempDir dir;
  InstanceStore full(InstanceStoreOptions{dir.path().string(), int64_t{1} << 60});
  REQUIRE(full.Open().ok());
  CHECK(full.CheckCapacity().code() == absl::StatusCode::kResourceExhausted);
  InstanceStore roomy(InstanceStoreOptions{dir.path().string(), 0});
  CHECK(roomy.CheckCapacity().ok());
}
