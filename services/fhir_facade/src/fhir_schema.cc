#include "fhir_schema.h"

#include "parallax/audit_client/audit_recorder.h"

#include "ehr_outbox.h"
#include "resource_store.h"

namespace parallax::fhir_facade {

std::vector<store::Migration> FhirSchemaMigrations() {
  std::vector<store::Migration> all = ResourceStore::Migrations(1);
  for (store::Migration& m : EhrOutbox::Migrations(2)) all.push_back(std::move(m));
  // The workspace's audit events (FINDING_VIEWED) wait here for audit.
  for (store::Migration& m : audit_client::AuditRecorder::Migrations("fhir", static_cast<int>(all.size()) + 1)) {
    all.push_back(std::move(m));
  }
  return all;
}

absl::Status MigrateFhirSchema(store::Database& db) { return store::ApplyMigrations(db, "fhir", FhirSchemaMigrations()); }

}  // namespace parallax::fhir_facade
