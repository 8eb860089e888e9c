#pragma once
// Authenticating a request from its Authorization header value
// ("Bearer <token>", RFC 6750 §2.1), for HTTP edges and the gRPC helpers.
// Thread-safe (the verifier is).
#include <chrono>
#include <string_view>

#include <absl/status/statusor.h>

#include "parallax/auth/jwt.h"
#include "parallax/auth/principal.h"

namespace parallax::auth {

// The token of an Authorization header value: the scheme "Bearer" (any
// case), one or more spaces, the token; surrounding spaces are ignored.
// UNAUTHENTICATED when the value is empty, uses another scheme, or carries
// no token or a token with spaces in it. The message never repeats the value.
// The returned view points into `authorization_header_value`.
absl::StatusOr<std::string_view> ExtractBearerToken(std::string_view authorization_header_value);

// ExtractBearerToken, then verifier.Verify(token, now). The principal on
// success; UNAUTHENTICATED with the reason otherwise.
absl::StatusOr<Principal> AuthenticateHeader(std::string_view authorization_header_value, const JwtVerifier& verifier,
                                             std::chrono::system_clock::time_point now);

}  // namespace parallax::auth
