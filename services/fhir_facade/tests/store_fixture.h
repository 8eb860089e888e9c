#pragma once
// A fresh `fhir` schema on the test cluster, with a store and its outbox,
// and helpers to build small resources. For the facade's db tests.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "ehr_outbox.h"
#include "fhir_schema.h"
#include "parallax/store/database.h"
#include "parallax/store/testing/fresh_database.h"
#include "resource_store.h"

namespace parallax::fhir_facade::testing {

struct StoreFixture {
  std::string url;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<EhrOutbox> outbox;
  std::unique_ptr<ResourceStore> store;

  explicit StoreFixture(const std::string& purpose, OutboxOptions options = FastOutbox())
      : url(store::testing::FreshDatabaseUrl(purpose)) {
    auto opened = store::Database::Open({url, 4});
    if (!opened.ok()) FAIL(opened.status().ToString());
    db = *std::move(opened);
    REQUIRE(MigrateFhirSchema(*db).ok());
    outbox = std::make_unique<EhrOutbox>(db.get(), options);
    store = std::make_unique<ResourceStore>(db.get(), outbox.get());
  }

  static OutboxOptions FastOutbox() {
    OutboxOptions o;
    o.max_attempts = 5;
    o.backoff_base = std::chrono::milliseconds(100);
    o.backoff_max = std::chrono::milliseconds(400);
    o.backoff_jitter = 0;
    return o;
  }

  int64_t Count(const std::string& sql) {
    auto rows = db->Exec(sql);
    REQUIRE(rows.ok());
    return (*rows)[0].GetInt64(0).value();
  }
};

// A resource of `type` with a business identifier, a patient, a status and a
// date, as the FHIR builders make them (shape only).
inline ResourceWrite MakeWrite(const std::string& type, const std::string& id, const std::string& status,
                               const std::string& patient = "P-1", const std::string& study = "1.2.840.1",
                               const std::string& date = "2026-12-04T10:00:00Z") {
  ResourceWrite w;
  w.type = type;
  w.id = id;
  w.resource = {{"resourceType", type},
                {"identifier", Json::array({{{"system", "urn:parallax:id"}, {"value", "biz-" + id}}})},
                {"status", status},
                {"subject", {{"type", "Patient"}, {"identifier", {{"system", "urn:parallax:patient-id"}, {"value", patient}}}}},
                {"effectiveDateTime", date}};
  w.keys = StandardKeys(type, w.resource, "urn:parallax:id", "urn:parallax:patient-id");
  w.keys.study_instance_uid = study;
  return w;
}

}  // namespace parallax::fhir_facade::testing
