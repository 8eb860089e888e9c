#include "ehr_outbox.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include <absl/strings/str_cat.h>
#include <nlohmann/json.hpp>

namespace parallax::fhir_facade {
namespace {

constexpr std::string_view kMigration = R"sql(
CREATE TABLE fhir.outbox (
  entry_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  resource_type      text NOT NULL,
  resource_id        text NOT NULL,
  version_id         bigint NOT NULL CHECK (version_id >= 1),
  order_key          text NOT NULL,
  identifier_system  text NOT NULL DEFAULT '',
  identifier_value   text NOT NULL DEFAULT '',
  refs               text[] NOT NULL DEFAULT '{}',
  body               text NOT NULL,
  state              text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivering', 'retrying', 'delivered', 'dead', 'superseded')),
  attempts           integer NOT NULL DEFAULT 0,
  available_at       timestamptz NOT NULL DEFAULT statement_timestamp(),
  lease_owner        text,
  lease_token        uuid,
  lease_expires_at   timestamptz,
  last_http_status   integer NOT NULL DEFAULT 0,
  last_error         text NOT NULL DEFAULT '',
  superseded_by      bigint,
  enqueued_at        timestamptz NOT NULL DEFAULT statement_timestamp(),
  delivered_at       timestamptz,
  updated_at         timestamptz NOT NULL DEFAULT statement_timestamp(),
  CHECK ((state = 'delivering') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);
-- Claim: the head (oldest open entry) of each order key.
CREATE INDEX outbox_open ON fhir.outbox (order_key, entry_id) WHERE state IN ('pending', 'delivering', 'retrying');
-- Superseding and duplicate receipts: the entries of one resource.
CREATE INDEX outbox_resource ON fhir.outbox (resource_type, resource_id, version_id);
-- Status listings.
CREATE INDEX outbox_state ON fhir.outbox (state, updated_at);
)sql";

constexpr char kColumns[] =
    "entry_id, resource_type, resource_id, version_id, state, attempts, "
    "(extract(epoch FROM enqueued_at) * 1000)::bigint, "
    "CASE WHEN state IN ('pending', 'retrying') THEN (extract(epoch FROM available_at) * 1000)::bigint ELSE 0 END, "
    "coalesce((extract(epoch FROM delivered_at) * 1000)::bigint, 0), last_http_status, last_error, "
    "coalesce(superseded_by, 0)";

long long Millis(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

absl::StatusOr<OutboxEntryState> ParseState(const std::string& s) {
  for (OutboxEntryState st : {OutboxEntryState::kPending, OutboxEntryState::kDelivering, OutboxEntryState::kRetrying,
                              OutboxEntryState::kDelivered, OutboxEntryState::kDead, OutboxEntryState::kSuperseded}) {
    if (s == OutboxEntryStateName(st)) return st;
  }
  return absl::InternalError("fhir.outbox: unknown state in the database");
}

absl::StatusOr<OutboxEntryInfo> ParseInfo(const store::Row& row) {
  OutboxEntryInfo info;
  auto id = row.GetInt64(0);
  if (!id.ok()) return id.status();
  info.entry_id = *id;
  info.resource_type = row.Get(1).value_or("");
  info.resource_id = row.Get(2).value_or("");
  info.version_id = row.GetInt64(3).value_or(0);
  auto state = ParseState(row.Get(4).value_or(""));
  if (!state.ok()) return state.status();
  info.state = *state;
  info.attempts = static_cast<int>(row.GetInt64(5).value_or(0));
  info.enqueued_at_ms = row.GetInt64(6).value_or(0);
  info.next_attempt_at_ms = row.GetInt64(7).value_or(0);
  info.delivered_at_ms = row.GetInt64(8).value_or(0);
  info.last_http_status = static_cast<int>(row.GetInt64(9).value_or(0));
  info.last_error = row.Get(10).value_or("");
  info.superseded_by = row.GetInt64(11).value_or(0);
  return info;
}

absl::Status LeaseLost(int64_t entry_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "lease on outbox entry ", entry_id, " was lost (its lease expired and it was claimed again)"));
}

// Cuts at most `limit` bytes at a UTF-8 character boundary.
std::string Truncate(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

absl::StatusOr<bool> LockLease(store::Transaction& tx, const ClaimedEntry& entry) {
  auto rows = tx.Exec(
      "SELECT 1 FROM fhir.outbox WHERE entry_id = $1 AND state = 'delivering' AND lease_token = $2::uuid FOR UPDATE",
      {static_cast<long long>(entry.entry_id), entry.lease_token});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

}  // namespace

std::string_view OutboxEntryStateName(OutboxEntryState state) {
  switch (state) {
    case OutboxEntryState::kPending: return "pending";
    case OutboxEntryState::kDelivering: return "delivering";
    case OutboxEntryState::kRetrying: return "retrying";
    case OutboxEntryState::kDelivered: return "delivered";
    case OutboxEntryState::kDead: return "dead";
    case OutboxEntryState::kSuperseded: return "superseded";
  }
  return "unknown";
}

std::vector<store::Migration> EhrOutbox::Migrations(int first_version) {
  return {{first_version, "outbox to the EHR", std::string(kMigration)}};
}

EhrOutbox::EhrOutbox(store::Database* db, OutboxOptions options) : db_(db), options_(std::move(options)) {}

std::chrono::milliseconds EhrOutbox::Backoff(int attempt) const {
  const double base = static_cast<double>(options_.backoff_base.count());
  const double cap = static_cast<double>(options_.backoff_max.count());
  const double nominal = std::min(cap, base * std::pow(2.0, std::max(0, attempt - 1)));
  const double jitter = std::clamp(options_.backoff_jitter, 0.0, 1.0);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(nominal * (1.0 - jitter * draw(rng))));
}

absl::Status EhrOutbox::CheckCapacity(store::Transaction& tx) {
  if (options_.capacity <= 0) return absl::OkStatus();
  auto rows = tx.Exec("SELECT count(*) FROM fhir.outbox WHERE state IN ('pending', 'delivering', 'retrying')");
  if (!rows.ok()) return rows.status();
  const int64_t open = (*rows)[0].GetInt64(0).value_or(0);
  if (open >= options_.capacity) {
    return absl::ResourceExhaustedError(absl::StrCat("the outbox to the EHR is full (", open,
                                                     " entries waiting); retry once the EHR has caught up"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> EhrOutbox::Enqueue(store::Transaction& tx, const NewOutboxEntry& e) {
  if (e.resource_type.empty() || e.resource_id.empty() || e.version_id < 1 || e.order_key.empty() ||
      e.body.empty()) {
    return absl::InvalidArgumentError("outbox entry needs a resource type, id, version, order key and body");
  }
  const std::string refs = nlohmann::json(e.references).dump();
  auto rows = tx.Exec(
      "INSERT INTO fhir.outbox (resource_type, resource_id, version_id, order_key, identifier_system,"
      "  identifier_value, refs, body) "
      "VALUES ($1, $2, $3, $4, $5, $6, ARRAY(SELECT jsonb_array_elements_text($7::jsonb)), $8) RETURNING entry_id",
      {e.resource_type, e.resource_id, static_cast<long long>(e.version_id), e.order_key, e.identifier_system,
       e.identifier_value, refs, e.body});
  if (!rows.ok()) return rows.status();
  auto id = (*rows)[0].GetInt64(0);
  if (!id.ok()) return id.status();
  // Delivered at commit, never before.
  auto notified = tx.Exec("SELECT pg_notify($1, $2)", {options_.notify_channel, std::to_string(*id)});
  if (!notified.ok()) return notified.status();
  return *id;
}

absl::Status EhrOutbox::SupersedeOlder(store::Transaction& tx, const std::vector<int64_t>& new_entry_ids) {
  std::vector<int64_t> ids = new_entry_ids;
  std::sort(ids.rbegin(), ids.rend());
  for (int64_t id : ids) {
    auto rows = tx.Exec(
        "WITH n AS (SELECT entry_id, resource_type, resource_id, resource_type || '/' || resource_id AS ref "
        "           FROM fhir.outbox WHERE entry_id = $1) "
        "UPDATE fhir.outbox c SET state = 'superseded', superseded_by = n.entry_id,"
        "  updated_at = statement_timestamp() "
        "FROM n WHERE c.resource_type = n.resource_type AND c.resource_id = n.resource_id"
        "  AND c.entry_id < n.entry_id AND c.state IN ('pending', 'retrying')"
        "  AND NOT EXISTS (SELECT 1 FROM fhir.outbox m WHERE m.entry_id > c.entry_id AND m.entry_id < n.entry_id"
        "                  AND m.state IN ('pending', 'delivering', 'retrying') AND n.ref = ANY (m.refs))",
        {static_cast<long long>(id)});
    if (!rows.ok()) return rows.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> EhrOutbox::EntryFor(store::Transaction& tx, std::string_view type,
                                                           std::string_view id, int64_t version_id) {
  auto rows = tx.Exec(
      "SELECT max(entry_id) FROM fhir.outbox WHERE resource_type = $1 AND resource_id = $2 AND version_id = $3",
      {type, id, static_cast<long long>(version_id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty() || (*rows)[0].IsNull(0)) return std::optional<int64_t>();
  auto entry = (*rows)[0].GetInt64(0);
  if (!entry.ok()) return entry.status();
  return std::optional<int64_t>(*entry);
}

absl::StatusOr<std::optional<ClaimedEntry>> EhrOutbox::Claim(std::string_view worker_id,
                                                             std::chrono::milliseconds lease) {
  if (worker_id.empty()) return absl::InvalidArgumentError("worker_id is required");
  std::optional<ClaimedEntry> claimed;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    claimed.reset();
    // A worker that died holding a lease: its attempt counts as failed.
    auto reaped = tx.Exec(
        "WITH expired AS (SELECT entry_id FROM fhir.outbox WHERE state = 'delivering'"
        "                 AND lease_expires_at <= statement_timestamp() LIMIT 100 FOR UPDATE SKIP LOCKED) "
        "UPDATE fhir.outbox o SET state = CASE WHEN o.attempts >= $1 THEN 'dead' ELSE 'retrying' END,"
        "  last_error = 'lease expired on attempt ' || o.attempts || ' (worker ' || o.lease_owner || ')',"
        "  available_at = statement_timestamp(), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
        "  updated_at = statement_timestamp() "
        "FROM expired WHERE o.entry_id = expired.entry_id",
        {options_.max_attempts});
    if (!reaped.ok()) return reaped.status();
    // Heads of the order keys; the state and time checks on o are evaluated
    // again on the newest row version once it is locked.
    auto rows = tx.Exec(
        "WITH heads AS (SELECT DISTINCT ON (order_key) entry_id FROM fhir.outbox"
        "               WHERE state IN ('pending', 'delivering', 'retrying') ORDER BY order_key, entry_id),"
        " next AS (SELECT o.entry_id FROM fhir.outbox o JOIN heads h ON h.entry_id = o.entry_id"
        "          WHERE o.state IN ('pending', 'retrying') AND o.available_at <= statement_timestamp()"
        "          ORDER BY o.entry_id LIMIT 1 FOR UPDATE OF o SKIP LOCKED) "
        "UPDATE fhir.outbox o SET state = 'delivering', attempts = o.attempts + 1, lease_owner = $1,"
        "  lease_token = gen_random_uuid(),"
        "  lease_expires_at = statement_timestamp() + $2::bigint * interval '1 millisecond',"
        "  updated_at = statement_timestamp() "
        "FROM next WHERE o.entry_id = next.entry_id "
        "RETURNING o.entry_id, o.resource_type, o.resource_id, o.version_id, o.identifier_system,"
        "  o.identifier_value, o.body, o.attempts, o.lease_token::text",
        {std::string(worker_id), Millis(lease)});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::OkStatus();
    const store::Row& row = (*rows)[0];
    ClaimedEntry entry;
    auto id = row.GetInt64(0);
    if (!id.ok()) return id.status();
    entry.entry_id = *id;
    entry.resource_type = row.Get(1).value_or("");
    entry.resource_id = row.Get(2).value_or("");
    entry.version_id = row.GetInt64(3).value_or(0);
    entry.identifier_system = row.Get(4).value_or("");
    entry.identifier_value = row.Get(5).value_or("");
    entry.body = row.Get(6).value_or("");
    entry.attempt = static_cast<int>(row.GetInt64(7).value_or(0));
    entry.lease_token = row.Get(8).value_or("");
    claimed = std::move(entry);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return claimed;
}

absl::StatusOr<double> EhrOutbox::Complete(const ClaimedEntry& entry, int http_status) {
  double seconds = 0;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    auto held = LockLease(tx, entry);
    if (!held.ok()) return held.status();
    if (!*held) return LeaseLost(entry.entry_id);
    auto rows = tx.Exec(
        "UPDATE fhir.outbox SET state = 'delivered', delivered_at = statement_timestamp(), last_http_status = $2,"
        "  last_error = '', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
        "  updated_at = statement_timestamp() "
        "WHERE entry_id = $1 RETURNING extract(epoch FROM delivered_at - enqueued_at)::float8",
        {static_cast<long long>(entry.entry_id), http_status});
    if (!rows.ok()) return rows.status();
    seconds = rows->empty() ? 0 : (*rows)[0].GetDouble(0).value_or(0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return seconds;
}

absl::StatusOr<OutboxEntryState> EhrOutbox::Fail(const ClaimedEntry& entry, int http_status,
                                                 std::string_view error_text, bool retryable) {
  const std::string error = Truncate(error_text, 500);
  const long long backoff_ms = Millis(Backoff(entry.attempt));
  OutboxEntryState next = OutboxEntryState::kDead;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    auto held = LockLease(tx, entry);
    if (!held.ok()) return held.status();
    if (!*held) return LeaseLost(entry.entry_id);
    auto attempts = tx.Exec("SELECT attempts FROM fhir.outbox WHERE entry_id = $1",
                            {static_cast<long long>(entry.entry_id)});
    if (!attempts.ok()) return attempts.status();
    const int64_t used = attempts->empty() ? 0 : (*attempts)[0].GetInt64(0).value_or(0);
    next = retryable && used < options_.max_attempts ? OutboxEntryState::kRetrying : OutboxEntryState::kDead;
    auto updated = tx.Exec(
        "UPDATE fhir.outbox SET state = $2, last_http_status = $3, last_error = $4, lease_owner = NULL,"
        "  lease_token = NULL, lease_expires_at = NULL,"
        "  available_at = statement_timestamp() + $5::bigint * interval '1 millisecond',"
        "  updated_at = statement_timestamp() WHERE entry_id = $1",
        {static_cast<long long>(entry.entry_id), std::string(OutboxEntryStateName(next)), http_status, error,
         next == OutboxEntryState::kRetrying ? backoff_ms : 0LL});
    if (!updated.ok()) return updated.status();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return next;
}

absl::StatusOr<OutboxCounts> EhrOutbox::Counts(bool with_history) {
  // Open entries through the partial index; dead and the history through
  // the (state, updated_at) index.
  auto rows = db_->Exec(absl::StrCat(
      "SELECT o.pending, o.delivering, o.retrying, o.oldest, d.dead, ",
      with_history ? "h.delivered, h.superseded, h.last_delivered " : "0, 0, 0 ",
      "FROM (SELECT count(*) FILTER (WHERE state = 'pending') AS pending,"
      "             count(*) FILTER (WHERE state = 'delivering') AS delivering,"
      "             count(*) FILTER (WHERE state = 'retrying') AS retrying,"
      "             coalesce((extract(epoch FROM min(enqueued_at) FILTER (WHERE state IN ('pending', 'retrying')))"
      "                       * 1000)::bigint, 0) AS oldest"
      "      FROM fhir.outbox WHERE state IN ('pending', 'delivering', 'retrying')) o,"
      "     (SELECT count(*) AS dead FROM fhir.outbox WHERE state = 'dead') d",
      with_history
          ? ", (SELECT count(*) FILTER (WHERE state = 'delivered') AS delivered,"
            "         count(*) FILTER (WHERE state = 'superseded') AS superseded,"
            "         coalesce((extract(epoch FROM max(delivered_at)) * 1000)::bigint, 0) AS last_delivered"
            "  FROM fhir.outbox WHERE state IN ('delivered', 'superseded')) h"
          : ""));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::InternalError("fhir.outbox counts: no row");
  const store::Row& row = (*rows)[0];
  OutboxCounts c;
  c.pending = row.GetInt64(0).value_or(0);
  c.delivering = row.GetInt64(1).value_or(0);
  c.retrying = row.GetInt64(2).value_or(0);
  c.oldest_open_enqueued_at_ms = row.GetInt64(3).value_or(0);
  c.dead = row.GetInt64(4).value_or(0);
  c.delivered = row.GetInt64(5).value_or(0);
  c.superseded = row.GetInt64(6).value_or(0);
  c.last_delivered_at_ms = row.GetInt64(7).value_or(0);
  return c;
}

absl::StatusOr<OutboxEntryInfo> EhrOutbox::Get(int64_t entry_id) {
  auto rows = db_->Exec(absl::StrCat("SELECT ", kColumns, " FROM fhir.outbox WHERE entry_id = $1"),
                        {static_cast<long long>(entry_id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat("no outbox entry ", entry_id));
  return ParseInfo((*rows)[0]);
}

absl::StatusOr<std::vector<OutboxEntryInfo>> EhrOutbox::List(OutboxEntryState state, int limit) {
  limit = std::clamp(limit, 1, 1000);
  auto rows = db_->Exec(absl::StrCat("SELECT ", kColumns,
                                     " FROM fhir.outbox WHERE state = $1 ORDER BY updated_at DESC, entry_id DESC "
                                     "LIMIT $2"),
                        {std::string(OutboxEntryStateName(state)), limit});
  if (!rows.ok()) return rows.status();
  std::vector<OutboxEntryInfo> out;
  for (const auto& row : *rows) {
    auto info = ParseInfo(row);
    if (!info.ok()) return info.status();
    out.push_back(*std::move(info));
  }
  return out;
}

}  // namespace parallax::fhir_facade
