// The STUDY_RECEIVED audit event on a real PostgreSQL: recorded in
// ingest.audit_outbox in the transaction that hands a stable study to
// triage, once per study generation, with the calling AE as actor and no
// patient data; a sweep whose transaction fails records nothing.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ingest_fixture.h"
#include "parallax/audit/v1/audit.pb.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/store/bytea.h"
#include "parallax/store/testing/fresh_database.h"
#include "study_index.h"

using namespace parallax;
using namespace parallax::ingest;

namespace {

constexpr char kPatientId[] = "PAT-4711-SECRET";
constexpr char kIssuer[] = "HOSPITAL-ISSUER-XYZ";
constexpr char kAccession[] = "ACC-0815-SECRET";
constexpr char kReferring[] = "Doe^Jane^Referrer";
constexpr char kDescription[] = "CT HEAD WITHOUT CONTRAST SECRET";

struct OutboxEvent {
  std::string event_id;
  std::string bytes;  // the serialized event as stored
  audit::v1::AuditEvent event;
};

std::vector<OutboxEvent> Outbox(store::Database& db) {
  auto rows = db.Exec("SELECT event_id, event FROM ingest.audit_outbox ORDER BY id");
  REQUIRE(rows.ok());
  std::vector<OutboxEvent> out;
  for (const store::Row& row : *rows) {
    OutboxEvent e;
    e.event_id = row.Get(0).value_or("");
    auto bytes = store::FromByteaHex(row.Get(1).value_or(""), "ingest.audit_outbox.event");
    REQUIRE(bytes.ok());
    e.bytes = *bytes;
    REQUIRE(e.event.ParseFromString(e.bytes));
    out.push_back(std::move(e));
  }
  return out;
}

std::string AttributeOf(const audit::v1::AuditEvent& e, const std::string& key) {
  for (const auto& a : e.attributes()) {
    if (a.key() == key) return a.value();
  }
  return "<absent>";
}

bool HoldsPatientData(const std::string& bytes) {
  for (const char* secret : {kPatientId, kIssuer, kAccession, kReferring, kDescription, "Doe^Jane", "SECRET"}) {
    if (bytes.find(secret) != std::string::npos) return true;
  }
  return false;
}

dicom::InstanceHeader Header(const std::string& study, const std::string& series, const std::string& modality) {
  dicom::InstanceHeader h;
  h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  h.sop_instance_uid = dicom::testing::NewUid();
  h.study_instance_uid = study;
  h.series_instance_uid = series;
  h.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  h.patient_id = kPatientId;
  h.issuer_of_patient_id = kIssuer;
  h.accession_number = kAccession;
  h.referring_physician = kReferring;
  h.study_description = kDescription;
  h.study_date = "20260101";
  h.modality = modality;
  h.body_part_examined = "HEAD";
  return h;
}

IndexedInstance Stored(const std::string& source, const std::string& calling_ae) {
  return IndexedInstance{"aa/" + dicom::testing::NewUid() + ".dcm", 1000, source, calling_ae};
}

struct Index {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<StudyIndex> index;
  Index() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("ingest_audit"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    index = std::make_unique<StudyIndex>(db.get());
    REQUIRE(index->Migrate().ok());
  }
  int64_t Count(const std::string& sql, const std::string& study) {
    auto rows = db->Exec(sql, {study});
    REQUIRE(rows.ok());
    return (*rows)[0].GetInt64(0).value_or(-1);
  }
  std::string StateOf(const std::string& study) {
    auto rows = db->Exec("SELECT state FROM ingest.studies WHERE study_uid = $1", {study});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    return (*rows)[0].Get(0).value_or("");
  }
};

}  // namespace

TEST_CASE("a stable study generation records one STUDY_RECEIVED with its calling AE and no patient data",
          "[ingest][audit][db]") {
  Index t;
  const std::string study = dicom::testing::NewUid();
  const std::string ct = dicom::testing::NewUid();
  const std::string sr = dicom::testing::NewUid();
  REQUIRE(*t.index->Add(Header(study, ct, "CT"), Stored("dimse", "CT_SCANNER_1")));
  REQUIRE(*t.index->Add(Header(study, ct, "CT"), Stored("dimse", "CT_SCANNER_1")));
  REQUIRE(*t.index->Add(Header(study, sr, "SR"), Stored("dimse", "WORKSTATION")));

  auto marked = t.index->MarkStableStudies(std::chrono::milliseconds(0));
  REQUIRE(marked.ok());
  REQUIRE(*marked == 1);
  std::vector<OutboxEvent> events = Outbox(*t.db);
  REQUIRE(events.size() == 1);
  const audit::v1::AuditEvent& e = events[0].event;
  CHECK(e.type() == audit::v1::EVENT_TYPE_STUDY_RECEIVED);
  CHECK(e.service() == "ingest");
  CHECK(e.actor().kind() == audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM);
  CHECK(e.actor().system_id() == "CT_SCANNER_1");  // the AE that sent most of it
  CHECK(e.subject().study_instance_uid() == study);
  CHECK(e.subject().generation() == 1);
  CHECK(e.event_id() == StudyReceivedEventId(study, 1));
  CHECK(events[0].event_id == e.event_id());
  CHECK(e.has_occurred_at());
  CHECK(AttributeOf(e, "instances") == "3");
  CHECK(AttributeOf(e, "modalities") == "CT,SR");
  CHECK(AttributeOf(e, "sources") == "dimse");
  CHECK(AttributeOf(e, "calling_aes") == "CT_SCANNER_1,WORKSTATION");
  // The study row holds the patient data; the event must not.
  CHECK(t.Count("SELECT count(*) FROM ingest.studies WHERE study_uid = $1 AND patient_id <> ''", study) == 1);
  CHECK_FALSE(HoldsPatientData(events[0].bytes));
  CHECK(t.Count("SELECT count(*) FROM ingest.triage_outbox WHERE study_uid = $1", study) == 1);

  // A sweep with nothing new records nothing more.
  REQUIRE(*t.index->MarkStableStudies(std::chrono::milliseconds(0)) == 0);
  CHECK(Outbox(*t.db).size() == 1);

  // A later instance (by STOW-RS) opens generation 2: one more event, for it.
  REQUIRE(*t.index->Add(Header(study, ct, "CT"), Stored("stow", "")));
  REQUIRE(*t.index->MarkStableStudies(std::chrono::milliseconds(0)) == 1);
  events = Outbox(*t.db);
  REQUIRE(events.size() == 2);
  std::map<int64_t, int> per_generation;
  for (const OutboxEvent& o : events) {
    CHECK(o.event.type() == audit::v1::EVENT_TYPE_STUDY_RECEIVED);
    CHECK(o.event.subject().study_instance_uid() == study);
    CHECK_FALSE(HoldsPatientData(o.bytes));
    ++per_generation[o.event.subject().generation()];
  }
  CHECK(per_generation == std::map<int64_t, int>{{1, 1}, {2, 1}});
  CHECK(AttributeOf(events[1].event, "instances") == "4");
  CHECK(AttributeOf(events[1].event, "sources") == "dimse,stow");
  CHECK(events[1].event.event_id() == StudyReceivedEventId(study, 2));
}

TEST_CASE("a study received by STOW-RS only is recorded with ingest itself as the actor", "[ingest][audit][db]") {
  Index t;
  const std::string study = dicom::testing::NewUid();
  REQUIRE(*t.index->Add(Header(study, dicom::testing::NewUid(), "CR"), Stored("stow", "")));
  REQUIRE(*t.index->MarkStableStudies(std::chrono::milliseconds(0)) == 1);
  std::vector<OutboxEvent> events = Outbox(*t.db);
  REQUIRE(events.size() == 1);
  CHECK(events[0].event.actor().kind() == audit::v1::ACTOR_KIND_SERVICE);
  CHECK(events[0].event.actor().system_id() == "ingest");
  CHECK(AttributeOf(events[0].event, "modalities") == "CR");
  CHECK(AttributeOf(events[0].event, "calling_aes") == "<absent>");
  CHECK_FALSE(HoldsPatientData(events[0].bytes));
}

TEST_CASE("a stability sweep whose transaction fails records no audit event and hands nothing to triage",
          "[ingest][audit][db]") {
  Index t;
  const std::string study = dicom::testing::NewUid();
  REQUIRE(*t.index->Add(Header(study, dicom::testing::NewUid(), "CT"), Stored("dimse", "CT_SCANNER_1")));

  SECTION("failing at commit, after the event was enqueued") {
    // A deferred constraint trigger fires at COMMIT, after every statement
    // of the sweep (the audit enqueue included) succeeded.
    REQUIRE(t.db->ExecScript(R"sql(
CREATE FUNCTION ingest.refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'commit refused by test'; END $$;
CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON ingest.triage_outbox
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ingest.refuse_commit();
)sql")
                .ok());
    auto marked = t.index->MarkStableStudies(std::chrono::milliseconds(0));
    CHECK_FALSE(marked.ok());
    CHECK(Outbox(*t.db).empty());
    CHECK(t.Count("SELECT count(*) FROM ingest.triage_outbox WHERE study_uid = $1", study) == 0);
    CHECK(t.StateOf(study) == "receiving");
    REQUIRE(t.db->ExecScript("DROP TRIGGER refuse_commit ON ingest.triage_outbox").ok());
  }
  SECTION("failing to enqueue the event") {
    REQUIRE(t.db->ExecScript("ALTER TABLE ingest.audit_outbox RENAME TO audit_outbox_away").ok());
    auto marked = t.index->MarkStableStudies(std::chrono::milliseconds(0));
    CHECK_FALSE(marked.ok());
    CHECK(t.Count("SELECT count(*) FROM ingest.triage_outbox WHERE study_uid = $1", study) == 0);
    CHECK(t.StateOf(study) == "receiving");
    REQUIRE(t.db->ExecScript("ALTER TABLE ingest.audit_outbox_away RENAME TO audit_outbox").ok());
    CHECK(Outbox(*t.db).empty());
  }
  // Once the failure is gone, the next sweep records the generation once.
  REQUIRE(*t.index->MarkStableStudies(std::chrono::milliseconds(0)) == 1);
  std::vector<OutboxEvent> events = Outbox(*t.db);
  REQUIRE(events.size() == 1);
  CHECK(events[0].event.subject().generation() == 1);
  CHECK(t.Count("SELECT count(*) FROM ingest.triage_outbox WHERE study_uid = $1", study) == 1);
}

TEST_CASE("instances sent by C-STORE are recorded as received from the calling AE once the study is stable",
          "[ingest][audit][db]") {
  ingest::testing::IngestFixture f;
  f.config().stable_after = std::chrono::milliseconds(200);
  f.config().stability_sweep_interval = std::chrono::milliseconds(50);
  f.Start();
  auto files = f.WriteStudy(3);
  auto r = f.StoreScu(files, "MODALITY_A");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::vector<OutboxEvent> events;
  for (int i = 0; i < 200 && events.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    events = Outbox(f.db());
  }
  REQUIRE(events.size() == 1);
  const audit::v1::AuditEvent& e = events[0].event;
  CHECK(e.type() == audit::v1::EVENT_TYPE_STUDY_RECEIVED);
  CHECK(e.actor().kind() == audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM);
  CHECK(e.actor().system_id() == "MODALITY_A");
  CHECK(e.subject().generation() == 1);
  CHECK(AttributeOf(e, "instances") == "3");
  CHECK(AttributeOf(e, "modalities") == "CT");
  // The sample instances carry a patient id; the event does not.
  dicom::testing::SampleInstance sample;
  REQUIRE_FALSE(sample.patient_id.empty());
  CHECK(events[0].bytes.find(sample.patient_id) == std::string::npos);
  CHECK(events[0].bytes.find("PHANTOM^TEST") == std::string::npos);  // the sample's patient name
  CHECK(events[0].bytes.find("ACC0001") == std::string::npos);       // and accession number
  // Further sweeps of the stable study add nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(Outbox(f.db()).size() == 1);
}
