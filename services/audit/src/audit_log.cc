#include "audit_log.h"

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/crypto/sha256.h"
#include "parallax/store/bytea.h"
#include "parallax/store/migrations.h"

namespace parallax::audit {
namespace {

constexpr char kSchemaSql[] = R"sql(
CREATE TABLE audit.entries (
  sequence      bigint PRIMARY KEY,
  event_id      text NOT NULL UNIQUE,
  type          integer NOT NULL,
  service       text NOT NULL,
  actor_user_id text NOT NULL DEFAULT '',
  study_uid     text NOT NULL DEFAULT '',
  occurred_at   timestamptz,
  content       bytea NOT NULL,
  previous_hash bytea NOT NULL,
  hash          bytea NOT NULL
);
CREATE INDEX entries_study ON audit.entries (study_uid) WHERE study_uid <> '';
CREATE TABLE audit.head (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  sequence  bigint NOT NULL,
  hash      bytea NOT NULL
);
INSERT INTO audit.head (sequence, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');
)sql";

// The subject's ids as their own columns, so Query filters use indexes. NULL
// only on entries written before this migration, until Migrate() fills them
// from the hashed content.
constexpr char kSubjectColumnsSql[] = R"sql(
ALTER TABLE audit.entries
  ADD COLUMN generation      bigint,
  ADD COLUMN finding_id      text,
  ADD COLUMN alert_id        text,
  ADD COLUMN review_id       text,
  ADD COLUMN case_id         text,
  ADD COLUMN report_id       text,
  ADD COLUMN label           text,
  ADD COLUMN model_id        text,
  ADD COLUMN model_version   text,
  ADD COLUMN sop_uid         text;
CREATE INDEX entries_type ON audit.entries (type, sequence);
CREATE INDEX entries_occurred ON audit.entries (occurred_at);
CREATE INDEX entries_actor ON audit.entries (actor_user_id) WHERE actor_user_id <> '';
CREATE INDEX entries_service ON audit.entries (service, sequence);
CREATE INDEX entries_finding ON audit.entries (finding_id) WHERE finding_id <> '';
CREATE INDEX entries_alert ON audit.entries (alert_id) WHERE alert_id <> '';
CREATE INDEX entries_case ON audit.entries (case_id) WHERE case_id <> '';
CREATE INDEX entries_review ON audit.entries (review_id) WHERE review_id <> '';
CREATE INDEX entries_report ON audit.entries (report_id) WHERE report_id <> '';
CREATE INDEX entries_label ON audit.entries (label, occurred_at) WHERE label <> '';
)sql";

// How far the FHIR export (AuditExporter) has come: the last sequence handed
// to the facade, 0 before any. One row; it only moves forward.
constexpr char kExportCursorSql[] = R"sql(
CREATE TABLE audit.export_cursor (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  sequence  bigint NOT NULL CHECK (sequence >= 0)
);
INSERT INTO audit.export_cursor (sequence) VALUES (0);
)sql";

std::string Zeros() { return std::string(32, '\0'); }

double Seconds(const google::protobuf::Timestamp& t) { return static_cast<double>(t.seconds()) + t.nanos() / 1e9; }

// The subject columns in kSubjectColumnsSql order, as parameters.
std::vector<store::Param> SubjectParams(const audit::v1::Subject& s) {
  return {static_cast<long long>(s.generation()), s.finding_id(), s.alert_id(), s.review_id(), s.case_id(),
          s.report_id(), s.label(), s.model_id(), s.model_version(), s.sop_instance_uid()};
}

// True when the subject columns (starting at `first`) hold what the hashed
// content says. A NULL never agrees.
bool SubjectColumnsAgree(const store::Row& row, size_t first, const audit::v1::Subject& s) {
  if (row.IsNull(first) || row.GetInt64(first).value_or(-1) != s.generation()) return false;
  const std::string* expected[] = {&s.finding_id(), &s.alert_id(), &s.review_id(), &s.case_id(), &s.report_id(),
                                   &s.label(),      &s.model_id(), &s.model_version(), &s.sop_instance_uid()};
  for (size_t i = 0; i < 9; ++i) {
    auto cell = row.Get(first + 1 + i);
    if (!cell || *cell != *expected[i]) return false;
  }
  return true;
}

absl::Status BackfillSubjectColumns(store::Database& db) {
  for (;;) {
    auto rows = db.Exec("SELECT sequence, content FROM audit.entries WHERE label IS NULL ORDER BY sequence LIMIT 500");
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::OkStatus();
    for (const store::Row& row : *rows) {
      const long long sequence = row.GetInt64(0).value_or(0);
      auto content = store::FromByteaHex(row.Get(1).value_or(""), "audit.entries.content");
      audit::v1::AuditEvent event;
      if (!content.ok() || !event.ParseFromString(*content)) {
        // Leave it NULL: Verify reports the entry as altered.
        return absl::DataLossError(absl::StrCat("audit entry ", sequence, " does not parse; run Verify"));
      }
      std::vector<store::Param> params = SubjectParams(event.subject());
      params.insert(params.begin(), sequence);
      auto updated = db.Exec(
          "UPDATE audit.entries SET generation = $2, finding_id = $3, alert_id = $4, review_id = $5, case_id = $6, "
          "report_id = $7, label = $8, model_id = $9, model_version = $10, sop_uid = $11 WHERE sequence = $1",
          params);
      if (!updated.ok()) return updated.status();
    }
  }
}

}  // namespace

absl::Status AuditLog::Migrate() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "hash-chained entries and their head", kSchemaSql},
      {2, "subject id columns and query indexes", kSubjectColumnsSql},
      {3, "FHIR export cursor", kExportCursorSql}};
  absl::Status s = store::ApplyMigrations(*db_, "audit", kMigrations);
  if (!s.ok()) return s;
  return BackfillSubjectColumns(*db_);
}

absl::StatusOr<AuditLog::HeadState> AuditLog::Head() {
  auto head = db_->Exec("SELECT sequence, hash FROM audit.head");
  if (!head.ok()) return head.status();
  if (head->empty()) return absl::FailedPreconditionError("audit.head has no row; run Migrate");
  HeadState out;
  out.sequence = (*head)[0].GetInt64(0).value_or(0);
  auto hash = store::FromByteaHex((*head)[0].Get(1).value_or(""), "audit.head.hash");
  if (!hash.ok()) return hash.status();
  out.hash = *hash;
  return out;
}

absl::StatusOr<audit::v1::RecordResponse> AuditLog::Record(const audit::v1::AuditEvent& event) {
  if (event.event_id().empty()) return absl::InvalidArgumentError("audit event without event_id");
  if (event.type() == audit::v1::EVENT_TYPE_UNSPECIFIED) return absl::InvalidArgumentError("audit event without type");
  if (event.service().empty()) return absl::InvalidArgumentError("audit event without service");
  if (!event.has_actor() || event.actor().kind() == audit::v1::ACTOR_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError("audit event without actor");
  }
  audit::v1::RecordResponse response;
  absl::Status s = db_->InTransaction([&](store::Transaction& txn) -> absl::Status {
    // The head row serializes appends: one chain, no gaps.
    auto head = txn.Exec("SELECT sequence, hash FROM audit.head FOR UPDATE");
    if (!head.ok()) return head.status();
    auto existing = txn.Exec("SELECT sequence, hash FROM audit.entries WHERE event_id = $1", {event.event_id()});
    if (!existing.ok()) return existing.status();
    if (!existing->empty()) {
      auto hash = store::FromByteaHex((*existing)[0].Get(1).value_or(""), "audit.entries.hash");
      if (!hash.ok()) return hash.status();
      response.set_sequence(*(*existing)[0].GetInt64(0));
      response.set_hash(*hash);
      response.set_duplicate(true);
      return absl::OkStatus();
    }
    auto previous = store::FromByteaHex((*head)[0].Get(1).value_or(""), "audit.head.hash");
    if (!previous.ok()) return previous.status();
    audit::v1::AuditEvent entry = event;
    entry.set_sequence(*(*head)[0].GetInt64(0) + 1);
    *entry.mutable_recorded_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    if (!entry.has_occurred_at()) *entry.mutable_occurred_at() = entry.recorded_at();
    entry.set_previous_hash(*previous);
    entry.clear_hash();
    std::string content;
    if (!entry.SerializeToString(&content)) return absl::InternalError("audit event does not serialize");
    const std::string hash = crypto::Sha256(*previous + content);
    std::vector<store::Param> params = {static_cast<long long>(entry.sequence()),
                                        entry.event_id(),
                                        static_cast<int>(entry.type()),
                                        entry.service(),
                                        entry.actor().user_id(),
                                        entry.subject().study_instance_uid(),
                                        Seconds(entry.occurred_at()),
                                        store::ToByteaHex(content),
                                        store::ToByteaHex(*previous),
                                        store::ToByteaHex(hash)};
    for (store::Param& p : SubjectParams(entry.subject())) params.push_back(std::move(p));
    auto inserted = txn.Exec(
        "INSERT INTO audit.entries (sequence, event_id, type, service, actor_user_id, study_uid, occurred_at, content, "
        "previous_hash, hash, generation, finding_id, alert_id, review_id, case_id, report_id, label, model_id, "
        "model_version, sop_uid) VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::double precision), $8, $9, $10, "
        "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        params);
    if (!inserted.ok()) return inserted.status();
    auto moved = txn.Exec("UPDATE audit.head SET sequence = $1, hash = $2",
                          {static_cast<long long>(entry.sequence()), store::ToByteaHex(hash)});
    if (!moved.ok()) return moved.status();
    response.set_sequence(entry.sequence());
    response.set_hash(hash);
    response.set_duplicate(false);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
        s.code() == absl::StatusCode::kUnknown) {
      return absl::UnavailableError(absl::StrCat("audit store: ", s.message()));
    }
    return s;
  }
  return response;
}

absl::StatusOr<audit::v1::VerifyResponse> AuditLog::Verify(int64_t from_sequence, int64_t to_sequence) {
  if (from_sequence < 0 || to_sequence < 0 || (to_sequence != 0 && from_sequence > to_sequence)) {
    return absl::InvalidArgumentError("from_sequence must not be after to_sequence");
  }
  auto head = db_->Exec("SELECT sequence, hash FROM audit.head");
  if (!head.ok()) return head.status();
  const int64_t head_sequence = *(*head)[0].GetInt64(0);
  audit::v1::VerifyResponse out;
  out.set_head_sequence(head_sequence);
  auto head_hash = store::FromByteaHex((*head)[0].Get(1).value_or(""), "audit.head.hash");
  if (!head_hash.ok()) return head_hash.status();
  out.set_head_hash(*head_hash);
  const int64_t first = std::max<int64_t>(1, from_sequence);
  const int64_t last = to_sequence == 0 ? head_sequence : std::min(to_sequence, head_sequence);
  auto broken = [&](int64_t sequence, audit::v1::BreakReason reason, std::string detail) {
    out.set_ok(false);
    out.set_first_broken_sequence(sequence);
    out.set_reason(reason);
    out.set_detail(std::move(detail));
    return out;
  };
  // The hash the entry before `first` carries (zeros before the first entry).
  std::string previous = Zeros();
  if (first > 1) {
    auto before = db_->Exec("SELECT hash FROM audit.entries WHERE sequence = $1", {static_cast<long long>(first - 1)});
    if (!before.ok()) return before.status();
    if (before->empty()) return broken(first - 1, audit::v1::BREAK_REASON_SEQUENCE_GAP, "entry is missing");
    auto h = store::FromByteaHex((*before)[0].Get(0).value_or(""), "audit.entries.hash");
    if (!h.ok()) return h.status();
    previous = *h;
  }
  int64_t expected = first;
  constexpr int kPage = 1000;
  while (expected <= last) {
    auto rows = db_->Exec(
        "SELECT sequence, type, service, actor_user_id, study_uid, content, previous_hash, hash, generation, finding_id, "
        "alert_id, review_id, case_id, report_id, label, model_id, model_version, sop_uid FROM audit.entries "
        "WHERE sequence >= $1 AND sequence <= $2 ORDER BY sequence LIMIT $3",
        {static_cast<long long>(expected), static_cast<long long>(last), kPage});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) break;
    for (const store::Row& row : *rows) {
      const int64_t sequence = *row.GetInt64(0);
      if (sequence != expected) return broken(expected, audit::v1::BREAK_REASON_SEQUENCE_GAP, "entry is missing");
      auto content = store::FromByteaHex(row.Get(5).value_or(""), "audit.entries.content");
      auto stored_previous = store::FromByteaHex(row.Get(6).value_or(""), "audit.entries.previous_hash");
      auto stored_hash = store::FromByteaHex(row.Get(7).value_or(""), "audit.entries.hash");
      if (!content.ok() || !stored_previous.ok() || !stored_hash.ok()) {
        return broken(sequence, audit::v1::BREAK_REASON_HASH_MISMATCH, "stored bytes are not readable");
      }
      if (*stored_previous != previous) {
        return broken(sequence, audit::v1::BREAK_REASON_PREVIOUS_HASH_MISMATCH,
                      "previous_hash differs from the hash of the entry before");
      }
      if (crypto::Sha256(previous + *content) != *stored_hash) {
        return broken(sequence, audit::v1::BREAK_REASON_HASH_MISMATCH, "content does not hash to the stored hash");
      }
      audit::v1::AuditEvent event;
      if (!event.ParseFromString(*content) || event.sequence() != sequence || event.previous_hash() != previous ||
          static_cast<int>(event.type()) != row.GetInt64(1).value_or(-1) || event.service() != row.Get(2).value_or("") ||
          event.actor().user_id() != row.Get(3).value_or("") ||
          event.subject().study_instance_uid() != row.Get(4).value_or("") ||
          !SubjectColumnsAgree(row, 8, event.subject())) {
        return broken(sequence, audit::v1::BREAK_REASON_HASH_MISMATCH,
                      "a column disagrees with the hashed content");
      }
      previous = *stored_hash;
      out.set_entries_checked(out.entries_checked() + 1);
      ++expected;
    }
  }
  if (expected <= last) return broken(expected, audit::v1::BREAK_REASON_SEQUENCE_GAP, "entry is missing");
  if (last == head_sequence && head_sequence > 0 && previous != *head_hash) {
    return broken(head_sequence, audit::v1::BREAK_REASON_HASH_MISMATCH, "the head's hash differs from the last entry's");
  }
  out.set_ok(true);
  return out;
}

}  // namespace parallax::audit
