#pragma once
// The calls that analyse one study, shared by the analysis worker (the
// study that arrived) and the prior comparison (the patient's prior study,
// read with the same models): Inference.Analyze over the planned models,
// then Explainability.Explain for each positive finding on the slices that
// carry it, merging side, zone, size and evidence into the findings.
//
// Thread-safety: the functions are reentrant; the stubs are gRPC stubs
// (thread-safe).
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/explainability/v1/explainability.grpc.pb.h"
#include "parallax/inference/v1/inference.grpc.pb.h"
#include "study_plan.h"
#include "triage_store.h"

namespace parallax::triage {

// The Analyze request for `plan`'s models of `study`.
inference::v1::AnalyzeRequest AnalyzeRequestFor(const common::v1::StudyRef& study,
                                               const common::v1::StudyManifest& manifest, const StudyPlan& plan,
                                               const std::string& job_id);

struct ExplainSettings {
  std::chrono::system_clock::time_point deadline;  // all Explain calls, retries included
  int max_explained_slices = 16;                   // per finding: its source slices, in slice order
  int max_png_slices = 3;                          // heatmap PNGs kept per finding
  int parallel_explains = 2;                       // Explain calls in flight at once
  bool include_png = true;                         // false: side, zone and size only
  bool dicom_evidence = true;                      // a Secondary Capture per finding
  // Only findings inference gave no size (volume_ml / area_cm2): for reading
  // a prior, where the size is what counts (a head CT's ICH volume comes
  // from inference; films and MR sizes from the explanation).
  bool only_unmeasured = false;
  // Which findings to explain; unset = the positive ones. (Reading a prior
  // explains near-threshold findings too when the comparison needs their size.)
  std::function<bool(const common::v1::Finding&)> select;
};

struct ExplainOutcome {
  std::vector<StoredEvidence> evidence;  // heatmaps and Secondary Captures to store
  int failures = 0;                      // positive findings left without an explanation
};

// Explains every positive finding (or those settings.select picks) of `analysis` (of `study`, planned as
// `plan`) and merges laterality, zone, area/volume (when inference gave
// none) and evidence references into it. A replica at capacity or
// unreachable is retried with backoff until the deadline; a finding whose
// explanation still fails is left without evidence and logged (no patient
// data) and counted in `failures`.
ExplainOutcome ExplainPositives(explainability::v1::Explainability::StubInterface& explainability,
                                const common::v1::StudyRef& study, const StudyPlan& plan,
                                inference::v1::AnalyzeResponse* analysis, const ExplainSettings& settings);

}  // namespace parallax::triage
