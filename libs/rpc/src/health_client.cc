#include "parallax/rpc/health_client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "parallax/rpc/rpc_server.h"

namespace parallax::rpc {

// The request and response of grpc.health.v1.Health/Check are one-field
// protobuf messages, encoded by hand so no generated health stubs are needed.
absl::StatusOr<std::string> CheckHealth(const std::string& target, const std::string& service,
                                        std::chrono::milliseconds timeout) {
  grpc::GenericStub stub(MakeChannel(target));
  std::string request;
  if (!service.empty()) {
    if (service.size() > 127) return absl::InvalidArgumentError("service name too long");
    request.push_back(0x0a);  // field 1, length-delimited
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer recv;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", send, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&recv, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  std::vector<grpc::Slice> slices;
  recv.Dump(&slices);
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  int value = (bytes.size() >= 2 && bytes[0] == 0x08) ? bytes[1] : 0;
  switch (value) {
    case 1: return std::string("SERVING");
    case 2: return std::string("NOT_SERVING");
    case 3: return std::string("SERVICE_UNKNOWN");
    default: return std::string("UNKNOWN");
  }
}

}  // namespace parallax::rpc
