#pragma once
// Bearer JSON Web Tokens (RFC 7519, compact JWS RFC 7515) for Parallax's
// services:
//   - HS256 (HMAC-SHA-256 with a shared secret) for the local stack, where
//     JwtIssuer and the parallax-token tool mint tokens;
//   - RS256 (RSA PKCS#1 v1.5 with SHA-256) for tokens from a hospital's
//     identity provider, checked with its configured public key.
// The token's role claim values are mapped to Parallax roles (role_map);
// the result of a successful verification is a Principal.
//
// What is refused, always as UNAUTHENTICATED with a message that never
// repeats the token or any claim value: a malformed token (not three
// base64url parts, bad JSON, not an object), a missing alg or alg "none",
// an algorithm this verifier has no key for (an HS256 token when only an
// RS256 key is configured and vice versa, so a public key can never be used
// as an HMAC secret), a critical header extension ("crit"), a bad
// signature, a missing/non-numeric or past `exp`, an `nbf` in the future
// (both with `leeway`), a wrong `iss` or `aud` when configured, a missing
// `sub`, and no recognised Parallax role.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/auth/principal.h"
#include "parallax/auth/roles.h"
#include "parallax/crypto/rsa.h"

namespace parallax::auth {

// Smallest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the
// hash size).
inline constexpr size_t kMinHs256SecretBytes = 32;

// Longest token accepted, in bytes; longer ones are refused before any work.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

struct VerifierOptions {
  // Shared secret for HS256 tokens; empty = HS256 tokens are refused.
  std::string hs256_secret;
  // PEM public key (or certificate) of the identity provider for RS256
  // tokens; empty = RS256 tokens are refused.
  std::string rs256_public_key_pem;
  // Required `iss` value; empty = `iss` is not checked.
  std::string issuer;
  // Required `aud` value (the claim may be a string or an array holding
  // it); empty = `aud` is not checked.
  std::string audience;
  // Claim holding the roles: an array of strings or a space-separated
  // string. A name not found at the top level is also tried as a dotted path
  // into nested objects, e.g. "realm_access.roles" (Keycloak).
  std::string role_claim = "roles";
  // Claim holding the routing groups, read the same way; absent = no groups.
  std::string group_claim = "groups";
  // External role claim value -> Parallax role. Values that are already
  // Parallax role names (RoleName) map to themselves; any other value is
  // ignored.
  std::map<std::string, Role> role_map;
  // Allowed clock difference with the issuer for `exp` and `nbf`.
  std::chrono::seconds leeway{30};
};

// Parses a role map specification: entries "EXTERNAL=parallax_role"
// separated by ',' (or, when the spec contains ';' or a newline, by those
// only, so that external names may contain commas, e.g. LDAP DNs). The
// external name is everything before the last '='; spaces around names are
// trimmed; empty entries are skipped. INVALID_ARGUMENT naming the entry when
// it has no '=', an empty external name, an unknown Parallax role, or maps an
// external name already mapped.
absl::StatusOr<std::map<std::string, Role>> ParseRoleMap(std::string_view spec);

// Reads a secret file (e.g. the HS256 secret). Trailing '\n' and '\r' are
// removed, so `echo secret > file` works; nothing else is changed.
// NOT_FOUND naming the path when it cannot be read, INVALID_ARGUMENT naming
// the path when it is empty.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// VerifierOptions as a service configures them: the HS256 secret from
// `hs256_secret_file` (ReadSecretFile; "" = no HS256), the RS256 public key
// PEM from `rs256_public_key_file` ("" = no RS256), issuer and audience as
// given, `role_claim` ("" = "roles"), the role map from `role_map_spec`
// (ParseRoleMap) and `group_claim` ("" = "groups"). Returns options that
// JwtVerifier::Create accepts; NOT_FOUND naming an unreadable file,
// INVALID_ARGUMENT naming the bad role map entry, or any error Create would
// give (checked here so that a service fails at start-up).
absl::StatusOr<VerifierOptions> LoadVerifierOptions(const std::string& hs256_secret_file,
                                                    const std::string& rs256_public_key_file,
                                                    const std::string& issuer, const std::string& audience,
                                                    const std::string& role_claim, std::string_view role_map_spec,
                                                    const std::string& group_claim = "groups");

// Verifies bearer tokens. Immutable after Create: Verify() may be called
// from many threads at once. Copies are cheap enough (the parsed RSA key is
// shared).
class JwtVerifier {
 public:
  // Checks `options` and parses the public key once. INVALID_ARGUMENT when
  // neither an HS256 secret nor an RS256 key is configured, the secret is
  // shorter than kMinHs256SecretBytes, the secret equals the public key PEM,
  // the PEM is not an acceptable RSA public key (crypto::RsaPublicKey), the
  // role claim is empty, the leeway is negative, or role_map maps to
  // ROLE_UNSPECIFIED or a value outside the enum.
  static absl::StatusOr<JwtVerifier> Create(VerifierOptions options);

  // The principal the token names, when every check in the file comment
  // passes at time `now`. UNAUTHENTICATED with the reason otherwise.
  absl::StatusOr<Principal> Verify(std::string_view token, std::chrono::system_clock::time_point now) const;

  // Which algorithms this verifier accepts ("HS256", "RS256").
  bool accepts_hs256() const { return !options_.hs256_secret.empty(); }
  bool accepts_rs256() const { return rsa_key_.has_value(); }

 private:
  JwtVerifier(VerifierOptions options, std::optional<crypto::RsaPublicKey> rsa_key)
      : options_(std::move(options)), rsa_key_(std::move(rsa_key)) {}
  VerifierOptions options_;
  std::optional<crypto::RsaPublicKey> rsa_key_;
};

// The claims JwtIssuer puts in a token.
struct TokenClaims {
  std::string subject;                          // `sub`, the user id; required
  std::vector<Role> roles;                      // written as Parallax role names under "roles"; at least one
  std::vector<std::string> groups;              // written under "groups" when not empty
  std::chrono::seconds ttl{3600};               // `exp` = now + ttl; must be positive
  std::string issuer;                           // `iss` when not empty
  std::string audience;                         // `aud` (a string) when not empty
};

// Mints HS256 tokens for the local stack and tests (a hospital's identity
// provider mints real RS256 tokens). Immutable after Create; thread-safe.
class JwtIssuer {
 public:
  // INVALID_ARGUMENT when the secret is shorter than kMinHs256SecretBytes.
  static absl::StatusOr<JwtIssuer> Create(std::string hs256_secret);

  // The compact token with header {"alg":"HS256","typ":"JWT"} and claims
  // sub, roles, groups, iat = nbf = now, exp = now + ttl, iss, aud.
  // INVALID_ARGUMENT when the subject is empty, there is no role, a role is
  // ROLE_UNSPECIFIED or outside the enum, or ttl is not positive.
  absl::StatusOr<std::string> Issue(const TokenClaims& claims, std::chrono::system_clock::time_point now) const;

 private:
  explicit JwtIssuer(std::string secret) : secret_(std::move(secret)) {}
  std::string secret_;
};

// Builds "<base64url(header)>.<base64url(payload)>.<base64url(signature)>"
// from already-serialised JSON texts, signing with `sign` applied to the
// signing input. For tests and tools that need RS256 or deliberately odd
// tokens; JwtIssuer is the ordinary way to mint HS256 tokens.
std::string EncodeCompactJws(std::string_view header_json, std::string_view payload_json,
                             std::string_view signature);

// base64url(header_json) + "." + base64url(payload_json): what is signed.
std::string SigningInput(std::string_view header_json, std::string_view payload_json);

}  // namespace parallax::auth
