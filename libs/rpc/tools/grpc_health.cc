// parallax-grpc-health HOST:PORT [SERVICE]: asks the standard gRPC health
// service (grpc.health.v1.Health/Check) and prints SERVING, NOT_SERVING,
// UNKNOWN or "unreachable: <reason>". Exit status 0 only for SERVING.
#include <iostream>
#include <string>

#include "parallax/rpc/health_client.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: parallax-grpc-health HOST:PORT [SERVICE]\n";
    return 2;
  }
  auto status = parallax::rpc::CheckHealth(argv[1], argc == 3 ? argv[2] : "", std::chrono::seconds(2));
  if (!status.ok()) {
    std::cout << "unreachable: " << status.status().message() << "\n";
    return 1;
  }
  std::cout << *status << "\n";
  return *status == "SERVING" ? 0 : 1;
}
