#pragma once
// PBKDF2 with HMAC-SHA-256 (RFC 8018 §5.2), for the local identity's
// password hashes (the workspace's sign-in on a stack without a hospital
// identity provider). OpenSSL stays behind this header. Pure, thread-safe.
#include <cstddef>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

namespace parallax::crypto {

// The `length`-byte key derived from `password` and `salt` with
// `iterations` rounds. INVALID_ARGUMENT when iterations < 1 or length is 0
// or over 1024 bytes; INTERNAL if OpenSSL fails.
absl::StatusOr<std::string> Pbkdf2HmacSha256(std::string_view password, std::string_view salt, int iterations,
                                             size_t length);

}  // namespace parallax::crypto
