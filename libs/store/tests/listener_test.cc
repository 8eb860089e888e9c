#include "parallax/store/listener.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "parallax/store/database.h"
#include "parallax/store/testing/fresh_database.h"

namespace {

using parallax::store::Database;
using parallax::store::DatabaseOptions;
using parallax::store::Listener;
using parallax::store::Transaction;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Fixture {
  std::string url;
  std::unique_ptr<Database> db;
  explicit Fixture(const std::string& purpose) : url(parallax::store::testing::FreshDatabaseUrl(purpose)) {
    DatabaseOptions options;
    options.url = url;
    options.pool_size = 2;
    auto opened = Database::Open(options);
    if (!opened.ok()) FAIL(opened.status().ToString());
    db = *std::move(opened);
  }
  void Notify(const std::string& channel) {
    auto r = db->Exec("SELECT pg_notify($1, $2)", {channel, "payload"});
    REQUIRE(r.ok());
  }
};

std::unique_ptr<Listener> Listen(const std::string& url, const std::string& channel) {
  auto listener = Listener::Open(url, channel);
  if (!listener.ok()) FAIL(listener.status().ToString());
  return *std::move(listener);
}

}  // namespace

TEST_CASE("Listener::Wait returns false when nothing is notified before the timeout", "[store][db]") {
  Fixture f("listener_timeout");
  auto listener = Listen(f.url, "jobs");
  auto start = Clock::now();
  auto woke = listener->Wait(milliseconds(200));
  auto elapsed = Clock::now() - start;
  REQUIRE(woke.ok());
  CHECK_FALSE(*woke);
  CHECK(elapsed >= milliseconds(190));
  CHECK(elapsed < milliseconds(3000));
}

TEST_CASE("Listener::Wait returns true for a NOTIFY sent before or during the wait", "[store][db]") {
  Fixture f("listener_notify");
  auto listener = Listen(f.url, "Jobs.Ready");  // quoted as an identifier: case and dots survive

  // Sent before Wait: delivered at the next Wait.
  f.Notify("Jobs.Ready");
  f.Notify("Jobs.Ready");
  auto woke = listener->Wait(milliseconds(2000));
  REQUIRE(woke.ok());
  CHECK(*woke);
  // Both notifications were consumed by that one wake-up (a hint, not a count).
  // Give the second one time to arrive, then drain what remains.
  (void)listener->Wait(milliseconds(200));
  auto drained = listener->Wait(milliseconds(100));
  REQUIRE(drained.ok());
  CHECK_FALSE(*drained);

  // Sent from another thread while waiting: wakes promptly, long before the timeout.
  std::thread notifier([&] {
    std::this_thread::sleep_for(milliseconds(200));
    f.Notify("Jobs.Ready");
  });
  auto start = Clock::now();
  auto during = listener->Wait(milliseconds(10000));
  auto elapsed = Clock::now() - start;
  notifier.join();
  REQUIRE(during.ok());
  CHECK(*during);
  CHECK(elapsed < milliseconds(5000));
}

TEST_CASE("Listener ignores other channels and rolled-back NOTIFYs", "[store][db]") {
  Fixture f("listener_ignore");
  auto listener = Listen(f.url, "jobs");
  f.Notify("other");
  f.Notify("JOBS");  // a different channel: names are case-sensitive
  absl::Status rolled_back = f.db->InTransaction([](Transaction& tx) -> absl::Status {
    auto r = tx.Exec("SELECT pg_notify('jobs', '')");
    if (!r.ok()) return r.status();
    return absl::CancelledError("roll back");
  });
  CHECK(rolled_back.code() == absl::StatusCode::kCancelled);
  auto woke = listener->Wait(milliseconds(300));
  REQUIRE(woke.ok());
  CHECK_FALSE(*woke);

  absl::Status committed = f.db->InTransaction([](Transaction& tx) -> absl::Status {
    return tx.Exec("SELECT pg_notify('jobs', '')").status();
  });
  REQUIRE(committed.ok());
  auto after_commit = listener->Wait(milliseconds(2000));
  REQUIRE(after_commit.ok());
  CHECK(*after_commit);
}

TEST_CASE("Listener reports a lost connection, then reconnects and listens again", "[store][db]") {
  Fixture f("listener_reconnect");
  auto listener = Listen(f.url, "jobs");
  auto pid = f.db->Exec(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'");
  REQUIRE(pid.ok());
  REQUIRE(pid->size() == 1);
  auto killed = f.db->Exec("SELECT pg_terminate_backend($1::int)", {*(*pid)[0].GetInt64(0)});
  REQUIRE(killed.ok());

  auto lost = listener->Wait(milliseconds(3000));
  CHECK(lost.status().code() == absl::StatusCode::kUnavailable);
  auto reconnected = listener->Wait(milliseconds(100));
  REQUIRE(reconnected.ok());
  CHECK(*reconnected);  // "look again": notifications may have been missed
  f.Notify("jobs");
  auto woke = listener->Wait(milliseconds(2000));
  REQUIRE(woke.ok());
  CHECK(*woke);
}

TEST_CASE("Listener::Open refuses an empty channel and an unreachable server", "[store][db]") {
  CHECK(Listener::Open("postgresql://postgres@127.0.0.1:1/postgres", "jobs").status().code() ==
        absl::StatusCode::kUnavailable);
  Fixture f("listener_open");
  CHECK(Listener::Open(f.url, "").status().code() == absl::StatusCode::kInvalidArgument);
}
