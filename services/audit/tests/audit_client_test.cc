// libs/audit_client against the real audit service: a calling service's
// outbox (its own database and schema) holds events while the audit service
// is down, delivers each exactly once, in order, when it comes up, survives a
// restart of the caller, never sends what a rolled-back transaction enqueued,
// and sets aside what can never be delivered.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/audit_client/event_id.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/testing/fresh_database.h"
#include "src/audit_service.h"

namespace parallax::audit {
namespace {

namespace v1 = audit::v1;
using audit_client::AuditRecorder;
using audit_client::AuditRecorderOptions;
using namespace std::chrono_literals;

// A loopback port nobody listens on (bound, read, released).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

// The audit service with its own database, started on demand on a fixed port.
struct AuditSide {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<AuditQuery> query;
  std::unique_ptr<AuditAnalytics> analytics;
  std::unique_ptr<AuditService> service;
  std::unique_ptr<rpc::RpcServer> server;
  int port = FreePort();

  AuditSide() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit_side"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(db.get());
    REQUIRE(log->Migrate().ok());
    query = std::make_unique<AuditQuery>(db.get());
    analytics = std::make_unique<AuditAnalytics>(db.get());
    service = std::make_unique<AuditService>(AuditServiceDeps{log.get(), query.get(), analytics.get(), nullptr, nullptr, nullptr, {}});
  }
  ~AuditSide() {
    if (server) server->Shutdown();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  void Up() {
    server = std::make_unique<rpc::RpcServer>(rpc::RpcServerOptions{address()});
    server->Register(service.get(), "parallax.audit.v1.Audit");
    REQUIRE(server->Start().ok());
  }
  std::vector<v1::AuditEvent> Entries() {
    v1::QueryRequest q;
    q.set_page_size(1000);
    auto r = query->Query(q);
    REQUIRE(r.ok());
    return {r->events().begin(), r->events().end()};
  }
};

// The calling service (here "escalation") with its own database and schema.
struct CallerSide {
  std::unique_ptr<store::Database> db;
  CallerSide() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit_caller"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    REQUIRE(AuditRecorder::Migrate(*db, "escalation").ok());
  }
  std::unique_ptr<AuditRecorder> Recorder(const std::string& address) {
    AuditRecorderOptions o;
    o.audit_address = address;
    o.service = "escalation";
    o.poll = 200ms;
    o.rpc_timeout = 2000ms;
    o.backoff_initial = 50ms;
    o.backoff_max = 400ms;
    o.batch_size = 7;  // several passes for the test's events
    return std::make_unique<AuditRecorder>(db.get(), "escalation", o);
  }
};

v1::AuditEvent Accepted(int i) {
  v1::AuditEvent e;
  e.set_type(v1::EVENT_TYPE_FINDING_ACCEPTED);
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_USER);
  e.mutable_actor()->set_user_id("u-" + std::to_string(i));
  e.mutable_subject()->set_finding_id("f-" + std::to_string(i));
  e.mutable_subject()->set_label("pneumothorax");
  return e;
}

template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

TEST_CASE("audit client: events wait in the outbox while audit is down and arrive once each, in order, when it comes up",
          "[audit][db]") {
  AuditSide audit;
  CallerSide caller;
  auto recorder = caller.Recorder(audit.address());
  REQUIRE(recorder->Start().ok());

  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    if (i % 2 == 0) {
      auto id = recorder->Record(Accepted(i));
      REQUIRE(id.ok());
      ids.push_back(*id);
    } else {
      // Inside the caller's own transaction, committed with its action.
      std::string id;
      REQUIRE(caller.db->InTransaction([&](store::Transaction& txn) -> absl::Status {
                         auto enqueued = recorder->Enqueue(txn, Accepted(i));
                         if (!enqueued.ok()) return enqueued.status();
                         id = *enqueued;
                         return absl::OkStatus();
                       }).ok());
      ids.push_back(id);
    }
  }
  std::set<std::string> distinct(ids.begin(), ids.end());
  CHECK(distinct.size() == 12);
  CHECK(ids[0].size() == 36);
  CHECK(ids[0][14] == '4');  // UUID v4

  // Audit is down: the sender keeps failing and backing off; nothing is lost.
  std::this_thread::sleep_for(1500ms);
  CHECK(*recorder->PendingCount() == 12);
  auto attempts = caller.db->Exec("SELECT max(attempts) FROM escalation.audit_outbox");
  REQUIRE(attempts.ok());
  CHECK(*(*attempts)[0].GetInt64(0) >= 2);

  audit.Up();
  REQUIRE(WaitUntil([&] { return *recorder->PendingCount() == 0; }, 20s));
  // One more while up: delivered promptly.
  auto late = recorder->Record(Accepted(99));
  REQUIRE(late.ok());
  ids.push_back(*late);
  REQUIRE(WaitUntil([&] { return *recorder->PendingCount() == 0; }, 10s));
  recorder->Stop();

  std::vector<v1::AuditEvent> entries = audit.Entries();
  REQUIRE(entries.size() == 13);
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK(entries[i].event_id() == ids[i]);  // in the order they were recorded, each once
    CHECK(entries[i].service() == "escalation");
    CHECK(entries[i].has_occurred_at());
  }
  CHECK(entries[3].subject().finding_id() == "f-3");
  auto v = audit.log->Verify();
  REQUIRE(v.ok());
  CHECK(v->ok());
  CHECK(v->head_sequence() == 13);
}

TEST_CASE("audit client: the outbox survives a restart of the calling service", "[audit][db]") {
  AuditSide audit;
  CallerSide caller;
  {
    auto recorder = caller.Recorder(audit.address());
    REQUIRE(recorder->Start().ok());
    for (int i = 0; i < 5; ++i) REQUIRE(recorder->Record(Accepted(i)).ok());
    std::this_thread::sleep_for(300ms);
    recorder->Stop();
    CHECK(*recorder->PendingCount() == 5);
  }  // the calling service exits with audit still down
  audit.Up();
  auto restarted = caller.Recorder(audit.address());
  REQUIRE(restarted->Start().ok());
  REQUIRE(WaitUntil([&] { return *restarted->PendingCount() == 0; }, 20s));
  CHECK(audit.Entries().size() == 5);
}

TEST_CASE("audit client: an event enqueued in a rolled-back transaction is never sent", "[audit][db]") {
  AuditSide audit;
  CallerSide caller;
  audit.Up();
  auto recorder = caller.Recorder(audit.address());
  std::string rolled_back_id;
  absl::Status s = caller.db->InTransaction([&](store::Transaction& txn) -> absl::Status {
    auto enqueued = recorder->Enqueue(txn, Accepted(1));
    if (!enqueued.ok()) return enqueued.status();
    rolled_back_id = *enqueued;
    return absl::AbortedError("the action it records failed");
  });
  CHECK(s.code() == absl::StatusCode::kAborted);
  REQUIRE_FALSE(rolled_back_id.empty());
  CHECK(*recorder->PendingCount() == 0);

  auto committed = recorder->Record(Accepted(2));
  REQUIRE(committed.ok());
  REQUIRE(recorder->Start().ok());
  REQUIRE(WaitUntil([&] { return *recorder->PendingCount() == 0; }, 10s));
  recorder->Stop();
  std::vector<v1::AuditEvent> entries = audit.Entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].event_id() == *committed);
  CHECK(entries[0].event_id() != rolled_back_id);
}

TEST_CASE("audit client: a caller-chosen id is kept once, and an undeliverable entry does not block the rest",
          "[audit][db]") {
  AuditSide audit;
  CallerSide caller;
  audit.Up();
  auto recorder = caller.Recorder(audit.address());
  const std::string id = audit_client::EventIdFor("escalation/FINDING_ACCEPTED/f-1");
  CHECK(id == audit_client::EventIdFor("escalation/FINDING_ACCEPTED/f-1"));
  CHECK(id != audit_client::EventIdFor("escalation/FINDING_ACCEPTED/f-2"));
  v1::AuditEvent e = Accepted(1);
  e.set_event_id(id);
  REQUIRE(recorder->Record(e).ok());
  REQUIRE(recorder->Record(e).ok());  // the same action recorded twice
  CHECK(*recorder->PendingCount() == 1);
  // Bytes that no longer parse as an event, ahead of a good one.
  REQUIRE(caller.db->Exec("INSERT INTO escalation.audit_outbox (event_id, event) VALUES ('broken', '\\xffff')").ok());
  REQUIRE(recorder->Record(Accepted(2)).ok());
  CHECK(recorder->Record(v1::AuditEvent()).status().code() == absl::StatusCode::kInvalidArgument);

  auto delivered = recorder->DeliverPending();
  REQUIRE(delivered.ok());
  CHECK(*delivered == 2);
  CHECK(*recorder->PendingCount() == 0);
  CHECK(*recorder->DeadCount() == 1);
  std::vector<v1::AuditEvent> entries = audit.Entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].event_id() == id);
  CHECK(entries[1].subject().finding_id() == "f-2");
}

}  // namespace
}  // namespace parallax::audit
