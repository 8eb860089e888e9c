#include "parallax/auth/bearer.h"

#include <absl/status/status.h>
#include <absl/strings/ascii.h>
#include <absl/strings/match.h>

namespace parallax::auth {

absl::StatusOr<std::string_view> ExtractBearerToken(std::string_view value) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  if (value.empty()) return absl::UnauthenticatedError("the authorization header is empty (expected 'Bearer <token>')");
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(value.data(), kScheme.size()), absl::string_view(kScheme.data(), kScheme.size())) ||
      !is_space(value[kScheme.size()])) {
    return absl::UnauthenticatedError("the authorization header is not a bearer token (expected 'Bearer <token>')");
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  if (value.empty()) return absl::UnauthenticatedError("the authorization header carries no token after 'Bearer'");
  for (char c : value) {
    if (is_space(c)) return absl::UnauthenticatedError("the bearer token contains a space");
  }
  return value;
}

absl::StatusOr<Principal> AuthenticateHeader(std::string_view authorization_header_value, const JwtVerifier& verifier,
                                             std::chrono::system_clock::time_point now) {
  absl::StatusOr<std::string_view> token = ExtractBearerToken(authorization_header_value);
  if (!token.ok()) return token.status();
  return verifier.Verify(*token, now);
}

}  // namespace parallax::auth
