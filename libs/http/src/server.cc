// The only translation unit of the server that sees Boost.Beast/Asio.
#include "parallax/http/server.h"

#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "parallax/log/log.h"

namespace parallax::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

using Dispatch = std::function<Response(Request&)>;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// After an error response the connection is half-closed and what the client
// still sends is read and dropped, for at most this long / this much, so the
// client reads the response instead of a connection reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 16 * 1024 * 1024;

class Session;

// Shared by the acceptor and every Session; lives until Stop() has joined
// the worker threads, so sessions hold a plain pointer to it.
struct ServerCore {
  ServerCore(ServerOptions o, Dispatch d) : options(std::move(o)), dispatch(std::move(d)) {}

  ServerOptions options;
  Dispatch dispatch;
  net::io_context ioc{std::max(1, options.threads)};
  tcp::acceptor acceptor{net::make_strand(ioc)};
  std::vector<std::thread> threads;
  int port = 0;
  bool started = false;
  bool stopped = false;

  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by sessions_mutex

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Unregister(Session* session) {
    std::lock_guard lock(sessions_mutex);
    sessions.erase(session);
  }
};

}  // namespace

struct Server::Impl : ServerCore {
  using ServerCore::ServerCore;
};

namespace {

// One connection. All its work runs on its strand; the handler is called
// synchronously there, occupying one worker thread while it runs.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ServerCore* server)
      : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_->Unregister(this); }

  net::any_io_executor executor() { return stream_.get_executor(); }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Server stop: an idle connection is closed now; one with a request under
  // way is closed after its response.
  void OnStop() {
    if (idle_ && buffer_.size() == 0) Close();
  }

 private:
  void ReadHeader() {
    if (server_->stopping.load()) return Close();
    idle_ = true;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(static_cast<std::uint64_t>(server_->options.max_body_bytes));
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(beast::error_code ec) {
    idle_ = false;
    if (ec) return OnReadError(ec);
    auto& message = parser_->get();
    auto expect = message.find(bhttp::field::expect);
    if (expect != message.end() && beast::iequals(expect->value(), "100-continue") &&
        !parser_->is_done()) {
      continue_.emplace(bhttp::status::continue_, message.version());
      stream_.expires_after(server_->options.read_timeout);
      bhttp::async_write(stream_, *continue_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           self->continue_.reset();
                           if (ec) return self->Close();
                           self->ReadBody();
                         });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return Handle();
    // Reset per read, so read_timeout bounds idleness, not the whole upload.
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_read_some(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) return self->OnReadError(ec);
                             self->ReadBody();
                           });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return SendError(413, "request body exceeds the limit of " +
                                std::to_string(server_->options.max_body_bytes) + " bytes\n");
    }
    if (ec == bhttp::error::header_limit) {
      return SendError(431, "request header exceeds " + std::to_string(kHeaderLimit) + " bytes\n");
    }
    if (ec == beast::error::timeout && !idle_) {
      return SendError(408, "request not received in time\n");
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return SendError(400, "malformed HTTP request: " + ec.message() + "\n");
    }
    Close();  // peer closed, reset, timed out while idle, or server stopping
  }

  void Handle() {
    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    std::size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());

    Response response;
    try {
      response = server_->dispatch(request);
    } catch (const std::exception& e) {
      log::Error("http handler threw", {{"method", request.method},
                                        {"path", request.path},
                                        {"error", e.what()}});
      response = Response::Make(500, "internal error\n");
    } catch (...) {
      log::Error("http handler threw", {{"method", request.method}, {"path", request.path}});
      response = Response::Make(500, "internal error\n");
    }
    const bool keep_alive = message.keep_alive() && !server_->stopping.load();
    Write(std::move(response), message.version(), keep_alive, request.method == "HEAD", false);
  }

  void SendError(int status, std::string text) {
    Response response = Response::Make(status, std::move(text));
    Write(std::move(response), 11, false, false, true);
  }

  void Write(Response response, unsigned version, bool keep_alive, bool head, bool linger) {
    response_.emplace();
    auto& res = *response_;
    res.version(version);
    res.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) {
      if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding")) {
        continue;
      }
      res.insert(name, value);
    }
    if (res.find(bhttp::field::server) == res.end()) res.set(bhttp::field::server, "parallax");
    keep_alive = keep_alive && res.keep_alive();  // a handler may ask for Connection: close
    res.keep_alive(keep_alive);
    if (head) {
      res.content_length(response.body.size());
    } else {
      res.body() = std::move(response.body);
      res.prepare_payload();
    }
    serializer_.emplace(res);
    WriteSome(keep_alive, linger);
  }

  // Writes in pieces, resetting the timeout per piece, so read_timeout bounds
  // a stalled client, not the time a large response takes to send.
  void WriteSome(bool keep_alive, bool linger) {
    stream_.expires_after(server_->options.read_timeout);
    bhttp::async_write_some(
        stream_, *serializer_,
        [self = shared_from_this(), keep_alive, linger](beast::error_code ec, std::size_t) {
          if (!ec && !self->serializer_->is_done()) return self->WriteSome(keep_alive, linger);
          self->serializer_.reset();
          self->response_.reset();
          if (ec) return self->Close();
          if (linger) return self->LingerClose();
          if (!keep_alive) return self->Close();
          self->ReadHeader();
        });
  }

  // Half-closes, then reads and drops what the client is still sending.
  void LingerClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerBytes) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  ServerCore* server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::optional<bhttp::response_serializer<bhttp::string_body>> serializer_;
  std::array<char, 16384> drain_{};
  std::size_t drained_ = 0;
  bool idle_ = false;  // waiting for the first bytes of a new request
};

}  // namespace

void ServerCore::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void ServerCore::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    log::Warning("http accept failed", {{"error", ec.message()}});
  } else {
    std::shared_ptr<Session> session;
    {
      std::lock_guard lock(sessions_mutex);
      if (stopping.load()) {
        beast::error_code ignored;
        socket.close(ignored);
        return;
      }
      session = std::make_shared<Session>(std::move(socket), this);
      sessions.emplace(session.get(), session);
    }
    session->Run();
  }
  Accept();
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options),
                                   [h = std::move(handler)](Request& r) { return h(r); })) {}

Server::Server(ServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), [r = std::move(router)](Request& request) {
        return r.Route(request);
      })) {}

Server::~Server() { Stop(); }

int Server::port() const { return impl_->port; }

absl::Status Server::Start() {
  Impl& impl = *impl_;
  if (impl.started) return absl::FailedPreconditionError("http server already started");
  const ServerOptions& o = impl.options;
  const std::string where = o.bind_address + ":" + std::to_string(o.port);
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError("http server port " + std::to_string(o.port) +
                                      " is out of range");
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(o.bind_address, ec);
  if (ec) {
    return absl::InvalidArgumentError("http bind address '" + o.bind_address +
                                      "' is not an IP address");
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  auto fail = [&](const char* step) {
    beast::error_code ignored;
    impl.acceptor.close(ignored);
    return absl::UnavailableError(std::string("cannot ") + step + " on " + where + ": " +
                                  ec.message());
  };
  if (impl.acceptor.open(endpoint.protocol(), ec)) return fail("open a socket");
  if (impl.acceptor.set_option(net::socket_base::reuse_address(true), ec)) return fail("listen");
  if (impl.acceptor.bind(endpoint, ec)) return fail("listen");
  if (impl.acceptor.listen(net::socket_base::max_listen_connections, ec)) return fail("listen");
  impl.port = impl.acceptor.local_endpoint(ec).port();
  impl.started = true;

  impl.Accept();
  const int threads = std::max(1, o.threads);
  impl.threads.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    impl.threads.emplace_back([&impl] {
      while (true) {
        try {
          impl.ioc.run();
          return;
        } catch (const std::exception& e) {  // e.g. bad_alloc for a huge body
          log::Error("http server thread caught exception", {{"error", e.what()}});
        }
      }
    });
  }
  log::Info("http server listening", {{"address", o.bind_address}, {"port", impl.port}});
  return absl::OkStatus();
}

void Server::Stop() {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return;
  impl.stopped = true;
  std::vector<std::weak_ptr<Session>> sessions;
  {
    std::lock_guard lock(impl.sessions_mutex);
    impl.stopping.store(true);
    for (auto& [ptr, weak] : impl.sessions) sessions.push_back(weak);
  }
  net::post(impl.acceptor.get_executor(), [&impl] {
    beast::error_code ignored;
    impl.acceptor.close(ignored);
  });
  for (auto& weak : sessions) {
    if (auto session = weak.lock()) {
      net::post(session->executor(), [session] { session->OnStop(); });
    }
  }
  // The io_context runs out of work once the acceptor and every connection
  // are closed; requests under way finish first.
  for (auto& thread : impl.threads) thread.join();
  impl.threads.clear();
  log::Info("http server stopped", {{"port", impl.port}});
}

}  // namespace parallax::http
