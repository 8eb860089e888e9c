#pragma once
// A bound on how many calls a stateless service works on at once. A call
// that finds the bound reached is refused at once (the caller answers
// RESOURCE_EXHAUSTED and the client retries, possibly on another replica)
// rather than queued behind work it cannot see. Thread-safe.
#include <atomic>

namespace parallax::rpc {

class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(int limit) : limit_(limit) {}

  // Holds one slot while alive, when acquired() says it got one.
  class Slot {
   public:
    explicit Slot(ConcurrencyLimit& limit) : limit_(limit) {
      int now = limit_.in_use_.load();
      while (now < limit_.limit_ && !limit_.in_use_.compare_exchange_weak(now, now + 1)) {
      }
      acquired_ = now < limit_.limit_;
    }
    ~Slot() {
      if (acquired_) limit_.in_use_.fetch_sub(1);
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    bool acquired() const { return acquired_; }

   private:
    ConcurrencyLimit& limit_;
    bool acquired_ = false;
  };

  int limit() const { return limit_; }
  int in_use() const { return in_use_.load(); }

 private:
  const int limit_;
  std::atomic<int> in_use_{0};
};

}  // namespace parallax::rpc
