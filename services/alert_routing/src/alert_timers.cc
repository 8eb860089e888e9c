#include "alert_timers.h"

#include <algorithm>

namespace parallax::alerting {
namespace {

// When step `level + 1` (1-based) is due, or nullopt past the chain's end.
std::optional<TimePoint> StepDue(const AlertTimers& t, TimePoint from, int level) {
  if (level < 0 || level >= static_cast<int>(t.escalation.size())) return std::nullopt;
  std::chrono::seconds after = t.escalation[level].after;
  if (level == 0) after = std::max(after, t.ack_timeout);
  return from + after;
}

// When the current level began.
TimePoint LevelStart(const AlertTimers& t, TimePoint from, int level) {
  if (level <= 0) return from;
  const int i = std::min<int>(level, static_cast<int>(t.escalation.size())) - 1;
  std::chrono::seconds after = t.escalation[i].after;
  if (i == 0) after = std::max(after, t.ack_timeout);
  return from + after;
}

// When re-notification `n` (1-based) of the level is due, or nullopt when
// there is no such re-notification (none configured, over the maximum, or
// not before the next step).
std::optional<TimePoint> RenotifyDue(const AlertTimers& t, TimePoint from, int level, int n) {
  if (t.renotify_every <= std::chrono::seconds(0) || n > t.max_renotify || n < 1) return std::nullopt;
  const TimePoint at = LevelStart(t, from, level) + n * t.renotify_every;
  const std::optional<TimePoint> step = StepDue(t, from, level);
  if (step && at >= *step) return std::nullopt;
  return at;
}

}  // namespace

std::optional<TimePoint> NextEscalationAt(const AlertTimers& timers, TimePoint timers_from, int level) {
  return StepDue(timers, timers_from, level);
}

std::optional<TimePoint> NextDue(const AlertTimers& timers, TimePoint timers_from, int renotified_at_level,
                                 int level) {
  const std::optional<TimePoint> step = StepDue(timers, timers_from, level);
  const std::optional<TimePoint> renotify = RenotifyDue(timers, timers_from, level, renotified_at_level + 1);
  if (step && renotify) return std::min(*step, *renotify);
  return step ? step : renotify;
}

TimerAction NextAction(const AlertTimers& timers, TimePoint timers_from, int renotified_at_level, int level,
                       TimePoint now) {
  TimerAction a;
  if (const std::optional<TimePoint> step = StepDue(timers, timers_from, level); step && *step <= now) {
    a.kind = TimerAction::Kind::kEscalate;
    a.new_level = level + 1;
    a.group = timers.escalation[level].group;
    a.due_at = step;
    return a;
  }
  // The latest overdue re-notification of this level, if any.
  int n = renotified_at_level + 1;
  std::optional<TimePoint> due = RenotifyDue(timers, timers_from, level, n);
  if (due && *due <= now) {
    while (true) {
      const std::optional<TimePoint> later = RenotifyDue(timers, timers_from, level, n + 1);
      if (!later || *later > now) break;
      ++n;
      due = later;
    }
    a.kind = TimerAction::Kind::kRenotify;
    a.renotify_number = n;
    a.due_at = due;
    return a;
  }
  a.due_at = NextDue(timers, timers_from, renotified_at_level, level);
  return a;
}

AlertTimerLoop::AlertTimerLoop(std::function<void()> pass, std::chrono::milliseconds period)
    : pass_(std::move(pass)), period_(period) {}

AlertTimerLoop::~AlertTimerLoop() { Stop(); }

void AlertTimerLoop::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      pass_();
      lock.lock();
      cv_.wait_for(lock, period_, [this] { return stop_ || poked_; });
      poked_ = false;
    }
  });
}

void AlertTimerLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertTimerLoop::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

}  // namespace parallax::alerting
