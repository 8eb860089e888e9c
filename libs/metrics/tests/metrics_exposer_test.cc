#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parallax/metrics/metrics_exposer.h"

namespace {
// A minimal HTTP GET over a raw socket, so this test needs no HTTP library.
std::string Get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) { ::close(fd); return ""; }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}
}  // namespace

TEST_CASE("a counter incremented by the service appears in the Prometheus text exposition", "[metrics]") {
  auto exposer = parallax::metrics::MetricsExposer::Start("127.0.0.1:0");
  REQUIRE(exposer.ok());
  auto& family = prometheus::BuildCounter().Name("parallax_test_events_total").Help("test").Register((*exposer)->registry());
  family.Add({{"reason", "malformed"}}).Increment(3);
  std::string body = Get((*exposer)->port(), "/metrics");
  CHECK(body.find("200 OK") != std::string::npos);
  CHECK(body.find("parallax_test_events_total{reason=\"malformed\"} 3") != std::string::npos);
}
