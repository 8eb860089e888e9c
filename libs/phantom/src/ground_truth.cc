#include "parallax/phantom/ground_truth.h"

#include <set>

#include <nlohmann/json.hpp>

namespace parallax::phantom {

using nlohmann::json;

const char* LateralityName(Laterality l) {
  switch (l) {
    case Laterality::kLeft: return "left";
    case Laterality::kRight: return "right";
    case Laterality::kBilateral: return "bilateral";
    case Laterality::kMidline: return "midline";
    case Laterality::kNone: break;
  }
  return "none";
}

bool ParseLaterality(const std::string& name, Laterality* out) {
  for (Laterality l : {Laterality::kNone, Laterality::kLeft, Laterality::kRight, Laterality::kBilateral,
                       Laterality::kMidline}) {
    if (name == LateralityName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

std::vector<std::pair<int64_t, int64_t>> EncodeRuns(const Mask& mask) {
  std::vector<std::pair<int64_t, int64_t>> runs;
  const int64_t n = static_cast<int64_t>(mask.bits.size());
  for (int64_t i = 0; i < n;) {
    if (!mask.bits[static_cast<size_t>(i)]) {
      ++i;
      continue;
    }
    int64_t start = i;
    while (i < n && mask.bits[static_cast<size_t>(i)]) ++i;
    runs.emplace_back(start, i - start);
  }
  return runs;
}

std::string GroundTruthJson(const Study& study, const std::string& study_instance_uid) {
  std::set<std::string> labels;
  json findings = json::array();
  for (const Finding& f : study.findings) {
    labels.insert(f.label);
    json runs = json::array();
    for (auto [start, length] : EncodeRuns(f.mask)) runs.push_back({start, length});
    findings.push_back({{"label", f.label},
                        {"laterality", LateralityName(f.laterality)},
                        {"zone", f.zone},
                        {"area_cm2", f.area_cm2},
                        {"volume_ml", f.volume_ml},
                        {"contrast", f.contrast},
                        {"subtle", f.subtle},
                        {"mask",
                         {{"slices", f.mask.slices},
                          {"rows", f.mask.rows},
                          {"columns", f.mask.columns},
                          {"runs", runs}}}});
  }
  json doc = {{"kind", study.kind},
              {"seed", study.seed},
              {"study_instance_uid", study_instance_uid},
              {"labels", std::vector<std::string>(labels.begin(), labels.end())},
              {"quality_defects", study.quality_defects},
              {"findings", findings}};
  return doc.dump();
}

absl::StatusOr<GroundTruth> ParseGroundTruth(const std::string& json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(std::string("ground truth is not JSON: ") + e.what());
  }
  auto missing = [](const std::string& field) {
    return absl::InvalidArgumentError("ground truth lacks or mistypes field '" + field + "'");
  };
  if (!doc.is_object()) return absl::InvalidArgumentError("ground truth must be a JSON object");
  GroundTruth truth;
  try {
    if (!doc.contains("kind") || !doc["kind"].is_string()) return missing("kind");
    truth.kind = doc["kind"];
    if (!doc.contains("labels") || !doc["labels"].is_array()) return missing("labels");
    truth.labels = doc["labels"].get<std::vector<std::string>>();
    truth.seed = doc.value("seed", uint64_t{0});
    truth.study_instance_uid = doc.value("study_instance_uid", "");
    if (doc.contains("quality_defects")) truth.quality_defects = doc["quality_defects"].get<std::vector<std::string>>();
    if (doc.contains("findings")) {
      if (!doc["findings"].is_array()) return missing("findings");
      for (const json& jf : doc["findings"]) {
        Finding f;
        if (!jf.contains("label") || !jf["label"].is_string()) return missing("findings[].label");
        f.label = jf["label"];
        if (!ParseLaterality(jf.value("laterality", "none"), &f.laterality)) return missing("findings[].laterality");
        f.zone = jf.value("zone", "");
        f.area_cm2 = jf.value("area_cm2", 0.0);
        f.volume_ml = jf.value("volume_ml", 0.0);
        f.contrast = jf.value("contrast", 0.0);
        f.subtle = jf.value("subtle", false);
        if (jf.contains("mask")) {
          const json& m = jf["mask"];
          f.mask.slices = m.value("slices", 1);
          f.mask.rows = m.value("rows", 0);
          f.mask.columns = m.value("columns", 0);
          const int64_t size = int64_t{f.mask.slices} * f.mask.rows * f.mask.columns;
          if (size <= 0 || size > (int64_t{1} << 31)) return missing("findings[].mask dimensions");
          f.mask.bits.assign(static_cast<size_t>(size), 0);
          for (const json& run : m.value("runs", json::array())) {
            const int64_t start = run.at(0).get<int64_t>();
            const int64_t length = run.at(1).get<int64_t>();
            if (start < 0 || length < 0 || start + length > size) return missing("findings[].mask.runs");
            std::fill_n(f.mask.bits.begin() + start, length, uint8_t{1});
          }
        }
        truth.findings.push_back(std::move(f));
      }
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("ground truth is malformed: ") + e.what());
  }
  return truth;
}

}  // namespace parallax::phantom
