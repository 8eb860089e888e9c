#pragma once
// The facade's PostgreSQL schema `fhir`: the resource store's tables, then
// the outbox's, then the audit recorder's outbox, as one migration list (one list per schema, see
// parallax/store/migrations.h). Append new migrations at the end.
#include <vector>

#include "absl/status/status.h"
#include "parallax/store/database.h"
#include "parallax/store/migrations.h"

namespace parallax::fhir_facade {

std::vector<store::Migration> FhirSchemaMigrations();

// Brings schema `fhir` up to date. OK when it is; otherwise as
// store::ApplyMigrations.
absl::Status MigrateFhirSchema(store::Database& db);

}  // namespace parallax::fhir_facade
