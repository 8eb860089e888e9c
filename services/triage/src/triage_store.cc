#include "triage_store.h"

#include <algorithm>

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include "job_queue.h"
#include "parallax/audit_client/event_id.h"
#include "parallax/inference/v1/inference.pb.h"
#include "parallax/store/bytea.h"

namespace parallax::triage {
namespace {

constexpr char kStudiesSql[] = R"sql(
CREATE TABLE triage.studies (
  study_uid        text PRIMARY KEY,
  generation       bigint NOT NULL,
  state            text NOT NULL CHECK (state IN ('queued','running','analysed','not_applicable','failed')),
  reason           text NOT NULL DEFAULT '',
  urgency          integer NOT NULL DEFAULT 0,
  modality         text NOT NULL DEFAULT '',
  setting          text NOT NULL DEFAULT 'unknown',
  decision         text NOT NULL DEFAULT '',
  positive_labels  text[] NOT NULL DEFAULT '{}',
  quality_flags    integer[] NOT NULL DEFAULT '{}',
  submitted_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX studies_worklist ON triage.studies (urgency DESC, submitted_at);
CREATE TABLE triage.analyses (
  study_uid          text NOT NULL,
  generation         bigint NOT NULL,
  job_id             bigint NOT NULL,
  state              text NOT NULL,
  reason             text NOT NULL DEFAULT '',
  decision           text NOT NULL DEFAULT '',
  urgency            integer NOT NULL DEFAULT 0,
  route_request      bytea NOT NULL,
  inference_response bytea NOT NULL,
  inference_ms       double precision NOT NULL DEFAULT 0,
  explain_ms         double precision NOT NULL DEFAULT 0,
  stored_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (study_uid, generation)
);
CREATE TABLE triage.evidence (
  finding_id              text NOT NULL,
  source_sop_instance_uid text NOT NULL,
  study_uid               text NOT NULL,
  generation              bigint NOT NULL,
  png                     bytea,
  overlay_png             bytea,
  dicom_sop_instance_uid  text,
  dicom_part10            bytea,
  PRIMARY KEY (finding_id, source_sop_instance_uid)
);
CREATE TABLE triage.route_outbox (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_uid     text NOT NULL,
  generation    bigint NOT NULL,
  request       bytea NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  delivered_at  timestamptz
);
CREATE INDEX route_outbox_pending ON triage.route_outbox (id) WHERE delivered_at IS NULL;
)sql";

constexpr char kFindingsSql[] = R"sql(
CREATE TABLE triage.findings (
  finding_id       text PRIMARY KEY,
  study_uid        text NOT NULL,
  generation       bigint NOT NULL,
  model_id         text NOT NULL,
  label            text NOT NULL,
  subtype          text NOT NULL DEFAULT '',
  probability      double precision NOT NULL,
  operating_point  double precision NOT NULL,
  positive         boolean NOT NULL,
  laterality       text NOT NULL DEFAULT '',
  zone             text NOT NULL DEFAULT '',
  area_cm2         double precision,
  volume_ml        double precision,
  quality_flags    integer[] NOT NULL DEFAULT '{}'
);
CREATE INDEX findings_study ON triage.findings (study_uid, generation);
)sql";

constexpr char kSubmissionsSql[] = R"sql(
CREATE TABLE triage.submissions (
  study_uid        text NOT NULL,
  generation       bigint NOT NULL,
  submission_id    text NOT NULL,
  series_count     integer NOT NULL,
  instance_count   integer NOT NULL,
  manifest         bytea NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (study_uid, generation)
);
)sql";

std::string PgTextArray(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') q.push_back('\\');
      q.push_back(c);
    }
    quoted.push_back(q + "\"");
  }
  return "{" + absl::StrJoin(quoted, ",") + "}";
}

std::string PgIntArray(const std::vector<int>& values) { return "{" + absl::StrJoin(values, ",") + "}"; }

// PostgreSQL's text output of a simple array ({a,"b c"}) back to strings.
std::vector<std::string> ParseTextArray(const std::string& text) {
  std::vector<std::string> out;
  if (text.size() < 2) return out;
  std::string cur;
  bool quoted = false, in_item = false;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 2 < text.size()) cur.push_back(text[++i]);
      else if (c == '"') quoted = false;
      else cur.push_back(c);
    } else if (c == '"') {
      quoted = in_item = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
      in_item = false;
    } else {
      cur.push_back(c);
      in_item = true;
    }
  }
  if (in_item || !cur.empty()) out.push_back(cur);
  return out;
}

triage::v1::AnalysisState StateOf(const std::string& s) {
  if (s == "queued") return triage::v1::ANALYSIS_STATE_QUEUED;
  if (s == "running") return triage::v1::ANALYSIS_STATE_RUNNING;
  if (s == "analysed") return triage::v1::ANALYSIS_STATE_ANALYSED;
  if (s == "not_applicable") return triage::v1::ANALYSIS_STATE_NOT_APPLICABLE;
  if (s == "failed") return triage::v1::ANALYSIS_STATE_FAILED;
  return triage::v1::ANALYSIS_STATE_UNSPECIFIED;
}

const char* StateName(triage::v1::AnalysisState s) {
  switch (s) {
    case triage::v1::ANALYSIS_STATE_QUEUED: return "queued";
    case triage::v1::ANALYSIS_STATE_RUNNING: return "running";
    case triage::v1::ANALYSIS_STATE_ANALYSED: return "analysed";
    case triage::v1::ANALYSIS_STATE_NOT_APPLICABLE: return "not_applicable";
    case triage::v1::ANALYSIS_STATE_FAILED: return "failed";
    default: return "";
  }
}

constexpr char kStatusColumns[] =
    "study_uid, generation, state, reason, urgency, modality, setting, decision, positive_labels, quality_flags";

triage::v1::GetStudyStatusResponse StatusOf(const store::Row& row) {
  triage::v1::GetStudyStatusResponse r;
  r.set_study_instance_uid(row.Get(0).value_or(""));
  r.set_generation(row.GetInt64(1).value_or(0));
  r.set_state(StateOf(row.Get(2).value_or("")));
  r.set_reason(row.Get(3).value_or(""));
  r.set_urgency(static_cast<int32_t>(row.GetInt64(4).value_or(0)));
  r.set_modality(row.Get(5).value_or(""));
  r.set_patient_setting(row.Get(6).value_or(""));
  r.set_decision(row.Get(7).value_or(""));
  for (const std::string& l : ParseTextArray(row.Get(8).value_or("{}"))) r.add_positive_labels(l);
  for (const std::string& q : ParseTextArray(row.Get(9).value_or("{}"))) {
    if (!q.empty()) r.add_quality_flags(static_cast<common::v1::QualityFlag>(std::stoi(q)));
  }
  return r;
}

std::string ModelName(const common::v1::ModelRef& m) {
  return m.model_version().empty() ? m.model_id() : absl::StrCat(m.model_id(), "@", m.model_version());
}

// The STUDY_ANALYSED event of a stored analysis: UIDs, model ids, labels and
// scores only (the record's manifest, with the patient's data, stays out).
audit::v1::AuditEvent StudyAnalysedEvent(const AnalysisRecord& r) {
  audit::v1::AuditEvent e;
  e.set_event_id(StudyAnalysedEventId(r.study_instance_uid, r.generation));
  e.set_type(audit::v1::EVENT_TYPE_STUDY_ANALYSED);
  e.set_service("triage");
  e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_SERVICE);
  e.mutable_actor()->set_system_id("triage");
  audit::v1::Subject* subject = e.mutable_subject();
  subject->set_study_instance_uid(r.study_instance_uid);
  subject->set_generation(r.generation);
  // The models that produced a result, from the stored inference response;
  // failing that, from the findings.
  std::vector<common::v1::ModelRef> models;
  inference::v1::AnalyzeResponse response;
  if (response.ParseFromString(r.inference_response)) {
    for (const inference::v1::ModelResult& m : response.results()) {
      if (m.outcome() == inference::v1::MODEL_OUTCOME_OK) models.push_back(m.model());
    }
  }
  if (models.empty()) {
    for (const common::v1::Finding& f : r.route.findings()) {
      const bool known = std::any_of(models.begin(), models.end(), [&](const common::v1::ModelRef& m) {
        return m.model_id() == f.model().model_id();
      });
      if (!known && !f.model().model_id().empty()) models.push_back(f.model());
    }
  }
  if (!models.empty()) {
    subject->set_model_id(models[0].model_id());
    subject->set_model_version(models[0].model_version());
  }
  auto attribute = [&e](const std::string& key, const std::string& value) {
    audit::v1::Attribute* a = e.add_attributes();
    a->set_key(key);
    a->set_value(value);
  };
  attribute("decision", r.decision);
  attribute("urgency", std::to_string(r.urgency));
  if (!models.empty()) {
    std::vector<std::string> names;
    for (const common::v1::ModelRef& m : models) names.push_back(ModelName(m));
    attribute("models", absl::StrJoin(names, ","));
  }
  std::vector<std::string> labels;
  for (const std::string& l : r.positive_labels) {
    if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
  }
  if (!labels.empty()) attribute("positive_labels", absl::StrJoin(labels, ","));
  std::vector<std::string> flags;
  for (int q : r.quality_flags) {
    std::string name = common::v1::QualityFlag_IsValid(q)
                           ? common::v1::QualityFlag_Name(static_cast<common::v1::QualityFlag>(q))
                           : std::to_string(q);
    if (absl::StartsWith(name, "QUALITY_FLAG_")) name = name.substr(13);
    flags.push_back(std::move(name));
  }
  if (!flags.empty()) attribute("quality_flags", absl::StrJoin(flags, ","));
  if (!r.route_to_alerting) attribute("superseded", "true");
  return e;
}

std::unique_ptr<audit_client::AuditRecorder> EnqueueOnlyRecorder(store::Database* db,
                                                                 audit_client::AuditRecorder* given) {
  if (given != nullptr) return nullptr;
  audit_client::AuditRecorderOptions options;
  options.service = "triage";
  options.listen = false;
  return std::make_unique<audit_client::AuditRecorder>(db, "triage", options);
}

}  // namespace

std::string StudyAnalysedEventId(const std::string& study_instance_uid, int64_t generation) {
  return audit_client::EventIdFor(absl::StrCat("triage/STUDY_ANALYSED/", study_instance_uid, "/", generation));
}

TriageStore::TriageStore(store::Database* db, audit_client::AuditRecorder* audit)
    : db_(db), own_audit_(EnqueueOnlyRecorder(db, audit)), audit_(audit != nullptr ? audit : own_audit_.get()) {}

std::vector<store::Migration> TriageMigrations() {
  std::vector<store::Migration> m = {{1, "submitted studies", kSubmissionsSql}};
  for (store::Migration q : JobQueue::Migrations(2)) m.push_back(std::move(q));
  m.push_back({static_cast<int>(m.size()) + 1, "studies, analyses, evidence, route outbox", kStudiesSql});
  m.push_back({static_cast<int>(m.size()) + 1, "findings of stored analyses", kFindingsSql});
  for (store::Migration& a : audit_client::AuditRecorder::Migrations("triage", static_cast<int>(m.size()) + 1)) {
    m.push_back(std::move(a));
  }
  return m;
}

absl::Status TriageStore::Migrate() { return store::ApplyMigrations(*db_, "triage", TriageMigrations()); }

absl::StatusOr<bool> TriageStore::RecordSubmission(store::Transaction& txn,
                                                   const triage::v1::SubmitStudyRequest& request,
                                                   const std::string& state, const std::string& reason,
                                                   int urgency, const std::string& modality,
                                                   const std::string& setting, const std::vector<int>& quality_flags) {
  const auto& study = request.study();
  int instances = 0;
  for (const auto& series : study.series()) instances += series.instances_size();
  auto rows = txn.Exec(
      "INSERT INTO triage.submissions (study_uid, generation, submission_id, series_count, instance_count, manifest) "
      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (study_uid, generation) DO NOTHING",
      {study.study_instance_uid(), static_cast<long long>(study.generation()), request.submission_id(),
       study.series_size(), instances, store::ToByteaHex(study.SerializeAsString())});
  if (!rows.ok()) return rows.status();
  const bool fresh = rows->affected_rows() == 1;
  if (!fresh) return false;
  auto upsert = txn.Exec(
      "INSERT INTO triage.studies (study_uid, generation, state, reason, urgency, modality, setting, quality_flags) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::integer[]) "
      "ON CONFLICT (study_uid) DO UPDATE SET generation = EXCLUDED.generation, state = EXCLUDED.state, "
      "reason = EXCLUDED.reason, urgency = EXCLUDED.urgency, modality = EXCLUDED.modality, "
      "setting = EXCLUDED.setting, quality_flags = EXCLUDED.quality_flags, decision = '', positive_labels = '{}', "
      "submitted_at = clock_timestamp(), updated_at = clock_timestamp() "
      "WHERE triage.studies.generation < EXCLUDED.generation",
      {study.study_instance_uid(), static_cast<long long>(study.generation()), state, reason, urgency, modality,
       setting, PgIntArray(quality_flags)});
  if (!upsert.ok()) return upsert.status();
  return true;
}

absl::Status TriageStore::MarkRunning(const std::string& study_uid, int64_t generation) {
  auto rows = db_->Exec(
      "UPDATE triage.studies SET state = 'running', updated_at = clock_timestamp() "
      "WHERE study_uid = $1 AND generation = $2 AND state = 'queued'",
      {study_uid, static_cast<long long>(generation)});
  return rows.status();
}

absl::Status TriageStore::StoreAnalysis(store::Transaction& txn, const AnalysisRecord& r) {
  auto inserted = txn.Exec(
      "INSERT INTO triage.analyses (study_uid, generation, job_id, state, reason, decision, urgency, route_request, "
      "inference_response, inference_ms, explain_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
      {r.study_instance_uid, static_cast<long long>(r.generation), static_cast<long long>(r.job_id), r.state,
       r.reason, r.decision, r.urgency, store::ToByteaHex(r.route.SerializeAsString()),
       store::ToByteaHex(r.inference_response), r.inference_ms, r.explain_ms});
  if (!inserted.ok()) return inserted.status();
  for (const StoredEvidence& e : r.evidence) {
    auto ev = txn.Exec(
        "INSERT INTO triage.evidence (finding_id, source_sop_instance_uid, study_uid, generation, png, overlay_png, "
        "dicom_sop_instance_uid, dicom_part10) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (finding_id, source_sop_instance_uid) DO NOTHING",
        {e.finding_id, e.source_sop_instance_uid, r.study_instance_uid, static_cast<long long>(r.generation),
         e.png.empty() ? store::Param::Null() : store::Param(store::ToByteaHex(e.png)),
         e.overlay_png.empty() ? store::Param::Null() : store::Param(store::ToByteaHex(e.overlay_png)),
         e.dicom_sop_instance_uid.empty() ? store::Param::Null() : store::Param(e.dicom_sop_instance_uid),
         e.dicom_part10.empty() ? store::Param::Null() : store::Param(store::ToByteaHex(e.dicom_part10))});
    if (!ev.ok()) return ev.status();
  }
  for (const common::v1::Finding& f : r.route.findings()) {
    std::vector<int> flags(f.quality_flags().begin(), f.quality_flags().end());
    auto row = txn.Exec(
        "INSERT INTO triage.findings (finding_id, study_uid, generation, model_id, label, subtype, probability, "
        "operating_point, positive, laterality, zone, area_cm2, volume_ml, quality_flags) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14::integer[]) ON CONFLICT (finding_id) DO NOTHING",
        {f.finding_id(), r.study_instance_uid, static_cast<long long>(r.generation), f.model().model_id(), f.label(),
         f.subtype(), f.probability(), f.operating_point(), f.positive(),
         f.laterality() == common::v1::LATERALITY_UNSPECIFIED ? std::string()
                                                               : common::v1::Laterality_Name(f.laterality()).substr(11),
         f.zone(), f.has_area_cm2() ? store::Param(f.area_cm2()) : store::Param::Null(),
         f.has_volume_ml() ? store::Param(f.volume_ml()) : store::Param::Null(), PgIntArray(flags)});
    if (!row.ok()) return row.status();
  }
  if (r.state == "analysed" && r.route_to_alerting) {
    auto outbox = txn.Exec(
        "INSERT INTO triage.route_outbox (study_uid, generation, request) VALUES ($1, $2, $3)",
        {r.study_instance_uid, static_cast<long long>(r.generation), store::ToByteaHex(r.route.SerializeAsString())});
    if (!outbox.ok()) return outbox.status();
  }
  std::vector<int> flags = r.quality_flags;
  auto study = txn.Exec(
      "UPDATE triage.studies SET state = $3, reason = $4, decision = $5, urgency = $6, positive_labels = $7::text[], "
      "quality_flags = $8::integer[], updated_at = clock_timestamp() WHERE study_uid = $1 AND generation = $2",
      {r.study_instance_uid, static_cast<long long>(r.generation), r.state, r.reason, r.decision, r.urgency,
       PgTextArray(r.positive_labels), PgIntArray(flags)});
  if (!study.ok()) return study.status();
  if (r.state == "analysed") {
    auto enqueued = audit_->Enqueue(txn, StudyAnalysedEvent(r));
    if (!enqueued.ok()) return enqueued.status();
  }
  return absl::OkStatus();
}

absl::Status TriageStore::MarkFailed(const std::string& study_uid, int64_t generation, const std::string& reason) {
  auto rows = db_->Exec(
      "UPDATE triage.studies SET state = 'failed', reason = $3, updated_at = clock_timestamp() "
      "WHERE study_uid = $1 AND generation = $2",
      {study_uid, static_cast<long long>(generation), reason});
  return rows.status();
}

absl::StatusOr<triage::v1::GetStudyStatusResponse> TriageStore::Status(const std::string& study_uid) {
  auto rows = db_->Exec(absl::StrCat("SELECT ", kStatusColumns, " FROM triage.studies WHERE study_uid = $1"),
                        {study_uid});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError("study was never submitted");
  return StatusOf((*rows)[0]);
}

absl::StatusOr<std::vector<triage::v1::GetStudyStatusResponse>> TriageStore::Worklist(
    const triage::v1::ListWorklistRequest& r) {
  const int limit = r.limit() > 0 ? std::min(r.limit(), 500) : 100;
  auto rows = db_->Exec(
      absl::StrCat("SELECT ", kStatusColumns,
                   " FROM triage.studies WHERE ($1 = '' OR modality = $1) AND ($2 = '' OR state = $2) "
                   "ORDER BY urgency DESC, submitted_at LIMIT $3"),
      {r.modality(), std::string(StateName(r.state())), limit});
  if (!rows.ok()) return rows.status();
  std::vector<triage::v1::GetStudyStatusResponse> out;
  for (const store::Row& row : *rows) out.push_back(StatusOf(row));
  return out;
}

absl::StatusOr<alerting::v1::RouteRequest> TriageStore::Analysis(const std::string& study_uid, int64_t generation) {
  auto rows = db_->Exec("SELECT route_request FROM triage.analyses WHERE study_uid = $1 AND generation = $2",
                        {study_uid, static_cast<long long>(generation)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError("no analysis stored for this study generation");
  auto bytes = store::FromByteaHex((*rows)[0].Get(0).value_or(""), "triage.analyses.route_request");
  if (!bytes.ok()) return bytes.status();
  alerting::v1::RouteRequest request;
  if (!request.ParseFromString(*bytes)) return absl::InternalError("triage.analyses.route_request does not parse");
  return request;
}

absl::StatusOr<int64_t> TriageStore::CountAnalyses(const std::string& study_uid) {
  auto rows = db_->Exec("SELECT count(*) FROM triage.analyses WHERE study_uid = $1", {study_uid});
  if (!rows.ok()) return rows.status();
  return (*rows)[0].GetInt64(0);
}

absl::StatusOr<triage::v1::GetEvidenceResponse> TriageStore::Evidence(const triage::v1::GetEvidenceRequest& request) {
  if (request.finding_id().empty()) return absl::InvalidArgumentError("GetEvidence needs a finding_id");
  // Only the columns asked for leave the database.
  const std::string png = request.include_png() ? "png, overlay_png" : "NULL, NULL";
  const std::string dicom = request.include_dicom() ? "dicom_part10" : "NULL";
  auto rows = db_->Exec(absl::StrCat("SELECT source_sop_instance_uid, study_uid, generation, ", png,
                                     ", dicom_sop_instance_uid, ", dicom,
                                     " FROM triage.evidence WHERE finding_id = $1 AND ($2 = '' OR "
                                     "source_sop_instance_uid = $2) ORDER BY source_sop_instance_uid"),
                        {request.finding_id(), request.source_sop_instance_uid()});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat("no evidence stored for finding ", request.finding_id()));
  triage::v1::GetEvidenceResponse out;
  for (const store::Row& row : *rows) {
    triage::v1::EvidenceObject* o = out.add_objects();
    o->set_finding_id(request.finding_id());
    o->set_source_sop_instance_uid(row.Get(0).value_or(""));
    o->set_study_instance_uid(row.Get(1).value_or(""));
    o->set_generation(row.GetInt64(2).value_or(0));
    for (int column : {3, 4, 6}) {
      if (!row.Get(column).has_value()) continue;
      auto bytes = store::FromByteaHex(*row.Get(column), "triage.evidence");
      if (!bytes.ok()) return bytes.status();
      if (column == 3) o->set_heatmap_png(*std::move(bytes));
      else if (column == 4) o->set_overlay_png(*std::move(bytes));
      else o->set_dicom_part10(*std::move(bytes));
    }
    o->set_dicom_sop_instance_uid(row.Get(5).value_or(""));
  }
  return out;
}

absl::StatusOr<std::vector<TriageStore::OutboxEntry>> TriageStore::PendingRoutes(int limit) {
  auto rows = db_->Exec(
      "SELECT id, request, attempts FROM triage.route_outbox WHERE delivered_at IS NULL ORDER BY id LIMIT $1",
      {limit});
  if (!rows.ok()) return rows.status();
  std::vector<OutboxEntry> out;
  for (const store::Row& row : *rows) {
    OutboxEntry e;
    e.id = row.GetInt64(0).value_or(0);
    auto bytes = store::FromByteaHex(row.Get(1).value_or(""), "triage.route_outbox.request");
    if (!bytes.ok()) return bytes.status();
    if (!e.request.ParseFromString(*bytes)) return absl::InternalError("triage.route_outbox.request does not parse");
    e.attempts = static_cast<int>(row.GetInt64(2).value_or(0));
    out.push_back(std::move(e));
  }
  return out;
}

absl::Status TriageStore::MarkRouted(int64_t id) {
  return db_->Exec("UPDATE triage.route_outbox SET delivered_at = clock_timestamp(), attempts = attempts + 1 "
                   "WHERE id = $1",
                   {static_cast<long long>(id)})
      .status();
}

absl::Status TriageStore::MarkRouteFailed(int64_t id, const std::string& error) {
  return db_->Exec("UPDATE triage.route_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                   {static_cast<long long>(id), error.substr(0, 1000)})
      .status();
}

}  // namespace parallax::triage
