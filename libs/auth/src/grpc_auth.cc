#include "parallax/auth/grpc_auth.h"

#include <absl/status/status.h>

#include "parallax/auth/bearer.h"

namespace parallax::auth {

absl::StatusOr<Principal> AuthenticateCall(const grpc::ServerContextBase& ctx, const JwtVerifier& verifier) {
  const auto& metadata = ctx.client_metadata();
  auto [first, last] = metadata.equal_range("authorization");
  if (first == last) {
    return absl::UnauthenticatedError("the call carries no authorization metadata (expected 'Bearer <token>')");
  }
  if (std::next(first) != last) return absl::UnauthenticatedError("the call carries more than one authorization entry");
  const std::string_view value(first->second.data(), first->second.size());
  return AuthenticateHeader(value, verifier, std::chrono::system_clock::now());
}

void AttachBearer(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace parallax::auth
