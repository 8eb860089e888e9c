#pragma once
// absl::Status <-> grpc::Status. The gRPC table: absl and gRPC share their
// canonical codes, so the mapping keeps the code and the message. Stateless.
#include <absl/status/status.h>
#include <grpcpp/support/status.h>

namespace parallax::status {

// Returns grpc::Status::OK for an OK status, otherwise the same canonical
// code with the status message.
grpc::Status ToGrpc(const absl::Status& status);

// Returns the absl::Status carrying the gRPC code and message.
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace parallax::status
