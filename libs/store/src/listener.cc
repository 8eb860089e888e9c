#include "parallax/store/listener.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "connection.h"
#include "errors.h"

namespace parallax::store {
namespace internal {

// The dedicated connection and the libpqxx receiver that LISTENs on it.
class ListenerConnection {
 public:
  ListenerConnection(std::unique_ptr<Connection> conn, const std::string& channel)
      : conn_(std::move(conn)), receiver_(conn_->raw(), channel, &pending_) {}

  Connection& conn() { return *conn_; }
  // True when a notification arrived since the last call.
  bool TakePending() {
    bool p = pending_;
    pending_ = false;
    return p;
  }

 private:
  class Receiver : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const std::string& channel, bool* pending)
        : pqxx::notification_receiver(c, channel), pending_(pending) {}
    void operator()(const std::string&, int) override { *pending_ = true; }

   private:
    bool* pending_;
  };

  bool pending_ = false;
  std::unique_ptr<Connection> conn_;
  Receiver receiver_;  // after conn_: stops listening before the connection closes
};

}  // namespace internal

Listener::Listener(std::string url, std::string channel)
    : url_(std::move(url)), channel_(std::move(channel)) {}

Listener::~Listener() {
  try {
    connection_.reset();
  } catch (...) {
  }
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Open(const std::string& url,
                                                         std::string_view channel) {
  if (channel.empty()) return absl::InvalidArgumentError("listener channel is empty");
  std::unique_ptr<Listener> listener(new Listener(url, std::string(channel)));
  absl::Status s = listener->Connect();
  if (!s.ok()) return s;
  return listener;
}

absl::Status Listener::Connect() {
  connection_.reset();
  auto conn = internal::Connection::Open(internal::WithConnectTimeout(url_, 5));
  if (!conn.ok()) return conn.status();
  try {
    // The receiver's constructor sends LISTEN with the channel quoted.
    connection_ = std::make_unique<internal::ListenerConnection>(*std::move(conn), channel_);
    return absl::OkStatus();
  } catch (...) {
    return internal::ClassifyCurrentException().status;
  }
}

absl::StatusOr<bool> Listener::Wait(std::chrono::milliseconds timeout) {
  if (!connection_) {
    absl::Status s = Connect();
    if (!s.ok()) return s;
    return true;  // notifications sent while disconnected are lost: report "look again"
  }
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  try {
    pqxx::connection& raw = connection_->conn().raw();
    raw.get_notifs();
    while (!connection_->TakePending()) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      raw.await_notification(static_cast<long>(left.count() / 1000000),
                             static_cast<long>(left.count() % 1000000));
      if (!raw.is_open()) throw pqxx::broken_connection("connection closed while waiting");
    }
    return true;
  } catch (...) {
    internal::ClassifiedError e = internal::ClassifyCurrentException();
    connection_.reset();
    if (e.status.code() == absl::StatusCode::kUnavailable) return e.status;
    return absl::UnavailableError(
        absl::StrCat("listener on channel lost its connection: ", e.status.message()));
  }
}

}  // namespace parallax::store
