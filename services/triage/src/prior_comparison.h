#pragma once
// Prior-study comparison for one analysed study (issue 7): finds the
// patient's prior study of the same kind through ingest (its own index, then
// the PACS, retrieving the most relevant prior), reads it with the same
// models (the prior's stored analysis when triage analysed it with the same
// model versions, else Inference.Analyze and Explain on it without storing
// anything), co-registers it onto the current series (Inference.RegisterPrior),
// and sets Finding.prior_comparison on the current study's findings with
// libs/comparison's rule: new, larger, stable, smaller, resolved, or no prior
// available, with the sizes at both times, the interval and the residual.
//
// It never fails or holds back the current analysis: everything is bounded
// by `budget`, and whatever goes wrong (ingest or the PACS unreachable, the
// prior unreadable, a deadline) becomes a note on the comparison (change
// UNSPECIFIED: not compared) and the outcome "not_compared". An unreachable
// PACS is not even that: ingest answers its local priors with a note, which
// the comparison carries.
//
// Which findings get a comparison: every finding present (positive) now or
// in the prior; a label negative at both times keeps prior_comparison unset.
// A resolved label is carried by the current study's (negative) finding of
// that label.
//
// Thread-safety: one PriorComparer may be shared by the worker threads
// (its stubs are thread-safe and it keeps no mutable state).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "parallax/comparison/change.h"
#include "parallax/explainability/v1/explainability.grpc.pb.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/inference/v1/inference.grpc.pb.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "study_analysis.h"
#include "study_plan.h"
#include "triage_config.h"
#include "triage_store.h"

namespace parallax::triage {

// The rule triage compares with unless configured otherwise: libs/comparison's
// ratios (1.5 / 0.67), each subtype through its model's summary finding (the
// head CT's "Intracranial haemorrhage" carries the volume and names the
// subtype), and persistence at probability 0.5 (a finding positive at one
// time and measured at >= 0.5 at the other is not called new or resolved),
// and the chest model's lung lesion labels as one family (a nodule that grew
// into a mass is larger; the department policy routes the three as one
// alert). Chosen on development seeds (700001..) of parallax-eval-prior; see
// the figures in issue 7's notes and models/README.md.
inline comparison::ChangeRule DefaultChangeRule() {
  comparison::ChangeRule rule;
  rule.subtypes_through_summary = true;
  rule.persistence_probability = 0.5;
  rule.label_families = *comparison::ParseLabelFamilies(kDefaultLabelFamilies);
  return rule;
}

struct PriorComparisonOptions {
  // Ingest.FindPriorStudies, PACS query and retrieval included (ingest bounds
  // each PACS step itself and answers local priors when the PACS fails).
  std::chrono::milliseconds find_timeout{30000};
  // The whole comparison: lookup, reading the prior, registration.
  std::chrono::milliseconds budget{120000};
  int lookback_days = 0;        // 0 = ingest's default (5 years)
  bool retrieve = true;         // fetch the most relevant prior from the PACS
  bool register_prior = true;   // co-register the prior (residual, matrix)
  comparison::ChangeRule rule = DefaultChangeRule();  // new / larger / stable / smaller / resolved
  int parallel_explains = 2;    // Explain calls on the prior at once
};

struct PriorOutcome {
  // "compared" (a prior was read and compared), "no_prior" (the patient has
  // none of this kind) or "not_compared" (something failed; see note).
  std::string outcome = "not_compared";
  std::string prior_study_instance_uid;  // the prior compared with; "" when none
  std::string note;                      // for the log and the findings; UIDs and codes only
  int compared_findings = 0;             // findings given a prior_comparison
  bool registered = false;               // RegisterPrior succeeded
};

class PriorComparer {
 public:
  // `store` and `models` must outlive the comparer; `ingest`'s channel
  // reaches Ingest, the stubs reach inference and explainability.
  PriorComparer(std::shared_ptr<grpc::Channel> ingest, std::shared_ptr<grpc::Channel> inference,
                std::shared_ptr<grpc::Channel> explainability, TriageStore* store,
                const std::vector<inference::ModelManifest>* models, PriorComparisonOptions options);

  // Compares the analysed current study (`analysis`, of `study` with
  // `manifest`, planned as `plan`) with the patient's prior and fills the
  // findings' prior_comparison in `analysis`. Never returns an error: see
  // the outcome and its note.
  PriorOutcome Compare(const common::v1::StudyRef& study, const common::v1::StudyManifest& manifest,
                       const StudyPlan& plan, inference::v1::AnalyzeResponse* analysis) const;

 private:
  struct PriorFindings;
  absl::StatusOr<PriorFindings> ReadPrior(const std::string& prior_uid, const inference::v1::AnalyzeResponse& current,
                                          std::chrono::system_clock::time_point end) const;

  std::unique_ptr<ingest::v1::Ingest::Stub> ingest_;
  std::unique_ptr<inference::v1::Inference::Stub> inference_;
  std::unique_ptr<explainability::v1::Explainability::Stub> explainability_;
  TriageStore* store_;
  const std::vector<inference::ModelManifest>* models_;
  PriorComparisonOptions options_;
};

}  // namespace parallax::triage
