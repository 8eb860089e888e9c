// NextAction: when an unacknowledged alert is re-sent and when it escalates,
// without a database or a clock.
#include "alert_timers.h"

#include <catch2/catch.hpp>

namespace parallax::alerting {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using Kind = TimerAction::Kind;

const TimePoint kCreated = TimePoint(std::chrono::hours(24 * 365 * 50));

// The shipped ich-any rule: ack 10m, re-send every 5m (2 at most),
// senior-radiology after 10m, department-head after 30m.
AlertTimers IchAny() {
  AlertTimers t;
  t.ack_timeout = minutes(10);
  t.renotify_every = minutes(5);
  t.max_renotify = 2;
  t.escalation = {{"senior-radiology", minutes(10)}, {"department-head", minutes(30)}};
  return t;
}

TEST_CASE("a new alert waits for its first re-notification", "[alert_timers]") {
  const TimerAction a = NextAction(IchAny(), kCreated, 0, 0, kCreated + minutes(4));
  CHECK(a.kind == Kind::kNone);
  REQUIRE(a.due_at.has_value());
  CHECK(*a.due_at == kCreated + minutes(5));
}

TEST_CASE("an unacknowledged alert is re-sent after renotify_every", "[alert_timers]") {
  const TimerAction a = NextAction(IchAny(), kCreated, 0, 0, kCreated + minutes(5));
  CHECK(a.kind == Kind::kRenotify);
  CHECK(a.renotify_number == 1);
}

TEST_CASE("a re-notification that would coincide with the escalation is left to the escalation",
          "[alert_timers]") {
  // The second re-send would fall at 10m, when senior-radiology is due.
  const TimerAction waiting = NextAction(IchAny(), kCreated, 1, 0, kCreated + minutes(6));
  CHECK(waiting.kind == Kind::kNone);
  CHECK(*waiting.due_at == kCreated + minutes(10));
  const TimerAction a = NextAction(IchAny(), kCreated, 1, 0, kCreated + minutes(10));
  CHECK(a.kind == Kind::kEscalate);
  CHECK(a.new_level == 1);
  CHECK(a.group == "senior-radiology");
}

TEST_CASE("after an escalation the alert is re-sent within the new level, then escalates to the next step",
          "[alert_timers]") {
  // Level 1 began at 10m: re-sends at 15m and 20m, department-head at 30m.
  CHECK(*NextAction(IchAny(), kCreated, 0, 1, kCreated + minutes(11)).due_at == kCreated + minutes(15));
  const TimerAction r1 = NextAction(IchAny(), kCreated, 0, 1, kCreated + minutes(15));
  CHECK(r1.kind == Kind::kRenotify);
  CHECK(r1.renotify_number == 1);
  const TimerAction r2 = NextAction(IchAny(), kCreated, 1, 1, kCreated + minutes(20));
  CHECK(r2.kind == Kind::kRenotify);
  CHECK(r2.renotify_number == 2);
  const TimerAction idle = NextAction(IchAny(), kCreated, 2, 1, kCreated + minutes(21));
  CHECK(idle.kind == Kind::kNone);
  CHECK(*idle.due_at == kCreated + minutes(30));
  const TimerAction e = NextAction(IchAny(), kCreated, 2, 1, kCreated + minutes(30));
  CHECK(e.kind == Kind::kEscalate);
  CHECK(e.group == "department-head");
  CHECK(e.new_level == 2);
}

TEST_CASE("the last step of the chain is re-sent up to max_renotify and then nothing more is due",
          "[alert_timers]") {
  CHECK(NextAction(IchAny(), kCreated, 0, 2, kCreated + minutes(35)).kind == Kind::kRenotify);
  CHECK(NextAction(IchAny(), kCreated, 1, 2, kCreated + minutes(40)).kind == Kind::kRenotify);
  const TimerAction done = NextAction(IchAny(), kCreated, 2, 2, kCreated + std::chrono::hours(10));
  CHECK(done.kind == Kind::kNone);
  CHECK_FALSE(done.due_at.has_value());
}

TEST_CASE("an overdue escalation goes before overdue re-notifications and only the latest re-send is made",
          "[alert_timers]") {
  // The service was down from 1m to 17m: escalate first (due at 10m)...
  const TimerAction e = NextAction(IchAny(), kCreated, 0, 0, kCreated + minutes(17));
  CHECK(e.kind == Kind::kEscalate);
  CHECK(e.new_level == 1);
  // ... then one re-send for level 1 (the one due at 15m), not a burst.
  const TimerAction r = NextAction(IchAny(), kCreated, 0, 1, kCreated + minutes(22));
  CHECK(r.kind == Kind::kRenotify);
  CHECK(r.renotify_number == 2);
}

TEST_CASE("nobody is escalated over before ack_timeout even when the chain says earlier", "[alert_timers]") {
  AlertTimers t = IchAny();
  t.escalation[0].after = minutes(2);
  t.renotify_every = seconds(0);
  CHECK(NextAction(t, kCreated, 0, 0, kCreated + minutes(3)).kind == Kind::kNone);
  CHECK(NextEscalationAt(t, kCreated, 0) == kCreated + minutes(10));
  CHECK(NextAction(t, kCreated, 0, 0, kCreated + minutes(10)).kind == Kind::kEscalate);
}

TEST_CASE("a routine rule without re-notification or chain has no timer at all", "[alert_timers]") {
  AlertTimers t;
  t.ack_timeout = std::chrono::hours(8);
  const TimerAction a = NextAction(t, kCreated, 0, 0, kCreated + std::chrono::hours(100));
  CHECK(a.kind == Kind::kNone);
  CHECK_FALSE(a.due_at.has_value());
  CHECK_FALSE(NextDue(t, kCreated, 0, 0).has_value());
}

TEST_CASE("the test policy's short timers re-send at 1s and escalate at 2s", "[alert_timers]") {
  AlertTimers t;
  t.ack_timeout = seconds(1);
  t.renotify_every = seconds(1);
  t.max_renotify = 1;
  t.escalation = {{"senior-radiology", seconds(2)}};
  CHECK(NextAction(t, kCreated, 0, 0, kCreated + seconds(1)).kind == Kind::kRenotify);
  CHECK(*NextDue(t, kCreated, 1, 0) == kCreated + seconds(2));
  CHECK(NextAction(t, kCreated, 1, 0, kCreated + seconds(2)).kind == Kind::kEscalate);
}

}  // namespace
}  // namespace parallax::alerting
