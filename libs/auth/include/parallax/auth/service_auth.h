#pragma once
// How a Parallax service authenticates its callers and itself, configured
// the same way everywhere:
//
//   auth::AuthConfig auth_config;
//   auth::BindAuthConfig(schema, &auth_config);        // jwt_* config keys
//   ...
//   auto auth = auth::ServiceAuth::Create(auth_config, "escalation");
//   auth->Authenticate(ctx)      // the caller of an incoming gRPC call
//   auth->Decorate(&client_ctx)  // this service's own token on an outgoing call
//
// Users present tokens from the hospital's identity provider (RS256) or, on
// the local stack, from `parallax-token` (HS256). Services present HS256
// tokens they mint themselves from the shared secret, with `sub` = the
// service name and the role integration; a deployment with RS256 users still
// configures the HS256 secret for its services. Thread-safe after Create.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <absl/status/statusor.h>

#include "parallax/auth/jwt.h"
#include "parallax/auth/principal.h"
#include "parallax/config/config_schema.h"

namespace grpc {
class ClientContext;
class ServerContextBase;
}  // namespace grpc

namespace parallax::auth {

struct AuthConfig {
  std::string hs256_secret_file;        // shared secret: local users and service tokens
  std::string rs256_public_key_file;    // identity provider's public key (PEM), optional
  std::string issuer;                   // required `iss` when set
  std::string audience;                 // required `aud` when set
  std::string role_claim = "roles";
  std::string group_claim = "groups";
  std::string role_map;                 // "EXTERNAL=parallax_role,..."
};

// Binds the jwt_* keys (jwt_hs256_secret_file, jwt_rs256_public_key_file,
// jwt_issuer, jwt_audience, jwt_role_claim, jwt_group_claim, jwt_role_map).
void BindAuthConfig(config::ConfigSchema& schema, AuthConfig* config);

class ServiceAuth {
 public:
  // Loads the keys. INVALID_ARGUMENT / NOT_FOUND naming the bad key or file,
  // FAILED_PRECONDITION when no HS256 secret is configured (services need it
  // for their own tokens).
  static absl::StatusOr<std::unique_ptr<ServiceAuth>> Create(const AuthConfig& config, std::string service_name);

  // The principal of an incoming call (its bearer token). UNAUTHENTICATED
  // with the reason when the token is absent or refused.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& ctx) const;
  // The principal of an HTTP Authorization header value.
  absl::StatusOr<Principal> AuthenticateHeader(std::string_view authorization) const;

  // Attaches this service's token to an outgoing call (re-minted when less
  // than a minute of its hour is left).
  void Decorate(grpc::ClientContext* ctx) const;
  // This service's current token.
  std::string Token() const;

  const JwtVerifier& verifier() const { return verifier_; }

 private:
  ServiceAuth(JwtVerifier verifier, JwtIssuer issuer, AuthConfig config, std::string service_name)
      : verifier_(std::move(verifier)),
        issuer_(std::move(issuer)),
        config_(std::move(config)),
        service_name_(std::move(service_name)) {}

  JwtVerifier verifier_;
  JwtIssuer issuer_;
  AuthConfig config_;
  std::string service_name_;
  mutable std::mutex mu_;
  mutable std::string token_;
  mutable std::chrono::system_clock::time_point token_expires_;
};

}  // namespace parallax::auth
