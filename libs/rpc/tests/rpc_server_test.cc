#include <catch2/catch.hpp>

#include "parallax/rpc/health_client.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/triage/v1/triage.grpc.pb.h"

using namespace std::chrono_literals;

namespace {
// Any generated service will do; its RPCs answer UNIMPLEMENTED.
class IdleTriage final : public parallax::triage::v1::Triage::Service {};
}  // namespace

TEST_CASE("a started server answers the standard health check as SERVING", "[rpc]") {
  IdleTriage service;
  parallax::rpc::RpcServer server({"127.0.0.1:0"});
  server.Register(&service, "parallax.triage.v1.Triage");
  REQUIRE(server.Start().ok());
  REQUIRE(server.port() > 0);
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  auto overall = parallax::rpc::CheckHealth(target, "", 5s);
  REQUIRE(overall.ok());
  CHECK(*overall == "SERVING");
  auto named = parallax::rpc::CheckHealth(target, "parallax.triage.v1.Triage", 5s);
  REQUIRE(named.ok());
  CHECK(*named == "SERVING");
  // An unknown service name is NOT_FOUND by the protocol.
  auto unknown = parallax::rpc::CheckHealth(target, "parallax.nothing.v1.Nothing", 5s);
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  server.Shutdown();
  auto gone = parallax::rpc::CheckHealth(target, "", 1s);
  CHECK_FALSE(gone.ok());
}

TEST_CASE("a port already in use is an error naming the address", "[rpc]") {
  IdleTriage service;
  parallax::rpc::RpcServer first({"127.0.0.1:0"});
  first.Register(&service, "parallax.triage.v1.Triage");
  REQUIRE(first.Start().ok());
  std::string address = "127.0.0.1:" + std::to_string(first.port());
  IdleTriage other;
  parallax::rpc::RpcServer second({address});
  second.Register(&other, "parallax.triage.v1.Triage");
  absl::Status s = second.Start();
  REQUIRE_FALSE(s.ok());
  CHECK(std::string(s.message()).find(address) != std::string::npos);
}
