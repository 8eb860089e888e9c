#pragma once
// A fixed-size, lazily filled pool of Connections. Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connection.h"

namespace parallax::store::internal {

class Pool {
 public:
  Pool(std::string conninfo, int size, std::chrono::milliseconds acquire_timeout);
  ~Pool();

  // A connection on loan; goes back to the pool (or is closed when marked
  // broken) when the Lease is destroyed.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // An idle connection, or a new one while fewer than size are open; waits up
  // to acquire_timeout for one to be returned, then UNAVAILABLE. UNAVAILABLE
  // also when opening a new connection fails.
  absl::StatusOr<Lease> Acquire();

  int open() const;
  int idle() const;
  int64_t discarded() const;

 private:
  void Return(std::unique_ptr<Connection> conn);

  const std::string conninfo_;
  const int size_;
  const std::chrono::milliseconds acquire_timeout_;

  mutable std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently used last
  int open_ = 0;
  int64_t discarded_ = 0;
};

}  // namespace parallax::store::internal
