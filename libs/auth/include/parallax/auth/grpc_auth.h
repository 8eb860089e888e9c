#pragma once
// Bearer tokens on gRPC calls: the server reads the "authorization"
// metadata, the client attaches it. Thread-safe (the verifier is).
//
//   grpc::Status Escalation::ReviewFinding(grpc::ServerContext* ctx, ...) {
//     absl::StatusOr<auth::Principal> who = auth::AuthenticateCall(*ctx, verifier_);
//     if (!who.ok()) return status::ToGrpc(who.status());
//     ...
#include <string>

#include <absl/status/statusor.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "parallax/auth/jwt.h"
#include "parallax/auth/principal.h"

namespace parallax::auth {

// The principal of the call's single "authorization: Bearer <token>"
// metadata entry, verified at the current time. UNAUTHENTICATED when the
// entry is absent, repeated, not a bearer token, or the token is refused
// (see JwtVerifier::Verify). Works for synchronous and callback servers.
absl::StatusOr<Principal> AuthenticateCall(const grpc::ServerContextBase& ctx, const JwtVerifier& verifier);

// Adds "authorization: Bearer <token>" to an outgoing call. Call before the
// RPC starts.
void AttachBearer(grpc::ClientContext* ctx, const std::string& token);

}  // namespace parallax::auth
