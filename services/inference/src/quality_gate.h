#pragma once
// The image-quality gate inference applies to the pixels a model read
// (libs/quality): radiographs (rotation for frontal chest films, motion,
// under/over-exposure, noise, resolution), CT volumes (gaps, truncation at
// the vertex for head CT, motion per slice, noise, thick slices) and MR
// volumes (geometry only: the motion and noise rules are calibrated on CT
// and films and flag clean MR phantoms). Findings of
// a flagged study still report; they carry the flags so alerts and the UI
// show them. Pure; thread-safe.
#include <string>
#include <vector>

#include "parallax/common/v1/finding.pb.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/inference/study_analysis.h"

namespace parallax::inference_service {

struct QualityResult {
  std::vector<common::v1::QualityFlag> flags;
  std::vector<std::string> notes;  // "rotated: midline tilted 9.1 deg (limit 3.0 deg)"; no patient data
};

// Assesses the first-role volume of `prepared` for `manifest`'s kind of
// study. A study the gate cannot measure (e.g. too small) gives no flags and
// a note saying why, never an error.
QualityResult AssessQuality(const inference::ModelManifest& manifest, const inference::PreparedStudy& prepared);

}  // namespace parallax::inference_service
