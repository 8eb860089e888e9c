#include "parallax/auth/jwt.h"

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "auth_test_support.h"
#include "parallax/auth/base64url.h"
#include "parallax/auth/principal.h"
#include "parallax/auth/roles.h"

namespace parallax::auth {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::CheckRefused;
using test::HsToken;
using test::HsVerifier;
using test::kNow;
using test::kNowUnix;
using test::kSecret;
namespace v1 = ::parallax::escalation::v1;

}  // namespace

TEST_CASE("role names and Parallax roles convert both ways", "[auth]") {
  const std::vector<std::pair<Role, std::string>> all = {
      {v1::ROLE_RADIOLOGIST, "radiologist"},       {v1::ROLE_THORACIC_RADIOLOGIST, "thoracic_radiologist"},
      {v1::ROLE_NEURORADIOLOGIST, "neuroradiologist"}, {v1::ROLE_SENIOR_RADIOLOGIST, "senior_radiologist"},
      {v1::ROLE_DEPARTMENT_HEAD, "department_head"}, {v1::ROLE_AUDITOR, "auditor"},
      {v1::ROLE_ADMIN, "admin"},                   {v1::ROLE_INTEGRATION, "integration"}};
  for (const auto& [role, name] : all) {
    CHECK(RoleName(role) == name);
    absl::StatusOr<Role> parsed = ParseRole(name);
    REQUIRE(parsed.ok());
    CHECK(*parsed == role);
  }
  CHECK(RoleName(v1::ROLE_UNSPECIFIED) == "unspecified");
  CHECK_FALSE(ParseRole("unspecified").ok());
  CHECK_FALSE(ParseRole("Radiologist").ok());
  absl::StatusOr<Role> bad = ParseRole("surgeon");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("surgeon") != std::string::npos);
}

TEST_CASE("a principal answers which roles it holds", "[auth]") {
  Principal p;
  p.roles = {v1::ROLE_RADIOLOGIST, v1::ROLE_NEURORADIOLOGIST};
  CHECK(p.HasRole(v1::ROLE_NEURORADIOLOGIST));
  CHECK_FALSE(p.HasRole(v1::ROLE_ADMIN));
  CHECK(p.HasAnyRole({v1::ROLE_ADMIN, v1::ROLE_RADIOLOGIST}));
  CHECK_FALSE(p.HasAnyRole({v1::ROLE_ADMIN, v1::ROLE_AUDITOR}));
  CHECK_FALSE(p.HasAnyRole({}));
}

TEST_CASE("a valid HS256 token from the issuer verifies with its roles and groups", "[auth]") {
  absl::StatusOr<JwtIssuer> issuer = JwtIssuer::Create(kSecret);
  REQUIRE(issuer.ok());
  TokenClaims claims;
  claims.subject = "u-1042";
  claims.roles = {v1::ROLE_THORACIC_RADIOLOGIST, v1::ROLE_SENIOR_RADIOLOGIST};
  claims.groups = {"thoracic-radiology", "on-call"};
  claims.ttl = 15min;
  claims.issuer = "parallax-local";
  claims.audience = "parallax";
  absl::StatusOr<std::string> token = issuer->Issue(claims, kNow);
  REQUIRE(token.ok());

  VerifierOptions options;
  options.issuer = "parallax-local";
  options.audience = "parallax";
  const JwtVerifier verifier = HsVerifier(options);
  absl::StatusOr<Principal> p = verifier.Verify(*token, kNow + 1min);
  REQUIRE(p.ok());
  CHECK(p->user_id == "u-1042");
  CHECK(p->roles == std::vector<Role>{v1::ROLE_THORACIC_RADIOLOGIST, v1::ROLE_SENIOR_RADIOLOGIST});
  CHECK(p->groups == std::vector<std::string>{"thoracic-radiology", "on-call"});
  CHECK(p->expires_at_unix == kNowUnix + 15 * 60);
  CHECK(p->HasRole(v1::ROLE_SENIOR_RADIOLOGIST));
  CHECK_FALSE(p->HasRole(v1::ROLE_RADIOLOGIST));

  // The same token after its ttl (plus leeway) is refused.
  CheckRefused(verifier.Verify(*token, kNow + 15min + 31s), "expired", *token);
}

TEST_CASE("the issuer refuses claims that would make a useless token", "[auth]") {
  CHECK(JwtIssuer::Create("too-short").status().code() == absl::StatusCode::kInvalidArgument);
  JwtIssuer issuer = *JwtIssuer::Create(kSecret);
  TokenClaims ok;
  ok.subject = "u";
  ok.roles = {v1::ROLE_AUDITOR};
  CHECK(issuer.Issue(ok, kNow).ok());
  TokenClaims no_sub = ok;
  no_sub.subject = "";
  CHECK(issuer.Issue(no_sub, kNow).status().code() == absl::StatusCode::kInvalidArgument);
  TokenClaims no_roles = ok;
  no_roles.roles = {};
  CHECK(issuer.Issue(no_roles, kNow).status().code() == absl::StatusCode::kInvalidArgument);
  TokenClaims unspecified = ok;
  unspecified.roles = {v1::ROLE_UNSPECIFIED};
  CHECK(issuer.Issue(unspecified, kNow).status().code() == absl::StatusCode::kInvalidArgument);
  TokenClaims zero_ttl = ok;
  zero_ttl.ttl = 0s;
  CHECK(issuer.Issue(zero_ttl, kNow).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("an expired token is refused and the leeway allows only a small clock difference", "[auth]") {
  const JwtVerifier verifier = HsVerifier();  // leeway 30 s
  json claims = test::BaseClaims();
  claims["exp"] = kNowUnix - 10;
  CHECK(verifier.Verify(HsToken(claims), kNow).ok());
  claims["exp"] = kNowUnix - 30;
  const std::string expired = HsToken(claims);
  CheckRefused(verifier.Verify(expired, kNow), "expired", expired, {"u-1042"});
  claims["exp"] = kNowUnix - 86400;
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "expired", "");

  VerifierOptions strict;
  strict.leeway = 0s;
  claims["exp"] = kNowUnix - 1;
  CheckRefused(HsVerifier(strict).Verify(HsToken(claims), kNow), "expired", "");
}

TEST_CASE("a token without a numeric exp is refused", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  json claims = test::BaseClaims();
  claims.erase("exp");
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "no expiry", "");
  claims["exp"] = std::to_string(kNowUnix + 3600);
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "not a number", "");
}

TEST_CASE("a token whose nbf is in the future is refused", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  json claims = test::BaseClaims();
  claims["nbf"] = kNowUnix + 600;
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "not valid yet", "");
  claims["nbf"] = kNowUnix + 20;  // within the leeway
  CHECK(verifier.Verify(HsToken(claims), kNow).ok());
  claims["nbf"] = kNowUnix - 600;
  CHECK(verifier.Verify(HsToken(claims), kNow).ok());
}

TEST_CASE("an unsigned token with alg none is refused however it is written", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  const std::string payload = test::BaseClaims().dump();
  for (const std::string header : {R"({"alg":"none"})", R"({"alg":"None","typ":"JWT"})", R"({"alg":"NONE"})"}) {
    // Empty signature, as RFC 7519 §6.1 writes unsecured tokens.
    const std::string unsigned_token = EncodeCompactJws(header, payload, "");
    REQUIRE(unsigned_token.back() == '.');
    CheckRefused(verifier.Verify(unsigned_token, kNow), "alg none", unsigned_token);
    // And with an HMAC attached anyway.
    const std::string with_mac =
        EncodeCompactJws(header, payload, crypto::HmacSha256(kSecret, SigningInput(header, payload)));
    CheckRefused(verifier.Verify(with_mac, kNow), "alg none", with_mac);
  }
  // A header without alg is refused too.
  const std::string no_alg = HsToken(test::BaseClaims(), kSecret, R"({"typ":"JWT"})");
  CheckRefused(verifier.Verify(no_alg, kNow), "no algorithm", no_alg);
  const std::string numeric_alg = HsToken(test::BaseClaims(), kSecret, R"({"alg":256})");
  CheckRefused(verifier.Verify(numeric_alg, kNow), "no algorithm", numeric_alg);
}

TEST_CASE("an HS256 token signed with another secret is refused", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  const std::string token = HsToken(test::BaseClaims(), "another-secret-of-sufficient-length-xyz");
  CheckRefused(verifier.Verify(token, kNow), "signature does not match", token, {"u-1042"});
  // The right secret gives a token that verifies, so the refusal is the secret's doing.
  CHECK(verifier.Verify(HsToken(test::BaseClaims()), kNow).ok());
}

TEST_CASE("a token whose payload was changed after signing is refused", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  const std::string token = HsToken(test::BaseClaims());
  REQUIRE(verifier.Verify(token, kNow).ok());
  json elevated = test::BaseClaims();
  elevated["roles"] = {"admin", "department_head"};
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  const std::string tampered =
      token.substr(0, dot1 + 1) + Base64UrlEncode(elevated.dump()) + token.substr(dot2);
  CheckRefused(verifier.Verify(tampered, kNow), "signature does not match", tampered);
  // A flipped bit in the signature is refused too.
  std::string flipped = token;
  flipped[dot2 + 5] = flipped[dot2 + 5] == 'A' ? 'B' : 'A';
  CheckRefused(verifier.Verify(flipped, kNow), "signature", flipped);
}

TEST_CASE("malformed tokens are refused as UNAUTHENTICATED without echoing them", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  const std::string good = HsToken(test::BaseClaims());
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.find('.', dot1 + 1);
  CheckRefused(verifier.Verify("", kNow), "empty", "");
  CheckRefused(verifier.Verify("not-a-token", kNow), "three base64url parts", "not-a-token");
  CheckRefused(verifier.Verify(good.substr(0, dot2), kNow), "three base64url parts", good.substr(0, dot2));
  CheckRefused(verifier.Verify(good + ".extra", kNow), "three base64url parts", good);
  CheckRefused(verifier.Verify(good.substr(dot1), kNow), "three base64url parts", good.substr(dot1));
  CheckRefused(verifier.Verify(std::string(kMaxTokenBytes + 1, 'a'), kNow), "longer than", "");
  const std::string bad_header = "eyJhbGciOiJIUzI1NiJ9+" + good.substr(dot1);
  CheckRefused(verifier.Verify(bad_header, kNow), "malformed token header", bad_header);
  const std::string header_not_json = Base64UrlEncode("{alg:HS256") + good.substr(dot1);
  CheckRefused(verifier.Verify(header_not_json, kNow), "malformed token header", header_not_json);
  const std::string duplicate_alg = HsToken(test::BaseClaims(), kSecret, R"({"alg":"HS256","alg":"none"})");
  CheckRefused(verifier.Verify(duplicate_alg, kNow), "malformed token header", duplicate_alg);
  const std::string bad_signature = good.substr(0, dot2 + 1) + "***";
  CheckRefused(verifier.Verify(bad_signature, kNow), "malformed token signature", bad_signature);
  // A correctly signed payload that is not a JSON object.
  const std::string header = R"({"alg":"HS256"})";
  const std::string array_payload =
      EncodeCompactJws(header, "[1,2]", crypto::HmacSha256(kSecret, SigningInput(header, "[1,2]")));
  CheckRefused(verifier.Verify(array_payload, kNow), "malformed token payload", array_payload);
  const std::string dup_payload = R"({"sub":"u-1042","sub":"admin","roles":["admin"],"exp":1900000000})";
  const std::string duplicate_sub =
      EncodeCompactJws(header, dup_payload, crypto::HmacSha256(kSecret, SigningInput(header, dup_payload)));
  CheckRefused(verifier.Verify(duplicate_sub, kNow), "malformed token payload", duplicate_sub);
  // A critical header extension we do not understand.
  const std::string crit = HsToken(test::BaseClaims(), kSecret, R"({"alg":"HS256","crit":["exp"],"exp":1})");
  CheckRefused(verifier.Verify(crit, kNow), "crit", crit);
}

TEST_CASE("an algorithm the verifier has no key for is refused", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  for (const std::string alg : {"HS384", "HS512", "ES256", "PS256", "hs256"}) {
    const std::string header = R"({"alg":")" + alg + R"("})";
    const std::string token = HsToken(test::BaseClaims(), kSecret, header);
    CheckRefused(verifier.Verify(token, kNow), "algorithm is not accepted here (this service accepts HS256)", token);
  }
}

TEST_CASE("an RS256 token from the identity provider verifies with its openssl-made public key", "[auth]") {
  testing::TempDir dir;
  const test::KeyPair idp = test::GenerateRsaKeyPair(dir, "idp");
  VerifierOptions options;
  options.rs256_public_key_pem = idp.public_pem;
  options.issuer = "https://idp.hospital.example/realms/radiology";
  options.audience = "parallax";
  absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(options);
  REQUIRE(verifier.ok());
  CHECK(verifier->accepts_rs256());
  CHECK_FALSE(verifier->accepts_hs256());

  json claims = test::BaseClaims();
  claims["iss"] = options.issuer;
  claims["aud"] = {"account", "parallax"};
  claims["groups"] = "neuro-radiology";
  const std::string token = test::RsToken(claims, idp.private_pem);
  absl::StatusOr<Principal> p = verifier->Verify(token, kNow);
  REQUIRE(p.ok());
  CHECK(p->user_id == "u-1042");
  CHECK(p->roles == std::vector<Role>{v1::ROLE_RADIOLOGIST});
  CHECK(p->groups == std::vector<std::string>{"neuro-radiology"});

  // Another key pair's signature is refused.
  const test::KeyPair other = test::GenerateRsaKeyPair(dir, "other");
  const std::string forged = test::RsToken(claims, other.private_pem);
  CheckRefused(verifier->Verify(forged, kNow), "RS256 signature does not match", forged);
}

TEST_CASE("an RS256 token is refused when only HS256 is configured", "[auth]") {
  testing::TempDir dir;
  const test::KeyPair idp = test::GenerateRsaKeyPair(dir, "idp");
  const JwtVerifier verifier = HsVerifier();
  const std::string token = test::RsToken(test::BaseClaims(), idp.private_pem);
  CheckRefused(verifier.Verify(token, kNow), "algorithm is not accepted here (this service accepts HS256)", token);
}

TEST_CASE("an HS256 token keyed with the RS256 public key is refused when RS256 is configured", "[auth]") {
  // The classic algorithm confusion: an attacker who knows the public key
  // signs an HS256 token with the PEM text as the HMAC secret.
  testing::TempDir dir;
  const test::KeyPair idp = test::GenerateRsaKeyPair(dir, "idp");
  VerifierOptions options;
  options.rs256_public_key_pem = idp.public_pem;
  const JwtVerifier verifier = *JwtVerifier::Create(options);
  json claims = test::BaseClaims();
  claims["roles"] = {"admin"};
  for (const std::string& secret : {idp.public_pem, idp.public_pem.substr(0, idp.public_pem.size() - 1)}) {
    const std::string token = HsToken(claims, secret);
    CheckRefused(verifier.Verify(token, kNow), "algorithm is not accepted here (this service accepts RS256)", token);
  }
  // With both configured, HS256 uses only the secret: the PEM still does not work as one.
  options.hs256_secret = kSecret;
  const JwtVerifier both = *JwtVerifier::Create(options);
  const std::string confused = HsToken(claims, idp.public_pem);
  CheckRefused(both.Verify(confused, kNow), "HS256 signature does not match", confused);
  CHECK(both.Verify(HsToken(claims), kNow).ok());
  CHECK(both.Verify(test::RsToken(claims, idp.private_pem), kNow).ok());
  // And a secret equal to the public key is a configuration error.
  options.hs256_secret = idp.public_pem;
  CHECK(JwtVerifier::Create(options).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a wrong issuer or audience is refused and an audience array holding ours is accepted", "[auth]") {
  VerifierOptions options;
  options.issuer = "https://idp.hospital.example";
  options.audience = "parallax";
  const JwtVerifier verifier = HsVerifier(options);
  json claims = test::BaseClaims();
  claims["iss"] = "https://idp.hospital.example";
  claims["aud"] = "parallax";
  CHECK(verifier.Verify(HsToken(claims), kNow).ok());
  claims["aud"] = {"other-app", "parallax"};
  CHECK(verifier.Verify(HsToken(claims), kNow).ok());

  json wrong_iss = claims;
  wrong_iss["iss"] = "https://evil.example";
  CheckRefused(verifier.Verify(HsToken(wrong_iss), kNow), "issuer", "", {"evil.example"});
  json no_iss = claims;
  no_iss.erase("iss");
  CheckRefused(verifier.Verify(HsToken(no_iss), kNow), "issuer", "");
  json wrong_aud = claims;
  wrong_aud["aud"] = "billing-app";
  CheckRefused(verifier.Verify(HsToken(wrong_aud), kNow), "audience", "", {"billing-app"});
  wrong_aud["aud"] = {"billing-app", "pacs"};
  CheckRefused(verifier.Verify(HsToken(wrong_aud), kNow), "audience", "", {"billing-app"});
  json no_aud = claims;
  no_aud.erase("aud");
  CheckRefused(verifier.Verify(HsToken(no_aud), kNow), "audience", "");

  // Without configured issuer and audience, neither is checked.
  CHECK(HsVerifier().Verify(HsToken(wrong_iss), kNow).ok());
}

TEST_CASE("external role names are mapped to Parallax roles and unknown ones are ignored", "[auth]") {
  absl::StatusOr<std::map<std::string, Role>> map =
      ParseRoleMap("RAD-NEURO=neuroradiologist, RAD-STAFF=radiologist,IMG-HEAD=department_head");
  REQUIRE(map.ok());
  VerifierOptions options;
  options.role_map = *map;
  const JwtVerifier verifier = HsVerifier(options);

  json claims = test::BaseClaims();
  claims["roles"] = {"offline_access", "RAD-NEURO", "RAD-STAFF", "radiologist", "auditor", 42};
  absl::StatusOr<Principal> p = verifier.Verify(HsToken(claims), kNow);
  REQUIRE(p.ok());
  // Mapped, then Parallax names as themselves; duplicates collapse, the rest is ignored.
  CHECK(p->roles == std::vector<Role>{v1::ROLE_NEURORADIOLOGIST, v1::ROLE_RADIOLOGIST, v1::ROLE_AUDITOR});

  // A space-separated string claim works as well.
  claims["roles"] = "openid IMG-HEAD";
  p = verifier.Verify(HsToken(claims), kNow);
  REQUIRE(p.ok());
  CHECK(p->roles == std::vector<Role>{v1::ROLE_DEPARTMENT_HEAD});

  // Only unknown values: no recognised role.
  claims["roles"] = {"offline_access", "uma_authorization"};
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "no recognised Parallax role", "", {"uma_authorization"});
  claims.erase("roles");
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "no recognised Parallax role", "");
  claims["roles"] = {{"name", "admin"}};
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "neither a string nor an array", "");
}

TEST_CASE("roles and groups can come from nested claims such as Keycloak's realm_access", "[auth]") {
  VerifierOptions options;
  options.role_claim = "realm_access.roles";
  options.group_claim = "https://hospital.example/groups";
  options.role_map = *ParseRoleMap("imaging-senior=senior_radiologist");
  const JwtVerifier verifier = HsVerifier(options);
  json claims = test::BaseClaims();
  claims.erase("roles");
  claims["realm_access"] = {{"roles", {"imaging-senior", "default-roles-radiology"}}};
  claims["https://hospital.example/groups"] = {"thoracic-radiology", "thoracic-radiology"};
  absl::StatusOr<Principal> p = verifier.Verify(HsToken(claims), kNow);
  REQUIRE(p.ok());
  CHECK(p->roles == std::vector<Role>{v1::ROLE_SENIOR_RADIOLOGIST});
  CHECK(p->groups == std::vector<std::string>{"thoracic-radiology"});
  // A top-level "roles" claim is not what this verifier reads.
  claims.erase("realm_access");
  claims["roles"] = {"senior_radiologist"};
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "claim 'realm_access.roles'", "");
}

TEST_CASE("a token without a user (sub) is refused", "[auth]") {
  const JwtVerifier verifier = HsVerifier();
  json claims = test::BaseClaims();
  claims.erase("sub");
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "no user (sub)", "");
  claims["sub"] = "";
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "no user (sub)", "");
  claims["sub"] = 1042;
  CheckRefused(verifier.Verify(HsToken(claims), kNow), "no user (sub)", "");
}

TEST_CASE("the role map specification names its bad entry", "[auth]") {
  auto error_of = [](std::string_view spec) {
    absl::StatusOr<std::map<std::string, Role>> map = ParseRoleMap(spec);
    REQUIRE_FALSE(map.ok());
    CHECK(map.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(map.status().message());
  };
  CHECK(error_of("A=radiologist,B").find("'B'") != std::string::npos);
  CHECK(error_of("A=radiologist,B=surgeon").find("'B=surgeon'") != std::string::npos);
  CHECK(error_of("A=radiologist,B=surgeon").find("surgeon") != std::string::npos);
  CHECK(error_of("=admin").find("empty external name") != std::string::npos);
  CHECK(error_of("A=radiologist,A=admin").find("'A=admin'") != std::string::npos);
  // Empty spec and stray separators are fine.
  CHECK(ParseRoleMap("").ok());
  CHECK(ParseRoleMap(" , ").value().empty());
  // With ';' as separator, external names may hold commas and '=' (LDAP DNs).
  absl::StatusOr<std::map<std::string, Role>> dn =
      ParseRoleMap("CN=Neuro,OU=Radiology,DC=hospital=neuroradiologist; CN=Admins,DC=hospital=admin");
  REQUIRE(dn.ok());
  CHECK(dn->at("CN=Neuro,OU=Radiology,DC=hospital") == v1::ROLE_NEURORADIOLOGIST);
  CHECK(dn->at("CN=Admins,DC=hospital") == v1::ROLE_ADMIN);
}

TEST_CASE("verifier options load from files as a service configures them", "[auth]") {
  testing::TempDir dir;
  const auto secret_file = dir.path() / "hs256.secret";
  test::WriteFile(secret_file, kSecret + "\n");
  const test::KeyPair idp = test::GenerateRsaKeyPair(dir, "idp");

  absl::StatusOr<VerifierOptions> options =
      LoadVerifierOptions(secret_file.string(), idp.public_path.string(), "iss-1", "parallax", "",
                          "EXT-NEURO=neuroradiologist,OTHER=radiologist");
  REQUIRE(options.ok());
  CHECK(options->hs256_secret == kSecret);  // the newline is not part of the secret
  CHECK(options->rs256_public_key_pem == idp.public_pem);
  CHECK(options->issuer == "iss-1");
  CHECK(options->audience == "parallax");
  CHECK(options->role_claim == "roles");
  CHECK(options->group_claim == "groups");
  CHECK(options->role_map.at("EXT-NEURO") == v1::ROLE_NEURORADIOLOGIST);
  CHECK(options->role_map.at("OTHER") == v1::ROLE_RADIOLOGIST);
  // The loaded options make a working verifier for both algorithms.
  const JwtVerifier verifier = *JwtVerifier::Create(*options);
  json claims = test::BaseClaims();
  claims["iss"] = "iss-1";
  claims["aud"] = "parallax";
  claims["roles"] = {"EXT-NEURO"};
  CHECK(verifier.Verify(HsToken(claims), kNow).value().roles == std::vector<Role>{v1::ROLE_NEURORADIOLOGIST});
  CHECK(verifier.Verify(test::RsToken(claims, idp.private_pem), kNow).ok());

  // Only one of the two is enough.
  CHECK(LoadVerifierOptions("", idp.public_path.string(), "", "", "realm_access.roles", "").ok());
  CHECK(LoadVerifierOptions(secret_file.string(), "", "", "", "", "").ok());

  auto error_of = [](const absl::StatusOr<VerifierOptions>& r, absl::StatusCode code) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == code);
    return std::string(r.status().message());
  };
  const std::string missing = (dir.path() / "missing.secret").string();
  CHECK(error_of(LoadVerifierOptions(missing, "", "", "", "", ""), absl::StatusCode::kNotFound).find(missing) !=
        std::string::npos);
  const std::string missing_key = (dir.path() / "missing.pem").string();
  CHECK(error_of(LoadVerifierOptions("", missing_key, "", "", "", ""), absl::StatusCode::kNotFound)
            .find(missing_key) != std::string::npos);
  CHECK(error_of(LoadVerifierOptions(secret_file.string(), "", "", "", "", "EXT=radiologist,BAD=chief"),
                 absl::StatusCode::kInvalidArgument)
            .find("'BAD=chief'") != std::string::npos);
  // A private key where the public key belongs is refused, naming the file and not quoting it.
  const std::string private_path = (dir.path() / "idp.key.pem").string();
  const std::string wrong_key = error_of(LoadVerifierOptions("", private_path, "", "", "", ""),
                                         absl::StatusCode::kInvalidArgument);
  CHECK(wrong_key.find(private_path) != std::string::npos);
  CHECK(wrong_key.find("private key") != std::string::npos);
  CHECK(wrong_key.find("MII") == std::string::npos);
  // A short secret is refused, without quoting it.
  const auto short_file = dir.path() / "short.secret";
  test::WriteFile(short_file, "short-secret\n");
  const std::string too_short =
      error_of(LoadVerifierOptions(short_file.string(), "", "", "", "", ""), absl::StatusCode::kInvalidArgument);
  CHECK(too_short.find("at least 32") != std::string::npos);
  CHECK(too_short.find("short-secret") == std::string::npos);
  CHECK(error_of(LoadVerifierOptions("", "", "", "", "", ""), absl::StatusCode::kInvalidArgument)
            .find("configure an HS256 secret, an RS256 public key, or both") != std::string::npos);
}

TEST_CASE("a verifier rejects configuration it cannot use", "[auth]") {
  auto code_of = [](VerifierOptions o) { return JwtVerifier::Create(std::move(o)).status().code(); };
  CHECK(code_of({}) == absl::StatusCode::kInvalidArgument);
  VerifierOptions short_secret;
  short_secret.hs256_secret = "0123456789abcdef0123456789abcde";  // 31 bytes
  CHECK(code_of(short_secret) == absl::StatusCode::kInvalidArgument);
  short_secret.hs256_secret += "f";
  CHECK(code_of(short_secret) == absl::StatusCode::kOk);
  VerifierOptions bad_pem;
  bad_pem.rs256_public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  CHECK(code_of(bad_pem) == absl::StatusCode::kInvalidArgument);
  VerifierOptions unspecified_role;
  unspecified_role.hs256_secret = kSecret;
  unspecified_role.role_map["X"] = v1::ROLE_UNSPECIFIED;
  CHECK(code_of(unspecified_role) == absl::StatusCode::kInvalidArgument);
  VerifierOptions no_claim;
  no_claim.hs256_secret = kSecret;
  no_claim.role_claim = "";
  CHECK(code_of(no_claim) == absl::StatusCode::kInvalidArgument);
  VerifierOptions negative;
  negative.hs256_secret = kSecret;
  negative.leeway = std::chrono::seconds(-1);
  CHECK(code_of(negative) == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("one verifier serves many threads at once with the same answers", "[auth]") {
  testing::TempDir dir;
  const test::KeyPair idp = test::GenerateRsaKeyPair(dir, "idp");
  VerifierOptions options;
  options.rs256_public_key_pem = idp.public_pem;
  const JwtVerifier verifier = HsVerifier(options);
  const std::string hs = HsToken(test::BaseClaims());
  const std::string rs = test::RsToken(test::BaseClaims(), idp.private_pem);
  const std::string bad = HsToken(test::BaseClaims(), "another-secret-of-sufficient-length-xyz");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (!verifier.Verify(hs, kNow).ok()) ++wrong;
        if (!verifier.Verify(rs, kNow).ok()) ++wrong;
        if (verifier.Verify(bad, kNow).ok()) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
}

}  // namespace parallax::auth
