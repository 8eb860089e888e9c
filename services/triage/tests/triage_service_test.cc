// Triage's SubmitStudy, status and worklist on a real PostgreSQL: idempotent
// per (study, generation), a newer generation re-queues the study, a study no
// model applies to is recorded with the reasons, the worklist is ordered by
// urgency; a stored analysis records one STUDY_ANALYSED audit event per
// generation in triage.audit_outbox, without patient data, and a rolled-back
// store records none.
#include "triage_service.h"

#include <filesystem>

#include <catch2/catch.hpp>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/inference/v1/inference.pb.h"
#include "parallax/ingest_client/manifest_headers.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/store/bytea.h"
#include "parallax/store/testing/fresh_database.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"
#include "study_plan.h"
#include "triage_store.h"

namespace parallax::triage {
namespace {

namespace ph = parallax::phantom;

common::v1::StudyManifest ManifestOf(const ph::Study& study, uint64_t seed) {
  parallax::testing::TempDir tmp;
  dicom::StudyIdentity id;
  id.uid_seed = seed;
  auto written = dicom::WritePhantomStudy(study, id, tmp.path().string());
  REQUIRE(written.ok());
  std::vector<dicom::InstanceHeader> headers;
  for (const std::string& f : written->files) headers.push_back(*dicom::ReadInstanceHeaderFromFile(f));
  return ingest_client::ManifestFromHeaders(headers);
}

struct Triage {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<TriageStore> store;
  std::unique_ptr<JobQueue> queue;
  std::vector<inference::ModelManifest> models;
  std::unique_ptr<TriageService> service;
  Triage() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("triage"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    store = std::make_unique<TriageStore>(db.get());
    REQUIRE(store->Migrate().ok());
    queue = std::make_unique<JobQueue>(db.get(), JobQueueOptions{});
    auto m = LoadManifests(parallax::testing::SourceDir() + "/models");
    REQUIRE(m.ok());
    models = *m;
    service = std::make_unique<TriageService>(db.get(), store.get(), queue.get(), &models);
  }
  triage::v1::SubmitStudyResponse Submit(const common::v1::StudyManifest& m, int64_t generation) {
    triage::v1::SubmitStudyRequest r;
    *r.mutable_study() = m;
    r.mutable_study()->set_generation(generation);
    r.set_submission_id("test");
    auto out = service->Submit(r);
    REQUIRE(out.ok());
    return *out;
  }
};

TEST_CASE("triage: a submission is idempotent per generation and a newer generation re-queues the study",
          "[triage][db]") {
  Triage t;
  ph::ChestXrayOptions o;
  o.seed = 21;
  o.size = 512;
  const common::v1::StudyManifest film = ManifestOf(ph::MakeChestXray(o), 21);

  auto first = t.Submit(film, 1);
  CHECK(first.newly_accepted());
  auto again = t.Submit(film, 1);
  CHECK_FALSE(again.newly_accepted());
  CHECK(again.job_id() == first.job_id());
  auto status = t.store->Status(film.study_instance_uid());
  REQUIRE(status.ok());
  CHECK(status->state() == triage::v1::ANALYSIS_STATE_QUEUED);
  CHECK(status->generation() == 1);
  CHECK(status->modality() == "DX");

  auto newer = t.Submit(film, 2);
  CHECK(newer.newly_accepted());
  CHECK(newer.job_id() != first.job_id());
  CHECK(t.store->Status(film.study_instance_uid())->generation() == 2);
  auto old_job = t.queue->Get(std::stoll(first.job_id()));
  REQUIRE(old_job.ok());
  CHECK(old_job->state == JobState::kSuperseded);
  // A late resubmission of generation 1 changes nothing.
  CHECK_FALSE(t.Submit(film, 1).newly_accepted());
  CHECK(t.store->Status(film.study_instance_uid())->generation() == 2);
}

TEST_CASE("triage: a study no model applies to is recorded as not applicable with every reason, and queues nothing",
          "[triage][db]") {
  Triage t;
  ph::ChestXrayOptions o;
  o.seed = 22;
  o.size = 512;
  common::v1::StudyManifest film = ManifestOf(ph::MakeChestXray(o), 22);
  film.mutable_series(0)->set_modality("US");
  auto r = t.Submit(film, 1);
  CHECK(r.newly_accepted());
  CHECK(r.job_id().empty());
  auto status = t.store->Status(film.study_instance_uid());
  REQUIRE(status.ok());
  CHECK(status->state() == triage::v1::ANALYSIS_STATE_NOT_APPLICABLE);
  CHECK(status->reason().find("parallax.cxr: modality US") != std::string::npos);
  auto counts = t.queue->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->queued == 0);
}

TEST_CASE("triage: the worklist puts an emergency head CT before a routine film", "[triage][db]") {
  Triage t;
  ph::ChestXrayOptions film_options;
  film_options.seed = 23;
  film_options.size = 512;
  common::v1::StudyManifest film = ManifestOf(ph::MakeChestXray(film_options), 23);
  film.set_requested_priority("ROUTINE");
  ph::HeadCtOptions head_options;
  head_options.seed = 24;
  head_options.size = 128;
  common::v1::StudyManifest head = ManifestOf(ph::MakeHeadCt(head_options), 24);
  head.set_requested_priority("STAT");
  t.Submit(film, 1);
  t.Submit(head, 1);
  triage::v1::ListWorklistRequest request;
  auto list = t.store->Worklist(request);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].study_instance_uid() == head.study_instance_uid());
  CHECK((*list)[0].patient_setting() == "emergency");
  CHECK((*list)[0].urgency() > (*list)[1].urgency());
  request.set_modality("DX");
  auto films = t.store->Worklist(request);
  REQUIRE(films.ok());
  REQUIRE(films->size() == 1);
  CHECK((*films)[0].study_instance_uid() == film.study_instance_uid());
  // The queue hands out the urgent study first too.
  auto claimed = t.queue->Claim("test");
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  CHECK((*claimed)->study_instance_uid == head.study_instance_uid());
}

constexpr char kPatientId[] = "PAT-SECRET-7781";
constexpr char kAccession[] = "ACC-SECRET-9902";

struct OutboxEvent {
  std::string bytes;  // the serialized event as stored
  audit::v1::AuditEvent event;
};

std::vector<OutboxEvent> AuditOutbox(store::Database& db) {
  auto rows = db.Exec("SELECT event FROM triage.audit_outbox ORDER BY id");
  REQUIRE(rows.ok());
  std::vector<OutboxEvent> out;
  for (const store::Row& row : *rows) {
    auto bytes = store::FromByteaHex(row.Get(0).value_or(""), "triage.audit_outbox.event");
    REQUIRE(bytes.ok());
    OutboxEvent e{*bytes, {}};
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

// A film with patient data in its manifest, as ingest would send it.
common::v1::StudyManifest FilmWithPatientData(uint64_t seed) {
  ph::ChestXrayOptions o;
  o.seed = seed;
  o.size = 512;
  common::v1::StudyManifest film = ManifestOf(ph::MakeChestXray(o), seed);
  film.set_patient_id(kPatientId);
  film.set_accession_number(kAccession);
  return film;
}

// What a worker stores for a positive film: one model, one positive label.
AnalysisRecord PositiveAnalysis(const common::v1::StudyManifest& film, int64_t generation, int64_t job_id) {
  AnalysisRecord r;
  r.study_instance_uid = film.study_instance_uid();
  r.generation = generation;
  r.job_id = job_id;
  r.state = "analysed";
  r.decision = "positive";
  r.urgency = 7;
  r.positive_labels = {"pneumothorax"};
  r.quality_flags = {common::v1::QUALITY_FLAG_ROTATED, common::v1::QUALITY_FLAG_UNDEREXPOSED};
  inference::v1::AnalyzeResponse response;
  inference::v1::ModelResult* result = response.add_results();
  result->mutable_model()->set_model_id("parallax.cxr");
  result->mutable_model()->set_model_version("1.2.0");
  result->set_outcome(inference::v1::MODEL_OUTCOME_OK);
  common::v1::Finding* f = result->add_findings();
  f->set_finding_id(film.study_instance_uid() + "/" + std::to_string(generation) + "/pneumothorax");
  f->set_label("pneumothorax");
  f->set_positive(true);
  *f->mutable_model() = result->model();
  r.inference_response = response.SerializeAsString();
  r.route.mutable_study()->set_study_instance_uid(film.study_instance_uid());
  r.route.mutable_study()->set_generation(generation);
  *r.route.mutable_manifest() = film;  // carries the patient id and accession
  *r.route.add_findings() = *f;
  return r;
}

// Claims the queued job of the film and completes it with `record`.
absl::Status StoreThroughQueue(Triage& t, AnalysisRecord record) {
  auto claimed = t.queue->Claim("test");
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  const ClaimedJob& job = **claimed;
  REQUIRE(job.study_instance_uid == record.study_instance_uid);
  REQUIRE(job.generation == record.generation);
  record.job_id = job.job_id;
  return t.queue->Complete(job, [&](store::Transaction& txn, const CompletionContext&) {
    return t.store->StoreAnalysis(txn, record);
  });
}

TEST_CASE("triage: a stored analysis records one STUDY_ANALYSED per generation, without patient data",
          "[triage][audit][db]") {
  Triage t;
  const common::v1::StudyManifest film = FilmWithPatientData(31);
  const std::string uid = film.study_instance_uid();
  t.Submit(film, 1);
  REQUIRE(StoreThroughQueue(t, PositiveAnalysis(film, 1, 0)).ok());

  std::vector<OutboxEvent> events = AuditOutbox(*t.db);
  REQUIRE(events.size() == 1);
  const audit::v1::AuditEvent& e = events[0].event;
  CHECK(e.type() == audit::v1::EVENT_TYPE_STUDY_ANALYSED);
  CHECK(e.service() == "triage");
  CHECK(e.actor().kind() == audit::v1::ACTOR_KIND_SERVICE);
  CHECK(e.actor().system_id() == "triage");
  CHECK(e.event_id() == StudyAnalysedEventId(uid, 1));
  CHECK(e.subject().study_instance_uid() == uid);
  CHECK(e.subject().generation() == 1);
  CHECK(e.subject().model_id() == "parallax.cxr");
  CHECK(e.subject().model_version() == "1.2.0");
  CHECK(AttributeOf(e, "decision") == "positive");
  CHECK(AttributeOf(e, "urgency") == "7");
  CHECK(AttributeOf(e, "positive_labels") == "pneumothorax");
  CHECK(AttributeOf(e, "quality_flags") == "ROTATED,UNDEREXPOSED");
  CHECK(AttributeOf(e, "models") == "parallax.cxr@1.2.0");
  CHECK(AttributeOf(e, "superseded") == "<absent>");
  // The analysis stored beside it holds the manifest with the patient's
  // data; the event's bytes do not.
  auto stored = t.store->Analysis(uid, 1);
  REQUIRE(stored.ok());
  REQUIRE(stored->manifest().patient_id() == kPatientId);
  CHECK(events[0].bytes.find(kPatientId) == std::string::npos);
  CHECK(events[0].bytes.find(kAccession) == std::string::npos);
  CHECK(events[0].bytes.find("PHANTOM") == std::string::npos);

  // Storing the same generation again fails and records nothing more.
  absl::Status again = t.db->InTransaction(
      [&](store::Transaction& txn) { return t.store->StoreAnalysis(txn, PositiveAnalysis(film, 1, 99)); });
  CHECK(again.code() == absl::StatusCode::kAlreadyExists);
  CHECK(AuditOutbox(*t.db).size() == 1);

  // Generation 2, negative this time: its own event, no positive_labels.
  t.Submit(film, 2);
  AnalysisRecord negative = PositiveAnalysis(film, 2, 0);
  negative.decision = "negative";
  negative.positive_labels.clear();
  negative.quality_flags.clear();
  REQUIRE(StoreThroughQueue(t, negative).ok());
  events = AuditOutbox(*t.db);
  REQUIRE(events.size() == 2);
  CHECK(events[0].event.subject().generation() == 1);
  CHECK(events[1].event.subject().generation() == 2);
  CHECK(events[1].event.event_id() == StudyAnalysedEventId(uid, 2));
  CHECK(events[1].event.event_id() != events[0].event.event_id());
  CHECK(AttributeOf(events[1].event, "decision") == "negative");
  CHECK(AttributeOf(events[1].event, "positive_labels") == "<absent>");
  CHECK(AttributeOf(events[1].event, "quality_flags") == "<absent>");
  CHECK(events[1].bytes.find(kPatientId) == std::string::npos);
  CHECK(events[1].bytes.find(kAccession) == std::string::npos);
}

TEST_CASE("triage: an analysis store that rolls back records no audit event, and a retry records it once",
          "[triage][audit][db]") {
  Triage t;
  const common::v1::StudyManifest film = FilmWithPatientData(32);
  t.Submit(film, 1);
  auto claimed = t.queue->Claim("test");
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  const ClaimedJob& job = **claimed;
  AnalysisRecord record = PositiveAnalysis(film, 1, job.job_id);
  // Something after StoreAnalysis fails: the whole Complete rolls back.
  absl::Status failed = t.queue->Complete(job, [&](store::Transaction& txn, const CompletionContext&) -> absl::Status {
    if (absl::Status s = t.store->StoreAnalysis(txn, record); !s.ok()) return s;
    return absl::InternalError("simulated failure after the analysis was stored");
  });
  CHECK(failed.code() == absl::StatusCode::kInternal);
  CHECK(AuditOutbox(*t.db).empty());
  CHECK(*t.store->CountAnalyses(film.study_instance_uid()) == 0);

  // The same job completes on the retry: one analysis, one event.
  REQUIRE(t.queue->Complete(job, [&](store::Transaction& txn, const CompletionContext&) {
                  return t.store->StoreAnalysis(txn, record);
                }).ok());
  CHECK(*t.store->CountAnalyses(film.study_instance_uid()) == 1);
  std::vector<OutboxEvent> events = AuditOutbox(*t.db);
  REQUIRE(events.size() == 1);
  CHECK(events[0].event.event_id() == StudyAnalysedEventId(film.study_instance_uid(), 1));
}

TEST_CASE("triage: a not applicable or failed outcome is no STUDY_ANALYSED event", "[triage][audit][db]") {
  Triage t;
  const common::v1::StudyManifest film = FilmWithPatientData(33);
  t.Submit(film, 1);
  AnalysisRecord record = PositiveAnalysis(film, 1, 0);
  record.decision.clear();
  record.positive_labels.clear();
  SECTION("not applicable") {
    record.state = "not_applicable";
    record.reason = "parallax.cxr: view LL";
  }
  SECTION("failed") {
    record.state = "failed";
    record.reason = "parallax.cxr: input rejected";
  }
  REQUIRE(StoreThroughQueue(t, record).ok());
  CHECK(*t.store->CountAnalyses(film.study_instance_uid()) == 1);
  CHECK(AuditOutbox(*t.db).empty());
}

TEST_CASE("triage: the audit outbox is the last migration of the triage schema", "[triage][audit][db]") {
  const std::vector<store::Migration> migrations = TriageMigrations();
  REQUIRE(migrations.size() >= 2);
  for (size_t i = 0; i < migrations.size(); ++i) CHECK(migrations[i].version == static_cast<int>(i) + 1);
  CHECK(migrations.back().sql.find("triage.audit_outbox") != std::string::npos);
}

}  // namespace
}  // namespace parallax::triage
