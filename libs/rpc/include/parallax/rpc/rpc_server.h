#pragma once
// Starts a gRPC server with the registered services and the standard gRPC
// health checking service (grpc.health.v1.Health). The overall status ("")
// and each registered service's full name report SERVING once Start()
// succeeds and NOT_SERVING after Shutdown() begins.
//
// Thread-safe after Start(): Shutdown() may be called from any thread.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <grpcpp/grpcpp.h>

namespace parallax::rpc {

struct RpcServerOptions {
  std::string address = "127.0.0.1:0";  // host:port; port 0 picks a free port
  int max_message_bytes = 64 * 1024 * 1024;  // large enough for DICOM chunks
};

class RpcServer {
 public:
  explicit RpcServer(RpcServerOptions options);
  ~RpcServer();

  // Registers a service; call before Start(). The service must outlive the server.
  void Register(grpc::Service* service, const std::string& full_name);

  // Binds and starts serving. UNAVAILABLE naming the address when it cannot bind.
  absl::Status Start();

  // The port actually bound (after Start()).
  int port() const { return port_; }

  // Marks every service NOT_SERVING, then stops within `grace`.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  // Blocks until the server has shut down.
  void Wait();

 private:
  RpcServerOptions options_;
  std::vector<std::pair<grpc::Service*, std::string>> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A channel to `target` (host:port) with the same message size limit.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target);

}  // namespace parallax::rpc
