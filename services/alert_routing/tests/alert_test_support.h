#pragma once
// Shared by the alert routing DB tests: a fresh database with the alerting
// schema, the audit outbox (the AuditRecorder has no audit address: events
// stay in alerting.audit_outbox, where the tests read them), the service,
// callers and findings.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "alert_policy.h"
#include "alert_service.h"
#include "alert_store.h"
#include "parallax/audit_client/audit_recorder.h"
#include "parallax/store/bytea.h"
#include "parallax/store/testing/fresh_database.h"
#include "parallax/testing/environment.h"

namespace parallax::alerting::testing {

inline AlertPolicy ShippedPolicy() {
  auto p = LoadAlertPolicy(parallax::testing::SourceDir() + "/config/alert_policy.yaml", {});
  REQUIRE(p.ok());
  return *std::move(p);
}

inline AlertPolicy PolicyFromYaml(const std::string& yaml) {
  auto p = ParseAlertPolicy(yaml, "test_policy.yaml", {});
  INFO(p.status().message());
  REQUIRE(p.ok());
  return *std::move(p);
}

inline auth::Principal Service(const std::string& id = "triage") {
  auth::Principal p;
  p.user_id = id;
  p.roles = {escalation::v1::ROLE_INTEGRATION};
  return p;
}

inline auth::Principal User(const std::string& id, std::vector<auth::Role> roles, std::vector<std::string> groups) {
  auth::Principal p;
  p.user_id = id;
  p.roles = std::move(roles);
  p.groups = std::move(groups);
  return p;
}

inline common::v1::Finding Finding(const std::string& id, const std::string& label, double probability,
                                   double operating_point) {
  common::v1::Finding f;
  f.set_finding_id(id);
  f.set_label(label);
  f.set_probability(probability);
  f.set_operating_point(operating_point);
  f.set_positive(probability >= operating_point);
  f.mutable_model()->set_model_id("parallax.test");
  f.mutable_model()->set_model_version("1");
  return f;
}

inline common::v1::Finding Haemorrhage(const std::string& id, double volume_ml) {
  common::v1::Finding f = Finding(id, "Intracranial haemorrhage", 0.94, 0.5);
  f.set_subtype("subdural");
  f.set_laterality(common::v1::LATERALITY_LEFT);
  f.set_volume_ml(volume_ml);
  f.set_series_instance_uid("1.2.3.4.1");
  f.mutable_model()->set_model_id("parallax.headct");
  return f;
}

// A manifest with patient identifiers that must never leave in a page.
inline common::v1::StudyManifest HeadCtManifest(const std::string& study_uid) {
  common::v1::StudyManifest m;
  m.set_study_instance_uid(study_uid);
  m.set_patient_id("PAT-4711");
  m.set_accession_number("ACC-0815");
  m.set_study_description("CT HEAD WITHOUT CONTRAST");
  common::v1::SeriesManifest* s = m.add_series();
  s->set_series_instance_uid("1.2.3.4.1");
  s->set_modality("CT");
  s->set_body_part_examined("HEAD");
  return m;
}

inline v1::RouteRequest Analysis(const std::string& study_uid, int64_t generation,
                                 std::vector<common::v1::Finding> findings) {
  v1::RouteRequest r;
  r.mutable_study()->set_study_instance_uid(study_uid);
  r.mutable_study()->set_generation(generation);
  for (auto& f : findings) *r.add_findings() = std::move(f);
  r.set_urgency(5);
  r.set_job_id("job-1");
  return r;
}

// Polls `done` until it holds or `limit` passes.
inline bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

struct AlertFixture {
  std::string url;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AlertStore> store;
  std::unique_ptr<audit_client::AuditRecorder> audit;
  AlertPolicy policy;
  std::unique_ptr<AlertService> service;
  std::function<void()> on_outbox = [] {};

  explicit AlertFixture(AlertPolicy p) : policy(std::move(p)) {
    url = store::testing::FreshDatabaseUrl("alerting");
    auto opened = store::Database::Open({url, 6});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    store = std::make_unique<AlertStore>(db.get());
    const absl::Status migrated = store->Migrate();
    INFO(migrated.message());
    REQUIRE(migrated.ok());
    audit_client::AuditRecorderOptions options;
    options.service = "alert-routing";
    options.listen = false;
    audit = std::make_unique<audit_client::AuditRecorder>(db.get(), "alerting", options);
    service = std::make_unique<AlertService>(
        store.get(), &policy, audit.get(),
        [](grpc::ServerContext*) -> absl::StatusOr<auth::Principal> { return absl::UnauthenticatedError("unused"); },
        [this] { on_outbox(); });
  }

  std::vector<audit::v1::AuditEvent> AuditEvents(audit::v1::EventType type) {
    auto rows = db->Exec("SELECT event FROM alerting.audit_outbox ORDER BY id");
    REQUIRE(rows.ok());
    std::vector<audit::v1::AuditEvent> out;
    for (const store::Row& row : *rows) {
      auto bytes = store::FromByteaHex(row.Get(0).value_or(""), "event");
      REQUIRE(bytes.ok());
      audit::v1::AuditEvent e;
      REQUIRE(e.ParseFromString(*bytes));
      if (e.type() == type) out.push_back(e);
    }
    return out;
  }

  int64_t OutboxItems() {
    auto rows = db->Exec("SELECT count(*) FROM alerting.outbox");
    REQUIRE(rows.ok());
    return *(*rows)[0].GetInt64(0);
  }

  std::vector<v1::AlertEventKind> History(const std::string& alert_id) {
    auto got = service->Get(alert_id);
    REQUIRE(got.ok());
    std::vector<v1::AlertEventKind> kinds;
    for (const auto& e : got->history()) kinds.push_back(e.kind());
    return kinds;
  }
};

inline std::string Attribute(const audit::v1::AuditEvent& e, const std::string& key) {
  for (const auto& a : e.attributes()) {
    if (a.key() == key) return a.value();
  }
  return "";
}

}  // namespace parallax::alerting::testing
