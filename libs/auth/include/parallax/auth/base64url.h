#pragma once
// Base64url without padding (RFC 4648 §5, as JWS uses it, RFC 7515 §2).
// Decoding is strict: '=' padding, characters outside A-Z a-z 0-9 '-' '_',
// an impossible length and non-zero unused trailing bits are all refused, so
// each byte string has exactly one accepted encoding. Pure functions,
// thread-safe.
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

namespace parallax::auth {

// The unpadded base64url text of `bytes`.
std::string Base64UrlEncode(std::string_view bytes);

// The bytes `text` encodes. INVALID_ARGUMENT saying what is wrong and where
// (a position, never the text itself): padding, a character outside the
// alphabet, a length of 1 mod 4, or non-zero trailing bits.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace parallax::auth
