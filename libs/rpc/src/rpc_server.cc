#include "parallax/rpc/rpc_server.h"

#include <grpcpp/health_check_service_interface.h>

#include "parallax/log/log.h"

namespace parallax::rpc {

RpcServer::RpcServer(RpcServerOptions options) : options_(std::move(options)) {}

RpcServer::~RpcServer() { Shutdown(std::chrono::milliseconds(0)); }

void RpcServer::Register(grpc::Service* service, const std::string& full_name) {
  services_.emplace_back(service, full_name);
}

absl::Status RpcServer::Start() {
  if (services_.empty()) {
    // gRPC's synchronous server needs at least one service to poll its queues.
    return absl::FailedPreconditionError("register at least one service before starting the gRPC server");
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // gRPC enables SO_REUSEPORT by default, which lets a second process bind
  // the same port silently; a port in use must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options_.address, grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  for (auto& [service, name] : services_) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return absl::UnavailableError("cannot start the gRPC server on " + options_.address +
                                  " (address in use or not permitted)");
  }
  auto* health = server_->GetHealthCheckService();
  if (health) {
    health->SetServingStatus(true);
    for (auto& [service, name] : services_) health->SetServingStatus(name, true);
  }
  log::Info("grpc server listening", {{"address", options_.address}, {"port", port_}});
  return absl::OkStatus();
}

void RpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

void RpcServer::Wait() {
  if (server_) server_->Wait();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  args.SetMaxSendMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace parallax::rpc
