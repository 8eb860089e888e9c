#pragma once
// What a study is and what to run on it, decided from its headers alone
// (the StudyManifest ingest sends): for each model in the model directory,
// the series it reads (libs/inference series selection: frontal film over
// lateral, axial head CT of 2.5-5 mm, T1 post-contrast + FLAIR) or why it
// does not apply; header-level quality flags; and the patient setting.
//
// Headers that lie. Body Part Examined is trusted first (series selection's
// rule); when it is present and the series or study description names a
// different known body part, the plan keeps the model (a mislabelled chest
// film still gets read as what its Body Part says only if the modality and
// view agree) but raises QUALITY_FLAG_HEADER_CONFLICT with a note naming the
// two fields, so the alert and the UI show that the study's identity is in
// doubt. Parallax does not classify the anatomy from pixels (yet).
//
// Pure functions; thread-safe.
#include <string>
#include <vector>

#include "parallax/common/v1/finding.pb.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/inference/model_manifest.h"

namespace parallax::triage {

struct PlannedModel {
  std::string model_id;
  std::string model_version;
  std::string series_instance_uid;
  std::vector<std::string> sop_instance_uids;   // one for a radiograph; empty = whole series
  std::vector<std::string> additional_series;   // further series roles (brain MRI)
  std::string modality;
};

struct SkippedModel {
  std::string model_id;
  std::string reason;  // from series selection, never empty; no patient data
};

enum class PatientSetting { kUnknown, kEmergency, kInpatient, kOutpatient };
const char* PatientSettingName(PatientSetting s);

struct StudyPlan {
  std::vector<PlannedModel> models;    // at least one model applies when non-empty
  std::vector<SkippedModel> skipped;   // every model that does not apply, with why
  std::vector<common::v1::QualityFlag> quality_flags;
  std::vector<std::string> notes;      // one per flag or conflict, no patient data
  PatientSetting setting = PatientSetting::kUnknown;
  std::string modality;                // of the first planned model's series, else of the first series
  bool head = false;                   // a planned model reads the head (HEAD/BRAIN/SKULL)
  // When no model applies: every model's reason, joined ("parallax.cxr: modality CT not in [DX, CR]; ...").
  std::string NotApplicableReason() const;
};

// Plans `study` against `models`. Never fails: a study nothing applies to
// gives an empty `models` and a reason per model.
StudyPlan PlanStudy(const common::v1::StudyManifest& study, const std::vector<inference::ModelManifest>& models);

// The patient setting from the order data the headers carry: Requested
// Procedure Priority STAT -> emergency, HIGH -> inpatient, ROUTINE / MEDIUM /
// LOW -> outpatient, else unknown.
PatientSetting SettingFromPriority(const std::string& requested_priority);

// Loads every <name>.json manifest of `dir` (the model directory inference
// serves; triage needs only the manifests). INVALID_ARGUMENT naming the file
// that does not parse; NOT_FOUND when `dir` is not a directory.
absl::StatusOr<std::vector<inference::ModelManifest>> LoadManifests(const std::string& dir);

}  // namespace parallax::triage
