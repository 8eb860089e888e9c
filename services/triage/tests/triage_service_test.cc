// Triage's SubmitStudy, status and worklist on a real PostgreSQL: idempotent
// per (study, generation), a newer generation re-queues the study, a study no
// model applies to is recorded with the reasons, the worklist is ordered by
// urgency.
#include "triage_service.h"

#include <filesystem>

#include <catch2/catch.hpp>

#include "parallax/dicom/study_writer.h"
#include "parallax/ingest_client/manifest_headers.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/store/testing/fresh_database.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"
#include "study_plan.h"

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

}  // namespace
}  // namespace parallax::triage
