#include "study_index.h"

#include <map>
#include <sstream>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include "parallax/audit_client/event_id.h"
#include "parallax/store/migrations.h"

namespace parallax::ingest {
namespace {

const std::vector<store::Migration>& BaseMigrations() {
  static const std::vector<store::Migration> kMigrations = {
      {1, "study, series and instance index; stability; triage outbox", R"sql(
CREATE TABLE ingest.studies (
  study_uid            text PRIMARY KEY,
  patient_id           text NOT NULL DEFAULT '',
  issuer_of_patient_id text NOT NULL DEFAULT '',
  accession_number     text NOT NULL DEFAULT '',
  study_date           text NOT NULL DEFAULT '',
  study_time           text NOT NULL DEFAULT '',
  study_description    text NOT NULL DEFAULT '',
  referring_physician  text NOT NULL DEFAULT '',
  requested_priority   text NOT NULL DEFAULT '',
  state                text NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'stable')),
  generation           bigint NOT NULL DEFAULT 1,
  first_received_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  stable_at            timestamptz
);
CREATE INDEX studies_receiving ON ingest.studies (study_uid) WHERE state = 'receiving';

CREATE TABLE ingest.series (
  series_uid         text PRIMARY KEY,
  study_uid          text NOT NULL REFERENCES ingest.studies (study_uid),
  modality           text NOT NULL DEFAULT '',
  body_part_examined text NOT NULL DEFAULT '',
  series_description text NOT NULL DEFAULT '',
  protocol_name      text NOT NULL DEFAULT '',
  series_number      integer NOT NULL DEFAULT 0,
  laterality         text NOT NULL DEFAULT ''
);
CREATE INDEX series_by_study ON ingest.series (study_uid);

CREATE TABLE ingest.instances (
  sop_instance_uid           text PRIMARY KEY,
  series_uid                 text NOT NULL REFERENCES ingest.series (series_uid),
  study_uid                  text NOT NULL REFERENCES ingest.studies (study_uid),
  sop_class_uid              text NOT NULL,
  transfer_syntax_uid        text NOT NULL,
  instance_number            integer NOT NULL DEFAULT 0,
  view_position              text NOT NULL DEFAULT '',
  image_type                 text[] NOT NULL DEFAULT '{}',
  image_orientation_patient  float8[] NOT NULL DEFAULT '{}',
  image_position_patient     float8[] NOT NULL DEFAULT '{}',
  pixel_spacing              float8[] NOT NULL DEFAULT '{}',
  slice_thickness            float8 NOT NULL DEFAULT 0,
  rows                       integer NOT NULL DEFAULT 0,
  columns                    integer NOT NULL DEFAULT 0,
  number_of_frames           integer NOT NULL DEFAULT 1,
  photometric_interpretation text NOT NULL DEFAULT '',
  bits_stored                integer NOT NULL DEFAULT 0,
  patient_orientation        text NOT NULL DEFAULT '',
  body_part_examined         text NOT NULL DEFAULT '',
  relative_path              text NOT NULL,
  size_bytes                 bigint NOT NULL,
  source                     text NOT NULL CHECK (source IN ('dimse', 'stow')),
  calling_ae                 text NOT NULL DEFAULT '',
  received_at                timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX instances_by_study_time ON ingest.instances (study_uid, received_at);
CREATE INDEX instances_by_series ON ingest.instances (series_uid);

CREATE TABLE ingest.triage_outbox (
  id              bigserial PRIMARY KEY,
  study_uid       text NOT NULL REFERENCES ingest.studies (study_uid),
  generation      bigint NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_error      text,
  sent_at         timestamptz,
  UNIQUE (study_uid, generation)
);
CREATE INDEX triage_outbox_due ON ingest.triage_outbox (next_attempt_at) WHERE sent_at IS NULL;
)sql"},
  };
  return kMigrations;
}

// Appended after the audit outbox migrations (the end of the list).
std::vector<store::Migration> PriorMigrations(int first_version) {
  return {
      {first_version, "study origin (received or prior_retrieval); studies by patient; c-get instance source", R"sql(
ALTER TABLE ingest.studies ADD COLUMN origin text NOT NULL DEFAULT 'received'
  CHECK (origin IN ('received', 'prior_retrieval'));
CREATE INDEX studies_by_patient ON ingest.studies (patient_id, issuer_of_patient_id);
ALTER TABLE ingest.instances DROP CONSTRAINT instances_source_check;
ALTER TABLE ingest.instances ADD CONSTRAINT instances_source_check CHECK (source IN ('dimse', 'stow', 'c-get'));
)sql"},
  };
}

// PostgreSQL array literal for text[] / float8[] parameters.
std::string ArrayLiteral(const std::vector<double>& values) {
  std::ostringstream out;
  out.precision(17);
  out << '{';
  for (size_t i = 0; i < values.size(); ++i) out << (i ? "," : "") << values[i];
  out << '}';
  return out.str();
}

std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// Parses a PostgreSQL array text output of numbers: {1,0,0}.
std::vector<double> ParseDoubleArray(const std::string& text) {
  std::vector<double> out;
  std::string item;
  for (char c : text) {
    if (c == '{' || c == '}' || c == ',') {
      if (!item.empty()) out.push_back(std::stod(item));
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

// Parses a PostgreSQL text[] output: {ORIGINAL,PRIMARY,"A B"}.
std::vector<std::string> ParseTextArray(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  bool quoted = false, escaped = false, any = false;
  for (size_t i = 1; i < text.size(); ++i) {  // skip the opening brace
    char c = text[i];
    if (escaped) { item += c; escaped = false; continue; }
    if (quoted) {
      if (c == '\\') escaped = true;
      else if (c == '"') quoted = false;
      else item += c;
      continue;
    }
    if (c == '"') { quoted = true; any = true; }
    else if (c == ',' || c == '}') {
      if (any || !item.empty()) out.push_back(item);
      item.clear();
      any = false;
    } else { item += c; any = true; }
  }
  return out;
}

std::string Str(const store::Row& row, size_t col) { return row.Get(col).value_or(""); }
int64_t Int(const store::Row& row, size_t col) { return row.GetInt64(col).value_or(0); }

}  // namespace

std::vector<store::Migration> IngestMigrations() {
  std::vector<store::Migration> m = BaseMigrations();
  for (store::Migration& a : audit_client::AuditRecorder::Migrations("ingest", static_cast<int>(m.size()) + 1)) {
    m.push_back(std::move(a));
  }
  for (store::Migration& p : PriorMigrations(static_cast<int>(m.size()) + 1)) m.push_back(std::move(p));
  return m;
}

std::string StudyReceivedEventId(const std::string& study_instance_uid, int64_t generation) {
  return audit_client::EventIdFor(absl::StrCat("ingest/STUDY_RECEIVED/", study_instance_uid, "/", generation));
}

namespace {

std::unique_ptr<audit_client::AuditRecorder> EnqueueOnlyRecorder(store::Database* db,
                                                                 audit_client::AuditRecorder* given) {
  if (given != nullptr) return nullptr;
  audit_client::AuditRecorderOptions options;
  options.service = "ingest";
  options.listen = false;
  return std::make_unique<audit_client::AuditRecorder>(db, "ingest", options);
}

}  // namespace

StudyIndex::StudyIndex(store::Database* db, audit_client::AuditRecorder* audit)
    : db_(db), own_audit_(EnqueueOnlyRecorder(db, audit)), audit_(audit != nullptr ? audit : own_audit_.get()) {}

absl::Status StudyIndex::Migrate() { return store::ApplyMigrations(*db_, "ingest", IngestMigrations()); }

absl::StatusOr<bool> StudyIndex::Contains(const std::string& sop_instance_uid) {
  auto rows = db_->Exec("SELECT 1 FROM ingest.instances WHERE sop_instance_uid = $1", {sop_instance_uid});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

absl::StatusOr<bool> StudyIndex::Add(const dicom::InstanceHeader& h, const IndexedInstance& stored,
                                     const std::string& study_origin) {
  // One statement, so one round trip and its own transaction. The study row
  // is created if new, then share-locked: several adds to one study share the
  // lock, and the stability sweep (FOR UPDATE SKIP LOCKED) passes over a
  // study while an instance is being added to it. A study that was already
  // handed to triage becomes receiving again, as its next generation.
  // Foreign keys are checked at the end of the statement, after the study
  // and series rows exist.
  static const std::string kSql =
      "WITH new_study AS ("
      "  INSERT INTO ingest.studies (study_uid, patient_id, issuer_of_patient_id, accession_number, study_date,"
      "    study_time, study_description, referring_physician, requested_priority, origin)"
      "  VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$38) ON CONFLICT (study_uid) DO NOTHING RETURNING 1),"
      " locked AS (SELECT 1 FROM ingest.studies WHERE study_uid = $1 FOR SHARE),"
      " new_series AS ("
      "  INSERT INTO ingest.series (series_uid, study_uid, modality, body_part_examined, series_description,"
      "    protocol_name, series_number, laterality) VALUES ($10,$1,$11,$12,$13,$14,$15,$16)"
      "  ON CONFLICT (series_uid) DO NOTHING),"
      " new_instance AS ("
      "  INSERT INTO ingest.instances (sop_instance_uid, series_uid, study_uid, sop_class_uid, transfer_syntax_uid,"
      "    instance_number, view_position, image_type, image_orientation_patient, image_position_patient,"
      "    pixel_spacing, slice_thickness, rows, columns, number_of_frames, photometric_interpretation, bits_stored,"
      "    patient_orientation, body_part_examined, relative_path, size_bytes, source, calling_ae)"
      "  VALUES ($17,$10,$1,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36,$37)"
      "  ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING 1),"
      " reopened AS ("
      "  UPDATE ingest.studies SET state = 'receiving', generation = generation + 1, stable_at = NULL"
      "  WHERE study_uid = $1 AND state = 'stable' AND EXISTS (SELECT 1 FROM new_instance) RETURNING 1)"
      " SELECT (SELECT count(*) FROM new_instance), (SELECT count(*) FROM locked), (SELECT count(*) FROM reopened)";
  const std::vector<store::Param> params = {
      h.study_instance_uid, h.patient_id, h.issuer_of_patient_id, h.accession_number, h.study_date, h.study_time,
      h.study_description, h.referring_physician, h.requested_priority,
      h.series_instance_uid, h.modality, h.body_part_examined, h.series_description, h.protocol_name,
      h.series_number, h.laterality,
      h.sop_instance_uid, h.sop_class_uid, h.transfer_syntax_uid, h.instance_number, h.view_position,
      ArrayLiteral(h.image_type), ArrayLiteral(h.image_orientation_patient),
      ArrayLiteral(h.image_position_patient), ArrayLiteral(h.pixel_spacing), h.slice_thickness, h.rows,
      h.columns, h.number_of_frames, h.photometric_interpretation, h.bits_stored, h.patient_orientation,
      h.body_part_examined, stored.relative_path, static_cast<long long>(stored.size_bytes), stored.source,
      stored.calling_ae, study_origin};
  absl::Status last;
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto r = db_->Exec(kSql, params);
    if (r.ok()) return (*r)[0].GetInt64(0).value_or(0) == 1;
    // Two adds re-opening the same stable study can deadlock; PostgreSQL
    // aborts one, which simply runs again.
    if (r.status().code() != absl::StatusCode::kAborted) return r.status();
    last = r.status();
  }
  return last;
}

absl::StatusOr<int> StudyIndex::MarkStableStudies(std::chrono::milliseconds quiet, int* skipped_prior_retrievals) {
  struct Marked {
    std::string study_uid;
    int64_t generation = 0;
  };
  int marked_count = 0;
  int skipped_count = 0;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    marked_count = 0;
    skipped_count = 0;
    // SKIP LOCKED passes over studies an instance is being added to right now.
    auto rows = tx.Exec(
        "WITH ready AS ("
        "  SELECT s.study_uid FROM ingest.studies s"
        "  WHERE s.state = 'receiving' AND NOT EXISTS ("
        "    SELECT 1 FROM ingest.instances i"
        "    WHERE i.study_uid = s.study_uid AND i.received_at > clock_timestamp() - $1 * interval '1 millisecond')"
        "  FOR UPDATE SKIP LOCKED LIMIT 200),"
        " marked AS ("
        "  UPDATE ingest.studies s SET state = 'stable', stable_at = clock_timestamp()"
        "  FROM ready WHERE s.study_uid = ready.study_uid RETURNING s.study_uid, s.generation, s.origin),"
        // A prior ingest retrieved itself is stable now, but not for triage.
        " enqueued AS ("
        "  INSERT INTO ingest.triage_outbox (study_uid, generation)"
        "  SELECT study_uid, generation FROM marked WHERE origin = 'received'"
        "  ON CONFLICT (study_uid, generation) DO NOTHING RETURNING study_uid, generation)"
        " SELECT study_uid, generation, true FROM enqueued"
        " UNION ALL SELECT study_uid, generation, false FROM marked WHERE origin <> 'received'",
        {static_cast<long long>(quiet.count())});
    if (!rows.ok()) return rows.status();
    std::map<std::string, int64_t> generation_of;
    std::vector<std::string> uids;
    for (const store::Row& row : *rows) {
      if (row.Get(2).value_or("") != "t") {
        ++skipped_count;
        continue;
      }
      generation_of[Str(row, 0)] = Int(row, 1);
      uids.push_back(Str(row, 0));
    }
    marked_count = static_cast<int>(uids.size());
    if (uids.empty()) return absl::OkStatus();
    // What each study holds now: only UIDs, counts, modalities and AE titles
    // (never the patient or accession columns).
    auto facts = tx.Exec(
        "SELECT u.study_uid,"
        " (SELECT count(*) FROM ingest.instances i WHERE i.study_uid = u.study_uid),"
        " (SELECT coalesce(string_agg(DISTINCT se.modality, ',' ORDER BY se.modality), '')"
        "    FROM ingest.series se WHERE se.study_uid = u.study_uid AND se.modality <> ''),"
        " (SELECT coalesce(string_agg(DISTINCT i.source, ',' ORDER BY i.source), '')"
        "    FROM ingest.instances i WHERE i.study_uid = u.study_uid),"
        " (SELECT coalesce(string_agg(a.calling_ae, '\\' ORDER BY a.n DESC, a.calling_ae), '') FROM ("
        "    SELECT i.calling_ae, count(*) AS n FROM ingest.instances i"
        "    WHERE i.study_uid = u.study_uid AND i.calling_ae <> '' GROUP BY i.calling_ae) a)"
        " FROM unnest($1::text[]) AS u(study_uid)",
        {ArrayLiteral(uids)});
    if (!facts.ok()) return facts.status();
    for (const store::Row& row : *facts) {
      const std::string uid = Str(row, 0);
      const int64_t generation = generation_of[uid];
      // Backslash separated (an AE title cannot hold one), most instances first.
      const std::vector<std::string> calling_aes = absl::StrSplit(Str(row, 4), '\\', absl::SkipEmpty());
      audit::v1::AuditEvent e;
      e.set_event_id(StudyReceivedEventId(uid, generation));
      e.set_type(audit::v1::EVENT_TYPE_STUDY_RECEIVED);
      e.set_service("ingest");
      audit::v1::Actor* actor = e.mutable_actor();
      if (!calling_aes.empty()) {
        actor->set_kind(audit::v1::ACTOR_KIND_EXTERNAL_SYSTEM);
        actor->set_system_id(calling_aes.front());
      } else {
        actor->set_kind(audit::v1::ACTOR_KIND_SERVICE);
        actor->set_system_id("ingest");
      }
      e.mutable_subject()->set_study_instance_uid(uid);
      e.mutable_subject()->set_generation(generation);
      auto attribute = [&e](const std::string& key, const std::string& value) {
        audit::v1::Attribute* a = e.add_attributes();
        a->set_key(key);
        a->set_value(value);
      };
      attribute("instances", std::to_string(Int(row, 1)));
      attribute("modalities", Str(row, 2));
      attribute("sources", Str(row, 3));
      if (calling_aes.size() > 1) attribute("calling_aes", absl::StrJoin(calling_aes, ","));
      auto enqueued = audit_->Enqueue(tx, std::move(e));
      if (!enqueued.ok()) return enqueued.status();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (marked_count > 0) audit_->Poke();
  if (skipped_prior_retrievals != nullptr) *skipped_prior_retrievals = skipped_count;
  return marked_count;
}

absl::StatusOr<int> StudyIndex::DispatchDue(int limit, std::chrono::milliseconds max_backoff,
                                            const std::function<absl::Status(const OutboxEntry&)>& deliver) {
  int delivered = 0;
  absl::Status s = db_->InTransaction(
      [&](store::Transaction& tx) -> absl::Status {
        delivered = 0;
        auto due = tx.Exec(
            "SELECT id, study_uid, generation, attempts FROM ingest.triage_outbox "
            "WHERE sent_at IS NULL AND next_attempt_at <= clock_timestamp() "
            "ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $1",
            {limit});
        if (!due.ok()) return due.status();
        for (const store::Row& row : *due) {
          OutboxEntry entry{Int(row, 0), Str(row, 1), Int(row, 2), static_cast<int>(Int(row, 3))};
          absl::Status result = deliver(entry);
          absl::StatusOr<store::Rows> r;
          if (result.ok()) {
            r = tx.Exec("UPDATE ingest.triage_outbox SET sent_at = clock_timestamp(), attempts = attempts + 1, "
                        "last_error = NULL WHERE id = $1",
                        {static_cast<long long>(entry.id)});
            ++delivered;
          } else {
            const int64_t backoff_ms =
                std::min<int64_t>(max_backoff.count(), 1000LL << std::min(entry.attempts, 16));
            r = tx.Exec("UPDATE ingest.triage_outbox SET attempts = attempts + 1, last_error = $2, "
                        "next_attempt_at = clock_timestamp() + $3 * interval '1 millisecond' WHERE id = $1",
                        {static_cast<long long>(entry.id), result.ToString(), static_cast<long long>(backoff_ms)});
          }
          if (!r.ok()) return r.status();
        }
        return absl::OkStatus();
      },
      1);
  if (!s.ok()) return s;
  return delivered;
}

absl::StatusOr<int64_t> StudyIndex::OutboxDepth() {
  auto rows = db_->Exec("SELECT count(*) FROM ingest.triage_outbox WHERE sent_at IS NULL");
  if (!rows.ok()) return rows.status();
  return Int((*rows)[0], 0);
}

absl::StatusOr<common::v1::StudyManifest> StudyIndex::LoadManifest(const std::string& study_uid) {
  common::v1::StudyManifest m;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    m.Clear();
    auto study = tx.Exec(
        "SELECT study_uid, patient_id, issuer_of_patient_id, accession_number, study_date, study_time, "
        "study_description, referring_physician, requested_priority, generation, "
        "extract(epoch FROM first_received_at)::float8, "
        "(SELECT extract(epoch FROM max(received_at))::float8 FROM ingest.instances WHERE study_uid = $1) "
        "FROM ingest.studies WHERE study_uid = $1",
        {study_uid});
    if (!study.ok()) return study.status();
    if (study->empty()) return absl::NotFoundError("no study with this Study Instance UID");
    const store::Row& st = (*study)[0];
    m.set_study_instance_uid(Str(st, 0));
    m.set_patient_id(Str(st, 1));
    m.set_issuer_of_patient_id(Str(st, 2));
    m.set_accession_number(Str(st, 3));
    m.set_study_date(Str(st, 4));
    m.set_study_time(Str(st, 5));
    m.set_study_description(Str(st, 6));
    m.set_referring_physician(Str(st, 7));
    m.set_requested_priority(Str(st, 8));
    m.set_generation(Int(st, 9));
    auto set_time = [](google::protobuf::Timestamp* t, double epoch) {
      t->set_seconds(static_cast<int64_t>(epoch));
      t->set_nanos(static_cast<int32_t>((epoch - static_cast<double>(static_cast<int64_t>(epoch))) * 1e9));
    };
    set_time(m.mutable_first_received(), st.GetDouble(10).value_or(0));
    set_time(m.mutable_last_received(), st.GetDouble(11).value_or(0));

    auto series = tx.Exec(
        "SELECT series_uid, modality, body_part_examined, series_description, protocol_name, series_number, "
        "laterality FROM ingest.series WHERE study_uid = $1 ORDER BY series_number, series_uid",
        {study_uid});
    if (!series.ok()) return series.status();
    std::map<std::string, common::v1::SeriesManifest*> by_uid;
    for (const store::Row& r : *series) {
      auto* se = m.add_series();
      se->set_series_instance_uid(Str(r, 0));
      se->set_modality(Str(r, 1));
      se->set_body_part_examined(Str(r, 2));
      se->set_series_description(Str(r, 3));
      se->set_protocol_name(Str(r, 4));
      se->set_series_number(static_cast<int32_t>(Int(r, 5)));
      se->set_laterality(Str(r, 6));
      by_uid[se->series_instance_uid()] = se;
    }
    auto instances = tx.Exec(
        "SELECT series_uid, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, view_position, "
        "image_type, image_orientation_patient, image_position_patient, pixel_spacing, slice_thickness, rows, "
        "columns, number_of_frames, photometric_interpretation, bits_stored, size_bytes, patient_orientation, "
        "body_part_examined FROM ingest.instances WHERE study_uid = $1 ORDER BY series_uid, instance_number, "
        "sop_instance_uid",
        {study_uid});
    if (!instances.ok()) return instances.status();
    for (const store::Row& r : *instances) {
      auto it = by_uid.find(Str(r, 0));
      if (it == by_uid.end()) continue;
      auto* in = it->second->add_instances();
      in->set_sop_instance_uid(Str(r, 1));
      in->set_sop_class_uid(Str(r, 2));
      in->set_transfer_syntax_uid(Str(r, 3));
      in->set_instance_number(static_cast<int32_t>(Int(r, 4)));
      in->set_view_position(Str(r, 5));
      for (auto& t : ParseTextArray(Str(r, 6))) in->add_image_type(t);
      for (double v : ParseDoubleArray(Str(r, 7))) in->add_image_orientation_patient(v);
      for (double v : ParseDoubleArray(Str(r, 8))) in->add_image_position_patient(v);
      for (double v : ParseDoubleArray(Str(r, 9))) in->add_pixel_spacing(v);
      in->set_slice_thickness(r.GetDouble(10).value_or(0));
      in->set_rows(static_cast<int32_t>(Int(r, 11)));
      in->set_columns(static_cast<int32_t>(Int(r, 12)));
      in->set_number_of_frames(static_cast<int32_t>(Int(r, 13)));
      in->set_photometric_interpretation(Str(r, 14));
      in->set_bits_stored(static_cast<int32_t>(Int(r, 15)));
      in->set_size_bytes(Int(r, 16));
      in->set_patient_orientation(Str(r, 17));
      in->set_body_part_examined(Str(r, 18));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return m;
}

namespace {

// Columns: study_uid, patient_id, issuer, study_date, study_time,
// first_received epoch, origin, series modality, series body part, series
// instance count (the series columns NULL for a study without series).
constexpr char kSummaryColumns[] =
    "SELECT s.study_uid, s.patient_id, s.issuer_of_patient_id, s.study_date, s.study_time,"
    " extract(epoch FROM s.first_received_at)::float8, s.origin, se.modality, se.body_part_examined,"
    " (SELECT count(*) FROM ingest.instances i WHERE i.series_uid = se.series_uid)"
    " FROM ingest.studies s LEFT JOIN ingest.series se ON se.study_uid = s.study_uid ";

// Folds rows of kSummaryColumns (grouped by study) into summaries, in the
// order each study first appears.
std::vector<StudySummary> FoldSummaries(const store::Rows& rows) {
  std::vector<StudySummary> out;
  std::map<std::string, size_t> index_of;
  for (const store::Row& r : rows) {
    const std::string uid = Str(r, 0);
    auto [it, inserted] = index_of.emplace(uid, out.size());
    if (inserted) {
      StudySummary s;
      s.study_instance_uid = uid;
      s.patient_id = Str(r, 1);
      s.issuer_of_patient_id = Str(r, 2);
      s.study_date = Str(r, 3);
      s.study_time = Str(r, 4);
      s.first_received_epoch = r.GetDouble(5).value_or(0);
      s.origin = Str(r, 6);
      out.push_back(std::move(s));
    }
    if (!r.Get(7).has_value()) continue;  // a study row without series (none yet)
    StudySummary& s = out[it->second];
    SeriesSummary series{Str(r, 7), Str(r, 8), Int(r, 9)};
    s.instance_count += series.instance_count;
    s.series.push_back(std::move(series));
  }
  return out;
}

}  // namespace

absl::StatusOr<StudySummary> StudyIndex::LoadStudySummary(const std::string& study_instance_uid) {
  auto rows = db_->Exec(std::string(kSummaryColumns) + "WHERE s.study_uid = $1 ORDER BY se.series_uid",
                        {study_instance_uid});
  if (!rows.ok()) return rows.status();
  std::vector<StudySummary> found = FoldSummaries(*rows);
  if (found.empty()) return absl::NotFoundError("no study with this Study Instance UID");
  return std::move(found.front());
}

absl::StatusOr<std::vector<StudySummary>> StudyIndex::StudiesOfPatient(const std::string& patient_id,
                                                                       const std::string& issuer_of_patient_id,
                                                                       int limit) {
  if (patient_id.empty()) return std::vector<StudySummary>{};
  auto rows = db_->Exec(std::string(kSummaryColumns) +
                            "WHERE s.study_uid IN (SELECT study_uid FROM ingest.studies"
                            "  WHERE patient_id = $1 AND issuer_of_patient_id = $2"
                            "  ORDER BY first_received_at DESC, study_uid LIMIT $3)"
                            " ORDER BY s.first_received_at DESC, s.study_uid, se.series_uid",
                        {patient_id, issuer_of_patient_id, limit});
  if (!rows.ok()) return rows.status();
  return FoldSummaries(*rows);
}

absl::StatusOr<IndexedInstance> StudyIndex::FindInstance(const std::string& sop_instance_uid) {
  auto rows = db_->Exec(
      "SELECT relative_path, size_bytes, source, calling_ae FROM ingest.instances WHERE sop_instance_uid = $1",
      {sop_instance_uid});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError("no instance with this SOP Instance UID");
  const store::Row& r = (*rows)[0];
  return IndexedInstance{Str(r, 0), Int(r, 1), Str(r, 2), Str(r, 3)};
}

}  // namespace parallax::ingest
