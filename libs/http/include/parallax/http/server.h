#pragma once
// A small HTTP/1.1 server (Boost.Beast inside, Parallax types outside).
//
//   Server server({.port = 8080, .threads = 4}, std::move(router));
//   if (auto st = server.Start(); !st.ok()) return st;
//   ...
//   server.Stop();
//
// Connections are kept alive. Each request is read completely (up to
// max_body_bytes, else 413), then the handler is called synchronously on one
// of `threads` worker threads, so up to `threads` handlers run in parallel
// and a handler may block (fsync, database) without stalling the others.
// Malformed HTTP is answered 400, headers over 64 KiB 431, and
// "Expect: 100-continue" is honoured.
//
// Thread-safety: Start, Stop and port may be called from any thread but not
// concurrently with each other, and never from inside a handler.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "parallax/http/message.h"
#include "parallax/http/router.h"

namespace parallax::http {

struct ServerOptions {
  // IPv4 or IPv6 literal to listen on ("0.0.0.0" for all interfaces).
  std::string bind_address = "127.0.0.1";
  // TCP port; 0 picks a free one (read it back with Server::port()).
  int port = 0;
  // Worker threads: the number of handlers that can run at the same time.
  int threads = 2;
  // Largest accepted request body; a larger one is answered 413.
  std::size_t max_body_bytes = std::size_t{2} << 30;  // 2 GiB
  // Longest wait for the next bytes of a request or of a response write; an
  // idle keep-alive connection is closed after it.
  std::chrono::seconds read_timeout{30};
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  Server(ServerOptions options, Router router);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the worker threads. Returns OK once the port
  // accepts connections; INVALID_ARGUMENT when bind_address is not an IP
  // literal or the port is out of range; UNAVAILABLE naming address and port
  // when the socket cannot be bound (e.g. the port is in use);
  // FAILED_PRECONDITION when called twice.
  absl::Status Start();

  // The bound port (useful with port 0); 0 before a successful Start().
  int port() const;

  // Graceful stop: stops accepting, closes idle keep-alive connections, lets
  // requests already being received or handled finish and get their
  // response, then joins the worker threads. Idempotent; a stopped Server
  // cannot be started again.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parallax::http
