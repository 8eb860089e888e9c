#include "parallax/http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "parallax/http/client.h"

namespace {

using namespace std::chrono_literals;
using parallax::http::Fetch;
using parallax::http::Request;
using parallax::http::Response;
using parallax::http::Router;
using parallax::http::Server;
using parallax::http::ServerOptions;

std::string Url(const Server& server, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + path;
}

// A raw TCP connection, to send bytes the client would never send.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }
  // Reads until `count` occurrences of `marker` were seen, EOF, or timeout.
  std::string ReadUntil(const std::string& marker, int count = 1) {
    std::string data;
    char buf[4096];
    while (true) {
      int seen = 0;
      for (auto pos = data.find(marker); pos != std::string::npos; pos = data.find(marker, pos + 1)) {
        ++seen;
      }
      if (seen >= count) return data;
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return data;
      data.append(buf, static_cast<std::size_t>(n));
    }
  }
  // True when the peer closed the connection (recv returns 0) within the
  // socket's receive timeout.
  bool ClosedByPeer() {
    char buf[256];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

Router EchoRouter() {
  Router router;
  router.Add("GET", "/hello", [](const Request&) { return Response::Make(200, "hello"); });
  router.Add("POST", "/echo", [](const Request& r) {
    Response response = Response::Make(200, r.body, std::string(r.Header("content-type")));
    response.headers.emplace_back("X-Body-Size", std::to_string(r.body.size()));
    return response;
  });
  router.Add("GET", "/studies/{study}/series/{series}", [](const Request& r) {
    return Response::Make(200, std::string(r.PathParam("study")) + "|" +
                                   std::string(r.PathParam("series")) + "|" + r.query);
  });
  router.Add("GET", "/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  return router;
}

}  // namespace

TEST_CASE("server on port 0 answers GET and POST through the client", "[http][server]") {
  Server server(ServerOptions{}, EchoRouter());
  REQUIRE(server.Start().ok());
  REQUIRE(server.port() > 0);

  auto get = Fetch("GET", Url(server, "/hello"), {}, "", 5s);
  REQUIRE(get.ok());
  CHECK(get->status == 200);
  CHECK(get->body == "hello");
  CHECK(get->Header("content-type") == "text/plain; charset=utf-8");

  std::string binary("a\0b\r\n--x\0", 9);
  auto post = Fetch("POST", Url(server, "/echo"), {{"Content-Type", "application/dicom"}}, binary, 5s);
  REQUIRE(post.ok());
  CHECK(post->status == 200);
  CHECK(post->body == binary);
  CHECK(post->Header("X-Body-Size") == "9");
  CHECK(post->Header("Content-Type") == "application/dicom");

  // Large bodies both ways (the response is written in pieces).
  std::string large(20 << 20, '\0');
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>((i * 131) >> 3);
  auto big = Fetch("POST", Url(server, "/echo"), {}, large, 10s);
  REQUIRE(big.ok());
  CHECK(big->status == 200);
  CHECK(big->body.size() == large.size());
  CHECK(big->body == large);
}

TEST_CASE("server routes path parameters and answers 404 and 405", "[http][server]") {
  Server server(ServerOptions{}, EchoRouter());
  REQUIRE(server.Start().ok());

  auto series = Fetch("GET", Url(server, "/studies/1.2.3/series/4.5?includefield=all"), {}, "", 5s);
  REQUIRE(series.ok());
  CHECK(series->status == 200);
  CHECK(series->body == "1.2.3|4.5|includefield=all");

  auto missing = Fetch("GET", Url(server, "/nothing/here"), {}, "", 5s);
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);

  auto wrong_method = Fetch("DELETE", Url(server, "/hello"), {}, "", 5s);
  REQUIRE(wrong_method.ok());
  CHECK(wrong_method->status == 405);
  CHECK(wrong_method->Header("Allow") == "GET");

  auto thrown = Fetch("GET", Url(server, "/throw"), {}, "", 5s);
  REQUIRE(thrown.ok());
  CHECK(thrown->status == 500);
}

TEST_CASE("server answers 413 to a body over max_body_bytes and accepts one at the limit",
          "[http][server]") {
  ServerOptions options;
  options.max_body_bytes = 1024;
  Server server(options, EchoRouter());
  REQUIRE(server.Start().ok());

  auto at_limit = Fetch("POST", Url(server, "/echo"), {}, std::string(1024, 'x'), 5s);
  REQUIRE(at_limit.ok());
  CHECK(at_limit->status == 200);
  CHECK(at_limit->body.size() == 1024);

  auto over = Fetch("POST", Url(server, "/echo"), {}, std::string(1025, 'x'), 5s);
  REQUIRE(over.ok());
  CHECK(over->status == 413);

  // A large body the server refuses before reading it.
  auto large = Fetch("POST", Url(server, "/echo"), {}, std::string(8 << 20, 'x'), 5s);
  REQUIRE(large.ok());
  CHECK(large->status == 413);

  // A chunked body that grows past the limit.
  RawConnection raw(server.port());
  REQUIRE(raw.connected());
  raw.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "400\r\n" + std::string(1024, 'y') + "\r\n" + "10\r\n" + std::string(16, 'y') +
           "\r\n0\r\n\r\n");
  std::string reply = raw.ReadUntil("\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 413", 0) == 0);
}

TEST_CASE("server answers 400 to malformed HTTP", "[http][server]") {
  Server server(ServerOptions{}, EchoRouter());
  REQUIRE(server.Start().ok());
  RawConnection raw(server.port());
  REQUIRE(raw.connected());
  raw.Send("THIS IS NOT HTTP\r\n\r\n");
  std::string reply = raw.ReadUntil("\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(raw.ClosedByPeer());
}

TEST_CASE("server keeps connections alive and honours Expect: 100-continue", "[http][server]") {
  Server server(ServerOptions{}, EchoRouter());
  REQUIRE(server.Start().ok());
  RawConnection raw(server.port());
  REQUIRE(raw.connected());
  raw.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string replies = raw.ReadUntil("hello", 2);
  CHECK(replies.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(replies.find("HTTP/1.1 200", 10) != std::string::npos);

  raw.Send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string head = raw.ReadUntil("\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("Content-Length: 5\r\n") != std::string::npos);

  raw.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string interim = raw.ReadUntil("\r\n\r\n");
  CHECK(interim.rfind("HTTP/1.1 100 Continue", 0) == 0);
  raw.Send("abcde");
  std::string final_reply = raw.ReadUntil("abcde");
  CHECK(final_reply.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("server runs slow handlers on its threads in parallel", "[http][server]") {
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  ServerOptions options;
  options.threads = 4;
  Server server(options, [&](const Request&) {
    int now = ++running;
    int seen = max_running.load();
    while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(200ms);  // e.g. fsync + database commit
    --running;
    return Response::Make(200, "done");
  });
  REQUIRE(server.Start().ok());

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<bool>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      auto r = Fetch("GET", Url(server, "/slow"), {}, "", 5s);
      return r.ok() && r->status == 200 && r->body == "done";
    }));
  }
  for (auto& call : calls) CHECK(call.get());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < 600ms);
  CHECK(max_running.load() == 4);
}

TEST_CASE("server stops promptly when idle, with idle keep-alive connections, and finishes "
          "requests under way",
          "[http][server]") {
  SECTION("idle") {
    Server server(ServerOptions{}, EchoRouter());
    REQUIRE(server.Start().ok());
    const auto start = std::chrono::steady_clock::now();
    server.Stop();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    auto after = Fetch("GET", Url(server, "/hello"), {}, "", 2s);
    REQUIRE_FALSE(after.ok());
    CHECK(after.status().code() == absl::StatusCode::kUnavailable);
    server.Stop();  // idempotent
  }
  SECTION("with an idle keep-alive connection") {
    Server server(ServerOptions{}, EchoRouter());  // read_timeout 30 s
    REQUIRE(server.Start().ok());
    RawConnection raw(server.port());
    REQUIRE(raw.connected());
    raw.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(raw.ReadUntil("hello").rfind("HTTP/1.1 200", 0) == 0);
    const auto start = std::chrono::steady_clock::now();
    server.Stop();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(raw.ClosedByPeer());
  }
  SECTION("with a request under way") {
    std::atomic<bool> entered{false};
    Server server(ServerOptions{}, [&](const Request&) {
      entered = true;
      std::this_thread::sleep_for(300ms);
      return Response::Make(200, "finished");
    });
    REQUIRE(server.Start().ok());
    auto call = std::async(std::launch::async,
                           [&] { return Fetch("GET", Url(server, "/work"), {}, "", 5s); });
    while (!entered) std::this_thread::sleep_for(1ms);
    server.Stop();
    auto result = call.get();
    REQUIRE(result.ok());
    CHECK(result->status == 200);
    CHECK(result->body == "finished");
    CHECK(result->Header("Connection") == "close");
  }
}

TEST_CASE("server Start reports the address of a port in use and bad addresses",
          "[http][server]") {
  Server first(ServerOptions{}, EchoRouter());
  REQUIRE(first.Start().ok());
  ServerOptions same;
  same.port = first.port();
  Server second(same, EchoRouter());
  absl::Status status = second.Start();
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(status.message()),
             Catch::Contains("127.0.0.1:" + std::to_string(first.port())));

  ServerOptions bad;
  bad.bind_address = "not-an-ip";
  Server third(bad, EchoRouter());
  CHECK(third.Start().code() == absl::StatusCode::kInvalidArgument);
  CHECK(first.Start().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("client reports refused connections, timeouts and bad URLs", "[http][client]") {
  // A port that was just listening and is now closed.
  int port = 0;
  {
    Server server(ServerOptions{}, EchoRouter());
    REQUIRE(server.Start().ok());
    port = server.port();
  }
  auto refused = Fetch("GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, "", 2s);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kUnavailable);

  Server slow(ServerOptions{}, [](const Request&) {
    std::this_thread::sleep_for(500ms);
    return Response::Make(200, "late");
  });
  REQUIRE(slow.Start().ok());
  const auto start = std::chrono::steady_clock::now();
  auto late = Fetch("GET", Url(slow, "/"), {}, "", 100ms);
  CHECK(std::chrono::steady_clock::now() - start < 400ms);
  REQUIRE_FALSE(late.ok());
  CHECK(late.status().code() == absl::StatusCode::kDeadlineExceeded);

  CHECK(Fetch("GET", "https://example.org/", {}, "", 1s).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Fetch("GET", "http://:80/", {}, "", 1s).status().code() ==
        absl::StatusCode::kInvalidArgument);
}
