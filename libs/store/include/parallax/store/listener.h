#pragma once
// Waits for PostgreSQL NOTIFY on one channel, over a dedicated connection
// (not taken from a Database pool). Used to wake workers when new work is
// queued instead of polling.
//
// Notifications are hints, not messages: Wait returning true means "something
// may have changed, look again". It also returns true after the connection
// had to be re-established, because notifications sent meanwhile are lost.
// Callers still re-check state on a timer, as a NOTIFY can race a Wait.
//
// Not thread-safe: one thread owns a Listener.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace parallax::store {

namespace internal {
class ListenerConnection;
}  // namespace internal

class Listener {
 public:
  // Connects to url and LISTENs on channel (any text; it is quoted as an
  // identifier). INVALID_ARGUMENT for an empty channel, UNAVAILABLE when the
  // server cannot be reached.
  static absl::StatusOr<std::unique_ptr<Listener>> Open(const std::string& url,
                                                        std::string_view channel);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Returns true as soon as a notification on the channel arrives (or one
  // arrived since the previous call; several coalesce into one true), false
  // when timeout passes without one. UNAVAILABLE when the connection is lost;
  // the next call reconnects (and then returns true, see above).
  absl::StatusOr<bool> Wait(std::chrono::milliseconds timeout);

  const std::string& channel() const { return channel_; }

 private:
  Listener(std::string url, std::string channel);
  absl::Status Connect();

  std::string url_;
  std::string channel_;
  std::unique_ptr<internal::ListenerConnection> connection_;
};

}  // namespace parallax::store
