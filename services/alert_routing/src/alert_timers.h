#pragma once
// The timers of an unacknowledged alert: when it is re-sent and when it
// escalates up its policy's chain. NextAction is the pure decision (no clock,
// no I/O; tested without a database); AlertTimerLoop applies it to the
// stored alerts on a period (AlertService::RunTimers does the work).
//
// The schedule of one alert, from `timers_from` (its creation, or the moment
// a newer analysis reopened a withdrawn alert):
//   - Level 0 is the alert's own groups; level k >= 1 is the k-th step of
//     the escalation chain. Step k (1-based) is due at
//     timers_from + max(chain[k-1].after, ack_timeout for k == 1): `after`
//     counts from creation, and nobody is escalated over before they have
//     had ack_timeout to acknowledge.
//   - Within each level the alert is re-sent every renotify_every after the
//     level began, at most max_renotify times per level, and only strictly
//     before the next step is due (the escalation itself notifies).
//   - An overdue escalation goes first. When several re-notifications of a
//     level are overdue (the service was down), only the latest is sent.
//   - With the chain exhausted and no re-notification left, nothing is due.
//
// Thread-safety: pure functions; AlertTimerLoop is thread-safe.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alert_policy.h"

namespace parallax::alerting {

using TimePoint = std::chrono::system_clock::time_point;

// The timers an alert copies from its policy decision.
struct AlertTimers {
  std::chrono::seconds ack_timeout{0};
  std::chrono::seconds renotify_every{0};  // 0 = never re-sent
  int max_renotify = 0;                    // per level
  std::vector<EscalationStep> escalation;  // in order
};

struct TimerAction {
  enum class Kind { kNone, kRenotify, kEscalate };
  Kind kind = Kind::kNone;
  // kRenotify: the number of this re-notification within the level (1..max);
  // the alert's renotified-at-level count becomes this.
  int renotify_number = 0;
  // kEscalate: the new level (1-based index into the chain) and its group.
  int new_level = 0;
  std::string group;
  // kNone: when the next action falls due (nullopt: never). Otherwise when
  // the action that was due fell due.
  std::optional<TimePoint> due_at;
};

// What to do for an unacknowledged alert at `now`, given the re-notifications
// already sent at its current level and its escalation level (0 = none yet).
TimerAction NextAction(const AlertTimers& timers, TimePoint timers_from, int renotified_at_level, int level,
                       TimePoint now);

// When the next action of the alert falls due after the given state, i.e.
// NextAction(...).due_at for a `now` before everything (nullopt: never).
std::optional<TimePoint> NextDue(const AlertTimers& timers, TimePoint timers_from, int renotified_at_level,
                                 int level);

// When the alert escalates next (the next chain step), or nullopt.
std::optional<TimePoint> NextEscalationAt(const AlertTimers& timers, TimePoint timers_from, int level);

// Runs `pass` every `period` on its own thread until Stop(); Poke() runs it
// at once. `pass` returns nothing: it logs its own failures.
class AlertTimerLoop {
 public:
  AlertTimerLoop(std::function<void()> pass, std::chrono::milliseconds period);
  ~AlertTimerLoop();  // Stop()
  void Start();
  void Stop();
  void Poke();

 private:
  std::function<void()> pass_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, poked_ = false;
  std::thread thread_;
};

}  // namespace parallax::alerting
