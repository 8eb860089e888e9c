#pragma once
// Turns one model's StudyAnalysis into the wire ModelResult: one Finding per
// label in manifest order (positive or not), the model-level measurements,
// and the outcome. Pure functions; thread-safe.
#include <string>
#include <vector>

#include "parallax/common/v1/finding.pb.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/inference/study_analysis.h"
#include "parallax/inference/v1/inference.pb.h"

namespace parallax::inference_service {

// Stable finding id from (study, generation, model device UID, label), so a
// retried analysis of the same study generation yields the same id:
// "f-" + 32 hex digits of SHA-256 over the four, separated by NUL bytes.
std::string FindingId(const std::string& study_instance_uid, int64_t generation, const std::string& device_uid,
                      const std::string& label);

// The ModelResult of an analysis that ran (applies or not). Findings carry
// the label's code, probability, operating point, decision, the model
// reference, the series read and the source instances: for a per-slice model
// the slices at or above the label's operating point (the highest one alone
// when none is), for a radiograph its instance. A model whose labels include
// an "any haemorrhage" summary label (inference::IsAnyHaemorrhageLabel)
// treats its other labels as subtypes: each subtype Finding's subtype is its
// lower-cased name, and a positive summary Finding's subtype is the most
// probable subtype, whether or not that subtype passes its own (stricter)
// operating point: its own Finding says so ("" on a negative summary). The ich_volume measurement,
// when available, becomes the summary Finding's volume_ml. `quality_flags`
// are copied onto every finding.
inference::v1::ModelResult ToModelResult(const inference::ModelManifest& manifest,
                                         const inference::StudyAnalysis& analysis,
                                         const common::v1::StudyRef& study,
                                         const std::vector<common::v1::QualityFlag>& quality_flags);

// A ModelResult for a model that could not run on this study (outcome
// REJECTED_INPUT or FAILED), with the error text (no patient data) and no
// findings.
inference::v1::ModelResult FailedModelResult(const inference::ModelManifest& manifest,
                                             inference::v1::ModelOutcome outcome, const std::string& error);

// The study decision over every model result: POSITIVE when any finding is
// positive; else INDETERMINATE when any model did not end OK (not applicable
// counts as OK only when at least one other model ran OK); else NEGATIVE.
inference::v1::StudyDecision Decide(const std::vector<inference::v1::ModelResult>& results);

}  // namespace parallax::inference_service
