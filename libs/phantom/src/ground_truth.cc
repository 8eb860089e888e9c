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

namespace {

json TruthDoc(const Study& study, const std::string& study_instance_uid) {
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
  return doc;
}

bool IsFilmUnit(const std::string& unit) { return unit == "cm2"; }

json Triple(const std::array<double, 3>& v) { return json::array({v[0], v[1], v[2]}); }

json PairDoc(const FollowUpTruth& t) {
  json changes = json::array();
  const bool film = IsFilmUnit(t.size_unit);
  for (const FindingChange& c : t.changes) {
    json jc = {{"label", c.label},
               {"change", ChangeName(c.change)},
               {"prior_index", c.prior_index},
               {"current_index", c.current_index},
               {film ? "prior_area_cm2" : "prior_volume_ml", c.prior_size},
               {film ? "current_area_cm2" : "current_volume_ml", c.current_size},
               {"requested_ratio", c.requested_ratio}};
    if (c.prior_size > 0 && c.current_size > 0) jc["ratio"] = c.current_size / c.prior_size;
    changes.push_back(std::move(jc));
  }
  json matrix = json::array();
  for (const auto& row : t.shift.Matrix()) matrix.push_back(json::array({row[0], row[1], row[2], row[3]}));
  json doc = {
      {"kind", t.kind},
      {"seed", t.seed},
      {"patient_id", t.patient_id},
      {"interval_days", t.interval_days},
      {"size_unit", t.size_unit},
      {"prior", {{"study_instance_uid", t.prior_study_uid}, {"study_date", t.prior_study_date}, {"dir", t.prior_dir}}},
      {"current",
       {{"study_instance_uid", t.current_study_uid}, {"study_date", t.current_study_date}, {"dir", t.current_dir}}},
      {"shift",
       {{"translation_mm", Triple(t.shift.translation_mm)},
        {"rotation_deg", Triple(t.shift.rotation_deg)},
        {"centre_mm", Triple(t.shift.centre_mm)},
        {"matrix", matrix},
        {"frame", film ? "detector mm (x columns, y rows, origin image centre); current = R (prior - centre) + centre "
                         "+ translation, R = Rz Ry Rx"
                       : "DICOM patient LPS mm; current = R (prior - centre) + centre + translation, R = Rz Ry Rx"}}},
      {"changes", changes}};
  if (!t.role.empty()) doc["role"] = t.role;
  return doc;
}

absl::Status Malformed(const std::string& prefix, const std::string& field) {
  return absl::InvalidArgumentError("ground truth lacks or mistypes field '" + prefix + field + "'");
}

absl::Status ReadTriple(const json& parent, const std::string& key, const std::string& prefix,
                        std::array<double, 3>* out) {
  if (!parent.contains(key)) return Malformed(prefix, key);
  const json& v = parent[key];
  if (!v.is_array() || v.size() != 3) return Malformed(prefix, key);
  for (size_t i = 0; i < 3; ++i) {
    if (!v[i].is_number()) return Malformed(prefix, key);
    (*out)[i] = v[i].get<double>();
  }
  return absl::OkStatus();
}

// The pair truth in `doc`; field names in errors start with `prefix`.
absl::StatusOr<FollowUpTruth> PairFromDoc(const json& doc, const std::string& prefix) {
  if (!doc.is_object()) return absl::InvalidArgumentError("ground truth field '" + prefix + "' must be a JSON object");
  FollowUpTruth t;
  auto string_field = [&](const json& parent, const std::string& key, const std::string& name,
                          std::string* out) -> absl::Status {
    if (!parent.contains(key) || !parent[key].is_string()) return Malformed(prefix, name);
    *out = parent[key].get<std::string>();
    return absl::OkStatus();
  };
  absl::Status st;
  if (!(st = string_field(doc, "kind", "kind", &t.kind)).ok()) return st;
  if (!doc.contains("seed") || !doc["seed"].is_number_unsigned()) return Malformed(prefix, "seed");
  t.seed = doc["seed"].get<uint64_t>();
  t.patient_id = doc.value("patient_id", "");
  if (doc.contains("role")) {
    if (!(st = string_field(doc, "role", "role", &t.role)).ok()) return st;
    if (t.role != "prior" && t.role != "current") return Malformed(prefix, "role");
  }
  if (!doc.contains("interval_days") || !doc["interval_days"].is_number_integer() ||
      doc["interval_days"].get<int64_t>() < 0 || doc["interval_days"].get<int64_t>() > 100000) {
    return Malformed(prefix, "interval_days");
  }
  t.interval_days = doc["interval_days"].get<int>();
  if (!(st = string_field(doc, "size_unit", "size_unit", &t.size_unit)).ok()) return st;
  if (t.size_unit != "mL" && t.size_unit != "cm2") return Malformed(prefix, "size_unit");
  for (const char* side : {"prior", "current"}) {
    const std::string s = side;
    if (!doc.contains(s) || !doc[s].is_object()) return Malformed(prefix, s);
    const json& js = doc[s];
    std::string* uid = s == "prior" ? &t.prior_study_uid : &t.current_study_uid;
    std::string* date = s == "prior" ? &t.prior_study_date : &t.current_study_date;
    std::string* dir = s == "prior" ? &t.prior_dir : &t.current_dir;
    if (!(st = string_field(js, "study_instance_uid", s + ".study_instance_uid", uid)).ok()) return st;
    if (!(st = string_field(js, "study_date", s + ".study_date", date)).ok()) return st;
    if (!date->empty() && (date->size() != 8 || date->find_first_not_of("0123456789") != std::string::npos)) {
      return Malformed(prefix, s + ".study_date");
    }
    *dir = js.value("dir", "");
  }
  if (!doc.contains("shift") || !doc["shift"].is_object()) return Malformed(prefix, "shift");
  const json& sh = doc["shift"];
  if (!(st = ReadTriple(sh, "translation_mm", prefix + "shift.", &t.shift.translation_mm)).ok()) return st;
  if (!(st = ReadTriple(sh, "rotation_deg", prefix + "shift.", &t.shift.rotation_deg)).ok()) return st;
  if (!(st = ReadTriple(sh, "centre_mm", prefix + "shift.", &t.shift.centre_mm)).ok()) return st;
  if (!doc.contains("changes") || !doc["changes"].is_array()) return Malformed(prefix, "changes");
  const bool film = IsFilmUnit(t.size_unit);
  for (size_t i = 0; i < doc["changes"].size(); ++i) {
    const json& jc = doc["changes"][i];
    const std::string at = "changes[" + std::to_string(i) + "].";
    if (!jc.is_object()) return Malformed(prefix, "changes[" + std::to_string(i) + "]");
    FindingChange c;
    if (!(st = string_field(jc, "label", at + "label", &c.label)).ok()) return st;
    std::string name;
    if (!(st = string_field(jc, "change", at + "change", &name)).ok()) return st;
    if (!ParseChange(name, &c.change)) return Malformed(prefix, at + "change");
    for (const char* key : {"prior_index", "current_index"}) {
      if (!jc.contains(key) || !jc[key].is_number_integer() || jc[key].get<int64_t>() < -1 ||
          jc[key].get<int64_t>() > 100000) {
        return Malformed(prefix, at + key);
      }
    }
    c.prior_index = jc["prior_index"].get<int>();
    c.current_index = jc["current_index"].get<int>();
    const std::string prior_key = film ? "prior_area_cm2" : "prior_volume_ml";
    const std::string current_key = film ? "current_area_cm2" : "current_volume_ml";
    for (const std::string& key : {prior_key, current_key}) {
      if (!jc.contains(key) || !jc[key].is_number() || jc[key].get<double>() < 0) return Malformed(prefix, at + key);
    }
    c.prior_size = jc[prior_key].get<double>();
    c.current_size = jc[current_key].get<double>();
    c.requested_ratio = jc.value("requested_ratio", 1.0);
    // A new finding has no prior, a resolved one no current; the others both.
    const bool has_prior = c.prior_index >= 0, has_current = c.current_index >= 0;
    if (has_prior != (c.change != Change::kNew) || has_current != (c.change != Change::kResolved)) {
      return absl::InvalidArgumentError("ground truth field '" + prefix + at +
                                        "change' contradicts its prior_index/current_index");
    }
    t.changes.push_back(std::move(c));
  }
  return t;
}

}  // namespace

const char* ChangeName(Change c) {
  switch (c) {
    case Change::kNew: return "new";
    case Change::kLarger: return "larger";
    case Change::kStable: return "stable";
    case Change::kSmaller: return "smaller";
    case Change::kResolved: return "resolved";
  }
  return "stable";
}

bool ParseChange(const std::string& name, Change* out) {
  for (Change c : {Change::kNew, Change::kLarger, Change::kStable, Change::kSmaller, Change::kResolved}) {
    if (name == ChangeName(c)) {
      *out = c;
      return true;
    }
  }
  return false;
}

Change ClassifyChange(double prior_size, double current_size) {
  if (prior_size <= 0) return Change::kNew;  // (absent at both times is not a finding)
  if (current_size <= 0) return Change::kResolved;
  const double r = current_size / prior_size;
  if (r >= kLargerRatio) return Change::kLarger;
  if (r <= kSmallerRatio) return Change::kSmaller;
  return Change::kStable;
}

std::string GroundTruthJson(const Study& study, const std::string& study_instance_uid) {
  return TruthDoc(study, study_instance_uid).dump();
}

std::string GroundTruthJson(const Study& study, const std::string& study_instance_uid,
                            const FollowUpTruth& follow_up) {
  json doc = TruthDoc(study, study_instance_uid);
  doc["follow_up"] = PairDoc(follow_up);
  const bool current = follow_up.role == "current";
  for (const FindingChange& c : follow_up.changes) {
    const int index = current ? c.current_index : c.prior_index;
    if (index >= 0 && static_cast<size_t>(index) < doc["findings"].size()) {
      doc["findings"][static_cast<size_t>(index)]["change"] = ChangeName(c.change);
    }
  }
  return doc.dump();
}

std::string PairTruthJson(const FollowUpTruth& truth) { return PairDoc(truth).dump(2); }

absl::StatusOr<FollowUpTruth> ParsePairTruth(const std::string& json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(std::string("pair truth is not JSON: ") + e.what());
  }
  try {
    return PairFromDoc(doc, "");
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("pair truth is malformed: ") + e.what());
  }
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
        if (jf.contains("change")) {
          Change c;
          if (!jf["change"].is_string() || !ParseChange(jf["change"].get<std::string>(), &c) || c == Change::kResolved) {
            return missing("findings[].change");
          }
          truth.finding_changes.resize(truth.findings.size());
          truth.finding_changes.back() = c;
        }
      }
      if (!truth.finding_changes.empty()) truth.finding_changes.resize(truth.findings.size());
    }
    if (doc.contains("follow_up")) {
      auto pair = PairFromDoc(doc["follow_up"], "follow_up.");
      if (!pair.ok()) return pair.status();
      if (pair->role.empty()) return missing("follow_up.role");
      truth.follow_up = *std::move(pair);
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("ground truth is malformed: ") + e.what());
  }
  return truth;
}

}  // namespace parallax::phantom
