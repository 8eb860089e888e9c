#include "parallax/auth/jwt.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <absl/strings/ascii.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>
#include <nlohmann/json.hpp>

#include "parallax/auth/base64url.h"
#include "parallax/crypto/hmac.h"

namespace parallax::auth {
namespace {

using nlohmann::json;
namespace v1 = ::parallax::escalation::v1;

// Every refusal goes through here: UNAUTHENTICATED, the reason, never the
// token or a claim value.
absl::Status Refuse(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bearer token refused: ", std::string(why)));
}

absl::Status BadConfig(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("authentication configuration: ", std::string(why)));
}

// Parses a JSON object, refusing malformed JSON, a non-object and duplicate
// member names at any depth (RFC 7515 §4: either refuse or take the last;
// refusing leaves no room for two parsers to disagree).
std::optional<json> ParseJsonObject(std::string_view text) {
  std::vector<std::set<std::string>> keys_seen;
  bool duplicate = false;
  json::parser_callback_t track = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_seen.emplace_back();
        break;
      case json::parse_event_t::key:
        if (!keys_seen.empty() && !keys_seen.back().insert(parsed.get<std::string>()).second) duplicate = true;
        break;
      case json::parse_event_t::object_end:
        if (!keys_seen.empty()) keys_seen.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  json j = json::parse(text.begin(), text.end(), track, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || duplicate) return std::nullopt;
  return j;
}

// The claim `name` at the top level, else `name` as a dotted path into
// nested objects ("realm_access.roles"); nullptr when absent.
const json* FindClaim(const json& payload, const std::string& name) {
  if (auto it = payload.find(name); it != payload.end()) return &*it;
  if (name.find('.') == std::string::npos) return nullptr;
  const json* current = &payload;
  for (absl::string_view part : absl::StrSplit(name, '.')) {
    if (!current->is_object()) return nullptr;
    auto it = current->find(std::string(part));
    if (it == current->end()) return nullptr;
    current = &*it;
  }
  return current;
}

// The strings of a claim that is an array (non-string entries are skipped)
// or a space-separated string. False when it is neither.
bool ClaimStrings(const json& value, std::vector<std::string>* out) {
  if (value.is_string()) {
    for (absl::string_view part : absl::StrSplit(value.get_ref<const std::string&>(), absl::ByAnyChar(" \t\r\n"),
                                                absl::SkipEmpty())) {
      out->emplace_back(std::string(part));
    }
    return true;
  }
  if (value.is_array()) {
    for (const json& item : value) {
      if (item.is_string()) out->push_back(item.get<std::string>());
    }
    return true;
  }
  return false;
}

std::string AcceptedAlgorithms(bool hs256, bool rs256) {
  if (hs256 && rs256) return "HS256 and RS256";
  return hs256 ? "HS256" : "RS256";
}

bool ValidRole(Role role) { return role != v1::ROLE_UNSPECIFIED && v1::Role_IsValid(role); }

}  // namespace

absl::StatusOr<std::map<std::string, Role>> ParseRoleMap(std::string_view spec) {
  std::map<std::string, Role> map;
  const absl::string_view text(spec.data(), spec.size());
  const bool wide = text.find_first_of(";\n") != absl::string_view::npos;
  const std::vector<absl::string_view> entries = wide ? absl::StrSplit(text, absl::ByAnyChar(";\n"))
                                                       : std::vector<absl::string_view>(absl::StrSplit(text, ','));
  for (absl::string_view raw : entries) {
    const std::string entry(absl::StripAsciiWhitespace(raw));
    if (entry.empty()) continue;
    const size_t eq = entry.rfind('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("role map entry '", entry,
                                                     "' has no '=' (expected EXTERNAL_NAME=parallax_role)"));
    }
    const std::string external(absl::StripAsciiWhitespace(absl::string_view(entry).substr(0, eq)));
    const std::string role_name(absl::StripAsciiWhitespace(absl::string_view(entry).substr(eq + 1)));
    if (external.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("role map entry '", entry, "' has an empty external name"));
    }
    absl::StatusOr<Role> role = ParseRole(role_name);
    if (!role.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("role map entry '", entry, "': ", role.status().message()));
    }
    if (!map.emplace(external, *role).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("role map entry '", entry, "' maps '", external, "' again (each external name maps once)"));
    }
  }
  return map;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the secret file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("read of the secret file ", path, " failed"));
  std::string secret = buffer.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat("the secret file ", path, " is empty"));
  return secret;
}

absl::StatusOr<VerifierOptions> LoadVerifierOptions(const std::string& hs256_secret_file,
                                                    const std::string& rs256_public_key_file,
                                                    const std::string& issuer, const std::string& audience,
                                                    const std::string& role_claim, std::string_view role_map_spec,
                                                    const std::string& group_claim) {
  VerifierOptions options;
  if (!hs256_secret_file.empty()) {
    absl::StatusOr<std::string> secret = ReadSecretFile(hs256_secret_file);
    if (!secret.ok()) return secret.status();
    options.hs256_secret = *std::move(secret);
  }
  if (!rs256_public_key_file.empty()) {
    std::ifstream in(rs256_public_key_file, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read the RS256 public key file ", rs256_public_key_file));
    std::stringstream buffer;
    buffer << in.rdbuf();
    options.rs256_public_key_pem = buffer.str();
    if (options.rs256_public_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("the RS256 public key file ", rs256_public_key_file, " is empty"));
    }
  }
  options.issuer = issuer;
  options.audience = audience;
  if (!role_claim.empty()) options.role_claim = role_claim;
  if (!group_claim.empty()) options.group_claim = group_claim;
  absl::StatusOr<std::map<std::string, Role>> role_map = ParseRoleMap(role_map_spec);
  if (!role_map.ok()) return role_map.status();
  options.role_map = *std::move(role_map);
  if (!options.rs256_public_key_pem.empty()) {
    if (absl::StatusOr<crypto::RsaPublicKey> key = crypto::RsaPublicKey::FromPem(options.rs256_public_key_pem);
        !key.ok()) {
      return BadConfig(absl::StrCat("RS256 public key file ", rs256_public_key_file, ": ", key.status().message()));
    }
  }
  if (absl::StatusOr<JwtVerifier> check = JwtVerifier::Create(options); !check.ok()) return check.status();
  return options;
}

absl::StatusOr<JwtVerifier> JwtVerifier::Create(VerifierOptions options) {
  if (options.hs256_secret.empty() && options.rs256_public_key_pem.empty()) {
    return BadConfig("configure an HS256 secret, an RS256 public key, or both");
  }
  if (!options.hs256_secret.empty() && options.hs256_secret.size() < kMinHs256SecretBytes) {
    return BadConfig(absl::StrCat("the HS256 secret has ", options.hs256_secret.size(), " bytes; at least ",
                                  kMinHs256SecretBytes, " are required"));
  }
  if (!options.hs256_secret.empty() && options.hs256_secret == options.rs256_public_key_pem) {
    return BadConfig("the HS256 secret must not be the RS256 public key");
  }
  if (options.role_claim.empty()) return BadConfig("the role claim name is empty");
  if (options.leeway.count() < 0) return BadConfig("the clock leeway is negative");
  for (const auto& [external, role] : options.role_map) {
    if (!ValidRole(role)) {
      return BadConfig(absl::StrCat("role map entry '", external, "' maps to no Parallax role"));
    }
  }
  std::optional<crypto::RsaPublicKey> key;
  if (!options.rs256_public_key_pem.empty()) {
    absl::StatusOr<crypto::RsaPublicKey> parsed = crypto::RsaPublicKey::FromPem(options.rs256_public_key_pem);
    if (!parsed.ok()) return BadConfig(absl::StrCat("RS256 public key: ", parsed.status().message()));
    key = *std::move(parsed);
  }
  return JwtVerifier(std::move(options), std::move(key));
}

absl::StatusOr<Principal> JwtVerifier::Verify(std::string_view token, std::chrono::system_clock::time_point now) const {
  if (token.empty()) return Refuse("the token is empty");
  if (token.size() > kMaxTokenBytes) return Refuse(absl::StrCat("the token is longer than ", kMaxTokenBytes, " bytes"));
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos || dot1 == 0 ||
      dot2 == dot1 + 1) {
    return Refuse("malformed token: expected three base64url parts separated by '.'");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);

  // Header: which algorithm, and only one this verifier holds a key for.
  absl::StatusOr<std::string> header_text = Base64UrlDecode(header_b64);
  if (!header_text.ok()) return Refuse(absl::StrCat("malformed token header: ", header_text.status().message()));
  std::optional<json> header = ParseJsonObject(*header_text);
  if (!header) return Refuse("malformed token header: not a JSON object (or a member appears twice)");
  auto alg_it = header->find("alg");
  if (alg_it == header->end() || !alg_it->is_string()) return Refuse("the token header names no algorithm (alg)");
  const std::string& alg = alg_it->get_ref<const std::string&>();
  if (absl::AsciiStrToLower(alg) == "none") return Refuse("unsigned tokens (alg none) are not accepted");
  if (header->contains("crit")) return Refuse("the token header lists critical extensions (crit), none are supported");
  const bool hs256 = alg == "HS256";
  const bool rs256 = alg == "RS256";
  if ((hs256 && !accepts_hs256()) || (rs256 && !accepts_rs256()) || (!hs256 && !rs256)) {
    return Refuse(absl::StrCat("the token's algorithm is not accepted here (this service accepts ",
                               AcceptedAlgorithms(accepts_hs256(), accepts_rs256()), ")"));
  }

  // Signature over "<header>.<payload>" as sent, before the claims are read.
  absl::StatusOr<std::string> signature = Base64UrlDecode(signature_b64);
  if (!signature.ok()) return Refuse(absl::StrCat("malformed token signature: ", signature.status().message()));
  const std::string_view signing_input = token.substr(0, dot2);
  const bool signature_ok = hs256 ? crypto::ConstantTimeEquals(crypto::HmacSha256(options_.hs256_secret, signing_input),
                                                                *signature)
                                  : rsa_key_->Verify(signing_input, *signature);
  if (!signature_ok) return Refuse(absl::StrCat("the ", alg, " signature does not match"));

  absl::StatusOr<std::string> payload_text = Base64UrlDecode(payload_b64);
  if (!payload_text.ok()) return Refuse(absl::StrCat("malformed token payload: ", payload_text.status().message()));
  std::optional<json> payload = ParseJsonObject(*payload_text);
  if (!payload) return Refuse("malformed token payload: not a JSON object (or a member appears twice)");

  // Time.
  const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double leeway_s = static_cast<double>(options_.leeway.count());
  auto exp_it = payload->find("exp");
  if (exp_it == payload->end()) return Refuse("the token has no expiry (exp)");
  if (!exp_it->is_number()) return Refuse("the token's expiry (exp) is not a number");
  const double exp = exp_it->get<double>();
  if (now_s >= exp + leeway_s) return Refuse("the token has expired");
  if (auto nbf_it = payload->find("nbf"); nbf_it != payload->end()) {
    if (!nbf_it->is_number()) return Refuse("the token's not-before time (nbf) is not a number");
    if (now_s + leeway_s < nbf_it->get<double>()) return Refuse("the token is not valid yet (nbf is in the future)");
  }

  // Issuer and audience.
  if (!options_.issuer.empty()) {
    auto iss = payload->find("iss");
    if (iss == payload->end() || !iss->is_string() || iss->get_ref<const std::string&>() != options_.issuer) {
      return Refuse("the token's issuer (iss) is not the configured issuer");
    }
  }
  if (!options_.audience.empty()) {
    auto aud = payload->find("aud");
    bool match = false;
    if (aud != payload->end() && aud->is_string()) {
      match = aud->get_ref<const std::string&>() == options_.audience;
    } else if (aud != payload->end() && aud->is_array()) {
      match = std::any_of(aud->begin(), aud->end(), [&](const json& a) {
        return a.is_string() && a.get_ref<const std::string&>() == options_.audience;
      });
    }
    if (!match) return Refuse("the token's audience (aud) does not include the configured audience");
  }

  Principal principal;
  auto sub = payload->find("sub");
  if (sub == payload->end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return Refuse("the token names no user (sub)");
  }
  principal.user_id = sub->get<std::string>();

  // Roles: mapped names first, then Parallax names; anything else is ignored.
  const json* role_claim = FindClaim(*payload, options_.role_claim);
  std::vector<std::string> role_values;
  if (role_claim != nullptr && !ClaimStrings(*role_claim, &role_values)) {
    return Refuse(absl::StrCat("the role claim '", options_.role_claim, "' is neither a string nor an array"));
  }
  for (const std::string& value : role_values) {
    std::optional<Role> role;
    if (auto mapped = options_.role_map.find(value); mapped != options_.role_map.end()) {
      role = mapped->second;
    } else if (absl::StatusOr<Role> own = ParseRole(value); own.ok()) {
      role = *own;
    }
    if (role && !principal.HasRole(*role)) principal.roles.push_back(*role);
  }
  if (principal.roles.empty()) {
    return Refuse(absl::StrCat("the token carries no recognised Parallax role in claim '", options_.role_claim, "'"));
  }

  if (const json* group_claim = FindClaim(*payload, options_.group_claim); group_claim != nullptr) {
    std::vector<std::string> groups;
    if (!ClaimStrings(*group_claim, &groups)) {
      return Refuse(absl::StrCat("the group claim '", options_.group_claim, "' is neither a string nor an array"));
    }
    for (std::string& g : groups) {
      if (std::find(principal.groups.begin(), principal.groups.end(), g) == principal.groups.end()) {
        principal.groups.push_back(std::move(g));
      }
    }
  }

  constexpr double kMaxUnix = 9.0e18;  // inside int64 range
  principal.expires_at_unix = static_cast<int64_t>(std::floor(std::min(exp, kMaxUnix)));
  return principal;
}

absl::StatusOr<JwtIssuer> JwtIssuer::Create(std::string hs256_secret) {
  if (hs256_secret.size() < kMinHs256SecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the HS256 secret has ", hs256_secret.size(), " bytes; at least ",
                                                   kMinHs256SecretBytes, " are required"));
  }
  return JwtIssuer(std::move(hs256_secret));
}

absl::StatusOr<std::string> JwtIssuer::Issue(const TokenClaims& claims,
                                             std::chrono::system_clock::time_point now) const {
  if (claims.subject.empty()) return absl::InvalidArgumentError("a token needs a subject (user id)");
  if (claims.roles.empty()) return absl::InvalidArgumentError("a token needs at least one role");
  if (claims.ttl.count() <= 0) return absl::InvalidArgumentError("a token's time to live must be positive");
  json roles = json::array();
  for (Role role : claims.roles) {
    if (!ValidRole(role)) return absl::InvalidArgumentError("a token's roles must be Parallax roles (not unspecified)");
    roles.push_back(RoleName(role));
  }
  const int64_t now_s = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  json payload = {{"sub", claims.subject}, {"roles", roles},           {"iat", now_s},
                  {"nbf", now_s},          {"exp", now_s + claims.ttl.count()}};
  if (!claims.groups.empty()) payload["groups"] = claims.groups;
  if (!claims.issuer.empty()) payload["iss"] = claims.issuer;
  if (!claims.audience.empty()) payload["aud"] = claims.audience;
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const std::string body = payload.dump();
  return EncodeCompactJws(header, body, crypto::HmacSha256(secret_, SigningInput(header, body)));
}

std::string SigningInput(std::string_view header_json, std::string_view payload_json) {
  return absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json));
}

std::string EncodeCompactJws(std::string_view header_json, std::string_view payload_json, std::string_view signature) {
  return absl::StrCat(SigningInput(header_json, payload_json), ".", Base64UrlEncode(signature));
}

}  // namespace parallax::auth
