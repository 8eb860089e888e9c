#include "parallax/inference/series_selection.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace parallax::inference {
namespace {

std::string Upper(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  const auto b = out.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = out.find_last_not_of(" \t\r\n");
  return out.substr(b, e - b + 1);
}

// Upper-case words of letters, digits and '+'.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string w;
  for (char c : Upper(text)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '+') {
      w.push_back(c);
    } else if (!w.empty()) {
      words.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

// One name per body part that has synonyms in headers.
std::string CanonicalBodyPart(const std::string& part) {
  const std::string p = Upper(part);
  if (p == "BRAIN" || p == "SKULL" || p == "HEAD") return "HEAD";
  if (p == "THORAX" || p == "LUNG" || p == "LUNGS" || p == "CHEST") return "CHEST";
  return p;
}

bool ContainsIgnoringCase(const std::vector<std::string>& list, const std::string& value) {
  const std::string v = Upper(value);
  return std::any_of(list.begin(), list.end(), [&](const std::string& x) { return Upper(x) == v; });
}

std::string ListText(const std::vector<std::string>& list) {
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + list[i];
  return out + "]";
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

bool IsVolumeModality(const std::string& modality) {
  const std::string m = Upper(modality);
  return m == "CT" || m == "MR" || m == "PT" || m == "NM";
}

// Whether the header's body part is one `accepted` lists; `source` says which field told.
bool BodyPartMatches(const dicom::InstanceHeader& h, const std::vector<std::string>& accepted, std::string* source,
                     std::string* stated) {
  std::set<std::string> want;
  for (const auto& a : accepted) want.insert(CanonicalBodyPart(a));
  if (!Upper(h.body_part_examined).empty()) {
    *source = "BodyPartExamined";
    *stated = Upper(h.body_part_examined);
    return want.count(CanonicalBodyPart(h.body_part_examined)) > 0;
  }
  const std::array<std::pair<const char*, const std::string*>, 3> fields = {
      std::pair{"SeriesDescription", &h.series_description}, std::pair{"ProtocolName", &h.protocol_name},
      std::pair{"StudyDescription", &h.study_description}};
  for (const auto& [name, text] : fields) {
    for (const auto& w : Words(*text)) {
      if (want.count(CanonicalBodyPart(w))) {
        *source = name;
        *stated = w;
        return true;
      }
    }
  }
  source->clear();
  stated->clear();
  return false;
}

// View Position, else a view word of the series description; "" when neither says.
std::string ViewOf(const dicom::InstanceHeader& h) {
  const std::string v = Upper(h.view_position);
  if (!v.empty()) return v;
  for (const auto& w : Words(h.series_description)) {
    if (w == "PA" || w == "AP" || w == "LL" || w == "RL" || w == "LLD" || w == "RLD") return w;
    if (w == "LAT" || w == "LATERAL") return "LATERAL";
  }
  return "";
}

struct Vec {
  double x = 0, y = 0, z = 0;
};
Vec Cross(const Vec& a, const Vec& b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
double Dot(const Vec& a, const Vec& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

// A candidate volume: the single-frame instances of one series that share an
// orientation and a matrix size.
struct Stack {
  std::string series_uid;
  int series_number = 0;
  size_t representative = 0;
  Vec normal;
  std::vector<std::pair<double, size_t>> slices;  // (position along the normal, header index)
  bool axial = false;
  bool duplicate_position = false;
  double spacing = 0;
  double thickness = 0;
};

std::vector<Stack> BuildStacks(std::span<const dicom::InstanceHeader> headers, const std::vector<size_t>& candidates) {
  // Key: series, rounded orientation, matrix.
  std::map<std::tuple<std::string, std::vector<long>, int, int>, Stack> by_key;
  for (size_t i : candidates) {
    const auto& h = headers[i];
    if (h.number_of_frames > 1) continue;  // enhanced multi-frame objects are not supported yet
    if (h.image_orientation_patient.size() != 6 || h.image_position_patient.size() != 3) continue;
    bool localizer = false;
    for (const auto& t : h.image_type) localizer = localizer || Upper(t) == "LOCALIZER";
    if (localizer) continue;
    std::vector<long> orientation;
    for (double v : h.image_orientation_patient) orientation.push_back(std::lround(v * 1000));
    auto key = std::make_tuple(h.series_instance_uid, orientation, h.rows, h.columns);
    Stack& s = by_key[key];
    const auto& o = h.image_orientation_patient;
    if (s.slices.empty()) {
      s.series_uid = h.series_instance_uid;
      s.series_number = h.series_number;
      s.representative = i;
      s.normal = Cross({o[0], o[1], o[2]}, {o[3], o[4], o[5]});
      const double n = std::sqrt(Dot(s.normal, s.normal));
      if (n > 0) s.normal = {s.normal.x / n, s.normal.y / n, s.normal.z / n};
      s.axial = n > 0 && std::abs(s.normal.z) >= std::abs(s.normal.x) && std::abs(s.normal.z) >= std::abs(s.normal.y);
      s.thickness = h.slice_thickness;
    }
    const auto& p = h.image_position_patient;
    s.slices.emplace_back(Dot({p[0], p[1], p[2]}, s.normal), i);
  }
  std::vector<Stack> stacks;
  for (auto& [key, s] : by_key) {
    std::sort(s.slices.begin(), s.slices.end());
    std::vector<double> gaps;
    for (size_t k = 1; k < s.slices.size(); ++k) {
      const double gap = s.slices[k].first - s.slices[k - 1].first;
      if (gap < 1e-3) s.duplicate_position = true;
      gaps.push_back(gap);
    }
    if (!gaps.empty()) {
      std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
      s.spacing = gaps[gaps.size() / 2];
    }
    if (!(s.thickness > 0)) s.thickness = s.spacing;
    stacks.push_back(std::move(s));
  }
  return stacks;
}

SelectedSeries ToSelected(const Stack& s, std::span<const dicom::InstanceHeader> headers, const std::string& role) {
  SelectedSeries out;
  const auto& h = headers[s.representative];
  out.role = role;
  out.series_instance_uid = s.series_uid;
  out.series_description = h.series_description;
  out.modality = Upper(h.modality);
  for (const auto& [pos, idx] : s.slices) {
    out.instances.push_back(idx);
    out.positions_mm.push_back(pos);
  }
  out.slice_spacing_mm = s.spacing;
  out.slice_thickness_mm = s.thickness;
  out.pixel_spacing_mm = h.pixel_spacing;
  return out;
}

bool HasRole(const dicom::InstanceHeader& h, const std::string& role) {
  const auto roles = RecogniseSeriesRoles(h);
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

SeriesSelection NotApplicable(std::string reason) {
  SeriesSelection s;
  s.reason = std::move(reason);
  return s;
}

}  // namespace

std::vector<std::string> RecogniseSeriesRoles(const dicom::InstanceHeader& header) {
  for (const std::string* text : {&header.series_description, &header.protocol_name}) {
    const auto words = Words(*text);
    const std::string all = Upper(*text);
    auto has = [&](const char* w) { return std::find(words.begin(), words.end(), w) != words.end(); };
    auto starts = [&](const char* prefix) {
      return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return w.rfind(prefix, 0) == 0; });
    };
    if (all.find("FLAIR") != std::string::npos) return {"FLAIR"};
    if (has("DWI") || has("DIFFUSION") || has("TRACE") || has("TRACEW")) return {"DWI"};
    const bool t1 = starts("T1") || has("MPRAGE") || has("SPGR") || has("BRAVO");
    if (t1) {
      const bool post = has("POST") || has("GD") || has("GAD") || has("GADO") || has("CONTRAST") || has("CE") ||
                        has("POSTCONTRAST") || has("POSTGD") || all.find("+C") != std::string::npos ||
                        all.find("C+") != std::string::npos || all.find("+GD") != std::string::npos ||
                        all.find("POST_") != std::string::npos;
      if (post) return {"T1_POST_CONTRAST"};
      return {"T1"};
    }
    if (starts("T2")) return {"T2"};
  }
  return {};
}

SeriesSelection SelectSeries(std::span<const dicom::InstanceHeader> headers, const ModelManifest& manifest,
                             const SelectionCriteria& criteria) {
  const AppliesTo& applies = manifest.applies_to;
  if (headers.empty()) return NotApplicable("the study has no instances");

  // 1. Modality.
  std::vector<size_t> candidates;
  std::set<std::string> modalities;
  for (size_t i = 0; i < headers.size(); ++i) {
    const std::string m = Upper(headers[i].modality);
    modalities.insert(m.empty() ? "(none)" : m);
    if (ContainsIgnoringCase(applies.modality, m)) candidates.push_back(i);
  }
  if (candidates.empty()) {
    std::vector<std::string> seen(modalities.begin(), modalities.end());
    std::string text;
    for (size_t i = 0; i < seen.size(); ++i) text += (i ? ", " : "") + seen[i];
    return NotApplicable("modality " + text + " not in " + ListText(applies.modality));
  }

  // 2. Body part.
  std::map<size_t, std::string> body_source;
  if (!applies.body_part.empty()) {
    std::vector<size_t> kept;
    std::set<std::string> stated_parts;
    bool unstated = false;
    for (size_t i : candidates) {
      std::string source, stated;
      if (BodyPartMatches(headers[i], applies.body_part, &source, &stated)) {
        kept.push_back(i);
        body_source[i] = source;
      } else if (stated.empty()) {
        unstated = true;
      } else {
        stated_parts.insert(stated);
      }
    }
    if (kept.empty()) {
      if (!stated_parts.empty()) {
        std::vector<std::string> seen(stated_parts.begin(), stated_parts.end());
        std::string text;
        for (size_t i = 0; i < seen.size(); ++i) text += (i ? ", " : "") + seen[i];
        return NotApplicable("body part " + text + " not in " + ListText(applies.body_part));
      }
      (void)unstated;
      return NotApplicable("body part not stated (BodyPartExamined empty and no " + ListText(applies.body_part) +
                           " word in the series description, protocol name or study description)");
    }
    candidates = std::move(kept);
  }

  const bool volume = IsVolumeModality(headers[candidates.front()].modality);

  // 3a. Radiographs: one image, the preferred view.
  if (!volume) {
    long best_rank = -1;
    size_t best = 0;
    std::set<std::string> views;
    for (size_t i : candidates) {
      const std::string view = ViewOf(headers[i]);
      long rank = 0;
      if (!applies.view_position.empty()) {
        auto it = std::find_if(applies.view_position.begin(), applies.view_position.end(),
                               [&](const std::string& v) { return Upper(v) == view; });
        if (it == applies.view_position.end()) {
          views.insert(view.empty() ? "(not stated)" : view);
          continue;
        }
        rank = it - applies.view_position.begin();
      }
      const auto& h = headers[i];
      const auto better = [&](size_t other) {
        const auto& o = headers[other];
        return std::tie(h.series_number, h.instance_number) < std::tie(o.series_number, o.instance_number);
      };
      if (best_rank < 0 || rank < best_rank || (rank == best_rank && better(best))) {
        best_rank = rank;
        best = i;
      }
    }
    if (best_rank < 0) {
      std::vector<std::string> seen(views.begin(), views.end());
      std::string text;
      for (size_t i = 0; i < seen.size(); ++i) text += (i ? ", " : "") + seen[i];
      return NotApplicable("view position " + text + " not in " + ListText(applies.view_position));
    }
    SeriesSelection out;
    out.applies = true;
    out.body_part_source = body_source.count(best) ? body_source[best] : "";
    SelectedSeries s;
    const auto& h = headers[best];
    s.series_instance_uid = h.series_instance_uid;
    s.series_description = h.series_description;
    s.modality = Upper(h.modality);
    s.instances = {best};
    s.pixel_spacing_mm = h.pixel_spacing;
    out.series.push_back(std::move(s));
    return out;
  }

  // 3b. Volumes.
  const bool is_ct = Upper(headers[candidates.front()].modality) == "CT";
  std::vector<Stack> stacks = BuildStacks(headers, candidates);
  const std::string range = Num(criteria.min_ct_slice_thickness_mm) + "–" + Num(criteria.max_ct_slice_thickness_mm) +
                            " mm slices";
  auto eligible = [&](const Stack& s) {
    if (!s.axial || s.duplicate_position || static_cast<int>(s.slices.size()) < criteria.min_slices) return false;
    if (Upper(headers[s.representative].modality) == "CT") {
      return s.thickness >= criteria.min_ct_slice_thickness_mm - 1e-3 &&
             s.thickness <= criteria.max_ct_slice_thickness_mm + 1e-3;
    }
    return true;
  };
  auto best_of = [&](const std::vector<const Stack*>& pool) -> const Stack* {
    const Stack* best = nullptr;
    for (const Stack* s : pool) {
      if (!eligible(*s)) continue;
      if (best == nullptr || s->slices.size() > best->slices.size() ||
          (s->slices.size() == best->slices.size() && s->series_number < best->series_number)) {
        best = s;
      }
    }
    return best;
  };
  auto none_reason = [&](const std::vector<const Stack*>& pool, const std::string& what) {
    const bool any_axial = std::any_of(pool.begin(), pool.end(), [](const Stack* s) { return s->axial; });
    const bool any_dup = std::any_of(pool.begin(), pool.end(), [](const Stack* s) { return s->axial && s->duplicate_position; });
    if (is_ct && any_axial) {
      return "no axial " + what + "with " + range + (any_dup ? " (one has two slices at one position)" : "");
    }
    if (pool.empty()) return "no " + what + "with image position and orientation (single-frame instances)";
    if (any_dup) return "no axial " + what + "without two slices at one position";
    if (!any_axial) return is_ct ? "no axial " + what + "with " + range : "no axial " + what.substr(0, what.size() - 1);
    return "no axial " + what + "with at least " + std::to_string(criteria.min_slices) + " slices";
  };

  std::vector<const Stack*> all;
  for (const auto& s : stacks) all.push_back(&s);
  SeriesSelection out;
  out.applies = true;
  const std::vector<std::string>& roles = manifest.input.series;
  if (roles.empty()) {
    const Stack* best = best_of(all);
    if (best == nullptr) return NotApplicable(none_reason(all, "series "));
    out.series.push_back(ToSelected(*best, headers, ""));
  } else {
    for (const std::string& role : roles) {
      bool role_seen = false;
      for (size_t i : candidates) role_seen = role_seen || HasRole(headers[i], role);
      if (!role_seen) return NotApplicable("no " + role + " series");
      std::vector<const Stack*> pool;
      for (const Stack* s : all) {
        if (HasRole(headers[s->representative], role)) pool.push_back(s);
      }
      const Stack* best = best_of(pool);
      if (best == nullptr) return NotApplicable(none_reason(pool, role + " series "));
      out.series.push_back(ToSelected(*best, headers, role));
    }
    // Co-registration with the first role's series.
    const SelectedSeries& ref = out.series.front();
    for (size_t r = 1; r < out.series.size(); ++r) {
      const SelectedSeries& s = out.series[r];
      if (s.instances.size() != ref.instances.size()) {
        return NotApplicable("the " + s.role + " series is not co-registered with the " + ref.role + " series (" +
                             std::to_string(s.instances.size()) + " vs " + std::to_string(ref.instances.size()) +
                             " slices)");
      }
      const double tolerance = 0.5 * std::max(ref.slice_spacing_mm, 1e-3);
      for (size_t k = 0; k < s.positions_mm.size(); ++k) {
        if (std::abs(s.positions_mm[k] - ref.positions_mm[k]) > tolerance) {
          return NotApplicable("the " + s.role + " series is not co-registered with the " + ref.role +
                               " series (slice " + std::to_string(k + 1) + " is " +
                               Num(std::abs(s.positions_mm[k] - ref.positions_mm[k])) + " mm apart)");
        }
      }
    }
  }
  const size_t rep = out.series.front().instances.front();
  out.body_part_source = body_source.count(rep) ? body_source[rep] : "";
  return out;
}

}  // namespace parallax::inference
