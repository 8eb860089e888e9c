#include "resource_store.h"

#include <utility>

#include <absl/strings/str_cat.h>

#include "fhir_date.h"

namespace parallax::fhir_facade {
namespace {

constexpr std::string_view kMigration = R"sql(
CREATE TABLE fhir.resources (
  resource_type      text NOT NULL,
  id                 text NOT NULL,
  version_id         bigint NOT NULL,
  last_updated       timestamptz NOT NULL DEFAULT statement_timestamp(),
  content            text NOT NULL,
  identifier_system  text NOT NULL DEFAULT '',
  identifier_value   text NOT NULL DEFAULT '',
  patient_system     text NOT NULL DEFAULT '',
  patient            text NOT NULL DEFAULT '',
  study_instance_uid text NOT NULL DEFAULT '',
  status             text NOT NULL DEFAULT '',
  date_lower_ms      bigint,
  date_upper_ms      bigint,
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX resources_patient ON fhir.resources (resource_type, patient) WHERE patient <> '';
CREATE INDEX resources_study ON fhir.resources (resource_type, study_instance_uid) WHERE study_instance_uid <> '';
CREATE INDEX resources_identifier ON fhir.resources (resource_type, identifier_value) WHERE identifier_value <> '';
CREATE INDEX resources_updated ON fhir.resources (resource_type, last_updated DESC, id);
CREATE TABLE fhir.resource_history (
  resource_type  text NOT NULL,
  id             text NOT NULL,
  version_id     bigint NOT NULL CHECK (version_id >= 1),
  last_updated   timestamptz NOT NULL,
  status         text NOT NULL DEFAULT '',
  content        text NOT NULL,
  PRIMARY KEY (resource_type, id, version_id)
);
)sql";

// A timestamptz column as a FHIR instant.
std::string Instant(std::string_view column) {
  return absl::StrCat("to_char(", std::string(column), " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
}

// The resource as the store compares it: id set, no store-owned meta.
Json Canonical(const Json& resource, const std::string& id) {
  Json copy = resource;
  copy["id"] = id;
  if (auto meta = copy.find("meta"); meta != copy.end() && meta->is_object()) {
    meta->erase("versionId");
    meta->erase("lastUpdated");
    if (meta->empty()) copy.erase("meta");
  }
  return copy;
}

Json WithMeta(Json resource, int64_t version_id, const std::string& last_updated) {
  resource["meta"]["versionId"] = std::to_string(version_id);
  resource["meta"]["lastUpdated"] = last_updated;
  return resource;
}

absl::StatusOr<StoredResource> ParseStored(const store::Row& row) {
  StoredResource out;
  out.type = row.Get(0).value_or("");
  out.id = row.Get(1).value_or("");
  auto version = row.GetInt64(2);
  if (!version.ok()) return version.status();
  out.version_id = *version;
  out.last_updated = row.Get(3).value_or("");
  out.status = row.Get(5).value_or("");
  Json content = Json::parse(row.Get(4).value_or(""), nullptr, false);
  if (content.is_discarded()) {
    return absl::InternalError(absl::StrCat("stored ", out.type, "/", out.id, " is not valid JSON"));
  }
  out.resource = WithMeta(std::move(content), out.version_id, out.last_updated);
  return out;
}

absl::Status CheckType(std::string_view type) {
  if (!IsSupportedType(type)) {
    return absl::InvalidArgumentError(absl::StrCat("resource type '", std::string(type.substr(0, 64)), "' is not served here"));
  }
  return absl::OkStatus();
}

std::string SelectColumns() {
  return absl::StrCat("resource_type, id, version_id, ", Instant("last_updated"), ", content, status");
}

}  // namespace

bool IsValidLogicalId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

std::vector<store::Migration> ResourceStore::Migrations(int first_version) {
  return {{first_version, "FHIR resources and their history", std::string(kMigration)}};
}

ResourceStore::ResourceStore(store::Database* db, EhrOutbox* outbox) : db_(db), outbox_(outbox) {}

absl::StatusOr<PutResult> ResourceStore::Put(const ResourceWrite& write) {
  auto results = PutAll({write});
  if (!results.ok()) return results.status();
  return (*results)[0];
}

absl::StatusOr<std::vector<PutResult>> ResourceStore::PutAll(
    const std::vector<ResourceWrite>& writes, const std::function<absl::Status(store::Transaction&)>& check) {
  for (const ResourceWrite& w : writes) {
    if (auto s = CheckType(w.type); !s.ok()) return s;
    if (!IsValidLogicalId(w.id)) {
      return absl::InvalidArgumentError(absl::StrCat("'", w.id.substr(0, 80), "' is not a valid FHIR logical id"));
    }
    if (!w.resource.is_object() || !w.resource.contains("resourceType") ||
        w.resource["resourceType"] != w.type) {
      return absl::InvalidArgumentError(absl::StrCat("the resource for ", w.type, "/", w.id,
                                                     " is not a JSON object of resourceType ", w.type));
    }
    if (!w.keys.date.empty()) {
      if (auto range = ParseFhirDate(w.keys.date); !range.ok()) return range.status();
    }
  }
  std::vector<PutResult> results;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    results.clear();
    std::vector<int64_t> new_entries;
    if (check) {
      if (absl::Status c = check(tx); !c.ok()) return c;
    }
    if (outbox_ != nullptr && !writes.empty()) {
      if (absl::Status c = outbox_->CheckCapacity(tx); !c.ok()) return c;
    }
    for (const ResourceWrite& w : writes) {
      auto put = PutInTransaction(tx, w, &new_entries);
      if (!put.ok()) return put.status();
      results.push_back(*std::move(put));
    }
    if (outbox_ != nullptr && !new_entries.empty()) return outbox_->SupersedeOlder(tx, new_entries);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return results;
}

absl::StatusOr<PutResult> ResourceStore::PutInTransaction(store::Transaction& tx, const ResourceWrite& w,
                                                          std::vector<int64_t>* new_entries) {
  const Json canonical = Canonical(w.resource, w.id);
  const std::string content = canonical.dump();
  PutResult result;
  result.type = w.type;
  result.id = w.id;
  // A placeholder (version 0) so that two first Puts of one id serialise on
  // the row lock below instead of failing on the primary key.
  auto placeholder = tx.Exec(
      "INSERT INTO fhir.resources (resource_type, id, version_id, content) VALUES ($1, $2, 0, '') "
      "ON CONFLICT DO NOTHING",
      {w.type, w.id});
  if (!placeholder.ok()) return placeholder.status();
  auto current = tx.Exec(absl::StrCat("SELECT version_id, content, ", Instant("last_updated"),
                                      " FROM fhir.resources WHERE resource_type = $1 AND id = $2 FOR UPDATE"),
                         {w.type, w.id});
  if (!current.ok()) return current.status();
  if (current->empty()) return absl::InternalError(absl::StrCat(w.type, "/", w.id, ": row vanished"));
  const int64_t version = (*current)[0].GetInt64(0).value_or(0);
  if (version > 0 && (*current)[0].Get(1).value_or("") == content) {
    result.version_id = version;
    result.last_updated = (*current)[0].Get(2).value_or("");
    result.duplicate = true;
    if (outbox_ != nullptr) {
      auto entry = outbox_->EntryFor(tx, w.type, w.id, version);
      if (!entry.ok()) return entry.status();
      result.outbox_entry_id = entry->value_or(0);
    }
    return result;
  }
  std::optional<long long> date_lower, date_upper;
  if (!w.keys.date.empty()) {
    auto range = ParseFhirDate(w.keys.date);
    if (!range.ok()) return range.status();
    date_lower = range->lower_ms;
    date_upper = range->upper_ms;
  }
  result.version_id = version + 1;
  auto updated = tx.Exec(
      absl::StrCat("UPDATE fhir.resources SET version_id = $3, last_updated = statement_timestamp(), content = $4,"
                   "  identifier_system = $5, identifier_value = $6, patient_system = $7, patient = $8,"
                   "  study_instance_uid = $9, status = $10, date_lower_ms = $11, date_upper_ms = $12 "
                   "WHERE resource_type = $1 AND id = $2 RETURNING ",
                   Instant("last_updated")),
      {w.type, w.id, static_cast<long long>(result.version_id), content, w.keys.identifier_system,
       w.keys.identifier_value, w.keys.patient_system, w.keys.patient, w.keys.study_instance_uid, w.keys.status,
       date_lower, date_upper});
  if (!updated.ok()) return updated.status();
  result.last_updated = (*updated)[0].Get(0).value_or("");
  auto history = tx.Exec(
      "INSERT INTO fhir.resource_history (resource_type, id, version_id, last_updated, status, content) "
      "SELECT resource_type, id, version_id, last_updated, status, content FROM fhir.resources "
      "WHERE resource_type = $1 AND id = $2",
      {w.type, w.id});
  if (!history.ok()) return history.status();
  if (outbox_ != nullptr) {
    NewOutboxEntry entry;
    entry.resource_type = w.type;
    entry.resource_id = w.id;
    entry.version_id = result.version_id;
    entry.order_key = !w.order_key.empty()                   ? w.order_key
                      : !w.keys.study_instance_uid.empty() ? w.keys.study_instance_uid
                                                           : absl::StrCat(w.type, "/", w.id);
    entry.identifier_system = w.keys.identifier_system;
    entry.identifier_value = w.keys.identifier_value;
    entry.references = References(canonical);
    entry.body = WithMeta(canonical, result.version_id, result.last_updated).dump();
    auto id = outbox_->Enqueue(tx, entry);
    if (!id.ok()) return id.status();
    result.outbox_entry_id = *id;
    new_entries->push_back(*id);
  }
  return result;
}

absl::StatusOr<std::optional<StoredResource>> ResourceStore::Current(store::Transaction& tx, std::string_view type,
                                                                     std::string_view id, bool lock) {
  auto rows = tx.Exec(absl::StrCat("SELECT ", SelectColumns(),
                                   " FROM fhir.resources WHERE resource_type = $1 AND id = $2 AND version_id > 0",
                                   lock ? " FOR UPDATE" : ""),
                      {type, id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<StoredResource>();
  auto stored = ParseStored((*rows)[0]);
  if (!stored.ok()) return stored.status();
  return std::optional<StoredResource>(*std::move(stored));
}

absl::StatusOr<StoredResource> ResourceStore::Read(std::string_view type, std::string_view id) {
  if (auto s = CheckType(type); !s.ok()) return s;
  auto rows = db_->Exec(absl::StrCat("SELECT ", SelectColumns(),
                                     " FROM fhir.resources WHERE resource_type = $1 AND id = $2 AND version_id > 0"),
                        {type, id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat(std::string(type), "/", std::string(id.substr(0, 64)), " is not known"));
  return ParseStored((*rows)[0]);
}

absl::StatusOr<StoredResource> ResourceStore::ReadVersion(std::string_view type, std::string_view id,
                                                          int64_t version_id) {
  if (auto s = CheckType(type); !s.ok()) return s;
  auto rows = db_->Exec(absl::StrCat("SELECT ", SelectColumns(),
                                     " FROM fhir.resource_history WHERE resource_type = $1 AND id = $2"
                                     " AND version_id = $3"),
                        {type, id, static_cast<long long>(version_id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) {
    return absl::NotFoundError(absl::StrCat(std::string(type), "/", std::string(id.substr(0, 64)), " has no version ", version_id));
  }
  return ParseStored((*rows)[0]);
}

absl::StatusOr<SearchPage> ResourceStore::Search(std::string_view type, const SearchQuery& q) {
  if (auto s = CheckType(type); !s.ok()) return s;
  std::vector<store::Param> params = {std::string(type)};
  std::string where = "resource_type = $1 AND version_id > 0";
  auto param = [&](store::Param p) {
    params.push_back(std::move(p));
    return absl::StrCat("$", params.size());
  };
  if (!q.patient.empty()) {
    absl::StrAppend(&where, " AND patient = ", param(q.patient));
    if (!q.patient_system.empty()) absl::StrAppend(&where, " AND patient_system = ", param(q.patient_system));
  }
  if (!q.study_instance_uid.empty()) absl::StrAppend(&where, " AND study_instance_uid = ", param(q.study_instance_uid));
  if (!q.statuses.empty()) {
    absl::StrAppend(&where, " AND status = ANY (ARRAY(SELECT jsonb_array_elements_text(",
                    param(Json(q.statuses).dump()), "::jsonb)))");
  }
  for (const DateCondition& d : q.dates) {
    const long long lower = d.range.lower_ms, upper = d.range.upper_ms;
    switch (d.comparator) {
      case DateComparator::kEq:
        absl::StrAppend(&where, " AND date_lower_ms >= ", param(lower), "::bigint AND date_upper_ms <= ", param(upper),
                        "::bigint");
        break;
      case DateComparator::kGe: absl::StrAppend(&where, " AND date_upper_ms > ", param(lower), "::bigint"); break;
      case DateComparator::kLe: absl::StrAppend(&where, " AND date_lower_ms < ", param(upper), "::bigint"); break;
      case DateComparator::kGt: absl::StrAppend(&where, " AND date_upper_ms > ", param(upper), "::bigint"); break;
      case DateComparator::kLt: absl::StrAppend(&where, " AND date_lower_ms < ", param(lower), "::bigint"); break;
    }
  }
  const std::string limit = param(q.count);
  const std::string offset = param(static_cast<long long>(q.offset));
  auto rows = db_->Exec(absl::StrCat("SELECT ", SelectColumns(), ", count(*) OVER () FROM fhir.resources WHERE ",
                                     where, " ORDER BY last_updated DESC, id LIMIT ", limit, " OFFSET ", offset),
                        params);
  if (!rows.ok()) return rows.status();
  SearchPage page;
  for (const store::Row& row : *rows) {
    auto stored = ParseStored(row);
    if (!stored.ok()) return stored.status();
    page.resources.push_back(*std::move(stored));
    page.total = row.GetInt64(6).value_or(0);
  }
  if (rows->empty() && q.offset > 0) {
    params.erase(params.end() - 2, params.end());
    auto counted = db_->Exec(absl::StrCat("SELECT count(*) FROM fhir.resources WHERE ", where), params);
    if (!counted.ok()) return counted.status();
    page.total = (*counted)[0].GetInt64(0).value_or(0);
  }
  return page;
}

}  // namespace parallax::fhir_facade
