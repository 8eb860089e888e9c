#include "study_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

#include "parallax/inference/series_selection.h"
#include "parallax/ingest_client/manifest_headers.h"

namespace parallax::triage {
namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The body-part group a word names, or "" when it names none we know.
std::string GroupOf(const std::string& word) {
  static const std::map<std::string, std::string> kGroups = {
      {"CHEST", "CHEST"},   {"THORAX", "CHEST"},  {"LUNG", "CHEST"},     {"LUNGS", "CHEST"},
      {"HEAD", "HEAD"},     {"BRAIN", "HEAD"},    {"SKULL", "HEAD"},     {"ABDOMEN", "ABDOMEN"},
      {"PELVIS", "PELVIS"}, {"FOREARM", "ARM"},   {"WRIST", "ARM"},      {"HAND", "ARM"},
      {"KNEE", "LEG"},      {"ANKLE", "LEG"},     {"FOOT", "LEG"},       {"SPINE", "SPINE"},
  };
  auto it = kGroups.find(word);
  return it == kGroups.end() ? "" : it->second;
}

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : Upper(text)) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A header conflict on `series`: Body Part Examined names one group and a
// description names another. Empty when none.
std::string HeaderConflict(const common::v1::StudyManifest& study, const common::v1::SeriesManifest& series) {
  const std::string body = GroupOf(Upper(series.body_part_examined()));
  if (body.empty()) return "";
  for (const auto& [field, text] : {std::pair<const char*, std::string>{"SeriesDescription", series.series_description()},
                                    {"ProtocolName", series.protocol_name()},
                                    {"StudyDescription", study.study_description()}}) {
    for (const std::string& w : Words(text)) {
      const std::string g = GroupOf(w);
      if (!g.empty() && g != body) {
        return absl::StrCat("BodyPartExamined says ", body, " but ", field, " names ", g);
      }
    }
  }
  return "";
}


void AddFlag(StudyPlan& plan, common::v1::QualityFlag flag, const std::string& note) {
  if (std::find(plan.quality_flags.begin(), plan.quality_flags.end(), flag) == plan.quality_flags.end()) {
    plan.quality_flags.push_back(flag);
  }
  if (std::find(plan.notes.begin(), plan.notes.end(), note) == plan.notes.end()) plan.notes.push_back(note);
}

}  // namespace

const char* PatientSettingName(PatientSetting s) {
  switch (s) {
    case PatientSetting::kEmergency: return "emergency";
    case PatientSetting::kInpatient: return "inpatient";
    case PatientSetting::kOutpatient: return "outpatient";
    default: return "unknown";
  }
}

PatientSetting SettingFromPriority(const std::string& requested_priority) {
  const std::string p = Upper(requested_priority);
  if (p == "STAT") return PatientSetting::kEmergency;
  if (p == "HIGH") return PatientSetting::kInpatient;
  if (p == "ROUTINE" || p == "MEDIUM" || p == "LOW") return PatientSetting::kOutpatient;
  return PatientSetting::kUnknown;
}

std::string StudyPlan::NotApplicableReason() const {
  std::vector<std::string> parts;
  for (const SkippedModel& s : skipped) parts.push_back(s.model_id + ": " + s.reason);
  if (parts.empty()) return "no model is loaded";
  return absl::StrJoin(parts, "; ");
}

StudyPlan PlanStudy(const common::v1::StudyManifest& study, const std::vector<inference::ModelManifest>& models) {
  StudyPlan plan;
  plan.setting = SettingFromPriority(study.requested_priority());
  const std::vector<dicom::InstanceHeader> headers = ingest_client::ToInstanceHeaders(study);
  for (const inference::ModelManifest& model : models) {
    const inference::SeriesSelection sel = inference::SelectSeries(headers, model);
    if (!sel.applies) {
      plan.skipped.push_back({model.id, sel.reason});
      continue;
    }
    PlannedModel p;
    p.model_id = model.id;
    p.model_version = model.version;
    const inference::SelectedSeries& first = sel.series.front();
    p.series_instance_uid = first.series_instance_uid;
    p.modality = first.modality;
    if (first.positions_mm.empty()) {  // a radiograph: the chosen image only
      for (size_t idx : first.instances) p.sop_instance_uids.push_back(headers[idx].sop_instance_uid);
    }
    for (size_t r = 1; r < sel.series.size(); ++r) p.additional_series.push_back(sel.series[r].series_instance_uid);
    // Gaps in the volume: a step over 1.5x the median spacing.
    if (first.positions_mm.size() >= 3 && first.slice_spacing_mm > 0) {
      for (size_t k = 1; k < first.positions_mm.size(); ++k) {
        const double step = std::abs(first.positions_mm[k] - first.positions_mm[k - 1]);
        if (step > 1.5 * first.slice_spacing_mm) {
          AddFlag(plan, common::v1::QUALITY_FLAG_MISSING_SLICES,
                  absl::StrCat("gap of ", std::lround(step * 10) / 10.0, " mm between slices ", k, " and ", k + 1,
                               " (spacing ", first.slice_spacing_mm, " mm)"));
          break;
        }
      }
    }
    for (const inference::SelectedSeries& s : sel.series) {
      if (const common::v1::SeriesManifest* series = ingest_client::FindSeries(study, s.series_instance_uid)) {
        const std::string conflict = HeaderConflict(study, *series);
        if (!conflict.empty()) AddFlag(plan, common::v1::QUALITY_FLAG_HEADER_CONFLICT, conflict);
      }
    }
    for (const std::string& part : model.applies_to.body_part) {
      const std::string g = GroupOf(Upper(part));
      plan.head = plan.head || g == "HEAD";
    }
    plan.models.push_back(std::move(p));
  }
  if (!plan.models.empty()) plan.modality = plan.models.front().modality;
  else if (study.series_size() > 0) plan.modality = study.series(0).modality();
  return plan;
}

absl::StatusOr<std::vector<inference::ModelManifest>> LoadManifests(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat("model directory ", dir, " does not exist"));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<inference::ModelManifest> out;
  for (const fs::path& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<inference::ModelManifest> m = inference::ParseModelManifest(text.str());
    if (!m.ok()) return absl::InvalidArgumentError(absl::StrCat("model manifest ", f.string(), ": ", m.status().message()));
    out.push_back(*std::move(m));
  }
  return out;
}

}  // namespace parallax::triage
