#include <catch2/catch.hpp>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "parallax/rpc/rpc_server.h"

// The health service is reached through the generic stub: the request and
// response of grpc.health.v1.Health/Check are tiny protobuf messages encoded
// by hand here, so the test needs no generated health stubs.
namespace {

int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  grpc::GenericStub stub(channel);
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);  // field 1, length-delimited
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer recv;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", send, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&recv, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) return -static_cast<int>(status.error_code());
  std::vector<grpc::Slice> slices;
  recv.Dump(&slices);
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{ status = 1 }: 0x08 <varint>; absent means UNKNOWN (0).
  if (bytes.size() >= 2 && bytes[0] == 0x08) return bytes[1];
  return 0;
}

}  // namespace

TEST_CASE("a started server answers the standard health check as SERVING", "[rpc]") {
  parallax::rpc::RpcServer server({"127.0.0.1:0"});
  REQUIRE(server.Start().ok());
  REQUIRE(server.port() > 0);
  auto channel = parallax::rpc::MakeChannel("127.0.0.1:" + std::to_string(server.port()));
  CHECK(HealthCheck(channel, "") == 1);  // SERVING
  // An unknown service name is NOT_FOUND by the protocol.
  CHECK(HealthCheck(channel, "parallax.nothing.v1.Nothing") == -static_cast<int>(grpc::StatusCode::NOT_FOUND));
  server.Shutdown();
}

TEST_CASE("a port already in use is an error naming the address", "[rpc]") {
  parallax::rpc::RpcServer first({"127.0.0.1:0"});
  REQUIRE(first.Start().ok());
  std::string address = "127.0.0.1:" + std::to_string(first.port());
  parallax::rpc::RpcServer second({address});
  absl::Status s = second.Start();
  REQUIRE_FALSE(s.ok());
  CHECK(std::string(s.message()).find(address) != std::string::npos);
}
