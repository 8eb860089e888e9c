#include "parallax/auth/base64url.h"

#include <catch2/catch.hpp>

namespace parallax::auth {

TEST_CASE("base64url encodes the RFC 4648 test vectors without padding", "[auth]") {
  CHECK(Base64UrlEncode("") == "");
  CHECK(Base64UrlEncode("f") == "Zg");
  CHECK(Base64UrlEncode("fo") == "Zm8");
  CHECK(Base64UrlEncode("foo") == "Zm9v");
  CHECK(Base64UrlEncode("foob") == "Zm9vYg");
  CHECK(Base64UrlEncode("fooba") == "Zm9vYmE");
  CHECK(Base64UrlEncode("foobar") == "Zm9vYmFy");
  // The URL-safe alphabet: '-' and '_' instead of '+' and '/'.
  CHECK(Base64UrlEncode("\xfb\xff") == "-_8");
  CHECK(*Base64UrlDecode("-_8") == "\xfb\xff");
}

TEST_CASE("base64url decoding inverts encoding for every byte value and length", "[auth]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 1) {
    const std::string bytes = all.substr(all.size() - len);
    absl::StatusOr<std::string> back = Base64UrlDecode(Base64UrlEncode(bytes));
    REQUIRE(back.ok());
    REQUIRE(*back == bytes);
  }
}

TEST_CASE("base64url decoding refuses padding, foreign characters, impossible lengths and loose bits", "[auth]") {
  auto refused = [](std::string_view text, std::string_view words) {
    absl::StatusOr<std::string> r = Base64UrlDecode(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(r.status().message());
    INFO(message);
    CHECK(message.find(words) != std::string::npos);
  };
  refused("Zg==", "padded");
  refused("Zm9v+w", "position 4");
  refused("Zm9v/w", "outside");
  refused("Zm 9", "position 2");
  refused("Zm9vY", "impossible");
  refused("Zh", "trailing bits");   // "Zg" is the canonical encoding of "f"
  refused("Zm9", "trailing bits");  // "Zm8" is canonical for "fo"
}

}  // namespace parallax::auth
