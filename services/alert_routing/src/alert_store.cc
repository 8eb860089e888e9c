#include "alert_store.h"

#include <algorithm>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/store/bytea.h"
#include "parallax/store/migrations.h"

namespace parallax::alerting {
namespace {

constexpr char kRoutedSql[] = R"sql(
CREATE TABLE alerting.routed (
  study_uid      text NOT NULL,
  generation     bigint NOT NULL,
  positives      integer NOT NULL,
  urgency        integer NOT NULL,
  request        bytea NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (study_uid, generation)
);
)sql";

constexpr char kAlertsSql[] = R"sql(
ALTER TABLE alerting.routed ADD COLUMN response bytea;
CREATE TABLE alerting.alerts (
  alert_id             text PRIMARY KEY,
  study_uid            text NOT NULL,
  generation           bigint NOT NULL,
  finding_id           text NOT NULL,
  label                text NOT NULL,
  state                integer NOT NULL,
  priority             integer NOT NULL,
  fhir_priority        integer NOT NULL,
  critical             boolean NOT NULL,
  target_groups        text NOT NULL,
  primary_rule_id      text NOT NULL,
  ack_timeout_s        integer NOT NULL,
  renotify_every_s     integer NOT NULL,
  max_renotify         integer NOT NULL,
  escalation_chain     text NOT NULL,
  timers_from          timestamptz NOT NULL,
  renotified_at_level  integer NOT NULL DEFAULT 0,
  notification_count   integer NOT NULL DEFAULT 0,
  escalation_level     integer NOT NULL DEFAULT 0,
  next_action_at       timestamptz,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL,
  acknowledged_by      text NOT NULL DEFAULT '',
  acknowledged_at      timestamptz,
  fhir_communication_id text NOT NULL DEFAULT '',
  report_id            text NOT NULL DEFAULT '',
  body                 bytea NOT NULL
);
CREATE INDEX alerts_study ON alerting.alerts (study_uid);
CREATE INDEX alerts_created ON alerting.alerts (created_at DESC, alert_id DESC);
CREATE INDEX alerts_due ON alerting.alerts (next_action_at) WHERE next_action_at IS NOT NULL AND state IN (1, 3);
CREATE TABLE alerting.alert_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  alert_id      text NOT NULL,
  kind          integer NOT NULL,
  at            timestamptz NOT NULL,
  target_group  text NOT NULL DEFAULT '',
  actor_user_id text NOT NULL DEFAULT '',
  detail        text NOT NULL DEFAULT ''
);
CREATE INDEX alert_events_alert ON alerting.alert_events (alert_id, id);
CREATE TABLE alerting.outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            integer NOT NULL,
  study_uid       text NOT NULL,
  generation      bigint NOT NULL,
  payload         text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  delivered_at    timestamptz,
  report_id       text NOT NULL DEFAULT '',
  done            text NOT NULL DEFAULT '',
  last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON alerting.outbox (id) WHERE delivered_at IS NULL;
)sql";

// Parallel delivery (alert_dispatcher.h): an item is claimed by one delivery
// worker (any replica) for a lease; only the oldest undelivered item of a
// study may be claimed, so a study's items go out in order.
constexpr char kLeaseSql[] = R"sql(
ALTER TABLE alerting.outbox ADD COLUMN lease_owner text NOT NULL DEFAULT '';
ALTER TABLE alerting.outbox ADD COLUMN lease_until timestamptz;
CREATE INDEX outbox_study_pending ON alerting.outbox (study_uid, id) WHERE delivered_at IS NULL;
)sql";

constexpr char kOutboxColumns[] =
    "id, kind, study_uid, generation, payload, attempts, (extract(epoch from created_at) * 1000000)::bigint, "
    "(extract(epoch from next_attempt_at) * 1000000)::bigint, report_id, done, lease_owner";

OutboxItem ItemFromRow(const store::Row& row) {
  OutboxItem item;
  item.id = row.GetInt64(0).value_or(0);
  item.kind = static_cast<OutboxKind>(row.GetInt64(1).value_or(1));
  item.study_uid = row.Get(2).value_or("");
  item.generation = row.GetInt64(3).value_or(0);
  item.payload = row.Get(4).value_or("");
  item.attempts = static_cast<int>(row.GetInt64(5).value_or(0));
  item.created_at = FromMicros(row.GetInt64(6).value_or(0));
  item.next_attempt_at = FromMicros(row.GetInt64(7).value_or(0));
  item.report_id = row.Get(8).value_or("");
  for (absl::string_view d : absl::StrSplit(row.Get(9).value_or(""), '\n', absl::SkipEmpty())) {
    item.done.insert(std::string(d));
  }
  item.lease_owner = row.Get(10).value_or("");
  return item;
}

// The lease went to another worker (ours expired): stop delivering the item.
absl::Status LeaseLost(int64_t id) {
  return absl::AbortedError(absl::StrCat("alert outbox item ", id,
                                         ": the delivery lease expired and another worker took the item over"));
}

std::string Serialize(const google::protobuf::Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return store::ToByteaHex(out);
}

template <typename T>
absl::StatusOr<T> Parse(const std::optional<std::string>& cell, const char* what) {
  auto bytes = store::FromByteaHex(cell.value_or(""), what);
  if (!bytes.ok()) return bytes.status();
  T out;
  if (!out.ParseFromString(*bytes)) return absl::InternalError(absl::StrCat("stored ", what, " does not parse"));
  return out;
}

// A timestamp parameter from microseconds since the epoch.
std::string Ts(int n) { return absl::StrCat("to_timestamp($", n, "::float8 / 1000000.0)"); }
std::string Micros(const char* column) {
  return absl::StrCat("(extract(epoch from ", column, ") * 1000000)::bigint");
}

std::string ChainText(const std::vector<EscalationStep>& chain) {
  std::vector<std::string> parts;
  for (const EscalationStep& s : chain) parts.push_back(absl::StrCat(s.group, "@", s.after.count()));
  return absl::StrJoin(parts, ",");
}

std::vector<EscalationStep> ParseChain(absl::string_view text) {
  std::vector<EscalationStep> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t at = part.rfind('@');
    if (at == absl::string_view::npos) continue;
    EscalationStep s;
    s.group = std::string(part.substr(0, at));
    int64_t seconds = 0;
    (void)absl::SimpleAtoi(part.substr(at + 1), &seconds);
    s.after = std::chrono::seconds(seconds);
    out.push_back(std::move(s));
  }
  return out;
}

std::string AlertColumns() {
  return absl::StrCat("alert_id, label, critical, fhir_priority, target_groups, primary_rule_id, ack_timeout_s, ",
                      "renotify_every_s, max_renotify, escalation_chain, ", Micros("timers_from"),
                      ", renotified_at_level, ", Micros("next_action_at"), ", report_id, body");
}

absl::StatusOr<StoredAlert> AlertFromRow(const store::Row& row) {
  StoredAlert a;
  auto body = Parse<v1::Alert>(row.Get(14), "alerting.alerts.body");
  if (!body.ok()) return body.status();
  a.alert = *std::move(body);
  a.label = row.Get(1).value_or("");
  a.critical = row.GetBool(2).value_or(false);
  a.fhir_priority = static_cast<FhirPriority>(row.GetInt64(3).value_or(1));
  for (absl::string_view g : absl::StrSplit(row.Get(4).value_or(""), ',', absl::SkipEmpty())) {
    a.groups.emplace_back(g);
  }
  a.rule_id = row.Get(5).value_or("");
  a.timers.ack_timeout = std::chrono::seconds(row.GetInt64(6).value_or(0));
  a.timers.renotify_every = std::chrono::seconds(row.GetInt64(7).value_or(0));
  a.timers.max_renotify = static_cast<int>(row.GetInt64(8).value_or(0));
  a.timers.escalation = ParseChain(row.Get(9).value_or(""));
  a.timers_from = FromMicros(row.GetInt64(10).value_or(0));
  a.renotified_at_level = static_cast<int>(row.GetInt64(11).value_or(0));
  if (!row.IsNull(12)) a.next_action_at = FromMicros(*row.GetInt64(12));
  a.report_id = row.Get(13).value_or("");
  return a;
}

absl::StatusOr<std::vector<StoredAlert>> AlertsFromRows(const absl::StatusOr<store::Rows>& rows) {
  if (!rows.ok()) return rows.status();
  std::vector<StoredAlert> out;
  for (const store::Row& row : *rows) {
    auto a = AlertFromRow(row);
    if (!a.ok()) return a.status();
    out.push_back(*std::move(a));
  }
  return out;
}

}  // namespace

int64_t ToMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
TimePoint FromMicros(int64_t micros) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(micros)));
}

std::vector<std::string> StoredAlert::GroupsSoFar() const {
  std::vector<std::string> out = groups;
  const int level = alert.escalation_level();
  for (int i = 0; i < level && i < static_cast<int>(timers.escalation.size()); ++i) {
    if (std::find(out.begin(), out.end(), timers.escalation[i].group) == out.end()) {
      out.push_back(timers.escalation[i].group);
    }
  }
  return out;
}

std::string StoredAlert::CurrentGroup() const {
  const int level = alert.escalation_level();
  if (level > 0 && level <= static_cast<int>(timers.escalation.size())) return timers.escalation[level - 1].group;
  return groups.empty() ? "" : groups.front();
}

absl::Status AlertStore::Migrate() {
  std::vector<store::Migration> migrations = {
      {1, "routed analyses", kRoutedSql},
      {2, "alerts, their history and the delivery outbox", kAlertsSql},
  };
  for (store::Migration& m : audit_client::AuditRecorder::Migrations("alerting", 3)) migrations.push_back(m);
  migrations.push_back({static_cast<int>(migrations.size()) + 1, "outbox delivery leases", kLeaseSql});
  return store::ApplyMigrations(*db_, "alerting", migrations);
}

absl::Status AlertStore::LockStudy(store::Transaction& txn, const std::string& study_uid) {
  return txn.Exec("SELECT pg_advisory_xact_lock(hashtextextended('alerting.study|' || $1, 0))", {study_uid}).status();
}

absl::StatusOr<std::optional<int64_t>> AlertStore::LatestGeneration(store::Transaction& txn,
                                                                   const std::string& study_uid) {
  auto rows = txn.Exec("SELECT max(generation) FROM alerting.routed WHERE study_uid = $1", {study_uid});
  if (!rows.ok()) return rows.status();
  if (rows->empty() || (*rows)[0].IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(*(*rows)[0].GetInt64(0));
}

absl::StatusOr<std::optional<v1::RouteResponse>> AlertStore::RoutedResponse(store::Transaction& txn,
                                                                            const std::string& study_uid,
                                                                            int64_t generation) {
  auto rows = txn.Exec("SELECT response FROM alerting.routed WHERE study_uid = $1 AND generation = $2",
                       {study_uid, static_cast<long long>(generation)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::RouteResponse>();
  if ((*rows)[0].IsNull(0)) return std::optional<v1::RouteResponse>(v1::RouteResponse());  // recorder era
  auto r = Parse<v1::RouteResponse>((*rows)[0].Get(0), "alerting.routed.response");
  if (!r.ok()) return r.status();
  return std::optional<v1::RouteResponse>(*std::move(r));
}

absl::Status AlertStore::InsertRouted(store::Transaction& txn, const v1::RouteRequest& request, int positives,
                                      const v1::RouteResponse& response) {
  return txn
      .Exec("INSERT INTO alerting.routed (study_uid, generation, positives, urgency, request, response) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            {request.study().study_instance_uid(), static_cast<long long>(request.study().generation()), positives,
             request.urgency(), Serialize(request), Serialize(response)})
      .status();
}

absl::StatusOr<std::optional<v1::RouteRequest>> AlertStore::RoutedRequest(const std::string& study_uid,
                                                                          int64_t generation) {
  auto rows = db_->Exec("SELECT request FROM alerting.routed WHERE study_uid = $1 AND generation = $2",
                        {study_uid, static_cast<long long>(generation)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::RouteRequest>();
  auto r = Parse<v1::RouteRequest>((*rows)[0].Get(0), "alerting.routed.request");
  if (!r.ok()) return r.status();
  return std::optional<v1::RouteRequest>(*std::move(r));
}

absl::StatusOr<std::vector<StoredAlert>> AlertStore::AlertsOfStudyForUpdate(store::Transaction& txn,
                                                                           const std::string& study_uid) {
  return AlertsFromRows(txn.Exec(
      absl::StrCat("SELECT ", AlertColumns(), " FROM alerting.alerts WHERE study_uid = $1 ORDER BY alert_id FOR UPDATE"),
      {study_uid}));
}

absl::StatusOr<std::optional<StoredAlert>> AlertStore::AlertForUpdate(store::Transaction& txn,
                                                                     const std::string& alert_id) {
  auto alerts = AlertsFromRows(txn.Exec(
      absl::StrCat("SELECT ", AlertColumns(), " FROM alerting.alerts WHERE alert_id = $1 FOR UPDATE"), {alert_id}));
  if (!alerts.ok()) return alerts.status();
  if (alerts->empty()) return std::optional<StoredAlert>();
  return std::optional<StoredAlert>(std::move(alerts->front()));
}

absl::StatusOr<std::optional<StoredAlert>> AlertStore::GetAlert(const std::string& alert_id) {
  auto alerts = AlertsFromRows(
      db_->Exec(absl::StrCat("SELECT ", AlertColumns(), " FROM alerting.alerts WHERE alert_id = $1"), {alert_id}));
  if (!alerts.ok()) return alerts.status();
  if (alerts->empty()) return std::optional<StoredAlert>();
  return std::optional<StoredAlert>(std::move(alerts->front()));
}

absl::Status AlertStore::SaveAlert(store::Transaction& txn, const StoredAlert& a, bool insert) {
  const v1::Alert& p = a.alert;
  auto micros = [](const google::protobuf::Timestamp& t) -> std::optional<long long> {
    if (t.seconds() == 0 && t.nanos() == 0) return std::nullopt;
    return static_cast<long long>(t.seconds()) * 1000000 + t.nanos() / 1000;
  };
  std::optional<long long> next;
  if (a.next_action_at) next = static_cast<long long>(ToMicros(*a.next_action_at));
  std::vector<store::Param> params = {
      p.alert_id(),                                   // 1
      p.study().study_instance_uid(),                 // 2
      static_cast<long long>(p.study().generation()), // 3
      p.finding().finding_id(),                       // 4
      a.label,                                        // 5
      static_cast<int>(p.state()),                    // 6
      static_cast<int>(p.priority()),                 // 7
      static_cast<int>(a.fhir_priority),              // 8
      a.critical,                                     // 9
      absl::StrJoin(a.groups, ","),                   // 10
      a.rule_id,                                      // 11
      static_cast<long long>(a.timers.ack_timeout.count()),     // 12
      static_cast<long long>(a.timers.renotify_every.count()),  // 13
      a.timers.max_renotify,                          // 14
      ChainText(a.timers.escalation),                 // 15
      static_cast<long long>(ToMicros(a.timers_from)),// 16
      a.renotified_at_level,                          // 17
      p.notification_count(),                         // 18
      p.escalation_level(),                           // 19
      next,                                           // 20
      micros(p.created_at()).value_or(0),             // 21
      micros(p.updated_at()).value_or(0),             // 22
      p.acknowledged_by(),                            // 23
      micros(p.acknowledged_at()),                    // 24
      p.fhir_communication_id(),                      // 25
      a.report_id,                                    // 26
      Serialize(p),                                   // 27
  };
  std::string sql;
  if (insert) {
    sql = absl::StrCat(
        "INSERT INTO alerting.alerts (alert_id, study_uid, generation, finding_id, label, state, priority, "
        "fhir_priority, critical, target_groups, primary_rule_id, ack_timeout_s, renotify_every_s, max_renotify, "
        "escalation_chain, timers_from, renotified_at_level, notification_count, escalation_level, next_action_at, "
        "created_at, updated_at, acknowledged_by, acknowledged_at, fhir_communication_id, report_id, body) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, ", Ts(16), ", $17, $18, $19, ", Ts(20),
        ", ", Ts(21), ", ", Ts(22), ", $23, ", Ts(24), ", $25, $26, $27)");
  } else {
    sql = absl::StrCat(
        "UPDATE alerting.alerts SET study_uid = $2, generation = $3, finding_id = $4, label = $5, state = $6, "
        "priority = $7, fhir_priority = $8, critical = $9, target_groups = $10, primary_rule_id = $11, "
        "ack_timeout_s = $12, renotify_every_s = $13, max_renotify = $14, escalation_chain = $15, timers_from = ",
        Ts(16), ", renotified_at_level = $17, notification_count = $18, escalation_level = $19, next_action_at = ",
        Ts(20), ", created_at = ", Ts(21), ", updated_at = ", Ts(22), ", acknowledged_by = $23, acknowledged_at = ",
        Ts(24), ", fhir_communication_id = $25, report_id = $26, body = $27 WHERE alert_id = $1");
  }
  auto rows = txn.Exec(sql, params);
  if (!rows.ok()) return rows.status();
  if (!insert && rows->affected_rows() != 1) return absl::NotFoundError("alert vanished while it was being saved");
  return absl::OkStatus();
}

absl::Status AlertStore::SetReportId(const std::vector<std::string>& alert_ids, const std::string& report_id) {
  if (alert_ids.empty()) return absl::OkStatus();
  return db_
      ->Exec("UPDATE alerting.alerts SET report_id = $2 WHERE alert_id = ANY(string_to_array($1, ','))",
             {absl::StrJoin(alert_ids, ","), report_id})
      .status();
}

absl::Status AlertStore::AddEvent(store::Transaction& txn, const std::string& alert_id, const v1::AlertEvent& e) {
  const long long at = static_cast<long long>(e.at().seconds()) * 1000000 + e.at().nanos() / 1000;
  return txn
      .Exec(absl::StrCat("INSERT INTO alerting.alert_events (alert_id, kind, at, target_group, actor_user_id, detail) "
                         "VALUES ($1, $2, ", Ts(3), ", $4, $5, $6)"),
            {alert_id, static_cast<int>(e.kind()), at, e.target_group(), e.actor_user_id(), e.detail()})
      .status();
}

absl::StatusOr<std::vector<v1::AlertEvent>> AlertStore::Events(const std::string& alert_id) {
  auto rows = db_->Exec(absl::StrCat("SELECT kind, ", Micros("at"),
                                     ", target_group, actor_user_id, detail FROM alerting.alert_events "
                                     "WHERE alert_id = $1 ORDER BY id"),
                        {alert_id});
  if (!rows.ok()) return rows.status();
  std::vector<v1::AlertEvent> out;
  for (const store::Row& row : *rows) {
    v1::AlertEvent e;
    e.set_kind(static_cast<v1::AlertEventKind>(row.GetInt64(0).value_or(0)));
    const int64_t us = row.GetInt64(1).value_or(0);
    e.mutable_at()->set_seconds(us / 1000000);
    e.mutable_at()->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
    e.set_target_group(row.Get(2).value_or(""));
    e.set_actor_user_id(row.Get(3).value_or(""));
    e.set_detail(row.Get(4).value_or(""));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<StoredAlert>> AlertStore::ListAlerts(const v1::ListAlertsRequest& r, int64_t offset,
                                                                int limit) {
  std::vector<std::string> where;
  std::vector<store::Param> params;
  auto param = [&](store::Param p) {
    params.push_back(std::move(p));
    return absl::StrCat("$", params.size());
  };
  if (r.states_size() > 0) {
    std::vector<std::string> states;
    for (int s : r.states()) states.push_back(std::to_string(s));
    where.push_back(absl::StrCat("state = ANY(string_to_array(", param(absl::StrJoin(states, ",")), ", ',')::int[])"));
  }
  if (!r.target_group().empty()) {
    where.push_back(absl::StrCat(param(r.target_group()), " = ANY(string_to_array(target_groups, ','))"));
  }
  if (!r.study_instance_uid().empty()) where.push_back(absl::StrCat("study_uid = ", param(r.study_instance_uid())));
  if (!r.label().empty()) where.push_back(absl::StrCat("lower(label) = lower(", param(r.label()), ")"));
  auto ts_micros = [](const google::protobuf::Timestamp& t) {
    return static_cast<long long>(t.seconds()) * 1000000 + t.nanos() / 1000;
  };
  if (r.has_created_after()) {
    where.push_back(absl::StrCat("created_at > to_timestamp(", param(ts_micros(r.created_after())), "::float8 / 1000000.0)"));
  }
  if (r.has_created_before()) {
    where.push_back(absl::StrCat("created_at < to_timestamp(", param(ts_micros(r.created_before())), "::float8 / 1000000.0)"));
  }
  std::string sql = absl::StrCat("SELECT ", AlertColumns(), " FROM alerting.alerts");
  if (!where.empty()) absl::StrAppend(&sql, " WHERE ", absl::StrJoin(where, " AND "));
  absl::StrAppend(&sql, " ORDER BY created_at DESC, alert_id DESC LIMIT ", param(limit), " OFFSET ",
                  param(static_cast<long long>(offset)));
  return AlertsFromRows(db_->Exec(sql, params));
}

absl::StatusOr<std::vector<StoredAlert>> AlertStore::DueAlertsForUpdate(store::Transaction& txn, TimePoint now,
                                                                       int limit) {
  return AlertsFromRows(txn.Exec(
      absl::StrCat("SELECT ", AlertColumns(), " FROM alerting.alerts WHERE state IN (1, 3) AND next_action_at <= ",
                   Ts(1), " ORDER BY next_action_at LIMIT $2 FOR UPDATE SKIP LOCKED"),
      {static_cast<long long>(ToMicros(now)), limit}));
}

absl::Status AlertStore::Enqueue(store::Transaction& txn, OutboxKind kind, const std::string& study_uid,
                                 int64_t generation, const std::string& payload) {
  auto rows = txn.Exec("INSERT INTO alerting.outbox (kind, study_uid, generation, payload) VALUES ($1, $2, $3, $4)",
                       {static_cast<int>(kind), study_uid, static_cast<long long>(generation), payload});
  if (!rows.ok()) return rows.status();
  return txn.Exec("SELECT pg_notify($1, '')", {std::string(kOutboxChannel)}).status();
}

absl::StatusOr<std::vector<OutboxItem>> AlertStore::PendingItems(int limit) {
  auto rows = db_->Exec(absl::StrCat("SELECT ", kOutboxColumns,
                                     " FROM alerting.outbox WHERE delivered_at IS NULL ORDER BY id LIMIT $1"),
                        {limit});
  if (!rows.ok()) return rows.status();
  std::vector<OutboxItem> out;
  for (const store::Row& row : *rows) out.push_back(ItemFromRow(row));
  return out;
}

absl::StatusOr<std::optional<OutboxItem>> AlertStore::ClaimNext(const std::string& owner,
                                                                std::chrono::milliseconds lease) {
  if (owner.empty()) return absl::InvalidArgumentError("alert outbox claim: empty lease owner");
  // One statement: the candidate is locked (SKIP LOCKED: a row another
  // worker is claiming right now is passed over, not waited for) and
  // re-checked on its newest version before the lease is written, so two
  // concurrent claims never both get it. A study's later item is no
  // candidate while an earlier one is undelivered (leased or not).
  auto rows = db_->Exec(
      absl::StrCat("UPDATE alerting.outbox SET lease_owner = $1, "
                   "lease_until = clock_timestamp() + $2 * interval '1 millisecond' "
                   "WHERE id = (SELECT c.id FROM alerting.outbox c "
                   "WHERE c.delivered_at IS NULL AND c.next_attempt_at <= clock_timestamp() "
                   "AND (c.lease_until IS NULL OR c.lease_until < clock_timestamp()) "
                   "AND NOT EXISTS (SELECT 1 FROM alerting.outbox e WHERE e.study_uid = c.study_uid "
                   "AND e.delivered_at IS NULL AND e.id < c.id) "
                   "ORDER BY c.id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                   "RETURNING ",
                   kOutboxColumns),
      {owner, static_cast<long long>(lease.count())});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<OutboxItem>();
  return std::optional<OutboxItem>(ItemFromRow((*rows)[0]));
}

absl::StatusOr<std::optional<TimePoint>> AlertStore::NextClaimableAt() {
  auto rows = db_->Exec(
      "SELECT (extract(epoch from min(greatest(h.next_attempt_at, coalesce(h.lease_until, h.next_attempt_at)))) "
      "* 1000000)::bigint FROM alerting.outbox h WHERE h.delivered_at IS NULL "
      "AND NOT EXISTS (SELECT 1 FROM alerting.outbox e WHERE e.study_uid = h.study_uid "
      "AND e.delivered_at IS NULL AND e.id < h.id)");
  if (!rows.ok()) return rows.status();
  if (rows->empty() || (*rows)[0].IsNull(0)) return std::optional<TimePoint>();
  return std::optional<TimePoint>(FromMicros((*rows)[0].GetInt64(0).value_or(0)));
}

absl::Status AlertStore::SaveProgress(const OutboxItem& item, std::chrono::milliseconds lease) {
  auto rows = db_->Exec(
      "UPDATE alerting.outbox SET report_id = $2, done = $3, "
      "lease_until = CASE WHEN $4 = '' THEN lease_until ELSE clock_timestamp() + $5 * interval '1 millisecond' END "
      "WHERE id = $1 AND lease_owner = $4 AND delivered_at IS NULL RETURNING id",
      {static_cast<long long>(item.id), item.report_id, absl::StrJoin(item.done, "\n"), item.lease_owner,
       static_cast<long long>(lease.count())});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return LeaseLost(item.id);
  return absl::OkStatus();
}

absl::Status AlertStore::MarkDelivered(const OutboxItem& item) {
  auto rows = db_->Exec(
      "UPDATE alerting.outbox SET delivered_at = clock_timestamp(), last_error = '', lease_until = NULL "
      "WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL RETURNING id",
      {static_cast<long long>(item.id), item.lease_owner});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return LeaseLost(item.id);
  return absl::OkStatus();
}

absl::Status AlertStore::MarkRetry(const OutboxItem& item, int attempts, std::chrono::milliseconds delay,
                                   const std::string& error) {
  auto rows = db_->Exec(
      "UPDATE alerting.outbox SET attempts = $3, next_attempt_at = clock_timestamp() + $4 * interval '1 "
      "millisecond', last_error = $5, lease_until = NULL WHERE id = $1 AND lease_owner = $2 "
      "AND delivered_at IS NULL RETURNING id",
      {static_cast<long long>(item.id), item.lease_owner, attempts, static_cast<long long>(delay.count()), error});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return LeaseLost(item.id);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> AlertStore::PendingCount() {
  auto rows = db_->Exec("SELECT count(*) FROM alerting.outbox WHERE delivered_at IS NULL");
  if (!rows.ok()) return rows.status();
  return (*rows)[0].GetInt64(0);
}

}  // namespace parallax::alerting
