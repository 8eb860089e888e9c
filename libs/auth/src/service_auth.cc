#include "parallax/auth/service_auth.h"

#include <absl/strings/str_cat.h>

#include "parallax/auth/bearer.h"
#include "parallax/auth/grpc_auth.h"

namespace parallax::auth {

void BindAuthConfig(config::ConfigSchema& schema, AuthConfig* c) {
  schema.Field("jwt_hs256_secret_file", &c->hs256_secret_file,
               "file holding the shared HS256 secret (local users and service tokens)");
  schema.Field("jwt_rs256_public_key_file", &c->rs256_public_key_file,
               "identity provider's RS256 public key (PEM); empty = none");
  schema.Field("jwt_issuer", &c->issuer, "required token issuer (iss); empty = not checked");
  schema.Field("jwt_audience", &c->audience, "required token audience (aud); empty = not checked");
  schema.Field("jwt_role_claim", &c->role_claim, "claim holding the roles (dotted path allowed)");
  schema.Field("jwt_group_claim", &c->group_claim, "claim holding the routing groups");
  schema.Field("jwt_role_map", &c->role_map, "EXTERNAL=parallax_role,... mapping of identity-provider roles");
}

absl::StatusOr<std::unique_ptr<ServiceAuth>> ServiceAuth::Create(const AuthConfig& config, std::string service_name) {
  if (config.hs256_secret_file.empty()) {
    return absl::FailedPreconditionError(
        "jwt_hs256_secret_file is required: services sign their own calls with the shared HS256 secret");
  }
  auto options = LoadVerifierOptions(config.hs256_secret_file, config.rs256_public_key_file, config.issuer,
                                     config.audience, config.role_claim, config.role_map, config.group_claim);
  if (!options.ok()) return options.status();
  auto issuer = JwtIssuer::Create(options->hs256_secret);
  if (!issuer.ok()) return issuer.status();
  auto verifier = JwtVerifier::Create(*std::move(options));
  if (!verifier.ok()) return verifier.status();
  return std::unique_ptr<ServiceAuth>(
      new ServiceAuth(*std::move(verifier), *std::move(issuer), config, std::move(service_name)));
}

absl::StatusOr<Principal> ServiceAuth::Authenticate(const grpc::ServerContextBase& ctx) const {
  return AuthenticateCall(ctx, verifier_);
}

absl::StatusOr<Principal> ServiceAuth::AuthenticateHeader(std::string_view authorization) const {
  return auth::AuthenticateHeader(authorization, verifier_, std::chrono::system_clock::now());
}

std::string ServiceAuth::Token() const {
  const auto now = std::chrono::system_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (token_.empty() || now + std::chrono::minutes(1) >= token_expires_) {
    TokenClaims claims;
    claims.subject = service_name_;
    claims.roles = {escalation::v1::ROLE_INTEGRATION};
    claims.ttl = std::chrono::hours(1);
    claims.issuer = config_.issuer;
    claims.audience = config_.audience;
    auto token = issuer_.Issue(claims, now);
    if (token.ok()) {
      token_ = *std::move(token);
      token_expires_ = now + claims.ttl;
    }
  }
  return token_;
}

void ServiceAuth::Decorate(grpc::ClientContext* ctx) const { AttachBearer(ctx, Token()); }

}  // namespace parallax::auth
