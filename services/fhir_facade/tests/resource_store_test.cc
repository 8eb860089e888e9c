// The resource store and its outbox on a real PostgreSQL: versions and
// duplicate detection, search by patient / study / status / date, one
// transaction for resources and outbox entries, superseding and ordering.
#include <catch2/catch.hpp>
#include <thread>

#include "store_fixture.h"

namespace parallax::fhir_facade {
namespace {

using testing::MakeWrite;
using testing::StoreFixture;

std::vector<std::string> Ids(const SearchPage& page) {
  std::vector<std::string> ids;
  for (const StoredResource& r : page.resources) ids.push_back(r.id);
  return ids;
}

SearchPage MustSearch(ResourceStore& store, const std::string& type, const std::string& query) {
  auto q = ParseSearchQuery(query);
  REQUIRE(q.ok());
  auto page = store.Search(type, *q);
  REQUIRE(page.ok());
  return *page;
}

TEST_CASE("a changed resource becomes a new version and an identical resend is a duplicate", "[fhir_facade][db]") {
  StoreFixture f("fhir_store_versions");
  ResourceWrite w = MakeWrite("DiagnosticReport", "dr-1", "preliminary");
  auto first = f.store->Put(w);
  REQUIRE(first.ok());
  CHECK(first->version_id == 1);
  CHECK_FALSE(first->duplicate);
  CHECK(first->outbox_entry_id > 0);

  // The same content, even with a caller-supplied meta, changes nothing.
  ResourceWrite resend = w;
  resend.resource["meta"] = {{"versionId", "99"}, {"lastUpdated", "2000-01-01T00:00:00Z"}};
  auto again = f.store->Put(resend);
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->version_id == 1);
  CHECK(again->last_updated == first->last_updated);
  CHECK(again->outbox_entry_id == first->outbox_entry_id);
  CHECK(f.Count("SELECT count(*) FROM fhir.outbox") == 1);

  ResourceWrite final_write = MakeWrite("DiagnosticReport", "dr-1", "final");
  auto second = f.store->Put(final_write);
  REQUIRE(second.ok());
  CHECK(second->version_id == 2);
  CHECK_FALSE(second->duplicate);
  CHECK(second->outbox_entry_id > first->outbox_entry_id);

  auto current = f.store->Read("DiagnosticReport", "dr-1");
  REQUIRE(current.ok());
  CHECK(current->version_id == 2);
  CHECK(current->resource["status"] == "final");
  CHECK(current->resource["id"] == "dr-1");
  CHECK(current->resource["meta"]["versionId"] == "2");
  CHECK(current->resource["meta"]["lastUpdated"] == second->last_updated);
  CHECK(second->last_updated.size() == 24);  // 2026-12-04T10:00:00.000Z

  auto old = f.store->ReadVersion("DiagnosticReport", "dr-1", 1);
  REQUIRE(old.ok());
  CHECK(old->resource["status"] == "preliminary");
  CHECK(old->resource["meta"]["versionId"] == "1");
  CHECK(f.Count("SELECT count(*) FROM fhir.resource_history") == 2);

  CHECK(f.store->Read("DiagnosticReport", "dr-unknown").status().code() == absl::StatusCode::kNotFound);
  CHECK(f.store->ReadVersion("DiagnosticReport", "dr-1", 3).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.store->Read("Patient", "x").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("malformed writes are refused before anything is stored", "[fhir_facade][db]") {
  StoreFixture f("fhir_store_refusals");
  ResourceWrite wrong_type = MakeWrite("Observation", "obs-1", "final");
  wrong_type.resource["resourceType"] = "DiagnosticReport";
  CHECK(f.store->Put(wrong_type).status().code() == absl::StatusCode::kInvalidArgument);
  ResourceWrite bad_id = MakeWrite("Observation", "obs 1/..", "final");
  CHECK(f.store->Put(bad_id).status().code() == absl::StatusCode::kInvalidArgument);
  ResourceWrite patient = MakeWrite("Observation", "obs-1", "final");
  patient.type = "Patient";
  patient.resource["resourceType"] = "Patient";
  CHECK(f.store->Put(patient).status().code() == absl::StatusCode::kInvalidArgument);
  ResourceWrite bad_date = MakeWrite("Observation", "obs-1", "final", "P-1", "1.2", "yesterday");
  CHECK(f.store->Put(bad_date).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.Count("SELECT count(*) FROM fhir.resources") == 0);
  CHECK(f.Count("SELECT count(*) FROM fhir.outbox") == 0);
}

TEST_CASE("a refused check rolls back every write of the batch with its outbox entries", "[fhir_facade][db]") {
  StoreFixture f("fhir_store_batch");
  std::vector<ResourceWrite> batch = {MakeWrite("Observation", "obs-1", "final"),
                                      MakeWrite("DiagnosticReport", "dr-1", "final")};
  auto refused = f.store->PutAll(batch, [](store::Transaction&) {
    return absl::FailedPreconditionError("not now");
  });
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.Count("SELECT count(*) FROM fhir.resources") == 0);
  CHECK(f.Count("SELECT count(*) FROM fhir.outbox") == 0);

  auto stored = f.store->PutAll(batch);
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 2);
  CHECK((*stored)[0].outbox_entry_id < (*stored)[1].outbox_entry_id);
  CHECK(f.Count("SELECT count(*) FROM fhir.outbox WHERE state = 'pending'") == 2);
}

TEST_CASE("search finds resources by patient, study, status and date, newest first, in pages", "[fhir_facade][db]") {
  StoreFixture f("fhir_store_search");
  REQUIRE(f.store->Put(MakeWrite("DiagnosticReport", "dr-a", "final", "P-1", "1.1", "2026-12-01T08:00:00Z")).ok());
  REQUIRE(f.store->Put(MakeWrite("DiagnosticReport", "dr-b", "preliminary", "P-1", "1.2", "2026-12-03T08:00:00Z")).ok());
  REQUIRE(f.store->Put(MakeWrite("DiagnosticReport", "dr-c", "amended", "P-2", "1.3", "2026-12-05T23:30:00+01:00")).ok());
  REQUIRE(f.store->Put(MakeWrite("Observation", "obs-a", "final", "P-1", "1.1", "2026-12-01T08:00:00Z")).ok());

  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "")) == std::vector<std::string>{"dr-c", "dr-b", "dr-a"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "patient=P-1")) == std::vector<std::string>{"dr-b", "dr-a"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "patient=urn:parallax:patient-id|P-2")) ==
        std::vector<std::string>{"dr-c"});
  CHECK(MustSearch(*f.store, "DiagnosticReport", "patient=other-system|P-2").resources.empty());
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "study=1.2")) == std::vector<std::string>{"dr-b"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "study=urn:oid:1.1")) == std::vector<std::string>{"dr-a"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "status=final,amended")) ==
        std::vector<std::string>{"dr-c", "dr-a"});
  CHECK(Ids(MustSearch(*f.store, "Observation", "patient=P-1")) == std::vector<std::string>{"obs-a"});

  // Dates: dr-c is 2026-12-05T22:30Z.
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=2026-12-03")) == std::vector<std::string>{"dr-b"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=eq2026-12")) ==
        std::vector<std::string>{"dr-c", "dr-b", "dr-a"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=ge2026-12-03")) == std::vector<std::string>{"dr-c", "dr-b"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=gt2026-12-03")) == std::vector<std::string>{"dr-c"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=le2026-12-03")) == std::vector<std::string>{"dr-b", "dr-a"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=lt2026-12-03")) == std::vector<std::string>{"dr-a"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=ge2026-12-02&date=le2026-12-04")) ==
        std::vector<std::string>{"dr-b"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "date=2026-12-05T22:30:00Z")) ==
        std::vector<std::string>{"dr-c"});
  CHECK(Ids(MustSearch(*f.store, "DiagnosticReport", "patient=P-1&status=final&date=ge2026-11")) ==
        std::vector<std::string>{"dr-a"});

  SearchPage first = MustSearch(*f.store, "DiagnosticReport", "_count=2");
  CHECK(first.total == 3);
  CHECK(Ids(first) == std::vector<std::string>{"dr-c", "dr-b"});
  SearchPage second = MustSearch(*f.store, "DiagnosticReport", "_count=2&_offset=2");
  CHECK(second.total == 3);
  CHECK(Ids(second) == std::vector<std::string>{"dr-a"});
  SearchPage beyond = MustSearch(*f.store, "DiagnosticReport", "_count=2&_offset=10");
  CHECK(beyond.resources.empty());
  CHECK(beyond.total == 3);
}

TEST_CASE("a newer version supersedes an unsent one unless something queued between references it",
          "[fhir_facade][db]") {
  StoreFixture f("fhir_store_supersede");
  // Report v1 as a batch: ImagingStudy, Observation, DiagnosticReport referencing both.
  auto batch = [](const std::string& status) {
    ResourceWrite study = MakeWrite("ImagingStudy", "is-1", "available");
    ResourceWrite obs = MakeWrite("Observation", "obs-1", status);
    obs.resource["derivedFrom"] = Json::array({{{"reference", "ImagingStudy/is-1"}}});
    ResourceWrite dr = MakeWrite("DiagnosticReport", "dr-1", status);
    dr.resource["result"] = Json::array({{{"reference", "Observation/obs-1"}}});
    dr.resource["imagingStudy"] = Json::array({{{"reference", "ImagingStudy/is-1"}}});
    return std::vector<ResourceWrite>{study, obs, dr};
  };
  auto v1 = f.store->PutAll(batch("preliminary"));
  REQUIRE(v1.ok());
  // The republished report (final; the ImagingStudy is unchanged).
  auto v2 = f.store->PutAll(batch("final"));
  REQUIRE(v2.ok());
  CHECK((*v2)[0].duplicate);
  // The old Observation and report are superseded; the ImagingStudy entry stays.
  auto old_obs = f.outbox->Get((*v1)[1].outbox_entry_id);
  REQUIRE(old_obs.ok());
  CHECK(old_obs->state == OutboxEntryState::kSuperseded);
  CHECK(old_obs->superseded_by == (*v2)[1].outbox_entry_id);
  CHECK(f.outbox->Get((*v1)[2].outbox_entry_id)->state == OutboxEntryState::kSuperseded);
  CHECK(f.outbox->Get((*v1)[0].outbox_entry_id)->state == OutboxEntryState::kPending);
  CHECK(f.Count("SELECT count(*) FROM fhir.outbox WHERE state = 'pending'") == 3);

  // An Observation changed alone after a report referencing it was queued
  // must not jump behind that report: the old version is not superseded.
  REQUIRE(f.store->Put(MakeWrite("Observation", "obs-1", "amended")).ok());
  CHECK(f.outbox->Get((*v2)[1].outbox_entry_id)->state == OutboxEntryState::kPending);
}

TEST_CASE("the outbox hands out only the head of each study, in enqueue order", "[fhir_facade][db]") {
  StoreFixture f("fhir_outbox_order");
  auto a1 = f.store->Put(MakeWrite("Observation", "obs-a", "final", "P-1", "study-a"));
  auto b1 = f.store->Put(MakeWrite("Observation", "obs-b", "final", "P-2", "study-b"));
  auto a2 = f.store->Put(MakeWrite("DiagnosticReport", "dr-a", "final", "P-1", "study-a"));
  REQUIRE((a1.ok() && b1.ok() && a2.ok()));
  auto first = f.outbox->Claim("w1", std::chrono::seconds(30));
  auto second = f.outbox->Claim("w2", std::chrono::seconds(30));
  auto third = f.outbox->Claim("w3", std::chrono::seconds(30));
  REQUIRE((first.ok() && second.ok() && third.ok()));
  REQUIRE(first->has_value());
  REQUIRE(second->has_value());
  CHECK((*first)->entry_id == a1->outbox_entry_id);
  CHECK((*second)->entry_id == b1->outbox_entry_id);
  CHECK_FALSE(third->has_value());  // dr-a waits for obs-a

  // A retryable failure keeps the head; the study's next entry still waits.
  auto state = f.outbox->Fail(**first, 503, "EHR answered HTTP 503", true);
  REQUIRE(state.ok());
  CHECK(*state == OutboxEntryState::kRetrying);
  auto none = f.outbox->Claim("w3", std::chrono::seconds(30));
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto retried = f.outbox->Claim("w3", std::chrono::seconds(30));
  REQUIRE(retried.ok());
  REQUIRE(retried->has_value());
  CHECK((*retried)->entry_id == a1->outbox_entry_id);
  CHECK((*retried)->attempt == 2);
  // The first worker's lease is gone: it can no longer complete.
  CHECK(f.outbox->Complete(**first, 200).status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(f.outbox->Complete(**retried, 201).ok());
  auto next = f.outbox->Claim("w3", std::chrono::seconds(30));
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK((*next)->entry_id == a2->outbox_entry_id);

  auto counts = f.outbox->Counts();
  REQUIRE(counts.ok());
  CHECK(counts->delivered == 1);
  CHECK(counts->delivering == 2);
}

TEST_CASE("a lease that expires returns the entry for another attempt", "[fhir_facade][db]") {
  StoreFixture f("fhir_outbox_lease");
  auto put = f.store->Put(MakeWrite("Task", "task-1", "requested"));
  REQUIRE(put.ok());
  auto claimed = f.outbox->Claim("dead-worker", std::chrono::milliseconds(50));
  REQUIRE(claimed.ok());
  REQUIRE(claimed->has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto again = f.outbox->Claim("live-worker", std::chrono::seconds(30));
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->entry_id == put->outbox_entry_id);
  CHECK((*again)->attempt == 2);
}

TEST_CASE("a full outbox refuses new resources with RESOURCE_EXHAUSTED", "[fhir_facade][db]") {
  OutboxOptions options = StoreFixture::FastOutbox();
  options.capacity = 2;
  StoreFixture f("fhir_outbox_capacity", options);
  REQUIRE(f.store->Put(MakeWrite("Task", "task-1", "requested")).ok());
  REQUIRE(f.store->Put(MakeWrite("Task", "task-2", "requested")).ok());
  auto full = f.store->Put(MakeWrite("Task", "task-3", "requested"));
  CHECK(full.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(f.Count("SELECT count(*) FROM fhir.resources") == 2);
}

}  // namespace
}  // namespace parallax::fhir_facade
