#include "alert_policy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <yaml-cpp/yaml.h>

namespace parallax::alerting {
namespace {

using std::chrono::seconds;

constexpr size_t kMaxErrorsShown = 20;
constexpr seconds kMaxDuration = std::chrono::hours(24);
constexpr char kDurationHint[] = "use e.g. 90s, 10m, 1h or 1h30m";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest candidate within a few edits, else "".
template <typename Range>
std::string DidYouMean(std::string_view word, const Range& candidates) {
  const std::string w = Lower(word);
  std::string best;
  size_t best_distance = std::max<size_t>(2, w.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const size_t d = EditDistance(w, Lower(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best.empty() ? "" : absl::StrCat(" (did you mean '", best, "'?)");
}

std::string FormatDuration(seconds d) {
  const long long s = d.count();
  if (s % 3600 == 0) return absl::StrCat(s / 3600, "h");
  if (s % 60 == 0) return absl::StrCat(s / 60, "m");
  return absl::StrCat(s, "s");
}

bool ValidGroupName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

std::optional<alerting::v1::AlertPriority> ParsePriority(std::string_view s) {
  if (s == "routine") return alerting::v1::ALERT_PRIORITY_ROUTINE;
  if (s == "urgent") return alerting::v1::ALERT_PRIORITY_URGENT;
  if (s == "critical") return alerting::v1::ALERT_PRIORITY_CRITICAL;
  return std::nullopt;
}

std::optional<FhirPriority> ParseFhirPriority(std::string_view s) {
  if (s == "routine") return FhirPriority::kRoutine;
  if (s == "urgent") return FhirPriority::kUrgent;
  if (s == "asap") return FhirPriority::kAsap;
  if (s == "stat") return FhirPriority::kStat;
  return std::nullopt;
}

// "motion_artefact" -> QUALITY_FLAG_MOTION_ARTEFACT.
std::optional<common::v1::QualityFlag> ParseQualityFlag(std::string_view s) {
  std::string name = "QUALITY_FLAG_";
  for (char c : s) name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  common::v1::QualityFlag flag;
  if (!common::v1::QualityFlag_Parse(name, &flag) || flag == common::v1::QUALITY_FLAG_UNSPECIFIED) return std::nullopt;
  return flag;
}

std::vector<std::string> QualityFlagNames() {
  std::vector<std::string> names;
  const auto* descriptor = common::v1::QualityFlag_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const std::string& full = descriptor->value(i)->name();
    if (descriptor->value(i)->number() == 0) continue;
    names.push_back(Lower(full.substr(std::string_view("QUALITY_FLAG_").size())));
  }
  return names;
}

// The change classes a rule's `when.change` may name, in the order errors
// list them. "resolved" is not among them (see alert_policy.h).
constexpr std::pair<std::string_view, common::v1::ChangeClass> kChangeConditions[] = {
    {"no_prior", common::v1::CHANGE_CLASS_NO_PRIOR}, {"new", common::v1::CHANGE_CLASS_NEW},
    {"larger", common::v1::CHANGE_CLASS_LARGER},     {"stable", common::v1::CHANGE_CLASS_STABLE},
    {"smaller", common::v1::CHANGE_CLASS_SMALLER},   {"not_compared", common::v1::CHANGE_CLASS_UNSPECIFIED},
};

std::vector<std::string> ChangeConditionNames() {
  std::vector<std::string> names;
  for (const auto& [name, _] : kChangeConditions) names.emplace_back(name);
  return names;
}

// Timer settings as written in a rule or in `defaults` (unset = not written).
struct TimerSettings {
  std::optional<seconds> ack_timeout;
  std::optional<seconds> renotify_every;
  bool ack_timeout_written = false;  // the key is there (even when its value was bad)
  bool renotify_every_written = false;
  std::optional<int> max_renotify;
  std::optional<std::vector<EscalationStep>> escalate;
  int escalate_line = 0;  // the first step's line
};

class PolicyParser {
 public:
  PolicyParser(std::string_view file, const std::set<std::string>& known_labels)
      : file_(file), known_labels_(known_labels) {}

  absl::StatusOr<AlertPolicy> Parse(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_, ":", e.mark.is_null() ? 1 : e.mark.line + 1, ": not valid YAML: ", e.msg));
    }
    try {
      FindEmptyValues(root);
      ParseRoot(root);
    } catch (const YAML::Exception& e) {  // not expected: every conversion is checked
      Error(e.mark.is_null() ? 1 : e.mark.line + 1, "", absl::StrCat("cannot read: ", e.msg));
    }
    if (!errors_.empty()) return Failure();
    policy_.source = std::string(file_);
    return std::move(policy_);
  }

 private:
  struct Problem {
    int line;
    std::string text;
  };

  int LineOf(const YAML::Node& n, int fallback) const {
    if (!n.IsDefined()) return fallback;
    if (n.IsNull()) {
      // yaml-cpp marks an empty value ("notify:") where the next token
      // starts, often the next line: name its key's line instead.
      for (const auto& [value, key_line] : empty_values_) {
        if (value.is(n)) return key_line;
      }
    }
    const YAML::Mark m = n.Mark();
    return m.is_null() ? fallback : m.line + 1;
  }

  // Remembers the key line of every empty value in the tree.
  void FindEmptyValues(const YAML::Node& n) {
    if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (it->second.IsNull() && !it->first.Mark().is_null()) {
          empty_values_.emplace_back(it->second, it->first.Mark().line + 1);
        }
        FindEmptyValues(it->second);
      }
    } else if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) FindEmptyValues(n[i]);
    }
  }

  void Error(int line, const std::string& path, const std::string& what) {
    errors_.push_back({line, path.empty() ? absl::StrCat(file_, ":", line, ": ", what)
                                          : absl::StrCat(file_, ":", line, ": ", path, ": ", what)});
  }
  void Error(const YAML::Node& at, int fallback_line, const std::string& path, const std::string& what) {
    Error(LineOf(at, fallback_line), path, what);
  }

  absl::Status Failure() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const Problem& a, const Problem& b) { return a.line < b.line; });
    std::vector<std::string> lines;
    for (size_t i = 0; i < errors_.size() && i < kMaxErrorsShown; ++i) lines.push_back(errors_[i].text);
    if (errors_.size() > kMaxErrorsShown) lines.push_back(absl::StrCat("... and ", errors_.size() - kMaxErrorsShown, " more"));
    return absl::InvalidArgumentError(absl::StrCat("alert policy ", file_, " is not valid (", errors_.size(),
                                                   errors_.size() == 1 ? " problem" : " problems", "):\n",
                                                   absl::StrJoin(lines, "\n")));
  }

  // Checks that `map` is a mapping whose keys are all in `allowed` (any key
  // when `allowed` is empty), each once. Returns false (with an error) when
  // it is not a mapping.
  bool CheckMap(const YAML::Node& map, int fallback_line, const std::string& path,
                const std::vector<std::string>& allowed) {
    if (!map.IsMap()) {
      Error(map, fallback_line, path, "expected a mapping of keys to values");
      return false;
    }
    std::map<std::string, int> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const int line = LineOf(it->first, LineOf(map, fallback_line));
      if (!it->first.IsScalar()) {
        Error(line, path, "a key must be plain text");
        continue;
      }
      const std::string key = it->first.Scalar();
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        Error(line, path, absl::StrCat("unknown key '", key, "'", DidYouMean(key, allowed), "; allowed: ",
                                       absl::StrJoin(allowed, ", ")));
      } else if (auto [at, inserted] = seen.emplace(key, line); !inserted) {
        Error(line, path, absl::StrCat("key '", key, "' is given twice (first at line ", at->second, ")"));
      }
    }
    return true;
  }

  std::optional<std::string> Text(const YAML::Node& n, int fallback_line, const std::string& path) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      Error(n, fallback_line, path, "expected a non-empty text value");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // A scalar or a sequence of scalars, as a list.
  std::vector<std::string> TextList(const YAML::Node& n, int fallback_line, const std::string& path) {
    std::vector<std::string> out;
    if (n.IsNull()) return out;  // the caller says what is missing
    if (n.IsScalar()) {
      if (auto t = Text(n, fallback_line, path)) out.push_back(*t);
      return out;
    }
    if (!n.IsSequence()) {
      Error(n, fallback_line, path, "expected a list, e.g. [a, b]");
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      if (auto t = Text(n[i], LineOf(n, fallback_line), absl::StrCat(path, "[", i, "]"))) out.push_back(*t);
    }
    return out;
  }

  std::optional<seconds> Duration(const YAML::Node& n, int fallback_line, const std::string& path, bool allow_zero) {
    if (!n.IsScalar()) {
      Error(n, fallback_line, path, absl::StrCat("expected a duration (", kDurationHint, ")"));
      return std::nullopt;
    }
    const std::optional<seconds> d = ParsePolicyDuration(n.Scalar());
    if (!d) {
      Error(n, fallback_line, path, absl::StrCat("bad duration '", n.Scalar(), "' (", kDurationHint, ")"));
      return std::nullopt;
    }
    if (*d == seconds(0) && !allow_zero) {
      Error(n, fallback_line, path, "must be longer than 0s");
      return std::nullopt;
    }
    if (*d > kMaxDuration) {
      Error(n, fallback_line, path, absl::StrCat("'", n.Scalar(), "' is longer than 24h"));
      return std::nullopt;
    }
    return d;
  }

  std::optional<int> Count(const YAML::Node& n, int fallback_line, const std::string& path) {
    int value = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, value) || value < 0 || value > 100) {
      Error(n, fallback_line, path,
            absl::StrCat("expected a whole number from 0 to 100, got '", n.IsScalar() ? n.Scalar() : "", "'"));
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> Number(const YAML::Node& n, int fallback_line, const std::string& path, double min,
                               double max) {
    double value = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, value) || !std::isfinite(value) || value < min ||
        value > max) {
      Error(n, fallback_line, path,
            absl::StrCat("expected a number from ", min, " to ", max, ", got '", n.IsScalar() ? n.Scalar() : "", "'"));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> Bool(const YAML::Node& n, int fallback_line, const std::string& path) {
    bool value = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
      Error(n, fallback_line, path, "expected true or false");
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::string> Group(const YAML::Node& n, int fallback_line, const std::string& path) {
    std::optional<std::string> name = Text(n, fallback_line, path);
    if (!name) return std::nullopt;
    if (policy_.groups.count(*name) == 0) {
      std::vector<std::string> names;
      for (const auto& [g, _] : policy_.groups) names.push_back(g);
      Error(n, fallback_line, path, absl::StrCat("unknown group '", *name, "'", DidYouMean(*name, names)));
      return std::nullopt;
    }
    return name;
  }

  // `when.change`: a list of change class names (see kChangeConditions).
  // Each unknown or repeated name is an error at its own line.
  std::set<common::v1::ChangeClass> ChangeList(const YAML::Node& n, int fallback_line, const std::string& path) {
    std::set<common::v1::ChangeClass> classes;
    static const std::vector<std::string> names = ChangeConditionNames();
    const std::string known = absl::StrJoin(names, ", ");
    if (n.IsNull() || (n.IsSequence() && n.size() == 0)) {
      Error(n, fallback_line, path,
            absl::StrCat("an empty list matches nothing: remove change to match any change (known: ", known, ")"));
      return classes;
    }
    if (!n.IsSequence()) {
      Error(n, fallback_line, path, absl::StrCat("expected a list of change classes, e.g. [new, larger] (known: ", known, ")"));
      return classes;
    }
    std::map<common::v1::ChangeClass, std::string> where;
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string item_path = absl::StrCat(path, "[", i, "]");
      std::optional<std::string> name = Text(n[i], LineOf(n, fallback_line), item_path);
      if (!name) continue;
      const std::string lower = Lower(*name);
      const auto* found = std::find_if(std::begin(kChangeConditions), std::end(kChangeConditions),
                                       [&](const auto& c) { return c.first == lower; });
      if (found == std::end(kChangeConditions)) {
        Error(n[i], fallback_line, item_path,
              lower == "resolved"
                  ? absl::StrCat("'", *name, "' never alerts: a resolved finding is absent from the current study; known: ",
                                 known)
                  : absl::StrCat("unknown change class '", *name, "'", DidYouMean(*name, names), "; known: ", known));
        continue;
      }
      if (auto [at, inserted] = where.emplace(found->second, item_path); !inserted) {
        Error(n[i], fallback_line, item_path, absl::StrCat("'", *name, "' is already listed at ", at->second));
        continue;
      }
      classes.insert(found->second);
    }
    return classes;
  }

  void ParseRoot(const YAML::Node& root) {
    if (!root.IsDefined() || root.IsNull()) {
      Error(1, "", "the policy is empty (expected version, groups and rules)");
      return;
    }
    if (!CheckMap(root, 1, "", {"version", "groups", "defaults", "quality", "rules"})) return;
    const int root_line = LineOf(root, 1);

    if (const YAML::Node v = root["version"]; !v.IsDefined()) {
      Error(root_line, "", "version is missing (write 'version: 1')");
    } else if (int version = 0; !v.IsScalar() || !YAML::convert<int>::decode(v, version) || version != 1) {
      Error(v, root_line, "version", absl::StrCat("unsupported version '", v.IsScalar() ? v.Scalar() : "",
                                                  "' (this build reads version 1)"));
    }

    if (const YAML::Node g = root["groups"]; !g.IsDefined()) {
      Error(root_line, "", "groups is missing (the groups alerts can go to)");
    } else {
      ParseGroups(g, root_line);
    }

    TimerSettings defaults;
    if (const YAML::Node d = root["defaults"]; d.IsDefined()) {
      if (CheckMap(d, root_line, "defaults", {"ack_timeout", "renotify_every", "max_renotify", "escalate"})) {
        defaults = ParseTimers(d, "defaults");
      }
    }

    if (const YAML::Node q = root["quality"]; q.IsDefined()) ParseQuality(q, root_line);

    if (const YAML::Node r = root["rules"]; !r.IsDefined()) {
      Error(root_line, "", "rules is missing (the routing rules)");
    } else if (!r.IsSequence() || r.size() == 0) {
      Error(r, root_line, "rules", "expected a non-empty list of rules ('- id: ...')");
    } else {
      std::map<std::string, int> ids;
      for (size_t i = 0; i < r.size(); ++i) ParseRule(r[i], LineOf(r, root_line), i, defaults, ids);
    }
  }

  void ParseGroups(const YAML::Node& groups, int fallback_line) {
    if (!groups.IsMap() || groups.size() == 0) {
      Error(groups, fallback_line, "groups", "expected a mapping of group names to descriptions");
      return;
    }
    CheckMap(groups, fallback_line, "groups", {});  // any name; finds names given twice
    for (auto it = groups.begin(); it != groups.end(); ++it) {
      const int line = LineOf(it->first, LineOf(groups, fallback_line));
      if (!it->first.IsScalar()) continue;
      const std::string name = it->first.Scalar();
      const std::string path = absl::StrCat("groups.", name);
      if (!ValidGroupName(name)) {
        Error(line, path, "a group name uses lower-case letters, digits, '-', '_' and '.' only");
        continue;
      }
      AlertGroup group;
      group.name = name;
      const YAML::Node& v = it->second;
      if (v.IsScalar() && !v.Scalar().empty()) {
        group.description = v.Scalar();
      } else if (v.IsMap()) {
        if (!CheckMap(v, line, path, {"description", "webhook"})) continue;
        if (const YAML::Node d = v["description"]; !d.IsDefined()) {
          Error(v, line, path, "description is missing");
        } else if (auto t = Text(d, line, path + ".description")) {
          group.description = *t;
        }
        if (const YAML::Node w = v["webhook"]; w.IsDefined()) {
          if (auto t = Text(w, line, path + ".webhook")) {
            if (t->rfind("https://", 0) != 0 && t->rfind("http://", 0) != 0) {
              Error(w, line, path + ".webhook", absl::StrCat("'", *t, "' is not an http(s) URL"));
            } else {
              group.webhook_url = *t;
            }
          }
        }
      } else {
        Error(v, line, path, "expected a description, or {description: ..., webhook: ...}");
        continue;
      }
      policy_.groups.emplace(name, std::move(group));
    }
  }

  void ParseQuality(const YAML::Node& q, int fallback_line) {
    if (!CheckMap(q, fallback_line, "quality", {"veto", "annotate"})) return;
    const std::vector<std::string> names = QualityFlagNames();
    std::map<common::v1::QualityFlag, std::string> where;
    for (const char* key : {"veto", "annotate"}) {
      const YAML::Node list = q[key];
      if (!list.IsDefined() || list.IsNull()) continue;
      const std::string path = absl::StrCat("quality.", key);
      if (!list.IsSequence()) {
        Error(list, LineOf(q, fallback_line), path, "expected a list of quality flags, e.g. [motion_artefact]");
        continue;
      }
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string item_path = absl::StrCat(path, "[", i, "]");
        std::optional<std::string> name = Text(list[i], LineOf(list, fallback_line), item_path);
        if (!name) continue;
        std::optional<common::v1::QualityFlag> flag = ParseQualityFlag(*name);
        if (!flag) {
          Error(list[i], fallback_line, item_path,
                absl::StrCat("unknown quality flag '", *name, "'", DidYouMean(*name, names), "; known: ",
                             absl::StrJoin(names, ", ")));
          continue;
        }
        if (auto [at, inserted] = where.emplace(*flag, item_path); !inserted) {
          Error(list[i], fallback_line, item_path, absl::StrCat("'", *name, "' is already listed at ", at->second));
          continue;
        }
        (std::string_view(key) == "veto" ? policy_.quality.veto : policy_.quality.annotate).insert(*flag);
      }
    }
  }

  std::vector<EscalationStep> ParseEscalation(const YAML::Node& n, int fallback_line, const std::string& path) {
    std::vector<EscalationStep> steps;
    if (n.IsNull()) return steps;
    if (!n.IsSequence()) {
      Error(n, fallback_line, path, "expected a list of steps, e.g. [{group: senior-radiology, after: 15m}]");
      return steps;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string step_path = absl::StrCat(path, "[", i, "]");
      const YAML::Node step = n[i];
      const int line = LineOf(step, LineOf(n, fallback_line));
      if (!CheckMap(step, line, step_path, {"group", "after"})) continue;
      EscalationStep s;
      bool ok = true;
      if (const YAML::Node g = step["group"]; !g.IsDefined()) {
        Error(line, step_path, "group is missing");
        ok = false;
      } else if (auto name = Group(g, line, step_path + ".group")) {
        s.group = *name;
      } else {
        ok = false;
      }
      if (const YAML::Node a = step["after"]; !a.IsDefined()) {
        Error(line, step_path, "after is missing (time since the alert was created, e.g. 15m)");
        ok = false;
      } else if (auto d = Duration(a, line, step_path + ".after", false)) {
        s.after = *d;
        if (!steps.empty() && s.after <= steps.back().after) {
          Error(a, line, step_path + ".after",
                absl::StrCat(FormatDuration(s.after), " must be later than the step before (",
                             FormatDuration(steps.back().after), "): 'after' counts from the alert's creation"));
          ok = false;
        }
      } else {
        ok = false;
      }
      if (ok) steps.push_back(std::move(s));
    }
    return steps;
  }

  // Reads ack_timeout, renotify_every, max_renotify and escalate of `map`
  // (a rule or `defaults`), whichever are present.
  TimerSettings ParseTimers(const YAML::Node& map, const std::string& path) {
    TimerSettings t;
    const int line = LineOf(map, 1);
    if (const YAML::Node n = map["ack_timeout"]; n.IsDefined()) {
      t.ack_timeout = Duration(n, line, path + ".ack_timeout", false);
      t.ack_timeout_written = true;
    }
    if (const YAML::Node n = map["renotify_every"]; n.IsDefined()) {
      t.renotify_every = Duration(n, line, path + ".renotify_every", false);
      t.renotify_every_written = true;
    }
    if (const YAML::Node n = map["max_renotify"]; n.IsDefined()) t.max_renotify = Count(n, line, path + ".max_renotify");
    if (const YAML::Node n = map["escalate"]; n.IsDefined()) {
      t.escalate = ParseEscalation(n, line, path + ".escalate");
      t.escalate_line = n.IsSequence() && n.size() > 0 ? LineOf(n[0], LineOf(n, line)) : LineOf(n, line);
    }
    return t;
  }

  void ParseRule(const YAML::Node& node, int fallback_line, size_t index, const TimerSettings& defaults,
                 std::map<std::string, int>& ids) {
    const std::string path = absl::StrCat("rules[", index, "]");
    const int line = LineOf(node, fallback_line);
    if (!CheckMap(node, line, path,
                  {"id", "description", "labels", "subtypes", "when", "critical", "notify", "priority",
                   "fhir_priority", "ack_timeout", "renotify_every", "max_renotify", "escalate"})) {
      return;
    }
    AlertRule rule;
    rule.line = line;

    if (const YAML::Node n = node["id"]; !n.IsDefined()) {
      Error(line, path, "id is missing (a short unique name, e.g. ich-any)");
    } else if (auto id = Text(n, line, path + ".id")) {
      rule.id = *id;
      if (auto [at, inserted] = ids.emplace(*id, LineOf(n, line)); !inserted) {
        Error(n, line, path + ".id", absl::StrCat("duplicate rule id '", *id, "' (first at line ", at->second, ")"));
      }
    }
    if (const YAML::Node n = node["description"]; n.IsDefined()) {
      if (auto t = Text(n, line, path + ".description")) rule.description = *t;
    }

    if (const YAML::Node n = node["labels"]; !n.IsDefined()) {
      Error(line, path, "labels is missing (the model labels this rule routes)");
    } else {
      rule.labels = TextList(n, line, path + ".labels");
      if (rule.labels.empty() && (n.IsSequence() || n.IsNull())) Error(n, line, path + ".labels", "needs at least one label");
      if (!known_labels_.empty()) {
        std::set<std::string> known_lower;
        for (const std::string& k : known_labels_) known_lower.insert(Lower(k));
        for (size_t i = 0; i < rule.labels.size(); ++i) {
          if (known_lower.count(Lower(rule.labels[i])) > 0) continue;
          const YAML::Node at = n.IsSequence() && i < n.size() ? n[i] : n;
          Error(at, line, n.IsSequence() ? absl::StrCat(path, ".labels[", i, "]") : path + ".labels",
                absl::StrCat("unknown label '", rule.labels[i], "': no loaded model has it",
                             DidYouMean(rule.labels[i], known_labels_)));
        }
      }
    }
    if (const YAML::Node n = node["subtypes"]; n.IsDefined()) {
      rule.subtypes = TextList(n, line, path + ".subtypes");
      if (rule.subtypes.empty() && (n.IsSequence() || n.IsNull())) {
        Error(n, line, path + ".subtypes", "an empty list matches nothing: remove subtypes to match any subtype");
      }
    }
    if (const YAML::Node w = node["when"]; w.IsDefined()) {
      const std::string wpath = path + ".when";
      if (CheckMap(w, line, wpath, {"min_volume_ml", "min_area_cm2", "min_probability", "change"})) {
        if (const YAML::Node n = w["min_volume_ml"]; n.IsDefined()) {
          rule.when.min_volume_ml = Number(n, line, wpath + ".min_volume_ml", 0, 1e6);
        }
        if (const YAML::Node n = w["min_area_cm2"]; n.IsDefined()) {
          rule.when.min_area_cm2 = Number(n, line, wpath + ".min_area_cm2", 0, 1e6);
        }
        if (const YAML::Node n = w["min_probability"]; n.IsDefined()) {
          rule.when.min_probability = Number(n, line, wpath + ".min_probability", 0, 1);
        }
        if (const YAML::Node n = w["change"]; n.IsDefined()) {
          rule.when.change = ChangeList(n, LineOf(w, line), wpath + ".change");
        }
      }
    }

    if (const YAML::Node n = node["notify"]; !n.IsDefined()) {
      Error(line, path, "notify is missing (the groups that receive the alert)");
    } else {
      std::vector<std::string> names = TextList(n, line, path + ".notify");
      if (names.empty() && (n.IsSequence() || n.IsNull())) {
        Error(n, line, path + ".notify", "needs at least one group");
      }
      for (size_t i = 0; i < names.size(); ++i) {
        const YAML::Node at = n.IsSequence() && i < n.size() ? n[i] : n;
        const std::string item_path = n.IsSequence() ? absl::StrCat(path, ".notify[", i, "]") : path + ".notify";
        if (auto g = Group(at, line, item_path)) {
          if (std::find(rule.notify.begin(), rule.notify.end(), *g) == rule.notify.end()) rule.notify.push_back(*g);
        }
      }
    }

    if (const YAML::Node n = node["priority"]; !n.IsDefined()) {
      Error(line, path, "priority is missing (routine, urgent or critical)");
    } else if (auto t = Text(n, line, path + ".priority")) {
      if (auto p = ParsePriority(*t)) {
        rule.priority = *p;
      } else {
        Error(n, line, path + ".priority", absl::StrCat("unknown priority '", *t, "' (routine, urgent or critical)"));
      }
    }
    rule.fhir_priority = DefaultFhirPriority(rule.priority);
    if (const YAML::Node n = node["fhir_priority"]; n.IsDefined()) {
      if (auto t = Text(n, line, path + ".fhir_priority")) {
        if (auto p = ParseFhirPriority(*t)) {
          rule.fhir_priority = *p;
        } else {
          Error(n, line, path + ".fhir_priority",
                absl::StrCat("unknown FHIR priority '", *t, "' (routine, urgent, asap or stat)"));
        }
      }
    }
    rule.critical = rule.priority == alerting::v1::ALERT_PRIORITY_CRITICAL;
    if (const YAML::Node n = node["critical"]; n.IsDefined()) {
      if (auto b = Bool(n, line, path + ".critical")) rule.critical = *b;
    }

    const TimerSettings own = ParseTimers(node, path);
    if (own.ack_timeout) {
      rule.ack_timeout = *own.ack_timeout;
    } else if (defaults.ack_timeout) {
      rule.ack_timeout = *defaults.ack_timeout;
    } else if (!own.ack_timeout_written && !defaults.ack_timeout_written) {  // else: already reported as bad
      Error(line, path, "ack_timeout is missing (set it in the rule or in defaults)");
    }
    rule.renotify_every = own.renotify_every.value_or(defaults.renotify_every.value_or(seconds(0)));
    rule.max_renotify = own.max_renotify.value_or(defaults.max_renotify.value_or(0));
    if (rule.max_renotify > 0 && rule.renotify_every == seconds(0) && !own.renotify_every_written &&
        !defaults.renotify_every_written) {
      Error(node["max_renotify"].IsDefined() ? LineOf(node["max_renotify"], line) : line, path,
            absl::StrCat("max_renotify is ", rule.max_renotify, " but renotify_every is not set"));
    }
    const bool own_chain = own.escalate.has_value();
    if (own_chain) {
      rule.escalate = *own.escalate;
    } else if (defaults.escalate) {
      rule.escalate = *defaults.escalate;
    }
    if (!rule.escalate.empty() && rule.ack_timeout > seconds(0) && rule.escalate.front().after < rule.ack_timeout) {
      Error(own_chain ? own.escalate_line : line, own_chain ? path + ".escalate[0].after" : path,
            absl::StrCat("escalation to '", rule.escalate.front().group, "' after ",
                         FormatDuration(rule.escalate.front().after), own_chain ? "" : " (from defaults)",
                         " comes before the ack_timeout of ", FormatDuration(rule.ack_timeout),
                         ": escalate only once the acknowledgment is overdue"));
    }
    policy_.rules.push_back(std::move(rule));
  }

  std::string file_;
  const std::set<std::string>& known_labels_;
  AlertPolicy policy_;
  std::vector<Problem> errors_;
  std::vector<std::pair<YAML::Node, int>> empty_values_;
};

}  // namespace

std::string_view FhirPriorityCode(FhirPriority p) {
  switch (p) {
    case FhirPriority::kRoutine: return "routine";
    case FhirPriority::kUrgent: return "urgent";
    case FhirPriority::kAsap: return "asap";
    case FhirPriority::kStat: return "stat";
  }
  return "routine";
}

FhirPriority DefaultFhirPriority(alerting::v1::AlertPriority p) {
  switch (p) {
    case alerting::v1::ALERT_PRIORITY_CRITICAL: return FhirPriority::kAsap;
    case alerting::v1::ALERT_PRIORITY_URGENT: return FhirPriority::kUrgent;
    default: return FhirPriority::kRoutine;
  }
}

common::v1::ChangeClass FindingChangeClass(const common::v1::Finding& finding) {
  return finding.has_prior_comparison() ? finding.prior_comparison().change() : common::v1::CHANGE_CLASS_UNSPECIFIED;
}

std::string_view ChangeConditionName(common::v1::ChangeClass change) {
  for (const auto& [name, c] : kChangeConditions) {
    if (c == change) return name;
  }
  return change == common::v1::CHANGE_CLASS_RESOLVED ? "resolved" : "not_compared";
}

const AlertRule* AlertPolicy::FindRule(std::string_view id) const {
  for (const AlertRule& r : rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const AlertGroup* AlertPolicy::FindGroup(std::string_view name) const {
  auto it = groups.find(std::string(name));
  return it == groups.end() ? nullptr : &it->second;
}

std::optional<std::chrono::seconds> ParsePolicyDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long long total = 0;
  size_t i = 0;
  int last_unit_rank = 3;  // h=2, m=1, s=0; units must come in that order, each once
  while (i < text.size()) {
    long long value = 0;
    size_t digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value = value * 10 + (text[i] - '0');
      if (value > 1'000'000) return std::nullopt;
      ++i;
      ++digits;
    }
    if (digits == 0 || i == text.size()) return std::nullopt;
    int rank;
    long long scale;
    switch (text[i]) {
      case 'h': rank = 2, scale = 3600; break;
      case 'm': rank = 1, scale = 60; break;
      case 's': rank = 0, scale = 1; break;
      default: return std::nullopt;
    }
    if (rank >= last_unit_rank) return std::nullopt;
    last_unit_rank = rank;
    total += value * scale;
    ++i;
  }
  return std::chrono::seconds(total);
}

absl::StatusOr<AlertPolicy> ParseAlertPolicy(std::string_view yaml_text, std::string_view file_name_for_errors,
                                             const std::set<std::string>& known_labels) {
  return PolicyParser(file_name_for_errors, known_labels).Parse(yaml_text);
}

absl::StatusOr<AlertPolicy> LoadAlertPolicy(const std::string& path, const std::set<std::string>& known_labels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("alert policy file ", path, " cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("alert policy file ", path, " cannot be read"));
  return ParseAlertPolicy(text.str(), path, known_labels);
}

}  // namespace parallax::alerting
