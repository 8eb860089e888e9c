#pragma once
// Applies an AlertPolicy to one finding of an analysed study and decides
// whether it alerts and how: ONE decision per finding (one alert per finding
// per study), however many rules match it. Pure: no I/O, no clock, no state;
// thread-safe on a shared const policy.
//
// The decision, in order:
//   1. Not positive (Finding.positive false, or probability below the
//      operating point)                            -> suppressed BELOW_OPERATING_POINT
//   2. A rule "applies" when one of its labels is the finding's label and,
//      when it lists subtypes, one of them is the finding's subtype (both
//      compared without regard to case). It "matches" when it applies and the
//      finding meets its `when` conditions: the thresholds and, when the
//      rule lists `change` classes, the finding's change since the prior
//      study is one of them (FindingChangeClass; not_compared when the
//      finding carries no comparison).
//      No rule applies                             -> suppressed NO_POLICY
//      Rules apply but none matches                -> suppressed RULE_THRESHOLD
//      (also when only the change class kept them from matching)
//   3. A veto quality flag (study-level or the finding's own)
//                                                  -> suppressed QUALITY
//   4. Otherwise it alerts. The first matching rule in file order is the
//      primary rule. The alert goes to the primary rule's groups, then those
//      the other matching rules add (in rule order, without repeats); its
//      priority and FHIR priority are the highest of the matching rules,
//      critical if any of them is; ack_timeout and renotify_every are the
//      shortest, max_renotify the largest; the escalation chain is the
//      primary rule's.
#include <chrono>
#include <string>
#include <vector>

#include "alert_policy.h"
#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/common/v1/finding.pb.h"

namespace parallax::alerting {

struct AlertDecision {
  bool alert = false;
  // Why it does not alert (UNSPECIFIED when it alerts).
  alerting::v1::SuppressionReason suppression = alerting::v1::SUPPRESSION_REASON_UNSPECIFIED;
  // One sentence for logs and the audit trail: which rules and why. Holds
  // labels, rule ids, groups and numbers only, never patient data.
  std::string explanation;

  // When alerting: the matching rules, primary first. When suppressed for
  // QUALITY: the rules that would have routed it. For RULE_THRESHOLD: the
  // rules whose thresholds the finding missed. Otherwise empty.
  std::vector<std::string> rule_ids;

  // The rest is set only when `alert` is true.
  std::vector<std::string> target_groups;  // first = primary group
  bool critical = false;
  alerting::v1::AlertPriority priority = alerting::v1::ALERT_PRIORITY_UNSPECIFIED;
  FhirPriority fhir_priority = FhirPriority::kRoutine;
  std::chrono::seconds ack_timeout{0};
  std::chrono::seconds renotify_every{0};  // 0 = no re-notification
  int max_renotify = 0;
  std::vector<EscalationStep> escalation;  // the primary rule's chain

  // Quality flags (study-level and the finding's own, without repeats) that
  // the alert carries; when suppressed for QUALITY, `vetoed_by` lists the
  // vetoing ones.
  std::vector<common::v1::QualityFlag> quality_flags;
  std::vector<common::v1::QualityFlag> vetoed_by;

  const std::string& primary_group() const { return target_groups.front(); }  // only when alert
  const std::string& primary_rule_id() const { return rule_ids.front(); }     // only when alert
};

// Decides how `finding` alerts under `policy`, given the study-level quality
// flags. Never fails: every finding gets a decision (see above).
AlertDecision Evaluate(const AlertPolicy& policy, const common::v1::Finding& finding,
                       const std::vector<common::v1::QualityFlag>& study_flags);

}  // namespace parallax::alerting
