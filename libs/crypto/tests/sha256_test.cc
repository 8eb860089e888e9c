#include "parallax/crypto/sha256.h"

#include <fstream>

#include <catch2/catch.hpp>

#include "parallax/testing/temp_dir.h"

namespace parallax::crypto {

TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors", "[crypto]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string raw = Sha256("abc");
  REQUIRE(raw.size() == 32);
  CHECK(static_cast<unsigned char>(raw[0]) == 0xba);
  CHECK(static_cast<unsigned char>(raw[31]) == 0xad);
}

TEST_CASE("hashing a file gives the digest of its bytes, and a missing file is NOT_FOUND", "[crypto]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "weights.bin").string();
  std::string big(200000, 'x');
  { std::ofstream(path, std::ios::binary) << big; }
  absl::StatusOr<std::string> digest = Sha256HexOfFile(path);
  REQUIRE(digest.ok());
  CHECK(*digest == Sha256Hex(big));
  absl::StatusOr<std::string> missing = Sha256HexOfFile((dir.path() / "nope").string());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
}

}  // namespace parallax::crypto
