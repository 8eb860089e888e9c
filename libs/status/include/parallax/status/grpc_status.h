#pragma once
// absl::Status <-> grpc::Status. The gRPC table: absl and gRPC share their
// canonical codes, so the mapping keeps the code and the message. Stateless.
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <grpcpp/support/status.h>

namespace parallax::status {

// Returns grpc::Status::OK for an OK status, otherwise the same canonical
// code with the status message.
grpc::Status ToGrpc(const absl::Status& status);

// A handler's answer: on success moves the value into *response and returns
// OK; otherwise the status as ToGrpc maps it (the response is untouched).
template <typename T, typename Response>
grpc::Status Respond(absl::StatusOr<T> result, Response* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

// Returns the absl::Status carrying the gRPC code and message.
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace parallax::status
