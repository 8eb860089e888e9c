#include "prior_comparison.h"

#include <algorithm>
#include <map>
#include <set>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/time/civil_time.h>
#include <grpcpp/grpcpp.h>

#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::triage {
namespace {

namespace inf = parallax::inference::v1;
namespace xpl = parallax::explainability::v1;
namespace ing = parallax::ingest::v1;
using SystemClock = std::chrono::system_clock;

SystemClock::time_point Earliest(SystemClock::time_point a, std::chrono::milliseconds within) {
  return std::min(a, SystemClock::now() + within);
}

std::string GrpcError(const grpc::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(status::FromGrpc(s).code()), ": ", s.error_message());
}

// YYYYMMDD of `days` before `date` (itself YYYYMMDD); "" when `date` is not a date.
std::string DaysBefore(const std::string& date, int days) {
  int y = 0, m = 0, d = 0;
  if (date.size() != 8 || std::sscanf(date.c_str(), "%4d%2d%2d", &y, &m, &d) != 3) return "";
  const absl::CivilDay day = absl::CivilDay(y, m, d) - days;
  char out[16];
  std::snprintf(out, sizeof out, "%04d%02d%02d", static_cast<int>(day.year()), day.month(), day.day());
  return out;
}

// Sets a "not compared" comparison carrying `note` on every positive finding.
int MarkNotCompared(inf::AnalyzeResponse* analysis, const std::string& prior_uid, const std::string& note) {
  int n = 0;
  for (inf::ModelResult& r : *analysis->mutable_results()) {
    for (common::v1::Finding& f : *r.mutable_findings()) {
      if (!f.positive()) continue;
      common::v1::PriorComparison* c = f.mutable_prior_comparison();
      c->set_change(common::v1::CHANGE_CLASS_UNSPECIFIED);
      c->set_prior_study_instance_uid(prior_uid);
      c->set_interval_days(-1);
      c->set_note(note);
      ++n;
    }
  }
  return n;
}

// The current finding a change belongs to: the one compared, else (a label
// absent now, or reported through its summary finding) this model's finding
// of that label; null when the model has none.
common::v1::Finding* FindingFor(inf::ModelResult* r, const comparison::FindingChange& change) {
  for (common::v1::Finding& f : *r->mutable_findings()) {
    if (!change.current_finding_id.empty() && f.finding_id() == change.current_finding_id && f.label() == change.label) {
      return &f;
    }
  }
  for (common::v1::Finding& f : *r->mutable_findings()) {
    if (f.label() == change.label) return &f;
  }
  return nullptr;
}

// Explanations for sizes only (no heatmaps, no DICOM evidence), of findings
// inference gave no size.
ExplainSettings SizeOnly(SystemClock::time_point deadline, int parallel) {
  ExplainSettings explain;
  explain.deadline = deadline;
  explain.include_png = false;
  explain.dicom_evidence = false;
  explain.only_unmeasured = true;
  explain.parallel_explains = parallel;
  return explain;
}

// Labels positive in any of `findings`, with their families under `rule`
// (a sibling may stand in for a label at the other time).
std::set<std::string> PositiveLabels(const std::vector<common::v1::Finding>& findings,
                                     const comparison::ChangeRule& rule) {
  std::vector<std::string> positive;
  for (const common::v1::Finding& f : findings) {
    if (f.positive()) positive.push_back(f.label());
  }
  const std::vector<std::string> all = comparison::WithFamilies(positive, rule);
  return std::set<std::string>(all.begin(), all.end());
}

}  // namespace

struct PriorComparer::PriorFindings {
  std::vector<common::v1::Finding> findings;  // of the models both studies were read with
  std::string source;                          // how the prior was read, for the log
  common::v1::StudyManifest manifest;          // the prior's
};

PriorComparer::PriorComparer(std::shared_ptr<grpc::Channel> ingest, std::shared_ptr<grpc::Channel> inference,
                             std::shared_ptr<grpc::Channel> explainability, TriageStore* store,
                             const std::vector<inference::ModelManifest>* models, PriorComparisonOptions options)
    : ingest_(ing::Ingest::NewStub(ingest)),
      inference_(inf::Inference::NewStub(inference)),
      explainability_(xpl::Explainability::NewStub(explainability)),
      store_(store),
      models_(models),
      options_(std::move(options)) {}

absl::StatusOr<PriorComparer::PriorFindings> PriorComparer::ReadPrior(const std::string& prior_uid,
                                                                      const inf::AnalyzeResponse& current,
                                                                      SystemClock::time_point end) const {
  // The models (exact versions) the current study was read with.
  std::map<std::string, std::string> device_of;  // model id -> device uid
  for (const inf::ModelResult& r : current.results()) {
    if (r.outcome() == inf::MODEL_OUTCOME_OK) device_of[r.model().model_id()] = r.model().device_uid();
  }
  if (device_of.empty()) return absl::FailedPreconditionError("no model read the current study");

  // The prior's manifest: its series for reading it, its SOP classes for
  // the references to it.
  ing::GetStudyRequest get;
  get.set_study_instance_uid(prior_uid);
  ing::GetStudyResponse got;
  grpc::ClientContext get_context;
  get_context.set_deadline(Earliest(end, std::chrono::seconds(10)));
  if (grpc::Status s = ingest_->GetStudy(&get_context, get, &got); !s.ok()) {
    return absl::Status(status::FromGrpc(s).code(), absl::StrCat("ingest cannot give the prior: ", GrpcError(s)));
  }

  StudyPlan plan = PlanStudy(got.study(), *models_);
  std::vector<PlannedModel> both;
  for (const PlannedModel& m : plan.models) {
    if (device_of.count(m.model_id) != 0) both.push_back(m);
  }
  if (both.empty()) {
    return absl::FailedPreconditionError("the prior has no series the current study's models read");
  }
  plan.models = std::move(both);
  common::v1::StudyRef ref;
  ref.set_study_instance_uid(prior_uid);
  ref.set_generation(got.study().generation());

  // Triage read the prior itself (it arrived through ingest like any study):
  // its stored findings, when made by the same model versions.
  inf::AnalyzeResponse analysis;
  std::string source;
  if (absl::StatusOr<triage::v1::GetStudyStatusResponse> status = store_->Status(prior_uid);
      status.ok() && status->state() == triage::v1::ANALYSIS_STATE_ANALYSED) {
    absl::StatusOr<alerting::v1::RouteRequest> stored = store_->Analysis(prior_uid, status->generation());
    if (stored.ok()) {
      std::map<std::string, inf::ModelResult> by_model;
      for (const common::v1::Finding& f : stored->findings()) {
        auto it = device_of.find(f.model().model_id());
        if (it == device_of.end() || it->second != f.model().device_uid()) continue;
        inf::ModelResult& r = by_model[it->first];
        *r.mutable_model() = f.model();
        r.set_outcome(inf::MODEL_OUTCOME_OK);
        *r.add_findings() = f;
      }
      if (by_model.size() == device_of.size()) {
        for (auto& [id, r] : by_model) *analysis.add_results() = std::move(r);
        source = "the prior's stored analysis";
      }
    }
  }
  // Otherwise read it now with the same models: nothing is stored, and it
  // never alerts.
  if (source.empty()) {
    const inf::AnalyzeRequest request = AnalyzeRequestFor(ref, got.study(), plan, "prior");
    grpc::ClientContext context;
    context.set_deadline(end);
    if (grpc::Status s = inference_->Analyze(&context, request, &analysis); !s.ok()) {
      return absl::Status(status::FromGrpc(s).code(), absl::StrCat("inference cannot read the prior: ", GrpcError(s)));
    }
    source = "the prior read now with the same models";
  }

  // Sizes where the comparison needs them and inference gave none: the
  // prior's positive findings, and (with the rule's persistence) its
  // near-threshold findings of a label positive now.
  const std::set<std::string> positive_now = PositiveLabels(
      [&] {
        std::vector<common::v1::Finding> all;
        for (const inf::ModelResult& r : current.results()) all.insert(all.end(), r.findings().begin(), r.findings().end());
        return all;
      }(),
      options_.rule);
  ExplainSettings explain = SizeOnly(end, options_.parallel_explains);
  explain.select = [&](const common::v1::Finding& f) {
    return f.positive() || (f.probability() >= options_.rule.persistence_probability && positive_now.count(f.label()) != 0);
  };
  const ExplainOutcome explained = ExplainPositives(*explainability_, ref, plan, &analysis, explain);
  PriorFindings out{{}, source, got.study()};
  for (const inf::ModelResult& r : analysis.results()) {
    if (r.outcome() != inf::MODEL_OUTCOME_OK) continue;
    auto it = device_of.find(r.model().model_id());
    if (it == device_of.end() || it->second != r.model().device_uid()) continue;
    for (const common::v1::Finding& f : r.findings()) out.findings.push_back(f);
  }
  if (out.findings.empty()) return absl::FailedPreconditionError("the models could not read the prior");
  if (explained.failures > 0) {
    out.source = absl::StrCat(out.source, ", ", explained.failures, " finding(s) without a size");
  }
  return out;
}

PriorOutcome PriorComparer::Compare(const common::v1::StudyRef& study, const common::v1::StudyManifest& manifest,
                                    const StudyPlan& plan, inf::AnalyzeResponse* analysis) const {
  const auto end = SystemClock::now() + options_.budget;
  PriorOutcome outcome;

  // 1. The patient's priors of this kind (ingest's index, then the PACS).
  ing::FindPriorStudiesRequest find;
  find.set_study_instance_uid(study.study_instance_uid());
  find.set_max_results(5);
  find.set_lookback_days(options_.lookback_days);
  find.set_retrieve(options_.retrieve);
  ing::FindPriorStudiesResponse found;
  grpc::ClientContext find_context;
  find_context.set_deadline(Earliest(end, options_.find_timeout));
  if (grpc::Status s = ingest_->FindPriorStudies(&find_context, find, &found); !s.ok()) {
    outcome.note = absl::StrCat("prior studies could not be looked up (", GrpcError(s), ")");
    outcome.compared_findings = MarkNotCompared(analysis, "", outcome.note);
    return outcome;
  }
  const std::string pacs_note = found.pacs_note();

  // 2. No prior: each present finding is "no prior available".
  if (found.priors().empty()) {
    outcome.outcome = "no_prior";
    outcome.note = pacs_note.empty() ? "no prior study of this modality and body part"
                                     : absl::StrCat("no prior study of this modality and body part; ", pacs_note);
    for (inf::ModelResult& r : *analysis->mutable_results()) {
      if (r.outcome() != inf::MODEL_OUTCOME_OK) continue;
      const std::vector<common::v1::Finding> now(r.findings().begin(), r.findings().end());
      absl::StatusOr<std::vector<comparison::FindingChange>> none = comparison::NoPriorAvailable(now, options_.rule);
      if (!none.ok()) continue;
      for (const comparison::FindingChange& change : *none) {
        common::v1::Finding* f = FindingFor(&r, change);
        if (f == nullptr) continue;
        *f->mutable_prior_comparison() = comparison::ToProto(change, "", "");
        f->mutable_prior_comparison()->set_note(outcome.note);
        ++outcome.compared_findings;
      }
    }
    return outcome;
  }

  // 3. The most relevant prior ingest holds (a failed retrieval leaves the
  // PACS's newer one out: the note says so).
  const ing::PriorStudy* prior = nullptr;
  for (const ing::PriorStudy& p : found.priors()) {
    if (p.held_locally()) {
      prior = &p;
      break;
    }
  }
  if (prior == nullptr) {
    outcome.note = absl::StrCat("a prior study exists but none could be read",
                                pacs_note.empty() ? "" : absl::StrCat(" (", pacs_note, ")"));
    outcome.compared_findings = MarkNotCompared(analysis, found.priors(0).study_instance_uid(), outcome.note);
    return outcome;
  }
  outcome.prior_study_instance_uid = prior->study_instance_uid();
  std::vector<std::string> notes;
  if (prior != &found.priors(0)) notes.push_back("the most recent prior could not be retrieved; compared with an older one");
  // A PACS the site configured and that failed or was cut short may hide a
  // newer prior: the reader is told. A site without one compares with its
  // local priors by choice; saying so on every finding would be noise.
  if (!pacs_note.empty() && found.pacs_configured()) notes.push_back(pacs_note);

  // 4. The prior read with the same models.
  absl::StatusOr<PriorFindings> prior_findings = ReadPrior(prior->study_instance_uid(), *analysis, end);
  if (!prior_findings.ok()) {
    outcome.note = absl::StrCat("the prior could not be compared: ", prior_findings.status().message());
    outcome.compared_findings = MarkNotCompared(analysis, prior->study_instance_uid(), outcome.note);
    return outcome;
  }

  // 5. The change per label, model by model.
  std::string prior_date = prior->study_date();
  std::string current_date = manifest.study_date();
  if (DaysBefore(current_date, 0).empty() || DaysBefore(prior_date, 0).empty()) {
    // A study without a (valid) date: ingest's interval (from the day each
    // was received) stands in.
    current_date = "20000101";
    prior_date = DaysBefore(current_date, std::max(0, prior->interval_days()));
    notes.push_back("a study date is missing: the interval counts from the days the studies were received");
  }
  for (inf::ModelResult& r : *analysis->mutable_results()) {
    if (r.outcome() != inf::MODEL_OUTCOME_OK) continue;
    std::vector<common::v1::Finding> before, now(r.findings().begin(), r.findings().end());
    std::string prior_series, prior_image;
    for (const common::v1::Finding& f : prior_findings->findings) {
      if (f.model().model_id() != r.model().model_id()) continue;
      before.push_back(f);
      if (prior_series.empty()) prior_series = f.series_instance_uid();
      if (prior_image.empty() && f.source_sop_instance_uids_size() == 1) prior_image = f.source_sop_instance_uids(0);
    }
    if (before.empty()) {
      // The model did not read the prior (nothing there it applies to, or it
      // failed on it): without its findings every present label would read
      // as new, so this model's findings stay not compared.
      notes.push_back(absl::StrCat(r.model().model_id(), " did not read the prior"));
      continue;
    }
    // With the rule's persistence, a label positive in the prior whose
    // current finding sits just under its operating point needs a size
    // (explained now, size only).
    if (options_.rule.persistence_probability < 1) {
      const std::set<std::string> positive_before = PositiveLabels(before, options_.rule);
      inf::AnalyzeResponse one;
      *one.add_results() = r;
      ExplainSettings explain = SizeOnly(end, options_.parallel_explains);
      explain.select = [&](const common::v1::Finding& f) {
        return !f.positive() && f.probability() >= options_.rule.persistence_probability &&
               positive_before.count(f.label()) != 0;
      };
      ExplainPositives(*explainability_, study, plan, &one, explain);
      for (int k = 0; k < r.findings_size(); ++k) {
        const common::v1::Finding& explained = one.results(0).findings(k);
        common::v1::Finding* f = r.mutable_findings(k);
        if (f->positive()) continue;  // the current study's own explanation stands
        if (explained.has_volume_ml() && !f->has_volume_ml()) f->set_volume_ml(explained.volume_ml());
        if (explained.has_area_cm2() && !f->has_area_cm2()) f->set_area_cm2(explained.area_cm2());
      }
      now.assign(r.findings().begin(), r.findings().end());
    }
    absl::StatusOr<std::vector<comparison::FindingChange>> changes =
        comparison::CompareFindings(before, now, prior_date, current_date, options_.rule);
    if (!changes.ok()) {
      notes.push_back(absl::StrCat(r.model().model_id(), " not compared: ", changes.status().message()));
      continue;
    }

    // 6. Co-registration of the two series the model read.
    common::v1::PriorComparison registration;
    const std::string current_series = now.empty() ? "" : now.front().series_instance_uid();
    if (options_.register_prior && !changes->empty() && !prior_series.empty() && !current_series.empty()) {
      inf::RegisterPriorRequest reg;
      *reg.mutable_current() = study;
      reg.set_current_series_instance_uid(current_series);
      reg.mutable_prior()->set_study_instance_uid(prior->study_instance_uid());
      reg.set_prior_series_instance_uid(prior_series);
      // A film read from a series of several views: the view the model read.
      if (!prior_image.empty() && now.front().source_sop_instance_uids_size() == 1) {
        reg.set_current_sop_instance_uid(now.front().source_sop_instance_uids(0));
        reg.set_prior_sop_instance_uid(prior_image);
      }
      inf::RegisterPriorResponse registered;
      grpc::ClientContext context;
      context.set_deadline(end);
      if (grpc::Status s = inference_->RegisterPrior(&context, reg, &registered); s.ok()) {
        registration.set_registration_residual(registered.residual());
        for (double v : registered.current_to_prior()) registration.add_current_to_prior(v);
        outcome.registered = true;
      } else {
        notes.push_back(absl::StrCat("not co-registered (", GrpcError(s), ")"));
      }
    }

    for (const comparison::FindingChange& change : *changes) {
      common::v1::Finding* target = FindingFor(&r, change);
      if (target == nullptr) continue;  // resolved, and this model has no finding of the label now
      common::v1::PriorComparison c = comparison::ToProto(change, prior->study_instance_uid(), prior->study_date());
      if (prior->study_date().empty()) c.set_prior_study_date("");
      c.set_prior_series_instance_uid(prior_series);
      c.MergeFrom(registration);
      for (const common::v1::Finding& p : before) {
        if (p.finding_id() != change.prior_finding_id || change.prior_finding_id.empty()) continue;
        for (const std::string& uid : p.source_sop_instance_uids()) {
          for (const common::v1::SeriesManifest& series : prior_findings->manifest.series()) {
            for (const common::v1::InstanceManifest& instance : series.instances()) {
              if (instance.sop_instance_uid() != uid) continue;
              common::v1::ImageRef* image = c.add_prior_images();
              image->set_sop_class_uid(instance.sop_class_uid());
              image->set_sop_instance_uid(uid);
              image->set_series_instance_uid(series.series_instance_uid());
            }
          }
        }
      }
      *target->mutable_prior_comparison() = std::move(c);
      ++outcome.compared_findings;
    }
  }
  outcome.outcome = "compared";
  notes.insert(notes.begin(), absl::StrCat("compared with ", prior_findings->source));
  outcome.note = absl::StrJoin(notes, "; ");
  // The notes that concern the whole comparison ride on each finding's own.
  if (notes.size() > 1) {
    const std::string extra = absl::StrJoin(notes.begin() + 1, notes.end(), "; ");
    for (inf::ModelResult& r : *analysis->mutable_results()) {
      for (common::v1::Finding& f : *r.mutable_findings()) {
        if (!f.has_prior_comparison()) continue;
        common::v1::PriorComparison* c = f.mutable_prior_comparison();
        c->set_note(c->note().empty() ? extra : absl::StrCat(c->note(), "; ", extra));
      }
    }
  }
  return outcome;
}

}  // namespace parallax::triage
