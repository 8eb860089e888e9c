#include <string>

#include <catch2/catch.hpp>

#include "parallax/crypto/pbkdf2.h"

namespace parallax::crypto {
namespace {

std::string ToHex(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  return hex;
}

// RFC 7914 §11 gives these PBKDF2-HMAC-SHA256 vectors.
TEST_CASE("PBKDF2-HMAC-SHA256 derives the RFC 7914 test vectors") {
  auto one = Pbkdf2HmacSha256("passwd", "salt", 1, 64);
  REQUIRE(one.ok());
  CHECK(ToHex(*one) ==
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
  auto many = Pbkdf2HmacSha256("Password", "NaCl", 80000, 64);
  REQUIRE(many.ok());
  CHECK(ToHex(*many) ==
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST_CASE("PBKDF2 refuses zero iterations and empty or huge keys") {
  CHECK(Pbkdf2HmacSha256("p", "s", 0, 32).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Pbkdf2HmacSha256("p", "s", 1, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Pbkdf2HmacSha256("p", "s", 1, 4096).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace parallax::crypto
