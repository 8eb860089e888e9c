#pragma once
// The append-only, hash-chained audit log (schema `audit`). Each entry is the
// AuditEvent as recorded (sequence, recorded_at and previous_hash set,
// hashes cleared), serialized once and stored as those exact bytes; its hash
// is SHA-256(previous entry's hash || those bytes), 32 zero bytes before the
// first entry. Appends are serialized through a one-row head (sequence and
// hash of the last entry), so sequences have no gaps and the chain has one
// order. Verify recomputes the chain and names the first broken entry:
// edited content (HASH_MISMATCH; also when a queryable column no longer
// agrees with the hashed bytes, subject id columns included), a broken link (PREVIOUS_HASH_MISMATCH), a
// removed entry (SEQUENCE_GAP, including the last one, which the head still
// remembers). Reordered entries break the links.
//
// Entries hold ids and UIDs only (see audit.proto). Thread-safe.
#include <cstdint>
#include <string>

#include <absl/status/statusor.h>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/store/database.h"

namespace parallax::audit {

class AuditLog {
 public:
  explicit AuditLog(store::Database* db) : db_(db) {}

  // Creates or upgrades the schema (migrations; they include
  // audit.export_cursor, which AuditExporter keeps), then fills the subject
  // columns of entries written before they existed (from the hashed
  // content). UNAVAILABLE when the store is down; DATA_LOSS when an old
  // entry's content does not parse (run Verify).
  absl::Status Migrate();

  struct HeadState {
    int64_t sequence = 0;  // 0 for an empty log
    std::string hash;      // 32 bytes; zeros for an empty log
  };
  // The last entry's sequence and hash. UNAVAILABLE when the store is down;
  // FAILED_PRECONDITION before Migrate.
  absl::StatusOr<HeadState> Head();

  // Appends `event` (occurred_at defaults to recorded_at when unset). Returns sequence, hash and duplicate = true when its
  // event_id was recorded before (the original entry is returned, nothing is
  // appended). INVALID_ARGUMENT without event_id, type, service or actor;
  // UNAVAILABLE when the store is down (retry with the same event_id).
  absl::StatusOr<audit::v1::RecordResponse> Record(const audit::v1::AuditEvent& event);

  // Recomputes the chain over [from, to] (0 = first / head). OK with the
  // verdict; INVALID_ARGUMENT when from > to; UNAVAILABLE.
  absl::StatusOr<audit::v1::VerifyResponse> Verify(int64_t from_sequence = 0, int64_t to_sequence = 0);

 private:
  store::Database* db_;
};

}  // namespace parallax::audit
