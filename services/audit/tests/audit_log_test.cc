// The hash-chained audit log on a real PostgreSQL: appends chain, retries are
// idempotent, and Verify names the first entry that was edited, deleted or
// moved.
#include "audit_log.h"

#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "parallax/store/testing/fresh_database.h"

namespace parallax::audit {
namespace {

struct Log {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
  Log() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit"), 6});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(db.get());
    REQUIRE(log->Migrate().ok());
  }
  void Exec(const std::string& sql) { REQUIRE(db->Exec(sql).ok()); }
};

audit::v1::AuditEvent Event(const std::string& id, audit::v1::EventType type = audit::v1::EVENT_TYPE_FINDING_ACCEPTED) {
  audit::v1::AuditEvent e;
  e.set_event_id(id);
  e.set_type(type);
  e.set_service("escalation");
  e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_USER);
  e.mutable_actor()->set_user_id("u-17");
  e.mutable_subject()->set_study_instance_uid("1.2.3.4");
  e.mutable_subject()->set_finding_id("f-1");
  e.mutable_occurred_at()->set_seconds(1796000000);
  return e;
}

void Fill(Log& l, int n) {
  for (int i = 1; i <= n; ++i) {
    auto r = l.log->Record(Event("e-" + std::to_string(i)));
    REQUIRE(r.ok());
    REQUIRE(r->sequence() == i);
  }
}

TEST_CASE("audit: entries chain without gaps, a retried event is not appended twice, and the chain verifies",
          "[audit][db]") {
  Log l;
  Fill(l, 5);
  auto again = l.log->Record(Event("e-3"));
  REQUIRE(again.ok());
  CHECK(again->duplicate());
  CHECK(again->sequence() == 3);
  auto v = l.log->Verify();
  REQUIRE(v.ok());
  CHECK(v->ok());
  CHECK(v->entries_checked() == 5);
  CHECK(v->head_sequence() == 5);
  CHECK(v->head_hash().size() == 32);
  auto part = l.log->Verify(2, 4);
  REQUIRE(part.ok());
  CHECK(part->ok());
  CHECK(part->entries_checked() == 3);
  CHECK(l.log->Verify(4, 2).status().code() == absl::StatusCode::kInvalidArgument);

  audit::v1::AuditEvent no_actor = Event("e-9");
  no_actor.clear_actor();
  CHECK(l.log->Record(no_actor).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(l.log->Record(Event("")).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("audit: an edited entry is found and named", "[audit][db]") {
  Log l;
  Fill(l, 6);
  SECTION("its hashed bytes changed") {
    l.Exec("UPDATE audit.entries SET content = overlay(content placing '\\x58'::bytea from 12 for 1) WHERE sequence = 4");
    auto v = l.log->Verify();
    REQUIRE(v.ok());
    CHECK_FALSE(v->ok());
    CHECK(v->first_broken_sequence() == 4);
    CHECK(v->reason() == audit::v1::BREAK_REASON_HASH_MISMATCH);
  }
  SECTION("a queryable column changed, the hashed bytes not") {
    l.Exec("UPDATE audit.entries SET actor_user_id = 'someone-else' WHERE sequence = 2");
    auto v = l.log->Verify();
    REQUIRE(v.ok());
    CHECK(v->first_broken_sequence() == 2);
    CHECK(v->reason() == audit::v1::BREAK_REASON_HASH_MISMATCH);
  }
}

TEST_CASE("audit: a deleted entry is found, the last one too", "[audit][db]") {
  Log l;
  Fill(l, 6);
  SECTION("in the middle") {
    l.Exec("DELETE FROM audit.entries WHERE sequence = 3");
    auto v = l.log->Verify();
    REQUIRE(v.ok());
    CHECK(v->first_broken_sequence() == 3);
    CHECK(v->reason() == audit::v1::BREAK_REASON_SEQUENCE_GAP);
  }
  SECTION("the last") {
    l.Exec("DELETE FROM audit.entries WHERE sequence = 6");
    auto v = l.log->Verify();
    REQUIRE(v.ok());
    CHECK(v->first_broken_sequence() == 6);
    CHECK(v->reason() == audit::v1::BREAK_REASON_SEQUENCE_GAP);
  }
}

TEST_CASE("audit: reordered entries break the chain where the order changed", "[audit][db]") {
  Log l;
  Fill(l, 5);
  // Swap entries 2 and 3 (every column but the sequence).
  l.Exec("UPDATE audit.entries a SET event_id = b.event_id || '#', content = b.content, previous_hash = b.previous_hash, "
         "hash = b.hash FROM audit.entries b WHERE (a.sequence, b.sequence) IN ((2, 3), (3, 2))");
  auto v = l.log->Verify();
  REQUIRE(v.ok());
  CHECK_FALSE(v->ok());
  CHECK(v->first_broken_sequence() == 2);
  CHECK(v->reason() == audit::v1::BREAK_REASON_PREVIOUS_HASH_MISMATCH);
}

TEST_CASE("audit: concurrent recorders make one gapless chain", "[audit][db]") {
  Log l;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&l, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = l.log->Record(Event("t" + std::to_string(t) + "-" + std::to_string(i)));
        if (!r.ok()) FAIL_CHECK(r.status().message());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto v = l.log->Verify();
  REQUIRE(v.ok());
  CHECK(v->ok());
  CHECK(v->entries_checked() == 200);
  CHECK(v->head_sequence() == 200);
}

}  // namespace
}  // namespace parallax::audit
