#include "parallax/comparison/change.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

#include <absl/strings/ascii.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <absl/strings/str_split.h>

namespace parallax::comparison {
namespace {

using common::v1::Finding;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

absl::StatusOr<int64_t> ParseDate(const std::string& text) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a DICOM date (YYYYMMDD)"));
  };
  if (text.size() != 8 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad();
  }
  const int y = std::stoi(text.substr(0, 4)), m = std::stoi(text.substr(4, 2)), d = std::stoi(text.substr(6, 2));
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12) return bad();
  const int days = kDays[m - 1] + (m == 2 && IsLeap(y) ? 1 : 0);
  if (d < 1 || d > days) return bad();
  return DaysFromCivil(y, m, d);
}

// What one study says about one label.
struct Presence {
  const Finding* finding = nullptr;  // the most probable positive Finding; null when absent
  std::optional<double> size;
  std::string unit;
  bool persisted = false;            // present by persistence_probability, below the operating point
  bool via_summary = false;          // subtypes_through_summary: from the summary Finding
  const Finding* source = nullptr;   // the Finding whose probability and size decided (finding or the summary)
};

// The present Finding's size: volume_ml, else area_cm2.
void SizeOf(Presence& p) {
  if (p.finding != nullptr) {
    if (p.finding->has_volume_ml()) {
      p.size = p.finding->volume_ml();
      p.unit = "mL";
    } else if (p.finding->has_area_cm2()) {
      p.size = p.finding->area_cm2();
      p.unit = "cm2";
    }
  }
}

// `persistence`: when > 0, the most probable Finding of the label counts as
// present if its probability is at least this (below its operating point)
// and it carries a size at or above the rule's minimum for its unit.
Presence PresenceOf(const std::vector<Finding>& findings, const std::string& label, double persistence = 0,
                    const ChangeRule* rule = nullptr) {
  Presence p;
  for (const Finding& f : findings) {
    if (f.label() != label || !f.positive()) continue;
    if (p.finding == nullptr || f.probability() > p.finding->probability()) p.finding = &f;
  }
  if (p.finding == nullptr && persistence > 0) {
    for (const Finding& f : findings) {
      if (f.label() != label || f.probability() < persistence) continue;
      if (p.finding == nullptr || f.probability() > p.finding->probability()) p.finding = &f;
    }
    p.persisted = p.finding != nullptr;
  }
  SizeOf(p);
  if (p.persisted) {
    const double min_size = p.unit == "mL" ? rule->min_volume_ml : rule->min_area_cm2;
    if (!p.size || *p.size < min_size) p = Presence{};  // nothing measurable: not persisting
  }
  p.source = p.finding;
  return p;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A subtype Finding names itself as its subtype (finding_mapping).
bool IsSubtypeFinding(const Finding& f) { return !f.subtype().empty() && f.subtype() == Lower(f.label()); }

bool SameModel(const Finding& a, const Finding& b) {
  return a.model().model_id() == b.model().model_id() && a.model().device_uid() == b.model().device_uid();
}

// The summary label of `label` when `label` is a subtype label in either
// study: the one other label of the same model whose Findings are not
// subtypes. "" otherwise (not a subtype, or no single summary).
std::string SummaryLabelOf(const std::vector<Finding>& prior, const std::vector<Finding>& current,
                           const std::string& label) {
  std::string summary;
  for (const auto* list : {&current, &prior}) {
    for (const Finding& s : *list) {
      if (s.label() != label || !IsSubtypeFinding(s)) continue;
      for (const Finding& f : *list) {
        if (!SameModel(f, s) || IsSubtypeFinding(f)) continue;
        if (!summary.empty() && summary != f.label()) return "";  // several: not a summary/subtype model
        summary = f.label();
      }
    }
  }
  return summary;
}

// The subtype a present summary names: its own, else its study's most
// probable subtype Finding of the same model (lower-cased).
std::string SubtypeNamed(const std::vector<Finding>& findings, const Finding& summary) {
  if (!summary.subtype().empty()) return summary.subtype();
  const Finding* best = nullptr;
  for (const Finding& f : findings) {
    if (!SameModel(f, summary) || !IsSubtypeFinding(f)) continue;
    if (best == nullptr || f.probability() > best->probability()) best = &f;
  }
  return best != nullptr ? best->subtype() : "";
}

absl::Status CheckLabels(const std::vector<Finding>& findings, const char* which) {
  for (size_t i = 0; i < findings.size(); ++i) {
    if (findings[i].label().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("the ", which, " study's finding ", i, " (id '",
                                                     findings[i].finding_id(), "') has no label"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRule(const ChangeRule& rule) {
  if (!(rule.larger_ratio > 1)) {
    return absl::InvalidArgumentError(absl::StrCat("ChangeRule.larger_ratio must be > 1, not ", rule.larger_ratio));
  }
  if (!(rule.smaller_ratio > 0 && rule.smaller_ratio < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ChangeRule.smaller_ratio must lie in (0, 1), not ", rule.smaller_ratio));
  }
  if (!(rule.min_volume_ml >= 0) || !(rule.min_area_cm2 >= 0)) {
    return absl::InvalidArgumentError("ChangeRule minimum sizes must be >= 0");
  }
  std::vector<std::string> seen;
  for (const auto& family : rule.label_families) {
    if (family.size() < 2) return absl::InvalidArgumentError("ChangeRule.label_families: a family needs two labels or more");
    for (const std::string& label : family) {
      if (label.empty()) return absl::InvalidArgumentError("ChangeRule.label_families: an empty label");
      if (std::find(seen.begin(), seen.end(), label) != seen.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("ChangeRule.label_families: the label '", label, "' is listed twice"));
      }
      seen.push_back(label);
    }
  }
  if (!(rule.persistence_probability > 0 && rule.persistence_probability <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("ChangeRule.persistence_probability must lie in (0, 1], not ",
                                                   rule.persistence_probability));
  }
  return absl::OkStatus();
}

// Labels present in either list, current first, in order of appearance.
// With `subtypes`, a positive summary also makes the subtype it names
// present (listed right after it), when that subtype has a Finding.
std::vector<std::string> PresentLabels(const std::vector<Finding>& current, const std::vector<Finding>& prior,
                                       bool subtypes = false) {
  std::vector<std::string> labels;
  const auto add = [&](const std::string& label) {
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  };
  for (const auto* list : {&current, &prior}) {
    for (const Finding& f : *list) {
      if (!f.positive()) continue;
      add(f.label());
      if (!subtypes || IsSubtypeFinding(f)) continue;
      const std::string named = SubtypeNamed(*list, f);
      if (named.empty()) continue;
      for (const Finding& s : *list) {
        if (SameModel(s, f) && IsSubtypeFinding(s) && s.subtype() == named) {
          add(s.label());
          break;
        }
      }
    }
  }
  return labels;
}

// subtypes_through_summary: a subtype label's presence in one study (see
// ChangeRule). `persistence` as for PresenceOf.
Presence SubtypePresenceOf(const std::vector<Finding>& findings, const std::string& label,
                           const std::string& summary_label, double persistence, const ChangeRule& rule) {
  Presence sum = PresenceOf(findings, summary_label);
  if (sum.finding == nullptr && persistence > 0) sum = PresenceOf(findings, summary_label, persistence, &rule);
  if (sum.finding != nullptr && SubtypeNamed(findings, *sum.finding) == Lower(label)) {
    Presence p = sum;
    p.via_summary = true;
    // The change names the subtype's own Finding (the most probable of the label).
    for (const Finding& f : findings) {
      if (f.label() != label) continue;
      if (p.finding == sum.finding || f.probability() > p.finding->probability()) p.finding = &f;
    }
    return p;
  }
  return PresenceOf(findings, label);  // its own Finding, positive
}

std::string Size(double v, const std::string& unit) { return absl::StrFormat("%.2f %s", v, unit); }

// The family `label` belongs to under `rule`; null when none.
const std::vector<std::string>* FamilyOf(const ChangeRule& rule, const std::string& label) {
  for (const auto& family : rule.label_families) {
    if (std::find(family.begin(), family.end(), label) != family.end()) return &family;
  }
  return nullptr;
}

// Both sides known and different: not the same lesion.
bool SameSide(const Finding& a, const Finding* b) {
  using common::v1::LATERALITY_UNSPECIFIED;
  return b == nullptr || a.laterality() == LATERALITY_UNSPECIFIED || b->laterality() == LATERALITY_UNSPECIFIED ||
         a.laterality() == b->laterality();
}

// label_families: `label`'s presence in `findings` through a sibling (see
// ChangeRule): the most probable positive sibling on the side of `other`
// (the label's Finding at the other time), else with `persistence` the most
// probable persisting one. Sets *sibling to its label.
Presence SiblingPresenceOf(const std::vector<Finding>& findings, const std::vector<std::string>& family,
                           const std::string& label, double persistence, const ChangeRule& rule, const Finding* other,
                           std::string* sibling) {
  const auto best_of = [&](double p) {
    std::pair<Presence, std::string> best;
    for (const std::string& s : family) {
      if (s == label) continue;
      const Presence candidate = p > 0 ? PresenceOf(findings, s, p, &rule) : PresenceOf(findings, s);
      if (candidate.finding == nullptr || !SameSide(*candidate.finding, other)) continue;
      if (best.first.finding == nullptr || candidate.finding->probability() > best.first.finding->probability()) {
        best = {candidate, s};
      }
    }
    return best;
  };
  std::pair<Presence, std::string> best = best_of(0);
  if (best.first.finding == nullptr && persistence > 0) best = best_of(persistence);
  if (best.first.finding != nullptr) *sibling = best.second;
  return best.first;
}

}  // namespace

const char* ChangeClassName(ChangeClass change) {
  switch (change) {
    case ChangeClass::kNoPrior: return "no prior available";
    case ChangeClass::kNew: return "new";
    case ChangeClass::kLarger: return "larger";
    case ChangeClass::kStable: return "stable";
    case ChangeClass::kSmaller: return "smaller";
    case ChangeClass::kResolved: return "resolved";
  }
  return "stable";
}

bool ParseChangeClass(const std::string& name, ChangeClass* out) {
  for (ChangeClass c : {ChangeClass::kNoPrior, ChangeClass::kNew, ChangeClass::kLarger, ChangeClass::kStable,
                        ChangeClass::kSmaller, ChangeClass::kResolved}) {
    if (name == ChangeClassName(c)) {
      *out = c;
      return true;
    }
  }
  return false;
}

ChangeClass ClassifySizes(double prior_size, double current_size, double min_size, const ChangeRule& rule,
                          double* ratio) {
  const double floor = std::max(min_size, 1e-12);
  const double r = std::max(current_size, floor) / std::max(prior_size, floor);
  if (ratio != nullptr) *ratio = r;
  if (r >= rule.larger_ratio) return ChangeClass::kLarger;
  if (r <= rule.smaller_ratio) return ChangeClass::kSmaller;
  return ChangeClass::kStable;
}

absl::StatusOr<std::vector<std::vector<std::string>>> ParseLabelFamilies(const std::string& text) {
  std::vector<std::vector<std::string>> families;
  for (absl::string_view part : absl::StrSplit(text, ';', absl::SkipWhitespace())) {
    std::vector<std::string> family;
    for (absl::string_view label : absl::StrSplit(part, ',')) {
      family.emplace_back(absl::StripAsciiWhitespace(label));
    }
    families.push_back(std::move(family));
  }
  ChangeRule check;
  check.label_families = families;
  if (absl::Status s = CheckRule(check); !s.ok()) return s;
  return families;
}

std::vector<std::string> WithFamilies(const std::vector<std::string>& labels, const ChangeRule& rule) {
  std::vector<std::string> out;
  const auto add = [&](const std::string& label) {
    if (std::find(out.begin(), out.end(), label) == out.end()) out.push_back(label);
  };
  for (const std::string& label : labels) {
    add(label);
    if (const std::vector<std::string>* family = FamilyOf(rule, label)) {
      for (const std::string& sibling : *family) add(sibling);
    }
  }
  return out;
}

absl::StatusOr<int> DaysBetween(const std::string& from, const std::string& to) {
  absl::StatusOr<int64_t> a = ParseDate(from);
  if (!a.ok()) return a.status();
  absl::StatusOr<int64_t> b = ParseDate(to);
  if (!b.ok()) return b.status();
  return static_cast<int>(*b - *a);
}

absl::StatusOr<std::vector<FindingChange>> CompareFindings(const std::vector<Finding>& prior,
                                                           const std::vector<Finding>& current,
                                                           const std::string& prior_date,
                                                           const std::string& current_date, const ChangeRule& rule) {
  if (absl::Status s = CheckRule(rule); !s.ok()) return s;
  if (absl::Status s = CheckLabels(prior, "prior"); !s.ok()) return s;
  if (absl::Status s = CheckLabels(current, "current"); !s.ok()) return s;
  absl::StatusOr<int> interval = DaysBetween(prior_date, current_date);
  if (!interval.ok()) return interval.status();
  if (*interval < 0) {
    return absl::InvalidArgumentError(absl::StrCat("the prior study's date ", prior_date,
                                                   " is after the current study's date ", current_date));
  }

  std::vector<FindingChange> out;
  for (const std::string& label : PresentLabels(current, prior, rule.subtypes_through_summary)) {
    const std::string summary = rule.subtypes_through_summary ? SummaryLabelOf(prior, current, label) : "";
    // Hysteresis: a label positive at one time may persist at the other.
    const double persistence = rule.persistence_probability < 1 ? rule.persistence_probability : 0;
    const auto presence = [&](const std::vector<Finding>& findings, double p) {
      if (!summary.empty()) return SubtypePresenceOf(findings, label, summary, p, rule);
      return p > 0 ? PresenceOf(findings, label, p, &rule) : PresenceOf(findings, label);
    };
    Presence before = presence(prior, 0), now = presence(current, 0);
    if (persistence > 0 && before.finding == nullptr) before = presence(prior, persistence);
    if (persistence > 0 && now.finding == nullptr) now = presence(current, persistence);
    FindingChange c;
    if (const std::vector<std::string>* family = summary.empty() ? FamilyOf(rule, label) : nullptr) {
      if (before.finding == nullptr) {
        before = SiblingPresenceOf(prior, *family, label, persistence, rule, now.finding, &c.prior_sibling);
      }
      if (now.finding == nullptr) {
        now = SiblingPresenceOf(current, *family, label, persistence, rule, before.finding, &c.current_sibling);
      }
    }
    c.label = label;
    c.via_summary = before.via_summary || now.via_summary;
    c.interval_days = *interval;
    c.present_prior = before.finding != nullptr;
    c.present_current = now.finding != nullptr;
    c.persisted_prior = before.persisted;
    c.persisted_current = now.persisted;
    if (c.present_prior) c.prior_finding_id = before.finding->finding_id();
    if (c.present_current) c.current_finding_id = now.finding->finding_id();
    c.prior_size = before.size;
    c.current_size = now.size;
    c.unit = !now.unit.empty() ? now.unit : before.unit;
    if (!c.present_prior) {
      c.change = ChangeClass::kNew;
      c.note = absl::StrCat("absent in the prior study ", *interval, " days earlier");
    } else if (!c.present_current) {
      c.change = ChangeClass::kResolved;
      c.note = absl::StrCat("present in the prior study ", *interval, " days earlier, absent now");
    } else if (before.size && now.size && before.unit == now.unit) {
      const double min_size = now.unit == "mL" ? rule.min_volume_ml : rule.min_area_cm2;
      double r = 1;
      c.change = ClassifySizes(*before.size, *now.size, min_size, rule, &r);
      c.ratio = r;
      c.sizes_compared = true;
      c.note = absl::StrFormat("%s -> %s in %d days (ratio %.2f; larger at >= %.2f, smaller at <= %.2f)",
                               Size(*before.size, before.unit), Size(*now.size, now.unit), *interval, r,
                               rule.larger_ratio, rule.smaller_ratio);
      if (before.persisted || now.persisted) {
        absl::StrAppend(&c.note, "; below its operating point in the ", before.persisted ? "prior" : "current",
                        " study (probability ",
                        absl::StrFormat("%.3f", (before.persisted ? before : now).source->probability()),
                        "), counted as persisting");
      }
    } else {
      c.change = ChangeClass::kStable;
      if (before.size && now.size) {
        c.note = absl::StrCat("present at both times; sizes in different units (", before.unit, ", ", now.unit,
                              ") cannot be compared");
      } else {
        c.note = absl::StrCat("present at both times; size not measured in the ",
                              !before.size && !now.size ? "prior or the current study"
                              : !before.size            ? "prior study"
                                                        : "current study",
                              ", so the size was not compared");
      }
    }
    if (c.via_summary) c.note = absl::StrCat("through the finding '", summary, "' (its subtype): ", c.note);
    for (const auto& [sibling, when] : {std::pair{c.prior_sibling, "prior"}, std::pair{c.current_sibling, "current"}}) {
      if (!sibling.empty()) absl::StrAppend(&c.note, "; in the ", when, " study as '", sibling, "' (the same family)");
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<FindingChange>> NoPriorAvailable(const std::vector<Finding>& current) {
  return NoPriorAvailable(current, ChangeRule{});
}

absl::StatusOr<std::vector<FindingChange>> NoPriorAvailable(const std::vector<Finding>& current,
                                                            const ChangeRule& rule) {
  if (absl::Status s = CheckLabels(current, "current"); !s.ok()) return s;
  std::vector<FindingChange> out;
  for (const std::string& label : PresentLabels(current, {}, rule.subtypes_through_summary)) {
    const std::string summary = rule.subtypes_through_summary ? SummaryLabelOf({}, current, label) : "";
    const Presence now = summary.empty() ? PresenceOf(current, label) : SubtypePresenceOf(current, label, summary, 0, rule);
    FindingChange c;
    c.label = label;
    c.via_summary = now.via_summary;
    c.change = ChangeClass::kNoPrior;
    c.present_current = true;
    c.current_finding_id = now.finding->finding_id();
    c.current_size = now.size;
    c.unit = now.unit;
    c.note = "no prior study available for comparison";
    out.push_back(std::move(c));
  }
  return out;
}

common::v1::PriorComparison ToProto(const FindingChange& change, const std::string& prior_study_uid,
                                    const std::string& prior_date) {
  common::v1::PriorComparison p;
  switch (change.change) {
    case ChangeClass::kNoPrior: p.set_change(common::v1::CHANGE_CLASS_NO_PRIOR); break;
    case ChangeClass::kNew: p.set_change(common::v1::CHANGE_CLASS_NEW); break;
    case ChangeClass::kLarger: p.set_change(common::v1::CHANGE_CLASS_LARGER); break;
    case ChangeClass::kStable: p.set_change(common::v1::CHANGE_CLASS_STABLE); break;
    case ChangeClass::kSmaller: p.set_change(common::v1::CHANGE_CLASS_SMALLER); break;
    case ChangeClass::kResolved: p.set_change(common::v1::CHANGE_CLASS_RESOLVED); break;
  }
  if (change.change != ChangeClass::kNoPrior) {
    p.set_prior_study_instance_uid(prior_study_uid);
    p.set_prior_study_date(prior_date);
  }
  p.set_interval_days(change.interval_days);
  if (change.prior_size) p.set_prior_size(*change.prior_size);
  if (change.current_size) p.set_current_size(*change.current_size);
  p.set_unit(change.unit);
  p.set_sizes_compared(change.sizes_compared);
  p.set_prior_finding_id(change.prior_finding_id);
  p.set_note(change.note);
  return p;
}

}  // namespace parallax::comparison
