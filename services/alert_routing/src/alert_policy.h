#pragma once
// AlertPolicy: the department's alert routing policy, loaded from a YAML file
// (config/alert_policy.yaml is the shipped default) and validated at start-up.
// It says, per model label (and optionally subtype and size), whether a
// finding is critical, which groups receive its alert, at which priority,
// how long they have to acknowledge it, how often it is re-sent and who it
// escalates to when nobody acknowledges. policy_evaluator.h applies it to a
// finding.
//
// File shape (every key is checked; an unknown key is an error, so a typo
// never silently becomes a default):
//
//   version: 1
//   groups:                                  # who can receive alerts
//     thoracic-radiology:
//       description: Thoracic radiologists on duty
//       webhook: https://pager.example.org/hooks/thoracic   # optional
//     neurosurgery: Neurosurgical registrar on call          # or just a description
//   defaults:                                # optional; rules inherit these
//     ack_timeout: 15m
//     renotify_every: 5m
//     max_renotify: 2
//     escalate: [{group: senior-radiology, after: 15m}]
//   quality:                                 # optional
//     veto: [header_conflict]                # these flags suppress the alert (QUALITY)
//     annotate: [rotated]                    # these only ride along on the alert
//   rules:                                   # in order of precedence
//     - id: ich-any
//       description: Any intracranial haemorrhage   # optional, for people
//       labels: [Intracranial haemorrhage]   # model labels, one or more
//       subtypes: [epidural]                 # optional filter on Finding.subtype
//       when: {min_volume_ml: 40}            # optional: min_volume_ml, min_area_cm2, min_probability,
//                                            #   change (below)
//       critical: true                       # optional, default: priority == critical
//       notify: [neuroradiology]             # one or more groups, first = primary
//       priority: critical                   # routine | urgent | critical
//       fhir_priority: asap                  # optional: routine | urgent | asap | stat
//       ack_timeout: 10m                     # durations: 90s, 10m, 1h, 1h30m (max 24h)
//       renotify_every: 5m
//       max_renotify: 3
//       escalate:                            # after = time since the alert was created
//         - {group: senior-radiology, after: 10m}
//         - {group: department-head, after: 30m}
//
// Labels and subtypes are compared without regard to case. A threshold is
// "at least" (>=); a finding without the measured quantity (no volume_ml,
// no area_cm2) does not meet a threshold on it.
//
// `when: {change: [new, larger]}` routes by the finding's change since the
// patient's prior study (Finding.prior_comparison, filled by triage with
// libs/comparison): a rule with `change` matches only a finding whose class
// is in the list, one of
//   no_prior      the patient has no prior study to compare with
//   new           absent in the prior, present now
//   larger        present at both, grown (by the comparison rule's ratio)
//   stable        present at both, about the same size (or sizes not comparable)
//   smaller       present at both, shrunk
//   not_compared  the finding carries no comparison (prior_comparison unset
//                 or its change UNSPECIFIED), e.g. comparison is switched off
// A rule without `change` matches whatever the change. "resolved" is refused:
// a resolved finding is absent from the current study and never alerts. So a
// first study (no_prior / not_compared) keeps routing as before, while e.g. a
// stable haemorrhage known from the prior can route at a lower priority than
// a new one.
//
// Thread-safety: a loaded AlertPolicy is a plain immutable value; share it by
// const reference (or shared_ptr<const>) between threads freely.
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/common/v1/finding.pb.h"

namespace parallax::alerting {

// FHIR R4 request-priority (Communication.priority), ordered by urgency.
enum class FhirPriority { kRoutine = 1, kUrgent = 2, kAsap = 3, kStat = 4 };

// "routine", "urgent", "asap" or "stat": the FHIR code.
std::string_view FhirPriorityCode(FhirPriority p);

// The priority used when a rule gives no fhir_priority: routine -> routine,
// urgent -> urgent, critical -> asap.
FhirPriority DefaultFhirPriority(alerting::v1::AlertPriority p);

// A group that receives alerts (a rota, a team, a pager).
struct AlertGroup {
  std::string name;         // e.g. "thoracic-radiology"; lower case, digits, '-', '_' and '.'
  std::string description;  // for people reading the policy and the UI
  std::string webhook_url;  // optional http(s) URL; empty when none
};

// One step of an escalation chain: when the alert is still unacknowledged
// `after` its creation, it goes to `group` too.
struct EscalationStep {
  std::string group;
  std::chrono::seconds after{0};
};

// Size/confidence/change conditions of a rule; unset (empty) = no condition.
struct RuleThresholds {
  std::optional<double> min_volume_ml;    // Finding.volume_ml >= this
  std::optional<double> min_area_cm2;     // Finding.area_cm2 >= this
  std::optional<double> min_probability;  // Finding.probability >= this (beyond the operating point)
  // The change classes the rule matches (FindingChangeClass of the finding);
  // CHANGE_CLASS_UNSPECIFIED stands for not_compared. Empty = any change.
  std::set<common::v1::ChangeClass> change;
};

struct AlertRule {
  std::string id;                     // unique within the policy
  int line = 0;                       // where the rule starts in the file (for logs)
  std::string description;            // optional, for people
  std::vector<std::string> labels;    // model labels as written, at least one
  std::vector<std::string> subtypes;  // empty = any subtype (or none)
  RuleThresholds when;
  bool critical = false;              // a critical result (closed-loop communication)
  std::vector<std::string> notify;    // at least one group; the first is the primary
  alerting::v1::AlertPriority priority = alerting::v1::ALERT_PRIORITY_ROUTINE;
  FhirPriority fhir_priority = FhirPriority::kRoutine;
  std::chrono::seconds ack_timeout{0};     // > 0
  std::chrono::seconds renotify_every{0};  // 0 = no re-notification
  int max_renotify = 0;                    // re-notifications before escalation; 0 = none
  std::vector<EscalationStep> escalate;    // `after` strictly increasing, first >= ack_timeout
};

// Which quality flags (study-level or the finding's own) stop an alert, and
// which only travel with it. A flag in neither list travels with the alert.
struct QualityPolicy {
  std::set<common::v1::QualityFlag> veto;
  std::set<common::v1::QualityFlag> annotate;
};

struct AlertPolicy {
  int version = 1;
  std::string source;                        // file name the policy came from
  std::map<std::string, AlertGroup> groups;  // by name
  std::vector<AlertRule> rules;              // file order = precedence
  QualityPolicy quality;

  // The rule with this id, or nullptr.
  const AlertRule* FindRule(std::string_view id) const;
  // The group with this name, or nullptr.
  const AlertGroup* FindGroup(std::string_view name) const;
};

// The finding's change class as the policy sees it: prior_comparison's
// change, or CHANGE_CLASS_UNSPECIFIED (not_compared) when it carries none.
common::v1::ChangeClass FindingChangeClass(const common::v1::Finding& finding);

// The policy's name of a change class: "no_prior", "new", "larger",
// "stable", "smaller", "resolved"; "not_compared" for UNSPECIFIED.
std::string_view ChangeConditionName(common::v1::ChangeClass change);

// Parses and validates a policy from YAML text. `file_name_for_errors`
// prefixes every error ("alert_policy.yaml:14: ..."). `known_labels` are the
// labels of the loaded models; when it is non-empty, a rule label that is
// none of them (case-insensitively) is an error; when empty, labels are not
// checked.
// Returns the policy, or INVALID_ARGUMENT listing every problem found (up to
// 20, then "... and N more"), one per line, each as
//   "<file>:<line>: <path>: <what is wrong>"
// e.g. "alert_policy.yaml:14: rules[2].notify[0]: unknown group 'neurosurgry'
// (did you mean 'neurosurgery'?)" or "alert_policy.yaml:9:
// rules[0].when.change[1]: unknown change class 'grown' (...)". Malformed
// YAML yields the parser's message at the parser's line.
absl::StatusOr<AlertPolicy> ParseAlertPolicy(std::string_view yaml_text, std::string_view file_name_for_errors,
                                             const std::set<std::string>& known_labels);

// Reads `path` and parses it as ParseAlertPolicy does (errors are prefixed
// with `path`). NOT_FOUND when the file cannot be read; otherwise as above.
absl::StatusOr<AlertPolicy> LoadAlertPolicy(const std::string& path, const std::set<std::string>& known_labels);

// Parses a duration such as "90s", "10m", "1h" or "1h30m" (units s, m, h;
// at least one part; each part a non-negative integer). Returns nullopt when
// `text` is not such a duration. Exposed for tests and for other config.
std::optional<std::chrono::seconds> ParsePolicyDuration(std::string_view text);

}  // namespace parallax::alerting
