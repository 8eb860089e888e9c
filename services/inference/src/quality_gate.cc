#include "quality_gate.h"

#include <algorithm>

#include "parallax/quality/image_quality.h"

namespace parallax::inference_service {
namespace {

common::v1::QualityFlag ToFlag(quality::Issue issue) {
  switch (issue) {
    case quality::Issue::kRotated: return common::v1::QUALITY_FLAG_ROTATED;
    case quality::Issue::kMotionArtefact: return common::v1::QUALITY_FLAG_MOTION_ARTEFACT;
    case quality::Issue::kUnderexposed: return common::v1::QUALITY_FLAG_UNDEREXPOSED;
    case quality::Issue::kOverexposed: return common::v1::QUALITY_FLAG_OVEREXPOSED;
    case quality::Issue::kNoisy: return common::v1::QUALITY_FLAG_NOISE;
    case quality::Issue::kMissingSlices: return common::v1::QUALITY_FLAG_MISSING_SLICES;
    case quality::Issue::kIncompleteSeries: return common::v1::QUALITY_FLAG_INCOMPLETE_SERIES;
    case quality::Issue::kAnatomyTruncated: return common::v1::QUALITY_FLAG_ANATOMY_TRUNCATED;
    case quality::Issue::kThickSlices: return common::v1::QUALITY_FLAG_THICK_SLICES;
    case quality::Issue::kLowResolution: return common::v1::QUALITY_FLAG_LOW_RESOLUTION;
  }
  return common::v1::QUALITY_FLAG_UNSPECIFIED;
}

bool Has(const std::vector<std::string>& values, std::initializer_list<const char*> wanted) {
  return std::any_of(values.begin(), values.end(), [&](const std::string& v) {
    return std::any_of(wanted.begin(), wanted.end(), [&](const char* w) { return v == w; });
  });
}

}  // namespace

QualityResult AssessQuality(const inference::ModelManifest& manifest, const inference::PreparedStudy& prepared) {
  QualityResult out;
  if (!prepared.analysis.applies || prepared.volumes.empty() || prepared.volumes.front().empty()) return out;
  const auto& volume = prepared.volumes.front();
  const inference::AnalysedSeries& series = prepared.analysis.series.front();
  absl::StatusOr<quality::Assessment> assessment;
  if (series.positions_mm.empty()) {
    quality::RadiographOptions o;
    o.frontal_chest = Has(manifest.applies_to.body_part, {"CHEST", "THORAX", "LUNG"});
    assessment = quality::AssessRadiograph(volume.front(), o);
  } else {
    quality::VolumeOptions o;
    o.ct = series.modality == "CT";
    if (o.ct && Has(manifest.applies_to.body_part, {"HEAD", "BRAIN", "SKULL"})) {
      o.organ_must_end = quality::OrganEnd::kHighestPosition;
    }
    assessment = quality::AssessVolume(volume, series.positions_mm, series.slice_thickness_mm, o);
  }
  if (!assessment.ok()) {
    out.notes.push_back(std::string("quality not assessed: ") + std::string(assessment.status().message()));
    return out;
  }
  const bool mr_volume = !series.positions_mm.empty() && series.modality != "CT";
  for (const quality::Check& c : assessment->checks) {
    if (!c.flagged) continue;
    // The motion and noise rules are calibrated on CT and films only: on MR
    // (stored values, other textures) they flag clean phantoms, so they do
    // not speak for MR until calibrated there.
    if (mr_volume && (c.issue == quality::Issue::kMotionArtefact || c.issue == quality::Issue::kNoisy)) continue;
    const common::v1::QualityFlag flag = ToFlag(c.issue);
    if (std::find(out.flags.begin(), out.flags.end(), flag) == out.flags.end()) out.flags.push_back(flag);
    out.notes.push_back(std::string(quality::IssueName(c.issue)) + ": " + c.detail);
  }
  return out;
}

}  // namespace parallax::inference_service
