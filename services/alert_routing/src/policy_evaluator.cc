#include "policy_evaluator.h"

#include <algorithm>
#include <cctype>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

namespace parallax::alerting {
namespace {

bool SameText(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& s) { return SameText(s, value); });
}

bool Applies(const AlertRule& rule, const common::v1::Finding& f) {
  return Contains(rule.labels, f.label()) && (rule.subtypes.empty() || Contains(rule.subtypes, f.subtype()));
}

// Empty when the finding meets every threshold, else what it missed.
std::string MissedThreshold(const AlertRule& rule, const common::v1::Finding& f) {
  const RuleThresholds& w = rule.when;
  if (w.min_volume_ml) {
    if (!f.has_volume_ml()) return absl::StrCat(rule.id, " needs a volume of at least ", *w.min_volume_ml, " mL (none measured)");
    if (f.volume_ml() < *w.min_volume_ml) {
      return absl::StrCat(rule.id, " needs at least ", *w.min_volume_ml, " mL (", f.volume_ml(), " mL)");
    }
  }
  if (w.min_area_cm2) {
    if (!f.has_area_cm2()) return absl::StrCat(rule.id, " needs an area of at least ", *w.min_area_cm2, " cm2 (none measured)");
    if (f.area_cm2() < *w.min_area_cm2) {
      return absl::StrCat(rule.id, " needs at least ", *w.min_area_cm2, " cm2 (", f.area_cm2(), " cm2)");
    }
  }
  if (w.min_probability && f.probability() < *w.min_probability) {
    return absl::StrCat(rule.id, " needs probability at least ", *w.min_probability, " (", f.probability(), ")");
  }
  if (!w.change.empty()) {
    const common::v1::ChangeClass change = FindingChangeClass(f);
    if (w.change.count(change) == 0) {
      std::vector<std::string> wanted;
      // In the order alert_policy.h lists them (not_compared last).
      for (common::v1::ChangeClass c :
           {common::v1::CHANGE_CLASS_NO_PRIOR, common::v1::CHANGE_CLASS_NEW, common::v1::CHANGE_CLASS_LARGER,
            common::v1::CHANGE_CLASS_STABLE, common::v1::CHANGE_CLASS_SMALLER, common::v1::CHANGE_CLASS_UNSPECIFIED}) {
        if (w.change.count(c) > 0) wanted.emplace_back(ChangeConditionName(c));
      }
      return absl::StrCat(rule.id, " needs change ", absl::StrJoin(wanted, " or "), " (",
                          std::string(ChangeConditionName(change)), ")");
    }
  }
  return "";
}

std::string FlagNames(const std::vector<common::v1::QualityFlag>& flags) {
  std::vector<std::string> names;
  for (common::v1::QualityFlag q : flags) names.push_back(common::v1::QualityFlag_Name(q));
  return absl::StrJoin(names, ", ");
}

}  // namespace

AlertDecision Evaluate(const AlertPolicy& policy, const common::v1::Finding& finding,
                       const std::vector<common::v1::QualityFlag>& study_flags) {
  AlertDecision d;
  const std::string what = absl::StrCat("'", finding.label(), "'",
                                        finding.subtype().empty() ? "" : absl::StrCat(" (", finding.subtype(), ")"));

  if (!finding.positive() || finding.probability() < finding.operating_point()) {
    d.suppression = alerting::v1::SUPPRESSION_REASON_BELOW_OPERATING_POINT;
    d.explanation = absl::StrCat(what, ": probability ", finding.probability(), " is below the operating point ",
                                 finding.operating_point());
    return d;
  }

  std::vector<const AlertRule*> matched;
  std::vector<std::string> missed;
  std::vector<std::string> missed_ids;
  for (const AlertRule& rule : policy.rules) {
    if (!Applies(rule, finding)) continue;
    if (std::string why = MissedThreshold(rule, finding); !why.empty()) {
      missed.push_back(std::move(why));
      missed_ids.push_back(rule.id);
    } else {
      matched.push_back(&rule);
    }
  }
  if (matched.empty()) {
    if (missed.empty()) {
      d.suppression = alerting::v1::SUPPRESSION_REASON_NO_POLICY;
      d.explanation = absl::StrCat(what, ": no rule of the policy routes this label");
    } else {
      d.suppression = alerting::v1::SUPPRESSION_REASON_RULE_THRESHOLD;
      d.rule_ids = std::move(missed_ids);
      d.explanation = absl::StrCat(what, ": below every rule's threshold: ", absl::StrJoin(missed, "; "));
    }
    return d;
  }
  for (const AlertRule* r : matched) d.rule_ids.push_back(r->id);

  std::vector<common::v1::QualityFlag> flags;
  auto add_flag = [&](common::v1::QualityFlag q) {
    if (q == common::v1::QUALITY_FLAG_UNSPECIFIED) return;
    if (std::find(flags.begin(), flags.end(), q) == flags.end()) flags.push_back(q);
  };
  for (common::v1::QualityFlag q : study_flags) add_flag(q);
  for (int q : finding.quality_flags()) add_flag(static_cast<common::v1::QualityFlag>(q));
  for (common::v1::QualityFlag q : flags) {
    if (policy.quality.veto.count(q) > 0) d.vetoed_by.push_back(q);
  }
  d.quality_flags = flags;
  if (!d.vetoed_by.empty()) {
    d.suppression = alerting::v1::SUPPRESSION_REASON_QUALITY;
    d.explanation = absl::StrCat(what, ": would alert by ", absl::StrJoin(d.rule_ids, ", "),
                                 " but quality vetoes it: ", FlagNames(d.vetoed_by));
    return d;
  }

  const AlertRule& primary = *matched.front();
  d.alert = true;
  d.escalation = primary.escalate;
  d.priority = primary.priority;
  d.fhir_priority = primary.fhir_priority;
  d.critical = false;
  d.ack_timeout = primary.ack_timeout;
  d.renotify_every = std::chrono::seconds(0);
  d.max_renotify = 0;
  for (const AlertRule* r : matched) {
    for (const std::string& g : r->notify) {
      if (std::find(d.target_groups.begin(), d.target_groups.end(), g) == d.target_groups.end()) {
        d.target_groups.push_back(g);
      }
    }
    d.critical = d.critical || r->critical;
    d.priority = std::max(d.priority, r->priority);
    d.fhir_priority = std::max(d.fhir_priority, r->fhir_priority);
    d.ack_timeout = std::min(d.ack_timeout, r->ack_timeout);
    if (r->max_renotify > 0 && r->renotify_every > std::chrono::seconds(0)) {
      d.renotify_every = d.renotify_every == std::chrono::seconds(0) ? r->renotify_every
                                                                      : std::min(d.renotify_every, r->renotify_every);
      d.max_renotify = std::max(d.max_renotify, r->max_renotify);
    }
  }
  const common::v1::ChangeClass change = FindingChangeClass(finding);
  d.explanation = absl::StrCat(what,
                               change == common::v1::CHANGE_CLASS_UNSPECIFIED
                                   ? ""
                                   : absl::StrCat(" (change ", std::string(ChangeConditionName(change)), ")"),
                               ": ", absl::StrJoin(d.rule_ids, ", "), " -> ", absl::StrJoin(d.target_groups, ", "),
                               " (", alerting::v1::AlertPriority_Name(d.priority), ", ",
                               std::string(FhirPriorityCode(d.fhir_priority)), d.critical ? ", critical result" : "", ")");
  return d;
}

}  // namespace parallax::alerting
