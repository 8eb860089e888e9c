#pragma once
// Reads the audit log back: the entries that match a QueryRequest, in
// sequence order, a page at a time. Filters use the indexed columns of
// audit.entries; each returned event is decoded from the stored (hashed)
// content bytes, with sequence, recorded_at, previous_hash and hash as
// recorded. Thread-safe (it holds a Database*, which is).
#include <cstdint>
#include <string>

#include <absl/status/statusor.h>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/store/database.h"

namespace parallax::audit {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

class AuditQuery {
 public:
  explicit AuditQuery(store::Database* db) : db_(db) {}

  // Entries matching every filter of `request` (types: any of them; empty
  // strings, zero generation and unset times match everything), ascending by
  // sequence, at most page_size (0 = 100, capped at 1000) per page.
  // next_page_token is set when more entries may follow; pass it back with
  // the same filters for the next page. INVALID_ARGUMENT when
  // occurred_after is not before occurred_before, page_size is negative or
  // the page token is not one this service issued; DATA_LOSS when a stored
  // entry no longer parses (run Verify); UNAVAILABLE when the store is down.
  absl::StatusOr<audit::v1::QueryResponse> Query(const audit::v1::QueryRequest& request);

 private:
  store::Database* db_;
};

// The page token that continues after `sequence`, and back. ParsePageToken:
// INVALID_ARGUMENT when the token was not made by MakePageToken.
std::string MakePageToken(int64_t sequence);
absl::StatusOr<int64_t> ParsePageToken(const std::string& token);

}  // namespace parallax::audit
