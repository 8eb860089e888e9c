#pragma once
// The workspace's live updates: a short in-memory log of "something about
// this study changed" events (a report, an alert, a case), which browsers
// follow by long-polling (GET /api/events?after=N). Events carry the study's
// opaque key only; the browser reloads what it shows.
//
// Sequence numbers start from the clock at construction (microseconds since
// the epoch), so after a restart every client's cursor is older than the
// log and it is told to reset (reload everything) instead of missing what
// happened while the facade was down.
//
// Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace parallax::fhir_facade::workspace {

struct ChangeEvent {
  int64_t seq = 0;
  std::string kind;       // "report" | "alert" | "case"
  std::string study_key;  // StudyKeys key
};

struct ChangeBatch {
  int64_t seq = 0;                  // the cursor to ask with next
  std::vector<ChangeEvent> events;  // after the caller's cursor, oldest first
  bool reset = false;               // the cursor is unknown here: reload everything
};

class ChangeFeed {
 public:
  explicit ChangeFeed(size_t capacity = 1000);

  // Appends an event and wakes every waiter.
  void Publish(std::string kind, std::string study_key);

  // Events after `after`; waits up to `timeout` when there are none yet.
  // `after` = 0, or a cursor this feed never gave out (older than what it
  // holds, or from before a restart), answers at once with reset = true and
  // the current cursor. Returns with no events when the wait times out or
  // Shutdown is called.
  ChangeBatch Wait(int64_t after, std::chrono::milliseconds timeout);

  // Wakes every waiter; later Waits answer at once. For a clean stop.
  void Shutdown();

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<ChangeEvent> events_;
  int64_t first_seq_;  // the cursor before the oldest event ever held
  int64_t last_seq_;
  bool shutdown_ = false;
};

}  // namespace parallax::fhir_facade::workspace
