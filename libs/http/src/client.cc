// The only translation unit of the client that sees Boost.Beast/Asio.
#include "parallax/http/client.h"

#include <cstdint>
#include <limits>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace parallax::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Url {
  std::string host;  // without brackets
  std::string port;
  std::string target;
  std::string host_header;
};

absl::StatusOr<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size() || !EqualsIgnoreCase(url.substr(0, kScheme.size()), kScheme)) {
    return absl::InvalidArgumentError("URL '" + std::string(url) +
                                      "' is not http://host[:port]/path (https is not supported)");
  }
  std::string_view rest = url.substr(kScheme.size());
  std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  Url out;
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.target.front() == '?') out.target.insert(0, "/");
  out.host_header = std::string(authority);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("URL '" + std::string(url) + "' has an unclosed '['");
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError("URL '" + std::string(url) + "' has a malformed host");
      }
      port = after.substr(1);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return absl::InvalidArgumentError("URL '" + std::string(url) + "' has no host");
  if (port.empty()) {
    out.port = "80";
  } else {
    for (char c : port) {
      if (c < '0' || c > '9') {
        return absl::InvalidArgumentError("URL '" + std::string(url) + "' has a malformed port");
      }
    }
    out.port = std::string(port);
  }
  return out;
}

absl::Status NetworkError(const char* step, const Url& url, beast::error_code ec) {
  std::string message = std::string(step) + " " + url.host_header + ": " + ec.message();
  if (ec == beast::error::timeout) return absl::DeadlineExceededError(message);
  return absl::UnavailableError(message);
}

// One request/response exchange driven by callbacks on a private io_context.
class Exchange {
 public:
  Exchange(const Url& url, bhttp::request<bhttp::string_body>& request,
           std::chrono::steady_clock::time_point deadline)
      : url_(url), request_(request), deadline_(deadline) {
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  absl::StatusOr<Response> Run(std::chrono::milliseconds timeout) {
    resolver_.async_resolve(url_.host, url_.port,
                            [this](beast::error_code ec, tcp::resolver::results_type results) {
                              if (ec) return Finish(NetworkError("cannot resolve", url_, ec));
                              stream_.expires_at(deadline_);
                              stream_.async_connect(results, [this](beast::error_code ec,
                                                                    const tcp::endpoint&) {
                                if (ec) return Finish(NetworkError("cannot connect to", url_, ec));
                                Write();
                              });
                            });
    ioc_.run_until(deadline_ + std::chrono::milliseconds(50));
    if (!result_) {
      return absl::DeadlineExceededError("no response from " + url_.host_header + " within " +
                                         std::to_string(timeout.count()) + " ms");
    }
    return std::move(*result_);
  }

 private:
  void Write() {
    bhttp::async_write(stream_, request_, [this](beast::error_code ec, std::size_t) {
      // The server may answer (e.g. 413) and close before reading the whole
      // body; try to read its response anyway.
      if (ec && ec != net::error::broken_pipe && ec != net::error::connection_reset) {
        return Finish(NetworkError("cannot send to", url_, ec));
      }
      Read();
    });
  }

  void Read() {
    bhttp::async_read(stream_, buffer_, parser_, [this](beast::error_code ec, std::size_t) {
      if (ec) return Finish(NetworkError("no valid response from", url_, ec));
      auto& message = parser_.get();
      Response response;
      response.status = static_cast<int>(message.result_int());
      for (const auto& field : message) {
        response.headers.emplace_back(std::string(field.name_string()),
                                      std::string(field.value()));
      }
      response.body = std::move(message.body());
      Finish(std::move(response));
    });
  }

  void Finish(absl::StatusOr<Response> result) {
    result_ = std::move(result);
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    ioc_.stop();
  }

  const Url& url_;
  bhttp::request<bhttp::string_body>& request_;
  std::chrono::steady_clock::time_point deadline_;
  net::io_context ioc_{1};
  tcp::resolver resolver_{ioc_};
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  bhttp::response_parser<bhttp::string_body> parser_;
  std::optional<absl::StatusOr<Response>> result_;
};

}  // namespace

absl::StatusOr<Response> Fetch(const std::string& method, const std::string& url,
                               const Headers& headers, const std::string& body,
                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  if (method.empty()) return absl::InvalidArgumentError("HTTP method is empty");

  bhttp::request<bhttp::string_body> request;
  request.version(11);
  request.method_string(method);
  request.target(parsed->target);
  request.set(bhttp::field::host, parsed->host_header);
  request.set(bhttp::field::user_agent, "parallax");
  for (const auto& [name, value] : headers) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Host")) continue;
    request.insert(name, value);
  }
  request.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request.prepare_payload();
  }
  request.keep_alive(false);
  return Exchange(*parsed, request, deadline).Run(timeout);
}

}  // namespace parallax::http
