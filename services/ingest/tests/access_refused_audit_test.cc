// ACCESS_REFUSED for refused DICOM associations, on a real PostgreSQL: the
// running service records a refused calling AE (and a wrong called AE) in
// ingest.audit_outbox once per (AE, peer) per window, with the repeats
// counted; and the rate limiter's windows, flushes and bound, driven by a
// hand-moved clock.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "access_refusal_audit.h"
#include "ingest_fixture.h"
#include "parallax/audit/v1/audit.pb.h"
#include "parallax/audit_client/audit_recorder.h"
#include "parallax/store/bytea.h"
#include "parallax/store/testing/fresh_database.h"

using namespace parallax;
using namespace parallax::ingest;

namespace {

std::vector<audit::v1::AuditEvent> RefusedEvents(store::Database& db) {
  auto rows = db.Exec("SELECT event FROM ingest.audit_outbox ORDER BY id");
  REQUIRE(rows.ok());
  std::vector<audit::v1::AuditEvent> out;
  for (const store::Row& row : *rows) {
    auto bytes = store::FromByteaHex(row.Get(0).value_or(""), "ingest.audit_outbox.event");
    REQUIRE(bytes.ok());
    audit::v1::AuditEvent e;
    REQUIRE(e.ParseFromString(*bytes));
    if (e.type() == audit::v1::EVENT_TYPE_ACCESS_REFUSED) out.push_back(std::move(e));
  }
  return out;
}

std::string AttributeOf(const audit::v1::AuditEvent& e, const std::string& key) {
  for (const auto& a : e.attributes()) {
    if (a.key() == key) return a.value();
  }
  return "<absent>";
}

int64_t Refusals(const std::vector<audit::v1::AuditEvent>& events) {
  int64_t sum = 0;
  for (const auto& e : events) sum += std::stoll(AttributeOf(e, "refusals"));
  return sum;
}

// An outbox in schema "ingest" of a fresh database, a recorder that only
// stores, and an auditor on a clock the test moves.
struct Auditor {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<audit_client::AuditRecorder> recorder;
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  std::unique_ptr<AccessRefusalAuditor> auditor;

  explicit Auditor(size_t max_tracked = 1024) {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("ingest_refused"), 2});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    REQUIRE(audit_client::AuditRecorder::Migrate(*db, "ingest").ok());
    audit_client::AuditRecorderOptions options;
    options.service = "ingest";
    options.listen = false;
    recorder = std::make_unique<audit_client::AuditRecorder>(db.get(), "ingest", options);
    AccessRefusalAuditOptions a;
    a.window = std::chrono::seconds(60);
    a.max_tracked = max_tracked;
    a.now = [this] { return now; };
    auditor = std::make_unique<AccessRefusalAuditor>(recorder.get(), a);  // not started: the test flushes
  }
  void Advance(std::chrono::seconds s) { now += s; }
};

}  // namespace

TEST_CASE("a refused calling AE is recorded as ACCESS_REFUSED once and a retry within the minute adds no event",
          "[ingest][audit][db]") {
  ingest::testing::IngestFixture f;
  f.config().allowed_calling_aes = {"CT_SCANNER_1"};
  f.Start();
  auto files = f.WriteStudy(1);
  auto refused = f.StoreScu(files, "INTRUDER");
  INFO(refused.output);
  REQUIRE(refused.exit_code != 0);
  REQUIRE(refused.output.find("Calling AE Title Not Recognized") != std::string::npos);

  // Recorded before the rejection went out: no waiting needed.
  std::vector<audit::v1::AuditEvent> events = RefusedEvents(f.db());
  REQUIRE(events.size() == 1);
  const audit::v1::AuditEvent& e = events[0];
  CHECK(e.service() == "ingest");
  CHECK(e.outcome() == audit::v1::OUTCOME_DENIED);
  CHECK(e.actor().kind() == audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM);
  CHECK(e.actor().system_id() == "INTRUDER");
  CHECK(e.actor().network_address() == "127.0.0.1");
  CHECK(AttributeOf(e, "action") == "DICOM association");
  CHECK(AttributeOf(e, "reason") == "calling AE title not in allowed_calling_aes");
  CHECK(AttributeOf(e, "refusals") == "1");
  CHECK_FALSE(e.event_id().empty());
  CHECK(e.has_occurred_at());

  // The same AE retries (a C-ECHO this time) within the minute: refused, counted, not recorded.
  auto again = ingest::testing::Run("TCP_NODELAY=1 echoscu -aet INTRUDER -aec " + f.config().ae_title +
                                    " 127.0.0.1 " + std::to_string(f.config().dicom_port));
  INFO(again.output);
  REQUIRE(again.exit_code != 0);
  CHECK(RefusedEvents(f.db()).size() == 1);

  // An allowed AE is not refused and not recorded.
  REQUIRE(f.StoreScu(files, "CT_SCANNER_1").exit_code == 0);
  CHECK(RefusedEvents(f.db()).size() == 1);
  CHECK(f.CountInstances() == 1);

  // An allowed AE calling the wrong AE title is another (AE, peer): its own event.
  auto wrong_called = ingest::testing::Run("TCP_NODELAY=1 echoscu -aet CT_SCANNER_1 -aec NOT_PARALLAX 127.0.0.1 " +
                                           std::to_string(f.config().dicom_port));
  REQUIRE(wrong_called.exit_code != 0);
  events = RefusedEvents(f.db());
  REQUIRE(events.size() == 2);
  CHECK(events[1].actor().system_id() == "CT_SCANNER_1");
  CHECK(AttributeOf(events[1], "reason") == "called AE title not recognized: NOT_PARALLAX");
  CHECK(AttributeOf(events[1], "refusals") == "1");

  // Stopping the service records the suppressed retry, so no refusal goes uncounted.
  f.Stop();
  events = RefusedEvents(f.db());
  REQUIRE(events.size() == 3);
  CHECK(events[2].actor().system_id() == "INTRUDER");
  CHECK(AttributeOf(events[2], "refusals") == "1");
  CHECK(Refusals(events) == 3);
}

TEST_CASE("refusals within the window are counted and recorded once the window has ended", "[ingest][audit][db]") {
  Auditor t;
  t.auditor->OnRefused("MODALITY_X", "10.0.0.7", "calling AE title not in allowed_calling_aes");
  REQUIRE(RefusedEvents(*t.db).size() == 1);
  for (int i = 0; i < 5; ++i) {
    t.Advance(std::chrono::seconds(1));
    t.auditor->OnRefused("MODALITY_X", "10.0.0.7", "calling AE title not in allowed_calling_aes");
  }
  CHECK(RefusedEvents(*t.db).size() == 1);
  CHECK(t.auditor->Flush() == 0);  // the window is still open
  CHECK(RefusedEvents(*t.db).size() == 1);

  t.Advance(std::chrono::seconds(60));
  CHECK(t.auditor->Flush() == 1);
  std::vector<audit::v1::AuditEvent> events = RefusedEvents(*t.db);
  REQUIRE(events.size() == 2);
  CHECK(AttributeOf(events[1], "refusals") == "5");
  CHECK(events[1].actor().system_id() == "MODALITY_X");
  CHECK(events[1].actor().network_address() == "10.0.0.7");
  CHECK(events[1].outcome() == audit::v1::OUTCOME_DENIED);
  CHECK(t.auditor->tracked() == 1);

  // A window that ends with nothing counted records nothing and is forgotten.
  t.Advance(std::chrono::seconds(61));
  CHECK(t.auditor->Flush() == 0);
  CHECK(t.auditor->tracked() == 0);
  CHECK(RefusedEvents(*t.db).size() == 2);
}

TEST_CASE("a modality retrying every second for three minutes yields one event a minute and every refusal counted",
          "[ingest][audit][db]") {
  Auditor t;
  for (int second = 0; second < 180; ++second) {
    t.auditor->OnRefused("RETRIER", "10.0.0.9", "calling AE title not in allowed_calling_aes");
    t.auditor->OnRefused("OTHER", "10.0.0.10", "calling AE title not in allowed_calling_aes");
    t.auditor->Flush();
    t.Advance(std::chrono::seconds(1));
  }
  t.auditor->Stop();  // records what is still counted
  std::vector<audit::v1::AuditEvent> retrier, other;
  for (auto& e : RefusedEvents(*t.db)) (e.actor().system_id() == "RETRIER" ? retrier : other).push_back(e);
  CHECK(retrier.size() == 4);  // at 0 s, 60 s, 120 s, and the remainder at stop
  CHECK(Refusals(retrier) == 180);
  CHECK(other.size() == 4);
  CHECK(Refusals(other) == 180);
  REQUIRE(retrier.size() == 4);
  CHECK(AttributeOf(retrier[0], "refusals") == "1");
  CHECK(AttributeOf(retrier[1], "refusals") == "60");
  CHECK(AttributeOf(retrier[3], "refusals") == "59");
}

TEST_CASE("callers beyond the tracked limit share one overflow entry so the audit log stays bounded",
          "[ingest][audit][db]") {
  Auditor t(/*max_tracked=*/2);
  t.auditor->OnRefused("AE_1", "10.0.0.1", "r");
  t.auditor->OnRefused("AE_2", "10.0.0.2", "r");
  for (int i = 0; i < 50; ++i) t.auditor->OnRefused("AE_X" + std::to_string(i), "10.0.1." + std::to_string(i), "r");
  CHECK(t.auditor->tracked() == 3);  // AE_1, AE_2 and the overflow pair
  std::vector<audit::v1::AuditEvent> events = RefusedEvents(*t.db);
  REQUIRE(events.size() == 3);  // AE_1, AE_2, and one for the 50 newcomers
  CHECK(events[2].actor().system_id() == "*");
  CHECK(events[2].actor().network_address().empty());
  CHECK(AttributeOf(events[2], "refusals") == "1");

  t.Advance(std::chrono::seconds(61));
  CHECK(t.auditor->Flush() == 1);      // the overflow pair's 49 repeats
  CHECK(t.auditor->tracked() == 1);    // AE_1 and AE_2 ended empty and are forgotten
  for (int i = 0; i < 50; ++i) t.auditor->OnRefused("AE_Y" + std::to_string(i), "10.0.2." + std::to_string(i), "r");
  CHECK(t.auditor->tracked() == 2);    // the overflow pair and AE_Y0
  t.auditor->Stop();
  events = RefusedEvents(*t.db);
  // AE_1, AE_2, *(1), *(49), AE_Y0, and AE_Y1..AE_Y49 as one overflow event at stop.
  REQUIRE(events.size() == 6);
  int64_t overflow = 0;
  for (const auto& e : events) {
    if (e.actor().system_id() == "*") overflow += std::stoll(AttributeOf(e, "refusals"));
  }
  CHECK(overflow == 1 + 49 + 49);
  CHECK(Refusals(events) == 102);
}
