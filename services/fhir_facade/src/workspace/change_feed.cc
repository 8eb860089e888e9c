#include "workspace/change_feed.h"

namespace parallax::fhir_facade::workspace {

ChangeFeed::ChangeFeed(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  first_seq_ = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  last_seq_ = first_seq_;
}

void ChangeFeed::Publish(std::string kind, std::string study_key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back({++last_seq_, std::move(kind), std::move(study_key)});
    while (events_.size() > capacity_) {
      first_seq_ = events_.front().seq;
      events_.pop_front();
    }
  }
  changed_.notify_all();
}

ChangeBatch ChangeFeed::Wait(int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  ChangeBatch batch;
  if (after < first_seq_ || after > last_seq_) {
    batch.seq = last_seq_;
    batch.reset = true;
    return batch;
  }
  changed_.wait_for(lock, timeout, [&] { return shutdown_ || last_seq_ > after; });
  if (after < first_seq_) {  // overtaken while waiting
    batch.seq = last_seq_;
    batch.reset = true;
    return batch;
  }
  for (const ChangeEvent& e : events_) {
    if (e.seq > after) batch.events.push_back(e);
  }
  batch.seq = last_seq_;
  return batch;
}

void ChangeFeed::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  changed_.notify_all();
}

}  // namespace parallax::fhir_facade::workspace
