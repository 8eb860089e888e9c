#include "prior_finder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/time/civil_time.h>

#include "parallax/audit_client/event_id.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sop_classes.h"
#include "parallax/log/log.h"

namespace parallax::ingest {
namespace {

constexpr int kDefaultMaxResults = 10;
constexpr int kMaxMaxResults = 100;
constexpr int kDefaultLookbackDays = 1826;  // 5 years
constexpr int kMaxLookbackDays = 36600;
constexpr int kMaxLocalStudies = 2000;      // studies of one patient read from the index
constexpr int kSecondsPerDay = 86400;

// Day 0 of the "days since epoch" the index and the prior search count in.
const absl::CivilDay kEpoch(1970, 1, 1);

std::string Normalized(const std::string& text) {
  size_t b = text.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  size_t e = text.find_last_not_of(' ');
  std::string out = text.substr(b, e - b + 1);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

struct SeriesFacts {
  std::string modality;   // normalised
  std::string body_part;  // normalised; may be empty
};

// What the current study is: the modalities and body parts of its image series.
struct Kind {
  std::set<std::string> modalities;
  std::set<std::string> body_parts;
};

Kind KindOf(const std::vector<SeriesFacts>& series) {
  Kind k;
  for (const SeriesFacts& s : series) {
    if (s.modality.empty() || IsNonImageModality(s.modality)) continue;
    k.modalities.insert(s.modality);
    if (!s.body_part.empty()) k.body_parts.insert(s.body_part);
  }
  return k;
}

// True when `prior` is of the same kind as `current`; fills the modalities
// and body parts of the prior's image series.
bool SameKind(const std::vector<SeriesFacts>& prior, const Kind& current, std::vector<std::string>* modalities,
              std::vector<std::string>* body_parts) {
  const Kind all = KindOf(prior);
  modalities->assign(all.modalities.begin(), all.modalities.end());
  body_parts->assign(all.body_parts.begin(), all.body_parts.end());
  bool shares_modality = false;
  std::set<std::string> relevant_parts;  // of the series sharing a modality
  for (const SeriesFacts& s : prior) {
    if (current.modalities.count(s.modality) == 0) continue;
    shares_modality = true;
    if (!s.body_part.empty()) relevant_parts.insert(s.body_part);
  }
  if (!shares_modality) return false;
  if (current.body_parts.empty() || relevant_parts.empty()) return true;
  return std::any_of(relevant_parts.begin(), relevant_parts.end(),
                     [&](const std::string& p) { return current.body_parts.count(p) > 0; });
}

// When a study happened, for the "earlier" rule and the order.
struct When {
  int day = 0;               // Study Date, or the day first received
  bool dated = false;        // `day` is a valid Study Date
  std::string study_time;    // for the order only
  double first_received = 0; // seconds since 1970; 0 for a PACS study
};

When WhenOf(const std::string& study_date, const std::string& study_time, double first_received_epoch) {
  When w;
  w.dated = ParseStudyDay(Normalized(study_date), &w.day);
  if (!w.dated) w.day = static_cast<int>(std::floor(first_received_epoch / kSecondsPerDay));
  w.study_time = Normalized(study_time);
  w.first_received = first_received_epoch;
  return w;
}

// The prior rule "earlier": by day; when neither has a Study Date, by
// first received.
bool IsEarlier(const When& prior, const When& current) {
  if (!prior.dated && !current.dated) return prior.first_received < current.first_received;
  return prior.day < current.day;
}

struct Candidate {
  Prior prior;
  When when;
  std::string origin;          // local only
  int pacs_instance_count = -1;  // what the PACS says it holds, when it listed the study
};

// Most relevant first: most recent day, then Study Time, then received; UID for a stable order.
bool MoreRelevant(const Candidate& a, const Candidate& b) {
  if (a.when.day != b.when.day) return a.when.day > b.when.day;
  if (a.when.study_time != b.when.study_time) return a.when.study_time > b.when.study_time;
  if (a.when.first_received != b.when.first_received) return a.when.first_received > b.when.first_received;
  return a.prior.study_instance_uid < b.prior.study_instance_uid;
}

std::vector<SeriesFacts> FactsOf(const StudySummary& s) {
  std::vector<SeriesFacts> out;
  for (const SeriesSummary& se : s.series) out.push_back({Normalized(se.modality), Normalized(se.body_part_examined)});
  return out;
}

std::string PacsLabel(const dicom::StoreDestination& pacs) {
  return absl::StrCat(pacs.name, " (", pacs.ae_title, "@", pacs.host, ":", pacs.port, ")");
}

// The note for a PACS the study query could not use.
std::string QueryFailureNote(const dicom::StoreDestination& pacs, const absl::Status& s) {
  const std::string what(s.message());
  switch (s.code()) {
    // query_retrieve.h's messages name the PACS (name, AE title, host, port).
    case absl::StatusCode::kUnavailable:
      return absl::StrCat("prior PACS unreachable (UNAVAILABLE: ", what, "); local priors only");
    case absl::StatusCode::kDeadlineExceeded:
      return absl::StrCat("prior PACS did not answer in time (DEADLINE_EXCEEDED: ", what, "); local priors only");
    case absl::StatusCode::kInvalidArgument:
      return absl::StrCat("the study's Patient ID or modalities cannot be sent in a C-FIND (", what,
                          "); local priors only");
    default:
      return absl::StrCat("prior PACS ", PacsLabel(pacs), " refused the query (", absl::StatusCodeToString(s.code()),
                          ": ", what, "); local priors only");
  }
}

}  // namespace

bool ParseStudyDay(const std::string& date, int* days_since_epoch) {
  if (date.size() != 8) return false;
  for (char c : date) {
    if (c < '0' || c > '9') return false;
  }
  const int y = std::stoi(date.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(date.substr(4, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(date.substr(6, 2)));
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  const absl::CivilDay day(y, m, d);  // normalises, e.g. 20250230 -> 2025-03-02
  if (day.year() != y || day.month() != static_cast<int>(m) || day.day() != static_cast<int>(d)) return false;
  const int days = static_cast<int>(day - kEpoch);
  *days_since_epoch = days;
  return true;
}

std::string FormatStudyDay(int days_since_epoch) {
  const absl::CivilDay day = kEpoch + days_since_epoch;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", static_cast<int>(day.year()), day.month(), day.day());
  return buf;
}

bool IsNonImageModality(const std::string& modality) {
  static const std::set<std::string> kNonImage = {"SR",     "KO",     "PR",       "SEG",    "REG",      "RWV",
                                                  "DOC",    "AU",     "ECG",      "HD",     "FID",      "PLAN",
                                                  "RTPLAN", "RTDOSE", "RTSTRUCT", "RTRECORD", "REGISTRATION"};
  return kNonImage.count(modality) > 0;
}

PriorFinder::PriorFinder(StudyIndex* index, InstanceReceiver* receiver, PriorPacsSettings pacs,
                         audit_client::AuditRecorder* audit)
    : index_(index), receiver_(receiver), pacs_(std::move(pacs)), audit_(audit) {}

void PriorFinder::RecordRetrieval(const std::string& prior_uid, const std::string& current_uid, int completed,
                                  int failed) {
  if (audit_ == nullptr) return;
  audit::v1::AuditEvent e;
  // One event per prior and its instance count: a repeated retrieval that
  // brought more is a new event, a retried delivery of the same one is not.
  e.set_event_id(audit_client::EventIdFor(
      absl::StrCat("ingest/PRIOR_RETRIEVED/", prior_uid, "/", current_uid, "/", completed, "/", failed)));
  e.set_type(audit::v1::EVENT_TYPE_PRIOR_RETRIEVED);
  e.set_service("ingest");
  e.set_outcome(completed == 0 ? audit::v1::OUTCOME_FAILURE : audit::v1::OUTCOME_SUCCESS);  // partial: "failed" says
  e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_SERVICE);
  e.mutable_actor()->set_system_id("ingest");
  e.mutable_subject()->set_study_instance_uid(prior_uid);
  auto attribute = [&e](const std::string& key, const std::string& value) {
    audit::v1::Attribute* a = e.add_attributes();
    a->set_key(key);
    a->set_value(value);
  };
  attribute("for_study", current_uid);
  attribute("pacs", pacs_.pacs.name);
  attribute("instances", std::to_string(completed));
  if (failed > 0) attribute("failed", std::to_string(failed));
  if (auto recorded = audit_->Record(std::move(e)); !recorded.ok()) {
    log::Warning("prior retrieval not audited", {{"prior_study_uid", prior_uid},
                                                 {"error", std::string(recorded.status().message())}});
  }
}

bool PriorFinder::BeginRetrieval(const std::string& study_uid) {
  std::lock_guard lock(mu_);
  return retrieving_.insert(study_uid).second;
}

void PriorFinder::EndRetrieval(const std::string& study_uid) {
  std::lock_guard lock(mu_);
  retrieving_.erase(study_uid);
}

absl::Status PriorFinder::StoreRetrieved(const dicom::RetrievedInstance& in, const std::string& study_uid) {
  if (receiver_ == nullptr) return absl::FailedPreconditionError("this ingest cannot store retrieved instances");
  return receiver_->StoreRetrieved(in.part10, study_uid, in.sop_instance_uid, pacs_.pacs.ae_title);
}

namespace {

// Whole seconds left before the caller's deadline (a large number without
// one), keeping back a moment to answer.
int SecondsLeft(const std::optional<std::chrono::steady_clock::time_point>& deadline) {
  if (!deadline) return std::numeric_limits<int>::max();
  constexpr auto kAnswerReserve = std::chrono::milliseconds(300);
  const auto left = *deadline - kAnswerReserve - std::chrono::steady_clock::now();
  return static_cast<int>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(left).count()));
}

// `options` with every timeout at most `seconds`.
dicom::QueryRetrieveOptions Within(dicom::QueryRetrieveOptions options, int seconds) {
  options.connect_timeout_seconds = std::min(options.connect_timeout_seconds, seconds);
  options.acse_timeout_seconds = std::min(options.acse_timeout_seconds, seconds);
  options.dimse_timeout_seconds = std::min(options.dimse_timeout_seconds, seconds);
  return options;
}

}  // namespace

absl::StatusOr<PriorSearchResult> PriorFinder::Find(const PriorSearch& search) {
  if (!dicom::IsValidUid(search.study_instance_uid)) {
    return absl::InvalidArgumentError("study_instance_uid is not a valid UID");
  }
  if (search.max_results < 0 || search.max_results > kMaxMaxResults) {
    return absl::InvalidArgumentError(absl::StrCat("max_results must be 0..", kMaxMaxResults, " (0 = 10)"));
  }
  if (search.lookback_days < 0 || search.lookback_days > kMaxLookbackDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("lookback_days must be 0..", kMaxLookbackDays, " (0 = 5 years)"));
  }
  const size_t max_results = static_cast<size_t>(search.max_results == 0 ? kDefaultMaxResults : search.max_results);
  const int lookback = search.lookback_days == 0 ? kDefaultLookbackDays : search.lookback_days;
  const auto started = std::chrono::steady_clock::now();

  absl::StatusOr<StudySummary> current = index_->LoadStudySummary(search.study_instance_uid);
  if (!current.ok()) return current.status();
  PriorSearchResult result;
  result.pacs_configured = pacs_.enabled;
  std::vector<std::string> notes;
  auto finish = [&]() -> PriorSearchResult {
    result.pacs_note = absl::StrJoin(notes, "; ");
    return std::move(result);
  };

  if (current->patient_id.empty()) {
    notes.push_back("the study has no Patient ID; priors cannot be matched");
    return finish();
  }
  const Kind kind = KindOf(FactsOf(*current));
  if (kind.modalities.empty()) {
    notes.push_back("the study has no image series with a modality; priors cannot be matched");
    return finish();
  }
  const When now = WhenOf(current->study_date, current->study_time, current->first_received_epoch);
  auto in_window = [&](const When& w) { return IsEarlier(w, now) && now.day - w.day <= lookback; };

  // 1. The index.
  auto local = index_->StudiesOfPatient(current->patient_id, current->issuer_of_patient_id, kMaxLocalStudies);
  if (!local.ok()) return local.status();
  std::vector<Candidate> candidates;
  std::map<std::string, size_t> local_candidate_of;  // UID -> index in candidates
  std::set<std::string> local_uids;                  // every study of the patient ingest holds
  for (const StudySummary& s : *local) {
    local_uids.insert(s.study_instance_uid);
    if (s.study_instance_uid == current->study_instance_uid) continue;
    Candidate c;
    c.when = WhenOf(s.study_date, s.study_time, s.first_received_epoch);
    if (!in_window(c.when)) continue;
    if (!SameKind(FactsOf(s), kind, &c.prior.modalities, &c.prior.body_parts)) continue;
    c.prior.study_instance_uid = s.study_instance_uid;
    c.prior.study_date = s.study_date;
    c.prior.source = PriorSource::kLocal;
    c.prior.held_locally = s.instance_count > 0;
    c.prior.instance_count = static_cast<int>(s.instance_count);
    c.prior.interval_days = now.day - c.when.day;
    c.origin = s.origin;
    local_candidate_of[s.study_instance_uid] = candidates.size();
    candidates.push_back(std::move(c));
  }
  const size_t local_found = candidates.size();

  // 2. The PACS.
  size_t pacs_found = 0;
  if (!pacs_.enabled) {
    notes.push_back("no PACS is configured for priors (prior_pacs); local priors only");
  } else if (SecondsLeft(search.deadline) < 1) {
    notes.push_back(absl::StrCat("the caller's deadline left no time to ask PACS ", pacs_.pacs.name,
                                 "; local priors only"));
  } else {
    const auto budget_end = started + pacs_.query_budget;
    dicom::StudyQuery query;
    query.patient_id = current->patient_id;
    query.modalities.assign(kind.modalities.begin(), kind.modalities.end());
    query.study_date_from = FormatStudyDay(now.day - lookback);
    query.study_date_to = FormatStudyDay(now.day - 1);
    query.max_results = static_cast<int>(std::min<size_t>(500, std::max<size_t>(50, max_results * 5)));
    absl::StatusOr<dicom::StudyFindResult> found =
        dicom::FindStudies(pacs_.pacs, Within(pacs_.query, SecondsLeft(search.deadline)), query);
    if (!found.ok()) {
      log::Warning("prior PACS query failed; local priors only",
                   {{"study_uid", current->study_instance_uid}, {"pacs", pacs_.pacs.name},
                    {"error", std::string(found.status().message())}});
      notes.push_back(QueryFailureNote(pacs_.pacs, found.status()));
    } else {
      result.pacs_consulted = true;
      if (found->truncated) {
        notes.push_back(absl::StrCat("PACS ", pacs_.pacs.name, " matched more than ", query.max_results,
                                     " studies; only the first ", query.max_results, " were considered"));
      }
      std::vector<Candidate> remote;
      for (const dicom::StudyMatch& m : found->studies) {
        if (m.study_instance_uid == current->study_instance_uid) continue;
        Candidate c;
        c.when = WhenOf(m.study_date, m.study_time, 0);
        if (!c.when.dated || !in_window(c.when)) continue;  // a PACS study without a date cannot be placed
        c.prior.study_instance_uid = m.study_instance_uid;
        c.prior.study_date = m.study_date;
        c.prior.source = PriorSource::kPacs;
        c.prior.instance_count = std::max(0, m.number_of_instances);
        c.prior.interval_days = now.day - c.when.day;
        c.pacs_instance_count = m.number_of_instances;
        for (const std::string& mod : m.modalities_in_study) c.prior.modalities.push_back(Normalized(mod));
        auto held = local_candidate_of.find(m.study_instance_uid);
        if (held != local_candidate_of.end()) {  // both: LOCAL, and remember what the PACS holds
          candidates[held->second].pacs_instance_count = m.number_of_instances;
          continue;
        }
        if (local_uids.count(m.study_instance_uid) > 0) continue;  // held, but not a prior by the local facts
        remote.push_back(std::move(c));
      }
      std::sort(remote.begin(), remote.end(), MoreRelevant);
      // Series look-ups (body parts), most recent first, only while a study
      // could still make the list and the budget lasts.
      bool series_usable = true;
      std::string series_problem;
      size_t unchecked = 0;
      for (Candidate& c : remote) {
        const size_t newer_local =
            static_cast<size_t>(std::count_if(candidates.begin(), candidates.begin() + local_found,
                                              [&](const Candidate& l) { return MoreRelevant(l, c); }));
        if (newer_local + pacs_found >= max_results) break;
        std::vector<SeriesFacts> facts;
        bool checked = false;
        if (series_usable && std::chrono::steady_clock::now() >= budget_end) {
          series_usable = false;
          series_problem = absl::StrCat("the query budget of ", pacs_.query_budget.count(), " s was spent");
        } else if (series_usable && SecondsLeft(search.deadline) < 1) {
          series_usable = false;
          series_problem = "the caller's deadline came";
        }
        if (series_usable) {
          auto series = dicom::FindSeries(pacs_.pacs, Within(pacs_.query, SecondsLeft(search.deadline)),
                                          c.prior.study_instance_uid);
          if (series.ok()) {
            checked = true;
            int count = 0;
            for (const dicom::SeriesMatch& se : *series) {
              facts.push_back({Normalized(se.modality), Normalized(se.body_part_examined)});
              count += std::max(0, se.number_of_instances);
            }
            if (c.prior.instance_count == 0) c.prior.instance_count = count;
          } else {
            series_usable = false;
            series_problem = std::string(series.status().message());
          }
        }
        if (!checked) {
          ++unchecked;
          for (const std::string& mod : c.prior.modalities) facts.push_back({mod, ""});
        }
        if (!SameKind(facts, kind, &c.prior.modalities, &c.prior.body_parts)) continue;
        // A study ingest holds under another patient is not this patient's prior to fetch.
        auto elsewhere = index_->LoadStudySummary(c.prior.study_instance_uid);
        if (elsewhere.ok()) {
          log::Warning("a PACS prior is held by ingest under another patient; skipped",
                       {{"study_uid", current->study_instance_uid},
                        {"prior_study_uid", c.prior.study_instance_uid}});
          continue;
        }
        if (elsewhere.status().code() != absl::StatusCode::kNotFound) return elsewhere.status();
        candidates.push_back(std::move(c));
        ++pacs_found;
      }
      if (unchecked > 0) {
        notes.push_back(absl::StrCat("the series of ", unchecked, " PACS ", unchecked == 1 ? "study" : "studies",
                                     " could not be listed (", series_problem,
                                     "); judged by Modalities In Study only"));
      }
    }
  }

  std::sort(candidates.begin(), candidates.end(), MoreRelevant);
  if (candidates.size() > max_results) candidates.resize(max_results);

  // 3. The most relevant prior, when it is not held (or only partly, from
  // an earlier retrieval).
  std::string retrieved_uid;
  if (search.retrieve && !candidates.empty()) {
    Candidate& top = candidates.front();
    const bool partial = top.prior.held_locally && top.origin == kStudyOriginPriorRetrieval &&
                         top.pacs_instance_count > top.prior.instance_count;
    const bool on_pacs = top.prior.source == PriorSource::kPacs || top.pacs_instance_count >= 0;
    if ((!top.prior.held_locally || partial) && on_pacs && result.pacs_consulted) {
      const std::string uid = top.prior.study_instance_uid;
      const int left = SecondsLeft(search.deadline);
      if (left < 1) {
        notes.push_back(absl::StrCat("the retrieval of prior ", uid,
                                     " was not started: the caller's deadline left no time for it"));
      } else if (!BeginRetrieval(uid)) {
        notes.push_back(absl::StrCat("the retrieval of prior ", uid, " is already in progress"));
      } else {
        auto got = dicom::RetrieveStudy(pacs_.pacs, Within(pacs_.retrieve, left), uid,
                                        [&](const dicom::RetrievedInstance& in) {
          return StoreRetrieved(in, uid);
        });
        EndRetrieval(uid);
        if (!got.ok()) {
          log::Warning("prior retrieval failed", {{"study_uid", current->study_instance_uid},
                                                  {"prior_study_uid", uid},
                                                  {"pacs", pacs_.pacs.name},
                                                  {"error", std::string(got.status().message())}});
          notes.push_back(absl::StrCat("retrieval of prior ", uid, " from PACS ", pacs_.pacs.name, " failed (",
                                       absl::StatusCodeToString(got.status().code()), ": ", got.status().message(),
                                       ")"));
        } else {
          std::string note = absl::StrCat("retrieved prior ", uid, " from PACS ", pacs_.pacs.name, ": ",
                                          got->counts.completed + got->counts.warning, " instances");
          if (got->counts.failed > 0) {
            absl::StrAppend(&note, ", ", got->counts.failed, " failed");
            if (!got->first_instance_error.ok()) {
              absl::StrAppend(&note, " (", got->first_instance_error.message(), ")");
            }
          }
          notes.push_back(std::move(note));
          RecordRetrieval(uid, current->study_instance_uid, static_cast<int>(got->counts.completed + got->counts.warning),
                          static_cast<int>(got->counts.failed));
          log::Info("prior retrieved", {{"study_uid", current->study_instance_uid},
                                        {"prior_study_uid", uid},
                                        {"pacs", pacs_.pacs.name},
                                        {"completed", got->counts.completed},
                                        {"failed", got->counts.failed}});
        }
        // Whatever arrived is durable and indexed: report what is held now.
        auto held = index_->LoadStudySummary(uid);
        if (held.ok()) {
          top.prior.held_locally = held->instance_count > 0;
          top.prior.instance_count = static_cast<int>(held->instance_count);
          if (top.prior.held_locally) retrieved_uid = uid;
        } else if (held.status().code() != absl::StatusCode::kNotFound) {
          notes.push_back("the index could not be read after the retrieval");
        }
      }
    }
  }

  for (Candidate& c : candidates) result.priors.push_back(std::move(c.prior));
  log::Info("prior studies found",
            {{"study_uid", current->study_instance_uid},
             {"priors", static_cast<int>(result.priors.size())},
             {"local", static_cast<int>(local_found)},
             {"pacs", static_cast<int>(pacs_found)},
             {"pacs_consulted", result.pacs_consulted},
             {"retrieved", retrieved_uid},
             {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()}});
  return finish();
}

}  // namespace parallax::ingest
