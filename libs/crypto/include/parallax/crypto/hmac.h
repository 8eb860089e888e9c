#pragma once
// HMAC-SHA-256 (RFC 2104 / FIPS 198-1) and a constant-time comparison, for
// signing and checking HS256 bearer tokens (libs/auth). OpenSSL stays behind
// this header. Pure functions, thread-safe.
#include <string>
#include <string_view>

namespace parallax::crypto {

// The raw 32-byte HMAC-SHA-256 of `data` under `key` (any key length; keys
// longer than the 64-byte block are hashed first, as the RFC says).
std::string HmacSha256(std::string_view key, std::string_view data);

// True when `a` and `b` hold the same bytes. The time taken depends only on
// the lengths, never on where the contents differ, so comparing a received
// MAC with the expected one leaks nothing an attacker can use. Different
// lengths compare unequal at once (lengths are not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace parallax::crypto
