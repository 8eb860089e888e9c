#include "fhir_schema.h"

#include "ehr_outbox.h"
#include "resource_store.h"

namespace parallax::fhir_facade {

std::vector<store::Migration> FhirSchemaMigrations() {
  std::vector<store::Migration> all = ResourceStore::Migrations(1);
  for (store::Migration& m : EhrOutbox::Migrations(2)) all.push_back(std::move(m));
  return all;
}

absl::Status MigrateFhirSchema(store::Database& db) { return store::ApplyMigrations(db, "fhir", FhirSchemaMigrations()); }

}  // namespace parallax::fhir_facade
