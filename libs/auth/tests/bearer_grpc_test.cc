#include <mutex>
#include <optional>

#include <catch2/catch.hpp>

#include "auth_test_support.h"
#include "parallax/auth/bearer.h"
#include "parallax/auth/grpc_auth.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/status/grpc_status.h"
#include "parallax/triage/v1/triage.grpc.pb.h"

namespace parallax::auth {
namespace {

using namespace std::chrono_literals;
using test::CheckRefused;
using test::HsToken;
using test::kNow;
using test::kSecret;
namespace v1 = ::parallax::escalation::v1;

// A Triage service whose GetStudyStatus only authenticates the caller and
// remembers who it was.
class AuthenticatingTriage final : public parallax::triage::v1::Triage::Service {
 public:
  explicit AuthenticatingTriage(const JwtVerifier& verifier) : verifier_(verifier) {}

  grpc::Status GetStudyStatus(grpc::ServerContext* ctx, const parallax::triage::v1::GetStudyStatusRequest*,
                              parallax::triage::v1::GetStudyStatusResponse*) override {
    absl::StatusOr<Principal> who = AuthenticateCall(*ctx, verifier_);
    if (!who.ok()) return status::ToGrpc(who.status());
    std::lock_guard<std::mutex> lock(mu_);
    last_ = *who;
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "authenticated; no such study");
  }

  std::optional<Principal> last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  const JwtVerifier& verifier_;
  std::mutex mu_;
  std::optional<Principal> last_;
};

}  // namespace

TEST_CASE("the bearer token is taken from an Authorization header value", "[auth]") {
  CHECK(ExtractBearerToken("Bearer abc.def.ghi").value() == "abc.def.ghi");
  CHECK(ExtractBearerToken("bearer abc.def.ghi").value() == "abc.def.ghi");
  CHECK(ExtractBearerToken("  BEARER   abc.def.ghi  ").value() == "abc.def.ghi");
  for (std::string_view bad : {"", "   ", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Bearerabc.def.ghi",
                               "abc.def.ghi", "Bearer abc def"}) {
    absl::StatusOr<std::string_view> token = ExtractBearerToken(bad);
    INFO("header: '" << bad << "'");
    REQUIRE_FALSE(token.ok());
    CHECK(token.status().code() == absl::StatusCode::kUnauthenticated);
  }
  CHECK(std::string(ExtractBearerToken("Basic dXNlcjpwYXNz").status().message()).find("dXNlcjpwYXNz") ==
        std::string::npos);
}

TEST_CASE("an HTTP Authorization header authenticates its principal or is refused", "[auth]") {
  const JwtVerifier verifier = test::HsVerifier();
  const std::string token = HsToken(test::BaseClaims());
  absl::StatusOr<Principal> p = AuthenticateHeader("Bearer " + token, verifier, kNow);
  REQUIRE(p.ok());
  CHECK(p->user_id == "u-1042");
  CHECK(p->roles == std::vector<Role>{v1::ROLE_RADIOLOGIST});
  CheckRefused(AuthenticateHeader(token, verifier, kNow), "not a bearer token", token);
  CheckRefused(AuthenticateHeader("Bearer " + token, verifier, kNow + 2h), "expired", token);
  const std::string forged = HsToken(test::BaseClaims(), "another-secret-of-sufficient-length-xyz");
  CheckRefused(AuthenticateHeader("Bearer " + forged, verifier, kNow), "signature", forged);
}

TEST_CASE("a gRPC server authenticates the bearer token a client attaches", "[auth]") {
  const JwtVerifier verifier = test::HsVerifier();
  AuthenticatingTriage service(verifier);
  rpc::RpcServer server({"127.0.0.1:0"});
  server.Register(&service, "parallax.triage.v1.Triage");
  REQUIRE(server.Start().ok());
  auto stub = parallax::triage::v1::Triage::NewStub(rpc::MakeChannel("127.0.0.1:" + std::to_string(server.port())));

  auto call = [&](const std::vector<std::string>& authorization) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    for (const std::string& a : authorization) ctx.AddMetadata("authorization", a);
    parallax::triage::v1::GetStudyStatusRequest request;
    parallax::triage::v1::GetStudyStatusResponse response;
    return stub->GetStudyStatus(&ctx, request, &response);
  };

  // Tokens valid now (the server checks against the real clock).
  JwtIssuer issuer = *JwtIssuer::Create(kSecret);
  TokenClaims claims;
  claims.subject = "u-senior-7";
  claims.roles = {v1::ROLE_SENIOR_RADIOLOGIST};
  claims.groups = {"neuro-radiology"};
  const std::string token = *issuer.Issue(claims, std::chrono::system_clock::now());

  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    AttachBearer(&ctx, token);
    parallax::triage::v1::GetStudyStatusRequest request;
    parallax::triage::v1::GetStudyStatusResponse response;
    grpc::Status s = stub->GetStudyStatus(&ctx, request, &response);
    CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);  // past authentication
    std::optional<Principal> who = service.last();
    REQUIRE(who.has_value());
    CHECK(who->user_id == "u-senior-7");
    CHECK(who->HasRole(v1::ROLE_SENIOR_RADIOLOGIST));
    CHECK(who->groups == std::vector<std::string>{"neuro-radiology"});
  }

  grpc::Status none = call({});
  CHECK(none.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(none.error_message().find("no authorization metadata") != std::string::npos);

  grpc::Status twice = call({"Bearer " + token, "Bearer " + token});
  CHECK(twice.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(twice.error_message().find("more than one") != std::string::npos);

  const std::string expired = *issuer.Issue(claims, std::chrono::system_clock::now() - 2h);
  grpc::Status old = call({"Bearer " + expired});
  CHECK(old.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(old.error_message().find("expired") != std::string::npos);
  CHECK(old.error_message().find(expired) == std::string::npos);

  grpc::Status basic = call({"Basic dXNlcjpwYXNz"});
  CHECK(basic.error_code() == grpc::StatusCode::UNAUTHENTICATED);

  server.Shutdown();
}

}  // namespace parallax::auth
