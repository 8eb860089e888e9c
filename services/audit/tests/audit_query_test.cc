// Reading the audit log back on a real PostgreSQL: every filter of
// QueryRequest, sequence order, page tokens, decoded content; and the
// subject columns that make the filters fast are themselves covered by
// Verify and refilled by Migrate.
#include "audit_query.h"

#include <set>

#include <catch2/catch.hpp>

#include "audit_log.h"
#include "parallax/store/testing/fresh_database.h"

namespace parallax::audit {
namespace {

namespace v1 = audit::v1;
constexpr int64_t kT0 = 1796000000;

struct Fixture {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<AuditQuery> query;
  std::vector<v1::RecordResponse> recorded;
  Fixture() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit_query"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(db.get());
    REQUIRE(log->Migrate().ok());
    query = std::make_unique<AuditQuery>(db.get());
  }
  void Record(const v1::AuditEvent& e) {
    auto r = log->Record(e);
    REQUIRE(r.ok());
    recorded.push_back(*r);
  }
  v1::QueryResponse Run(const v1::QueryRequest& q) {
    auto r = query->Query(q);
    if (!r.ok()) FAIL(r.status().message());
    return *r;
  }
  std::vector<std::string> Ids(const v1::QueryRequest& q) {
    std::vector<std::string> ids;
    const v1::QueryResponse r = Run(q);
    for (const v1::AuditEvent& e : r.events()) ids.push_back(e.event_id());
    return ids;
  }
};

v1::AuditEvent Event(int i) {
  v1::AuditEvent e;
  e.set_event_id("e-" + std::to_string(i));
  e.set_type(i % 3 == 0 ? v1::EVENT_TYPE_ALERT_SENT
                        : (i % 3 == 1 ? v1::EVENT_TYPE_FINDING_ACCEPTED : v1::EVENT_TYPE_FINDING_REJECTED));
  e.set_service(i % 2 == 0 ? "alert-routing" : "escalation");
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_USER);
  e.mutable_actor()->set_user_id(i % 4 == 0 ? "u-4" : "u-1");
  v1::Subject* s = e.mutable_subject();
  s->set_study_instance_uid("1.2.826.0.1." + std::to_string(i % 5));
  s->set_generation(1 + i % 2);
  s->set_finding_id("f-" + std::to_string(i % 7));
  s->set_alert_id("a-" + std::to_string(i % 6));
  s->set_review_id("r-" + std::to_string(i));
  s->set_case_id(i == 11 ? "c-1" : "");
  s->set_label(i % 2 == 0 ? "pneumothorax" : "haemorrhage");
  s->set_model_id(i < 12 ? "chest-xr" : "ct-head");
  s->set_model_version("1.0." + std::to_string(i % 2));
  s->set_sop_instance_uid(i == 5 ? "1.2.3.999" : "");
  e.mutable_occurred_at()->set_seconds(kT0 + 60 * i);
  v1::Attribute* a = e.add_attributes();
  a->set_key("reject_reason");
  a->set_value("reason " + std::to_string(i));
  return e;
}

// The ids of Event(1..24) that satisfy `pred`, in recording order.
template <typename Pred>
std::vector<std::string> Expected(Pred pred) {
  std::vector<std::string> ids;
  for (int i = 1; i <= 24; ++i) {
    if (pred(Event(i))) ids.push_back("e-" + std::to_string(i));
  }
  return ids;
}

TEST_CASE("audit query: pages through every entry in sequence order with tokens, decoding the stored content",
          "[audit][db]") {
  Fixture f;
  for (int i = 1; i <= 24; ++i) f.Record(Event(i));
  v1::QueryRequest q;
  q.set_page_size(10);
  std::vector<int64_t> sequences;
  std::vector<std::string> tokens;
  for (;;) {
    v1::QueryResponse page = f.Run(q);
    CHECK(page.events_size() <= 10);
    for (const v1::AuditEvent& e : page.events()) {
      sequences.push_back(e.sequence());
      const size_t k = sequences.size() - 1;
      // The decoded entry is what was recorded, plus what audit set.
      v1::AuditEvent expected = Event(static_cast<int>(k) + 1);
      CHECK(e.event_id() == expected.event_id());
      CHECK(e.subject().SerializeAsString() == expected.subject().SerializeAsString());
      REQUIRE(e.attributes_size() == 1);
      CHECK(e.attributes(0).value() == expected.attributes(0).value());
      CHECK(e.hash() == f.recorded[k].hash());
      CHECK(e.hash().size() == 32);
      CHECK(e.has_recorded_at());
      if (k > 0) CHECK(e.previous_hash() == f.recorded[k - 1].hash());
    }
    if (page.next_page_token().empty()) break;
    tokens.push_back(page.next_page_token());
    q.set_page_token(page.next_page_token());
  }
  CHECK(tokens.size() == 2);
  REQUIRE(sequences.size() == 24);
  for (size_t i = 0; i < sequences.size(); ++i) CHECK(sequences[i] == static_cast<int64_t>(i) + 1);

  SECTION("a page that ends exactly at the last entry carries no token") {
    v1::QueryRequest exact;
    exact.set_page_size(12);
    v1::QueryResponse first = f.Run(exact);
    REQUIRE(first.events_size() == 12);
    REQUIRE_FALSE(first.next_page_token().empty());
    exact.set_page_token(first.next_page_token());
    v1::QueryResponse second = f.Run(exact);
    CHECK(second.events_size() == 12);
    CHECK(second.next_page_token().empty());
  }
  SECTION("entries appended between pages show up on a later page") {
    v1::QueryRequest paged;
    paged.set_page_size(20);
    v1::QueryResponse first = f.Run(paged);
    REQUIRE(first.events_size() == 20);
    f.Record(Event(25));
    paged.set_page_token(first.next_page_token());
    v1::QueryResponse rest = f.Run(paged);
    REQUIRE(rest.events_size() == 5);
    CHECK(rest.events(4).event_id() == "e-25");
  }
  SECTION("the default page is 100 and a larger page_size is capped at 1000") {
    v1::QueryRequest big;
    big.set_page_size(5000);
    CHECK(f.Run(big).events_size() == 24);
    CHECK(f.Run(v1::QueryRequest()).events_size() == 24);
  }
}

TEST_CASE("audit query: each filter selects exactly the matching entries and filters combine", "[audit][db]") {
  Fixture f;
  for (int i = 1; i <= 24; ++i) f.Record(Event(i));
  v1::QueryRequest q;

  q.add_types(v1::EVENT_TYPE_ALERT_SENT);
  q.add_types(v1::EVENT_TYPE_FINDING_REJECTED);
  CHECK(f.Ids(q) == Expected([](const v1::AuditEvent& e) {
          return e.type() == v1::EVENT_TYPE_ALERT_SENT || e.type() == v1::EVENT_TYPE_FINDING_REJECTED;
        }));
  CHECK(f.Ids(q).size() == 16);

  q = {};
  q.set_actor_user_id("u-4");
  CHECK(f.Ids(q) == Expected([](const v1::AuditEvent& e) { return e.actor().user_id() == "u-4"; }));
  CHECK(f.Ids(q).size() == 6);

  q = {};
  q.set_service("alert-routing");
  CHECK(f.Ids(q) == Expected([](const v1::AuditEvent& e) { return e.service() == "alert-routing"; }));

  q = {};
  q.mutable_subject()->set_study_instance_uid("1.2.826.0.1.3");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-3", "e-8", "e-13", "e-18", "e-23"});

  q = {};
  q.mutable_subject()->set_finding_id("f-2");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-2", "e-9", "e-16", "e-23"});

  q = {};
  q.mutable_subject()->set_alert_id("a-5");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-5", "e-11", "e-17", "e-23"});

  q = {};
  q.mutable_subject()->set_review_id("r-7");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-7"});

  q = {};
  q.mutable_subject()->set_case_id("c-1");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-11"});

  q = {};
  q.mutable_subject()->set_sop_instance_uid("1.2.3.999");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-5"});

  q = {};
  q.mutable_subject()->set_model_id("ct-head");
  q.mutable_subject()->set_label("pneumothorax");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-12", "e-14", "e-16", "e-18", "e-20", "e-22", "e-24"});

  q = {};
  q.mutable_subject()->set_generation(2);
  q.mutable_subject()->set_model_version("1.0.1");
  CHECK(f.Ids(q) == Expected([](const v1::AuditEvent& e) { return e.subject().generation() == 2; }));
  CHECK(f.Ids(q).size() == 12);

  SECTION("the time window is inclusive at its start and exclusive at its end") {
    q = {};
    q.mutable_occurred_after()->set_seconds(kT0 + 60 * 5);
    q.mutable_occurred_before()->set_seconds(kT0 + 60 * 9);
    CHECK(f.Ids(q) == std::vector<std::string>{"e-5", "e-6", "e-7", "e-8"});
    q.clear_occurred_before();
    CHECK(f.Ids(q).size() == 20);
  }
  SECTION("filters combine, and paging keeps them") {
    q = {};
    q.set_service("escalation");
    q.mutable_subject()->set_label("haemorrhage");
    q.add_types(v1::EVENT_TYPE_FINDING_ACCEPTED);
    q.set_page_size(2);
    std::vector<std::string> ids;
    for (;;) {
      v1::QueryResponse page = f.Run(q);
      for (const v1::AuditEvent& e : page.events()) ids.push_back(e.event_id());
      if (page.next_page_token().empty()) break;
      q.set_page_token(page.next_page_token());
    }
    CHECK(ids == Expected([](const v1::AuditEvent& e) {
            return e.service() == "escalation" && e.subject().label() == "haemorrhage" &&
                   e.type() == v1::EVENT_TYPE_FINDING_ACCEPTED;
          }));
    CHECK(ids.size() == 4);
  }
}

TEST_CASE("audit query: a bad window, page size or page token is INVALID_ARGUMENT", "[audit][db]") {
  Fixture f;
  f.Record(Event(1));
  v1::QueryRequest q;
  q.mutable_occurred_after()->set_seconds(kT0 + 10);
  q.mutable_occurred_before()->set_seconds(kT0 + 10);
  CHECK(f.query->Query(q).status().code() == absl::StatusCode::kInvalidArgument);
  q = {};
  q.set_page_size(-1);
  CHECK(f.query->Query(q).status().code() == absl::StatusCode::kInvalidArgument);
  for (const char* token : {"garbage", "seq:", "seq:-4", "seq:12x"}) {
    q = {};
    q.set_page_token(token);
    CHECK(f.query->Query(q).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("audit: a subject column edited behind the log's back breaks Verify at that entry", "[audit][db]") {
  Fixture f;
  for (int i = 1; i <= 6; ++i) f.Record(Event(i));
  REQUIRE(f.db->Exec("UPDATE audit.entries SET finding_id = 'f-other' WHERE sequence = 4").ok());
  auto v = f.log->Verify();
  REQUIRE(v.ok());
  CHECK_FALSE(v->ok());
  CHECK(v->first_broken_sequence() == 4);
  CHECK(v->reason() == v1::BREAK_REASON_HASH_MISMATCH);
}

TEST_CASE("audit: Migrate fills the subject columns of entries written before they existed", "[audit][db]") {
  Fixture f;
  for (int i = 1; i <= 6; ++i) f.Record(Event(i));
  // What a log written by the first schema version looks like after migration 2.
  REQUIRE(f.db->Exec("UPDATE audit.entries SET generation = NULL, finding_id = NULL, alert_id = NULL, review_id = NULL, "
                     "case_id = NULL, report_id = NULL, label = NULL, model_id = NULL, model_version = NULL, "
                     "sop_uid = NULL")
              .ok());
  auto broken = f.log->Verify();
  REQUIRE(broken.ok());
  CHECK_FALSE(broken->ok());
  REQUIRE(f.log->Migrate().ok());
  auto v = f.log->Verify();
  REQUIRE(v.ok());
  CHECK(v->ok());
  v1::QueryRequest q;
  q.mutable_subject()->set_finding_id("f-2");
  CHECK(f.Ids(q) == std::vector<std::string>{"e-2"});
}

}  // namespace
}  // namespace parallax::audit
