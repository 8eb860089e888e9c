#include "escalation_store.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/audit_client/audit_recorder.h"
#include "parallax/auth/roles.h"
#include "parallax/store/bytea.h"
#include "parallax/store/migrations.h"

namespace parallax::escalation {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kSchemaSql[] = R"sql(
CREATE TABLE escalation.users (
  user_id         text PRIMARY KEY,
  display_name    text NOT NULL DEFAULT '',
  roles           text NOT NULL DEFAULT '',
  groups          text NOT NULL DEFAULT '',
  override_labels text NOT NULL DEFAULT '',
  active          boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE escalation.override_rights (
  label text NOT NULL,
  role  text NOT NULL,
  PRIMARY KEY (label, role)
);
CREATE TABLE escalation.reports (
  study_uid           text PRIMARY KEY,
  report_id           text NOT NULL UNIQUE,
  generation          bigint NOT NULL,
  version             integer NOT NULL,
  status              integer NOT NULL,
  manifest            bytea,
  sr_sop_instance_uid text NOT NULL DEFAULT '',
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE escalation.findings (
  finding_id  text PRIMARY KEY,
  study_uid   text NOT NULL,
  generation  bigint NOT NULL,
  label       text NOT NULL,
  critical    boolean NOT NULL,
  alert_id    text NOT NULL DEFAULT '',
  original    bytea NOT NULL,
  current     bytea NOT NULL,
  outcome     integer NOT NULL,
  reviewer    text NOT NULL DEFAULT '',
  decided_by  text NOT NULL DEFAULT '',
  superseded  boolean NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX findings_study ON escalation.findings (study_uid) WHERE NOT superseded;
CREATE TABLE escalation.reviews (
  review_id   text PRIMARY KEY,
  request_id  text NOT NULL UNIQUE,
  finding_id  text NOT NULL,
  actor       text NOT NULL,
  response    bytea NOT NULL,
  reviewed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE escalation.cases (
  case_id        text PRIMARY KEY,
  finding_id     text NOT NULL,
  study_uid      text NOT NULL,
  state          integer NOT NULL,
  assigned_group text NOT NULL,
  assignee       text NOT NULL DEFAULT '',
  due_at         timestamptz NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  body           bytea NOT NULL
);
CREATE UNIQUE INDEX cases_one_open_per_finding ON escalation.cases (finding_id) WHERE state = 1;
CREATE TABLE escalation.decisions (
  request_id text PRIMARY KEY,
  case_id    text NOT NULL,
  response   bytea NOT NULL
);
CREATE TABLE escalation.outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            integer NOT NULL,
  study_uid       text NOT NULL,
  version         integer NOT NULL DEFAULT 0,
  payload         bytea,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON escalation.outbox (next_attempt_at) WHERE delivered_at IS NULL;
)sql";

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

std::string RolesText(const v1::User& u) {
  std::vector<std::string> names;
  for (int r : u.roles()) names.push_back(auth::RoleName(static_cast<v1::Role>(r)));
  return absl::StrJoin(names, ",");
}

absl::StatusOr<v1::User> UserFromRow(const store::Row& row) {
  // user_id, display_name, roles, groups, override_labels, active, created, updated (epoch seconds)
  v1::User u;
  u.set_user_id(row.Get(0).value_or(""));
  u.set_display_name(row.Get(1).value_or(""));
  for (absl::string_view r : absl::StrSplit(row.Get(2).value_or(""), ',', absl::SkipEmpty())) {
    auto role = auth::ParseRole(std::string(r));
    if (role.ok()) u.add_roles(*role);
  }
  for (absl::string_view g : absl::StrSplit(row.Get(3).value_or(""), ',', absl::SkipEmpty())) u.add_groups(std::string(g));
  for (absl::string_view l : absl::StrSplit(row.Get(4).value_or(""), ',', absl::SkipEmpty())) {
    u.add_override_labels(std::string(l));
  }
  u.set_active(row.GetBool(5).value_or(false));
  *u.mutable_created_at() = TimeUtil::SecondsToTimestamp(static_cast<int64_t>(row.GetDouble(6).value_or(0)));
  *u.mutable_updated_at() = TimeUtil::SecondsToTimestamp(static_cast<int64_t>(row.GetDouble(7).value_or(0)));
  return u;
}

constexpr char kUserColumns[] =
    "user_id, display_name, roles, groups, override_labels, active, extract(epoch from created_at), "
    "extract(epoch from updated_at)";

constexpr char kFindingColumns[] =
    "finding_id, study_uid, generation, label, critical, alert_id, original, current, outcome, reviewer, "
    "decided_by, superseded";

absl::StatusOr<StoredFinding> FindingFromRow(const store::Row& row) {
  StoredFinding f;
  f.finding_id = row.Get(0).value_or("");
  f.study_uid = row.Get(1).value_or("");
  f.generation = row.GetInt64(2).value_or(0);
  f.label = row.Get(3).value_or("");
  f.critical = row.GetBool(4).value_or(false);
  f.alert_id = row.Get(5).value_or("");
  auto original = Parse<common::v1::Finding>(row.Get(6), "escalation.findings.original");
  if (!original.ok()) return original.status();
  auto current = Parse<common::v1::Finding>(row.Get(7), "escalation.findings.current");
  if (!current.ok()) return current.status();
  f.original = *std::move(original);
  f.current = *std::move(current);
  f.outcome = static_cast<v1::FindingOutcome>(row.GetInt64(8).value_or(0));
  f.reviewer = row.Get(9).value_or("");
  f.decided_by = row.Get(10).value_or("");
  f.superseded = row.GetBool(11).value_or(false);
  return f;
}

constexpr char kReportColumns[] = "report_id, study_uid, generation, version, status, manifest, sr_sop_instance_uid";

absl::StatusOr<StoredReport> ReportFromRow(const store::Row& row) {
  StoredReport r;
  r.report_id = row.Get(0).value_or("");
  r.study_uid = row.Get(1).value_or("");
  r.generation = row.GetInt64(2).value_or(0);
  r.version = static_cast<int>(row.GetInt64(3).value_or(0));
  r.status = static_cast<v1::ReportStatus>(row.GetInt64(4).value_or(0));
  if (row.Get(5).has_value()) {
    auto m = Parse<common::v1::StudyManifest>(row.Get(5), "escalation.reports.manifest");
    if (!m.ok()) return m.status();
    r.manifest = *std::move(m);
    r.has_manifest = true;
  }
  r.sr_sop_instance_uid = row.Get(6).value_or("");
  return r;
}

}  // namespace

absl::Status EscalationStore::Migrate() {
  std::vector<store::Migration> migrations = {
      {1, "directory, reports, findings, reviews, cases and the outbox", kSchemaSql}};
  for (store::Migration& m : audit_client::AuditRecorder::Migrations("escalation", 2)) migrations.push_back(m);
  return store::ApplyMigrations(*db_, "escalation", migrations);
}

absl::StatusOr<std::optional<v1::User>> EscalationStore::GetUser(const std::string& user_id) {
  auto rows = db_->Exec(absl::StrCat("SELECT ", kUserColumns, " FROM escalation.users WHERE user_id = $1"), {user_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::User>();
  auto u = UserFromRow((*rows)[0]);
  if (!u.ok()) return u.status();
  return std::optional<v1::User>(*std::move(u));
}

absl::StatusOr<std::pair<v1::User, bool>> EscalationStore::UpsertUser(store::Transaction& txn, const v1::User& user) {
  auto rows = txn.Exec(
      absl::StrCat("INSERT INTO escalation.users (user_id, display_name, roles, groups, override_labels, active) "
                   "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET display_name = $2, "
                   "roles = $3, groups = $4, override_labels = $5, active = $6, updated_at = now() RETURNING ",
                   kUserColumns, ", (xmax = 0)"),
      {user.user_id(), user.display_name(), RolesText(user), absl::StrJoin(user.groups(), ","),
       absl::StrJoin(user.override_labels(), ","), user.active()});
  if (!rows.ok()) return rows.status();
  auto u = UserFromRow((*rows)[0]);
  if (!u.ok()) return u.status();
  return std::make_pair(*std::move(u), (*rows)[0].GetBool(8).value_or(false));
}

absl::StatusOr<int64_t> EscalationStore::CountActiveAdmins(store::Transaction& txn, const std::string& except) {
  auto rows = txn.Exec(
      "SELECT count(*) FROM escalation.users WHERE active AND user_id <> $1 AND "
      "'admin' = ANY(string_to_array(roles, ','))",
      {except});
  if (!rows.ok()) return rows.status();
  return (*rows)[0].GetInt64(0);
}

absl::StatusOr<std::vector<v1::User>> EscalationStore::ListUsers(const v1::ListUsersRequest& request, int64_t offset,
                                                                 int limit) {
  auto rows = db_->Exec(
      absl::StrCat("SELECT ", kUserColumns,
                   " FROM escalation.users WHERE ($1 OR active) AND ($2 = '' OR $2 = ANY(string_to_array(roles, ','))) "
                   "AND ($3 = '' OR $3 = ANY(string_to_array(groups, ','))) ORDER BY user_id OFFSET $4 LIMIT $5"),
      {request.include_inactive(), request.role() == v1::ROLE_UNSPECIFIED ? std::string() : auth::RoleName(request.role()),
       request.group(), static_cast<long long>(offset), limit});
  if (!rows.ok()) return rows.status();
  std::vector<v1::User> out;
  for (const store::Row& row : *rows) {
    auto u = UserFromRow(row);
    if (!u.ok()) return u.status();
    out.push_back(*std::move(u));
  }
  return out;
}

absl::Status EscalationStore::ReplaceOverrideRights(const OverrideRights& rights) {
  return db_->InTransaction([&](store::Transaction& txn) -> absl::Status {
    if (auto r = txn.Exec("DELETE FROM escalation.override_rights"); !r.ok()) return r.status();
    for (const auto& [label, roles] : rights) {
      for (v1::Role role : roles) {
        auto r = txn.Exec("INSERT INTO escalation.override_rights (label, role) VALUES ($1, $2)",
                          {label, auth::RoleName(role)});
        if (!r.ok()) return r.status();
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<OverrideRights> EscalationStore::LoadOverrideRights() {
  auto rows = db_->Exec("SELECT label, role FROM escalation.override_rights");
  if (!rows.ok()) return rows.status();
  OverrideRights out;
  for (const store::Row& row : *rows) {
    auto role = auth::ParseRole(row.Get(1).value_or(""));
    if (role.ok()) out[row.Get(0).value_or("")].insert(*role);
  }
  return out;
}

absl::StatusOr<std::optional<StoredReport>> EscalationStore::ReportForUpdate(store::Transaction& txn,
                                                                             const std::string& study_uid) {
  auto rows = txn.Exec(absl::StrCat("SELECT ", kReportColumns, " FROM escalation.reports WHERE study_uid = $1 FOR UPDATE"),
                       {study_uid});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<StoredReport>();
  auto r = ReportFromRow((*rows)[0]);
  if (!r.ok()) return r.status();
  return std::optional<StoredReport>(*std::move(r));
}

absl::StatusOr<std::optional<StoredReport>> EscalationStore::Report(const std::string& study_uid) {
  auto rows = db_->Exec(absl::StrCat("SELECT ", kReportColumns, " FROM escalation.reports WHERE study_uid = $1"),
                        {study_uid});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<StoredReport>();
  auto r = ReportFromRow((*rows)[0]);
  if (!r.ok()) return r.status();
  return std::optional<StoredReport>(*std::move(r));
}

absl::Status EscalationStore::SaveReport(store::Transaction& txn, const StoredReport& r, bool insert) {
  std::optional<std::string> manifest;
  if (r.has_manifest) manifest = Serialize(r.manifest);
  auto rows = insert ? txn.Exec(
                           "INSERT INTO escalation.reports (study_uid, report_id, generation, version, status, manifest, "
                           "sr_sop_instance_uid) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                           {r.study_uid, r.report_id, static_cast<long long>(r.generation), r.version,
                            static_cast<int>(r.status), manifest, r.sr_sop_instance_uid})
                     : txn.Exec(
                           "UPDATE escalation.reports SET generation = $2, version = $3, status = $4, "
                           "manifest = coalesce($5, manifest), updated_at = now() WHERE study_uid = $1",
                           {r.study_uid, static_cast<long long>(r.generation), r.version, static_cast<int>(r.status),
                            manifest});
  return rows.status();
}

absl::Status EscalationStore::InsertFinding(store::Transaction& txn, const StoredFinding& f) {
  auto rows = txn.Exec(
      "INSERT INTO escalation.findings (finding_id, study_uid, generation, label, critical, alert_id, original, "
      "current, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (finding_id) DO NOTHING",
      {f.finding_id, f.study_uid, static_cast<long long>(f.generation), f.label, f.critical, f.alert_id,
       Serialize(f.original), static_cast<int>(f.outcome)});
  return rows.status();
}

absl::Status EscalationStore::SaveFinding(store::Transaction& txn, const StoredFinding& f) {
  auto rows = txn.Exec(
      "UPDATE escalation.findings SET current = $2, outcome = $3, reviewer = $4, decided_by = $5, superseded = $6, "
      "updated_at = now() WHERE finding_id = $1",
      {f.finding_id, Serialize(f.current), static_cast<int>(f.outcome), f.reviewer, f.decided_by, f.superseded});
  return rows.status();
}

absl::StatusOr<std::optional<StoredFinding>> EscalationStore::FindingForUpdate(store::Transaction& txn,
                                                                               const std::string& finding_id) {
  auto rows = txn.Exec(
      absl::StrCat("SELECT ", kFindingColumns, " FROM escalation.findings WHERE finding_id = $1 FOR UPDATE"),
      {finding_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<StoredFinding>();
  auto f = FindingFromRow((*rows)[0]);
  if (!f.ok()) return f.status();
  return std::optional<StoredFinding>(*std::move(f));
}

absl::StatusOr<std::vector<StoredFinding>> EscalationStore::CurrentFindings(store::Transaction* txn,
                                                                            const std::string& study_uid) {
  const std::string sql = absl::StrCat("SELECT ", kFindingColumns,
                                       " FROM escalation.findings WHERE study_uid = $1 AND NOT superseded "
                                       "ORDER BY label, finding_id");
  auto rows = txn ? txn->Exec(sql, {study_uid}) : db_->Exec(sql, {study_uid});
  if (!rows.ok()) return rows.status();
  std::vector<StoredFinding> out;
  for (const store::Row& row : *rows) {
    auto f = FindingFromRow(row);
    if (!f.ok()) return f.status();
    out.push_back(*std::move(f));
  }
  return out;
}

absl::Status EscalationStore::SupersedeFindings(store::Transaction& txn, const std::string& study_uid,
                                                int64_t generation) {
  return txn
      .Exec("UPDATE escalation.findings SET superseded = true, updated_at = now() WHERE study_uid = $1 AND "
            "generation < $2 AND NOT superseded",
            {study_uid, static_cast<long long>(generation)})
      .status();
}

absl::StatusOr<std::optional<v1::ReviewFindingResponse>> EscalationStore::ReviewByRequest(
    store::Transaction& txn, const std::string& request_id) {
  auto rows = txn.Exec("SELECT response FROM escalation.reviews WHERE request_id = $1", {request_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::ReviewFindingResponse>();
  auto r = Parse<v1::ReviewFindingResponse>((*rows)[0].Get(0), "escalation.reviews.response");
  if (!r.ok()) return r.status();
  return std::optional<v1::ReviewFindingResponse>(*std::move(r));
}

absl::Status EscalationStore::InsertReview(store::Transaction& txn, const std::string& request_id,
                                           const v1::ReviewFindingResponse& response) {
  return txn
      .Exec("INSERT INTO escalation.reviews (review_id, request_id, finding_id, actor, response) VALUES ($1, $2, $3, "
            "$4, $5)",
            {response.review().review_id(), request_id, response.review().finding_id(),
             response.review().actor_user_id(), Serialize(response)})
      .status();
}

absl::Status EscalationStore::InsertCase(store::Transaction& txn, const v1::Case& c) {
  return txn
      .Exec("INSERT INTO escalation.cases (case_id, finding_id, study_uid, state, assigned_group, assignee, due_at, "
            "body) VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), $8)",
            {c.case_id(), c.finding().finding_id(), c.study().study_instance_uid(), static_cast<int>(c.state()),
             c.assigned_group(), c.assignee_user_id(), static_cast<double>(c.due_at().seconds()), Serialize(c)})
      .status();
}

absl::Status EscalationStore::SaveCase(store::Transaction& txn, const v1::Case& c) {
  return txn
      .Exec("UPDATE escalation.cases SET state = $2, assignee = $3, body = $4 WHERE case_id = $1",
            {c.case_id(), static_cast<int>(c.state()), c.assignee_user_id(), Serialize(c)})
      .status();
}

namespace {
absl::StatusOr<std::vector<v1::Case>> CasesFromRows(const store::Rows& rows) {
  std::vector<v1::Case> out;
  for (const store::Row& row : rows) {
    auto c = Parse<v1::Case>(row.Get(0), "escalation.cases.body");
    if (!c.ok()) return c.status();
    out.push_back(*std::move(c));
  }
  return out;
}
}  // namespace

absl::StatusOr<std::optional<v1::Case>> EscalationStore::CaseForUpdate(store::Transaction& txn,
                                                                       const std::string& case_id) {
  auto rows = txn.Exec("SELECT body FROM escalation.cases WHERE case_id = $1 FOR UPDATE", {case_id});
  if (!rows.ok()) return rows.status();
  auto cases = CasesFromRows(*rows);
  if (!cases.ok()) return cases.status();
  if (cases->empty()) return std::optional<v1::Case>();
  return std::optional<v1::Case>(std::move(cases->front()));
}

absl::StatusOr<std::optional<v1::Case>> EscalationStore::OpenCaseOfFinding(store::Transaction& txn,
                                                                           const std::string& finding_id) {
  auto rows = txn.Exec("SELECT body FROM escalation.cases WHERE finding_id = $1 AND state = 1", {finding_id});
  if (!rows.ok()) return rows.status();
  auto cases = CasesFromRows(*rows);
  if (!cases.ok()) return cases.status();
  if (cases->empty()) return std::optional<v1::Case>();
  return std::optional<v1::Case>(std::move(cases->front()));
}

absl::StatusOr<std::vector<v1::Case>> EscalationStore::OpenCasesOfStudy(store::Transaction& txn,
                                                                        const std::string& study_uid) {
  auto rows = txn.Exec("SELECT body FROM escalation.cases WHERE study_uid = $1 AND state = 1 FOR UPDATE", {study_uid});
  if (!rows.ok()) return rows.status();
  return CasesFromRows(*rows);
}

absl::StatusOr<std::vector<v1::Case>> EscalationStore::ListCases(const v1::ListCasesRequest& request, int64_t offset,
                                                                 int limit) {
  std::vector<std::string> states;
  for (int s : request.states()) states.push_back(std::to_string(s));
  auto rows = db_->Exec(
      "SELECT body FROM escalation.cases WHERE ($1 = '' OR state = ANY(string_to_array($1, ',')::int[])) AND "
      "($2 = '' OR assigned_group = $2) AND ($3 = '' OR assignee = $3) AND ($4 = '' OR study_uid = $4) "
      "ORDER BY due_at, case_id OFFSET $5 LIMIT $6",
      {absl::StrJoin(states, ","), request.assigned_group(), request.assignee_user_id(), request.study_instance_uid(),
       static_cast<long long>(offset), limit});
  if (!rows.ok()) return rows.status();
  return CasesFromRows(*rows);
}

absl::StatusOr<std::optional<v1::DecideCaseResponse>> EscalationStore::DecisionByRequest(
    store::Transaction& txn, const std::string& request_id) {
  auto rows = txn.Exec("SELECT response FROM escalation.decisions WHERE request_id = $1", {request_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::DecideCaseResponse>();
  auto r = Parse<v1::DecideCaseResponse>((*rows)[0].Get(0), "escalation.decisions.response");
  if (!r.ok()) return r.status();
  return std::optional<v1::DecideCaseResponse>(*std::move(r));
}

absl::Status EscalationStore::InsertDecision(store::Transaction& txn, const std::string& request_id,
                                             const v1::DecideCaseResponse& response) {
  return txn
      .Exec("INSERT INTO escalation.decisions (request_id, case_id, response) VALUES ($1, $2, $3)",
            {request_id, response.decided_case().case_id(), Serialize(response)})
      .status();
}

absl::Status EscalationStore::Enqueue(store::Transaction& txn, OutboxKind kind, const std::string& study_uid,
                                      int version, const std::string& payload) {
  auto r = txn.Exec("INSERT INTO escalation.outbox (kind, study_uid, version, payload) VALUES ($1, $2, $3, $4)",
                    {static_cast<int>(kind), study_uid, version, store::ToByteaHex(payload)});
  if (!r.ok()) return r.status();
  return txn.Exec("SELECT pg_notify('escalation_outbox', '')").status();
}

absl::StatusOr<std::vector<OutboxItem>> EscalationStore::DueItems(int limit) {
  auto rows = db_->Exec(
      "SELECT id, kind, study_uid, version, payload, attempts FROM escalation.outbox WHERE delivered_at IS NULL AND "
      "next_attempt_at <= now() ORDER BY id LIMIT $1",
      {limit});
  if (!rows.ok()) return rows.status();
  std::vector<OutboxItem> out;
  for (const store::Row& row : *rows) {
    OutboxItem item;
    item.id = row.GetInt64(0).value_or(0);
    item.kind = static_cast<OutboxKind>(row.GetInt64(1).value_or(0));
    item.study_uid = row.Get(2).value_or("");
    item.version = static_cast<int>(row.GetInt64(3).value_or(0));
    auto payload = store::FromByteaHex(row.Get(4).value_or(""), "escalation.outbox.payload");
    if (!payload.ok()) return payload.status();
    item.payload = *std::move(payload);
    item.attempts = static_cast<int>(row.GetInt64(5).value_or(0));
    out.push_back(std::move(item));
  }
  return out;
}

absl::Status EscalationStore::MarkDelivered(int64_t id) {
  return db_->Exec("UPDATE escalation.outbox SET delivered_at = now(), last_error = '' WHERE id = $1",
                   {static_cast<long long>(id)})
      .status();
}

absl::Status EscalationStore::MarkRetry(int64_t id, int attempts, std::chrono::milliseconds delay,
                                        const std::string& error) {
  return db_->Exec(
                "UPDATE escalation.outbox SET attempts = $2, next_attempt_at = now() + make_interval(secs => $3), "
                "last_error = $4 WHERE id = $1",
                {static_cast<long long>(id), attempts, delay.count() / 1000.0, error})
      .status();
}

absl::Status EscalationStore::SetSrUid(const std::string& study_uid, const std::string& sop_instance_uid) {
  return db_->Exec("UPDATE escalation.reports SET sr_sop_instance_uid = $2 WHERE study_uid = $1",
                   {study_uid, sop_instance_uid})
      .status();
}

absl::StatusOr<int64_t> EscalationStore::PendingCount() {
  auto rows = db_->Exec("SELECT count(*) FROM escalation.outbox WHERE delivered_at IS NULL");
  if (!rows.ok()) return rows.status();
  return (*rows)[0].GetInt64(0);
}

}  // namespace parallax::escalation
