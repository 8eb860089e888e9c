#pragma once
// The facade's FHIR resources in PostgreSQL (schema `fhir`): the current
// version of each resource (fhir.resources) with its search columns, and
// every version (fhir.resource_history).
//
// Put stores a resource under (type, logical id). When its content (the
// JSON without meta.versionId / meta.lastUpdated) equals the current
// version's, nothing changes and the result says duplicate; otherwise it
// becomes version n+1 with lastUpdated = the statement time, and — when the
// store has an outbox — is enqueued for the EHR in the same transaction.
// meta.versionId and meta.lastUpdated are always the store's, whatever the
// caller put there; `id` is set to the logical id.
//
// The JSON may carry patient identifiers: this class never logs it, and its
// error messages name types, ids and versions only.
//
// Thread-safety: thread-safe (holds a Database* and an EhrOutbox*, which are).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ehr_outbox.h"
#include "parallax/store/database.h"
#include "parallax/store/migrations.h"
#include "resource_keys.h"
#include "search_query.h"

namespace parallax::fhir_facade {

struct ResourceWrite {
  std::string type;  // one of SupportedTypes()
  std::string id;    // FHIR logical id, [A-Za-z0-9-.]{1,64}
  Json resource;     // resourceType must equal type
  ResourceKeys keys; // search columns and business identifier
  // Outbox ordering key; empty: the study UID, else "<type>/<id>".
  std::string order_key;
};

struct PutResult {
  std::string type;
  std::string id;
  int64_t version_id = 0;
  std::string last_updated;  // FHIR instant
  // True when the content equalled the current version: nothing was written
  // and version_id is the current one.
  bool duplicate = false;
  // The outbox entry of this version (the new one, or for a duplicate the
  // newest entry of the current version); 0 when none (no outbox).
  int64_t outbox_entry_id = 0;
};

struct StoredResource {
  std::string type;
  std::string id;
  int64_t version_id = 0;
  std::string last_updated;  // FHIR instant
  std::string status;        // the status search column
  Json resource;             // with id and meta.versionId / meta.lastUpdated
};

struct SearchPage {
  std::vector<StoredResource> resources;  // newest lastUpdated first
  int64_t total = 0;                      // matches over all pages
};

class ResourceStore {
 public:
  // The store's migrations, numbered from first_version (fhir_schema.h).
  static std::vector<store::Migration> Migrations(int first_version);

  // db must outlive the store; outbox may be null (nothing is enqueued).
  ResourceStore(store::Database* db, EhrOutbox* outbox);

  // Put in its own transaction (see PutAll).
  absl::StatusOr<PutResult> Put(const ResourceWrite& write);

  // Puts every write in one transaction, in order, after running `check`
  // (when set) in that transaction first; then supersedes older unsent
  // outbox entries of the same resources. Either everything commits or
  // nothing does. Returns one result per write, in order.
  // INVALID_ARGUMENT for an unsupported type, a malformed id, or a
  // resourceType that is not the type; `check`'s error as it is;
  // RESOURCE_EXHAUSTED when the outbox is full; UNAVAILABLE when the
  // database is down; other store errors as parallax/store/database.h.
  absl::StatusOr<std::vector<PutResult>> PutAll(
      const std::vector<ResourceWrite>& writes,
      const std::function<absl::Status(store::Transaction&)>& check = nullptr);

  // The current version inside the caller's transaction, locked FOR UPDATE
  // when `lock`; nullopt when the resource does not exist.
  absl::StatusOr<std::optional<StoredResource>> Current(store::Transaction& tx, std::string_view type,
                                                        std::string_view id, bool lock);

  // The current version. NOT_FOUND naming type and id when absent;
  // INVALID_ARGUMENT for an unsupported type; UNAVAILABLE.
  absl::StatusOr<StoredResource> Read(std::string_view type, std::string_view id);

  // One version from the history. NOT_FOUND when absent; as Read otherwise.
  absl::StatusOr<StoredResource> ReadVersion(std::string_view type, std::string_view id, int64_t version_id);

  // The resources of `type` matching every condition of `query`, one page.
  // INVALID_ARGUMENT for an unsupported type; UNAVAILABLE.
  absl::StatusOr<SearchPage> Search(std::string_view type, const SearchQuery& query);

 private:
  absl::StatusOr<PutResult> PutInTransaction(store::Transaction& tx, const ResourceWrite& write,
                                             std::vector<int64_t>* new_entries);

  store::Database* db_;
  EhrOutbox* outbox_;
};

// True when `id` is a valid FHIR logical id ([A-Za-z0-9\-\.]{1,64}).
bool IsValidLogicalId(std::string_view id);

}  // namespace parallax::fhir_facade
