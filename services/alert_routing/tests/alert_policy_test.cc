// The department alert policy: the shipped config/alert_policy.yaml against
// the reference models' real labels, the routing examples of the issue, the
// suppression reasons, and validation errors that name the right line.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alert_policy.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"
#include "policy_evaluator.h"
#include "prior_comparison_fixture.h"

namespace {

using namespace std::chrono_literals;
using parallax::alerting::AlertDecision;
using parallax::alerting::AlertPolicy;
using parallax::alerting::Evaluate;
using parallax::alerting::FhirPriority;
using parallax::alerting::LoadAlertPolicy;
using parallax::alerting::ParseAlertPolicy;
namespace av1 = parallax::alerting::v1;
namespace cv1 = parallax::common::v1;

// The label names of every model manifest in $PARALLAX_SOURCE_DIR/models.
std::set<std::string> ReferenceModelLabels() {
  std::set<std::string> labels;
  int manifests = 0;
  for (const auto& entry : std::filesystem::directory_iterator(parallax::testing::SourceDir() + "/models")) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const nlohmann::json manifest = nlohmann::json::parse(in);
    for (const auto& label : manifest.at("labels")) labels.insert(label.at("name").get<std::string>());
    ++manifests;
  }
  REQUIRE(manifests >= 4);
  return labels;
}

const AlertPolicy& ShippedPolicy() {
  static const AlertPolicy policy = [] {
    auto loaded = LoadAlertPolicy(parallax::testing::SourceDir() + "/config/alert_policy.yaml", ReferenceModelLabels());
    if (!loaded.ok()) FAIL(loaded.status().ToString());
    return *loaded;
  }();
  return policy;
}

cv1::Finding Positive(const std::string& label, const std::string& subtype = "") {
  cv1::Finding f;
  f.set_finding_id("f-" + label);
  f.set_label(label);
  f.set_subtype(subtype);
  f.set_operating_point(0.9);
  f.set_probability(0.97);
  f.set_positive(true);
  return f;
}

cv1::Finding Haemorrhage(double volume_ml, const std::string& subtype = "subdural") {
  cv1::Finding f = Positive("Intracranial haemorrhage", subtype);
  f.set_volume_ml(volume_ml);
  return f;
}

using parallax::alerting::testing::WithChange;

std::string Lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  return text;
}

// A small valid policy, one line per entry (line N is element N-1), that
// error tests change one line of.
std::vector<std::string> SmallPolicy() {
  return {
      "version: 1",                                      // 1
      "groups:",                                         // 2
      "  neuroradiology: Neuroradiologist on duty",      // 3
      "  neurosurgery: Neurosurgical registrar on call",  // 4
      "  senior-radiology: Senior radiologist",          // 5
      "rules:",                                          // 6
      "  - id: ich-any",                                 // 7
      "    labels: [Intracranial haemorrhage]",          // 8
      "    notify: [neuroradiology]",                    // 9
      "    priority: critical",                          // 10
      "    ack_timeout: 10m",                            // 11
      "    escalate:",                                   // 12
      "      - {group: senior-radiology, after: 10m}",   // 13
      "  - id: ich-large",                               // 14
      "    labels: [Intracranial haemorrhage]",          // 15
      "    when: {min_volume_ml: 40}",                   // 16
      "    notify: [neurosurgery]",                      // 17
      "    priority: critical",                          // 18
      "    fhir_priority: stat",                         // 19
      "    ack_timeout: 5m",                             // 20
  };
}

const std::set<std::string> kHeadCtLabels = {"Intracranial haemorrhage", "Epidural", "Subdural"};

// The error message of parsing `lines` (which must fail).
std::string ErrorOf(const std::vector<std::string>& lines) {
  auto parsed = ParseAlertPolicy(Lines(lines), "alert_policy.yaml", kHeadCtLabels);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

}  // namespace

TEST_CASE("the shipped department policy loads against the reference models' labels", "[alert_policy]") {
  const std::set<std::string> labels = ReferenceModelLabels();
  CHECK(labels.count("Pneumothorax") == 1);
  CHECK(labels.count("Intracranial haemorrhage") == 1);
  const AlertPolicy& policy = ShippedPolicy();
  CHECK(policy.rules.size() >= 5);
  for (const char* group : {"thoracic-radiology", "neuroradiology", "neurosurgery", "msk-radiology",
                            "senior-radiology", "department-head"}) {
    CHECK(policy.FindGroup(group) != nullptr);
  }
  // Every rule's label is a reference model's label, spelled as the model spells it.
  for (const auto& rule : policy.rules) {
    for (const std::string& label : rule.labels) CHECK(labels.count(label) == 1);
  }
}

TEST_CASE("the shipped policy is refused when a model no longer has one of its labels", "[alert_policy]") {
  std::set<std::string> labels = ReferenceModelLabels();
  labels.erase("Pneumothorax");
  auto loaded = LoadAlertPolicy(parallax::testing::SourceDir() + "/config/alert_policy.yaml", labels);
  REQUIRE_FALSE(loaded.ok());
  CHECK_THAT(std::string(loaded.status().message()), Catch::Contains("unknown label 'Pneumothorax'"));
}

TEST_CASE("a pneumothorax alerts thoracic radiology as an urgent critical result", "[alert_policy]") {
  cv1::Finding f = Positive("Pneumothorax");
  f.set_area_cm2(12);
  const AlertDecision d = Evaluate(ShippedPolicy(), f, {});
  REQUIRE(d.alert);
  CHECK(d.target_groups == std::vector<std::string>{"thoracic-radiology"});
  CHECK(d.primary_rule_id() == "pneumothorax");
  CHECK(d.priority == av1::ALERT_PRIORITY_URGENT);
  CHECK(d.critical);
  CHECK(d.ack_timeout == 15min);
  REQUIRE(d.escalation.size() == 2);
  CHECK(d.escalation[0].group == "senior-radiology");
  CHECK(d.escalation[1].group == "department-head");
}

TEST_CASE("a large pneumothorax raises critical priority with the faster escalation", "[alert_policy]") {
  cv1::Finding f = Positive("Pneumothorax");
  f.set_area_cm2(55);
  const AlertDecision d = Evaluate(ShippedPolicy(), f, {});
  REQUIRE(d.alert);
  CHECK(d.rule_ids == std::vector<std::string>{"pneumothorax-large", "pneumothorax"});
  CHECK(d.target_groups == std::vector<std::string>{"thoracic-radiology"});
  CHECK(d.priority == av1::ALERT_PRIORITY_CRITICAL);
  CHECK(d.ack_timeout == 10min);
  REQUIRE_FALSE(d.escalation.empty());
  CHECK(d.escalation[0].after == 10min);
}

TEST_CASE("a haemorrhage of 20 mL alerts neuroradiology only", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), Haemorrhage(20), {});
  REQUIRE(d.alert);
  CHECK(d.target_groups == std::vector<std::string>{"neuroradiology"});
  CHECK(d.rule_ids == std::vector<std::string>{"ich-any"});
  CHECK(d.priority == av1::ALERT_PRIORITY_CRITICAL);
  CHECK(d.critical);
  CHECK(d.fhir_priority == FhirPriority::kAsap);
}

TEST_CASE("a haemorrhage of 45 mL alerts neuroradiology and also neurosurgery", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), Haemorrhage(45), {});
  REQUIRE(d.alert);
  CHECK(d.target_groups == std::vector<std::string>{"neuroradiology", "neurosurgery"});
  CHECK(d.primary_group() == "neuroradiology");
  CHECK(d.rule_ids == std::vector<std::string>{"ich-any", "ich-large"});
  // The shortest ack timeout of the matching rules, the primary rule's chain.
  CHECK(d.ack_timeout == 5min);
  REQUIRE_FALSE(d.escalation.empty());
  CHECK(d.escalation[0].after == 10min);
}

TEST_CASE("an epidural haemorrhage of 35 mL alerts neurosurgery stat as a critical alert", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), Haemorrhage(35, "epidural"), {});
  REQUIRE(d.alert);
  CHECK(d.primary_group() == "neurosurgery");
  CHECK(d.target_groups == std::vector<std::string>{"neurosurgery", "neuroradiology"});
  CHECK(d.primary_rule_id() == "ich-epidural-large");
  CHECK(d.priority == av1::ALERT_PRIORITY_CRITICAL);
  CHECK(d.fhir_priority == FhirPriority::kStat);
  CHECK(parallax::alerting::FhirPriorityCode(d.fhir_priority) == "stat");
  CHECK(d.critical);
  CHECK(d.ack_timeout == 5min);
}

TEST_CASE("an epidural haemorrhage of 25 mL is not paged to neurosurgery", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), Haemorrhage(25, "epidural"), {});
  REQUIRE(d.alert);
  CHECK(d.target_groups == std::vector<std::string>{"neuroradiology"});
  CHECK(d.fhir_priority == FhirPriority::kAsap);
}

TEST_CASE("an epidural subtype finding without a measured volume alerts neuroradiology only", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), Positive("Epidural", "epidural"), {});
  REQUIRE(d.alert);
  CHECK(d.target_groups == std::vector<std::string>{"neuroradiology"});
  CHECK(d.rule_ids == std::vector<std::string>{"ich-any"});
}

TEST_CASE("labels and subtypes match whatever their case", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), [] {
    cv1::Finding f = Positive("intracranial HAEMORRHAGE", "Epidural");
    f.set_volume_ml(31);
    return f;
  }(), {});
  REQUIRE(d.alert);
  CHECK(d.primary_rule_id() == "ich-epidural-large");
}

TEST_CASE("a new haemorrhage alerts as critical while a stable one known from the prior alerts as urgent",
          "[alert_policy][change]") {
  const AlertDecision fresh = Evaluate(ShippedPolicy(), WithChange(Haemorrhage(20), cv1::CHANGE_CLASS_NEW), {});
  REQUIRE(fresh.alert);
  CHECK(fresh.rule_ids == std::vector<std::string>{"ich-any"});
  CHECK(fresh.priority == av1::ALERT_PRIORITY_CRITICAL);
  CHECK(fresh.critical);
  CHECK(fresh.fhir_priority == FhirPriority::kAsap);

  const AlertDecision known =
      Evaluate(ShippedPolicy(), WithChange(Haemorrhage(20), cv1::CHANGE_CLASS_STABLE, 19.5), {});
  REQUIRE(known.alert);
  CHECK(known.rule_ids == std::vector<std::string>{"ich-known"});
  CHECK(known.target_groups == std::vector<std::string>{"neuroradiology"});
  CHECK(known.priority == av1::ALERT_PRIORITY_URGENT);
  CHECK_FALSE(known.critical);
  CHECK(known.fhir_priority == FhirPriority::kUrgent);
  CHECK(known.priority < fresh.priority);
  CHECK_THAT(known.explanation, Catch::Contains("(change stable)"));

  // Smaller is known too; larger is as urgent as new.
  const AlertDecision shrinking =
      Evaluate(ShippedPolicy(), WithChange(Haemorrhage(8), cv1::CHANGE_CLASS_SMALLER, 20), {});
  REQUIRE(shrinking.alert);
  CHECK(shrinking.priority == av1::ALERT_PRIORITY_URGENT);
  const AlertDecision growing = Evaluate(ShippedPolicy(), WithChange(Haemorrhage(30), cv1::CHANGE_CLASS_LARGER, 12), {});
  REQUIRE(growing.alert);
  CHECK(growing.priority == av1::ALERT_PRIORITY_CRITICAL);
  CHECK(growing.critical);
}

TEST_CASE("a first study's haemorrhage, with no prior or not compared at all, stays critical", "[alert_policy][change]") {
  for (const cv1::Finding& f : {WithChange(Haemorrhage(20), cv1::CHANGE_CLASS_NO_PRIOR), Haemorrhage(20)}) {
    const AlertDecision d = Evaluate(ShippedPolicy(), f, {});
    REQUIRE(d.alert);
    CHECK(d.rule_ids == std::vector<std::string>{"ich-any"});
    CHECK(d.priority == av1::ALERT_PRIORITY_CRITICAL);
    CHECK(d.critical);
  }
  // A comparison message whose class was never set counts as not compared.
  cv1::Finding unset = Haemorrhage(20);
  unset.mutable_prior_comparison()->set_note("comparison pending");
  CHECK(parallax::alerting::FindingChangeClass(unset) == cv1::CHANGE_CLASS_UNSPECIFIED);
  CHECK(Evaluate(ShippedPolicy(), unset, {}).priority == av1::ALERT_PRIORITY_CRITICAL);
}

TEST_CASE("a large haemorrhage pages neurosurgery critically when new and urgently when stable since the prior",
          "[alert_policy][change]") {
  const AlertDecision fresh = Evaluate(ShippedPolicy(), WithChange(Haemorrhage(45), cv1::CHANGE_CLASS_NEW), {});
  REQUIRE(fresh.alert);
  CHECK(fresh.target_groups == std::vector<std::string>{"neuroradiology", "neurosurgery"});
  const AlertDecision known = Evaluate(ShippedPolicy(), WithChange(Haemorrhage(45), cv1::CHANGE_CLASS_STABLE, 44), {});
  REQUIRE(known.alert);
  CHECK(known.target_groups == std::vector<std::string>{"neuroradiology", "neurosurgery"});
  CHECK(known.priority == av1::ALERT_PRIORITY_URGENT);
  CHECK_FALSE(known.critical);
  CHECK(fresh.priority == av1::ALERT_PRIORITY_CRITICAL);

  const AlertDecision epidural =
      Evaluate(ShippedPolicy(), WithChange(Haemorrhage(35, "epidural"), cv1::CHANGE_CLASS_STABLE, 36), {});
  REQUIRE(epidural.alert);
  CHECK(epidural.primary_rule_id() == "ich-known");
  CHECK(epidural.fhir_priority == FhirPriority::kUrgent);
}

TEST_CASE("a rule with change classes matches only those, and one without matches any change", "[alert_policy][change]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[15] = "    when: {min_volume_ml: 40, change: [new, Larger]}";  // line 16: ich-large, case does not matter
  auto parsed = ParseAlertPolicy(Lines(lines), "alert_policy.yaml", kHeadCtLabels);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->rules.size() == 2);
  CHECK(parsed->rules[0].when.change.empty());
  CHECK(parsed->rules[1].when.change == std::set<cv1::ChangeClass>{cv1::CHANGE_CLASS_NEW, cv1::CHANGE_CLASS_LARGER});

  for (cv1::ChangeClass c : {cv1::CHANGE_CLASS_NEW, cv1::CHANGE_CLASS_LARGER}) {
    const AlertDecision d = Evaluate(*parsed, WithChange(Haemorrhage(50), c, 10), {});
    CHECK(d.rule_ids == std::vector<std::string>{"ich-any", "ich-large"});
  }
  for (cv1::ChangeClass c : {cv1::CHANGE_CLASS_STABLE, cv1::CHANGE_CLASS_SMALLER, cv1::CHANGE_CLASS_NO_PRIOR}) {
    const AlertDecision d = Evaluate(*parsed, WithChange(Haemorrhage(50), c, 60), {});
    CHECK(d.rule_ids == std::vector<std::string>{"ich-any"});
  }
  CHECK(Evaluate(*parsed, Haemorrhage(50), {}).rule_ids == std::vector<std::string>{"ich-any"});

  // When only a change condition keeps every applicable rule from matching,
  // the finding is suppressed as rule threshold and the explanation says why.
  lines.resize(13);  // ich-any only
  lines.insert(lines.begin() + 8, "    when: {change: [not_compared, no_prior]}");
  auto only = ParseAlertPolicy(Lines(lines), "alert_policy.yaml", kHeadCtLabels);
  REQUIRE(only.ok());
  const AlertDecision d = Evaluate(*only, WithChange(Haemorrhage(10), cv1::CHANGE_CLASS_STABLE, 10), {});
  CHECK_FALSE(d.alert);
  CHECK(d.suppression == av1::SUPPRESSION_REASON_RULE_THRESHOLD);
  CHECK_THAT(d.explanation, Catch::Contains("ich-any needs change no_prior or not_compared (stable)"));
  CHECK(Evaluate(*only, Haemorrhage(10), {}).alert);
}

TEST_CASE("an unknown change class is an error naming its line and the known classes", "[alert_policy][change]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[15] = "    when: {min_volume_ml: 40, change: [new, larjer]}";  // line 16
  std::string error = ErrorOf(lines);
  CHECK_THAT(error, Catch::Contains("alert_policy.yaml:16: rules[1].when.change[1]: unknown change class 'larjer' "
                                    "(did you mean 'larger'?); known: no_prior, new, larger, stable, smaller, "
                                    "not_compared"));

  // Written as a block, the error names the item's own line.
  lines = SmallPolicy();
  lines[15] = "    when:";                  // line 16
  lines.insert(lines.begin() + 16, {"      min_volume_ml: 40",  // line 17
                                    "      change:",             // line 18
                                    "        - new",             // line 19
                                    "        - growing"});       // line 20
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:20: rules[1].when.change[1]: unknown change class "
                                             "'growing'"));

  lines = SmallPolicy();
  lines[15] = "    when: {change: [resolved]}";  // line 16
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:16: rules[1].when.change[0]: 'resolved' never alerts"));

  lines = SmallPolicy();
  lines[15] = "    when: {change: []}";  // line 16
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:16: rules[1].when.change: an empty list matches nothing"));

  lines = SmallPolicy();
  lines[15] = "    when: {change: [new, stable, new]}";  // line 16
  CHECK_THAT(ErrorOf(lines),
             Catch::Contains("alert_policy.yaml:16: rules[1].when.change[2]: 'new' is already listed at "
                             "rules[1].when.change[0]"));
}

TEST_CASE("a finding below its operating point is suppressed whatever its size", "[alert_policy]") {
  cv1::Finding f = Haemorrhage(80, "epidural");
  f.set_probability(0.5);
  f.set_positive(false);
  AlertDecision d = Evaluate(ShippedPolicy(), f, {});
  CHECK_FALSE(d.alert);
  CHECK(d.suppression == av1::SUPPRESSION_REASON_BELOW_OPERATING_POINT);
  CHECK(d.target_groups.empty());

  // A finding marked positive whose probability is below its own operating
  // point does not alert either.
  f.set_positive(true);
  d = Evaluate(ShippedPolicy(), f, {});
  CHECK_FALSE(d.alert);
  CHECK(d.suppression == av1::SUPPRESSION_REASON_BELOW_OPERATING_POINT);

  // Exactly at the operating point is positive.
  f.set_probability(f.operating_point());
  d = Evaluate(ShippedPolicy(), f, {});
  CHECK(d.alert);
}

TEST_CASE("a positive finding that no rule routes is suppressed as no policy", "[alert_policy]") {
  const AlertDecision d = Evaluate(ShippedPolicy(), Positive("Cardiomegaly"), {});
  CHECK_FALSE(d.alert);
  CHECK(d.suppression == av1::SUPPRESSION_REASON_NO_POLICY);
  CHECK(d.rule_ids.empty());
}

TEST_CASE("a finding below every applicable rule's threshold is suppressed as rule threshold", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines.resize(13);  // only ich-any, then add a threshold to it
  lines.insert(lines.begin() + 8, "    when: {min_volume_ml: 5, min_probability: 0.95}");
  auto policy = ParseAlertPolicy(Lines(lines), "alert_policy.yaml", kHeadCtLabels);
  REQUIRE(policy.ok());

  AlertDecision d = Evaluate(*policy, Haemorrhage(2), {});
  CHECK_FALSE(d.alert);
  CHECK(d.suppression == av1::SUPPRESSION_REASON_RULE_THRESHOLD);
  CHECK(d.rule_ids == std::vector<std::string>{"ich-any"});

  // No volume measured: the threshold is not met.
  d = Evaluate(*policy, Positive("Intracranial haemorrhage"), {});
  CHECK(d.suppression == av1::SUPPRESSION_REASON_RULE_THRESHOLD);

  // Big enough but not confident enough for the rule's own probability floor.
  cv1::Finding f = Haemorrhage(30);
  f.set_probability(0.92);
  d = Evaluate(*policy, f, {});
  CHECK(d.suppression == av1::SUPPRESSION_REASON_RULE_THRESHOLD);

  f.set_probability(0.96);
  d = Evaluate(*policy, f, {});
  CHECK(d.alert);
}

TEST_CASE("a vetoing quality flag suppresses the alert and an annotating one travels with it", "[alert_policy]") {
  const cv1::Finding bleed = Haemorrhage(20);
  AlertDecision d = Evaluate(ShippedPolicy(), bleed, {cv1::QUALITY_FLAG_HEADER_CONFLICT});
  CHECK_FALSE(d.alert);
  CHECK(d.suppression == av1::SUPPRESSION_REASON_QUALITY);
  CHECK(d.vetoed_by == std::vector<cv1::QualityFlag>{cv1::QUALITY_FLAG_HEADER_CONFLICT});
  CHECK(d.rule_ids == std::vector<std::string>{"ich-any"});

  // The finding's own flag vetoes too.
  cv1::Finding ood = bleed;
  ood.add_quality_flags(cv1::QUALITY_FLAG_OUT_OF_DISTRIBUTION);
  d = Evaluate(ShippedPolicy(), ood, {});
  CHECK(d.suppression == av1::SUPPRESSION_REASON_QUALITY);

  cv1::Finding moved = bleed;
  moved.add_quality_flags(cv1::QUALITY_FLAG_MOTION_ARTEFACT);
  d = Evaluate(ShippedPolicy(), moved, {cv1::QUALITY_FLAG_THICK_SLICES, cv1::QUALITY_FLAG_MOTION_ARTEFACT});
  REQUIRE(d.alert);
  CHECK(d.quality_flags ==
        std::vector<cv1::QualityFlag>{cv1::QUALITY_FLAG_THICK_SLICES, cv1::QUALITY_FLAG_MOTION_ARTEFACT});
}

TEST_CASE("a finding below its operating point is reported as such even with a veto flag", "[alert_policy]") {
  cv1::Finding f = Haemorrhage(20);
  f.set_probability(0.1);
  f.set_positive(false);
  const AlertDecision d = Evaluate(ShippedPolicy(), f, {cv1::QUALITY_FLAG_HEADER_CONFLICT});
  CHECK(d.suppression == av1::SUPPRESSION_REASON_BELOW_OPERATING_POINT);
}

TEST_CASE("rules inherit the default timers and escalation chain", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines.resize(10);  // ich-any without its timers
  lines.insert(lines.begin() + 5, {"defaults:", "  ack_timeout: 20m", "  renotify_every: 5m", "  max_renotify: 3",
                                   "  escalate: [{group: senior-radiology, after: 25m}]"});
  auto policy = ParseAlertPolicy(Lines(lines), "alert_policy.yaml", kHeadCtLabels);
  REQUIRE(policy.ok());
  const auto* rule = policy->FindRule("ich-any");
  REQUIRE(rule != nullptr);
  CHECK(rule->ack_timeout == 20min);
  CHECK(rule->renotify_every == 5min);
  CHECK(rule->max_renotify == 3);
  REQUIRE(rule->escalate.size() == 1);
  CHECK(rule->escalate[0].after == 25min);
  CHECK(rule->critical);                              // priority critical
  CHECK(rule->fhir_priority == FhirPriority::kAsap);  // the default for critical
}

TEST_CASE("a typo in a key is an error naming its line and the key it probably meant", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[16] = "    notfy: [neurosurgery]";  // line 17
  const std::string error = ErrorOf(lines);
  CHECK_THAT(error, Catch::Contains("alert_policy.yaml:17: rules[1]: unknown key 'notfy' (did you mean 'notify'?)"));
  CHECK_THAT(error, Catch::Contains("alert_policy.yaml:14: rules[1]: notify is missing"));
}

TEST_CASE("an unknown group is an error naming its line", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[16] = "    notify: [neuroradiology, neurosurgry]";  // line 17
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:17: rules[1].notify[1]: unknown group 'neurosurgry' "
                                             "(did you mean 'neurosurgery'?)"));

  lines = SmallPolicy();
  lines[16] = "    notify:";  // line 17: empty (yaml-cpp marks an empty value on the next line)
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:17: rules[1].notify: needs at least one group"));

  lines = SmallPolicy();
  lines[12] = "      - {group: senior-radiolgy, after: 10m}";  // line 13
  CHECK_THAT(ErrorOf(lines),
             Catch::Contains("alert_policy.yaml:13: rules[0].escalate[0].group: unknown group 'senior-radiolgy'"));
}

TEST_CASE("a bad duration is an error naming its line", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[19] = "    ack_timeout: 5 minutes";  // line 20
  CHECK_THAT(ErrorOf(lines),
             Catch::Contains("alert_policy.yaml:20: rules[1].ack_timeout: bad duration '5 minutes' (use e.g. 90s"));

  lines = SmallPolicy();
  lines[10] = "    ack_timeout: 600";  // line 11: a number without a unit
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:11: rules[0].ack_timeout: bad duration '600'"));
}

TEST_CASE("a duplicate rule id is an error naming both lines", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[13] = "  - id: ich-any";  // line 14
  CHECK_THAT(ErrorOf(lines),
             Catch::Contains("alert_policy.yaml:14: rules[1].id: duplicate rule id 'ich-any' (first at line 7)"));
}

TEST_CASE("a label no loaded model has is an error naming its line", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[14] = "    labels: [Intracranial haemorrhage, Epidurl]";  // line 15
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:15: rules[1].labels[1]: unknown label 'Epidurl': no "
                                             "loaded model has it (did you mean 'Epidural'?)"));
  // Without known labels (no models loaded), labels are not checked.
  CHECK(ParseAlertPolicy(Lines(lines), "alert_policy.yaml", {}).ok());
}

TEST_CASE("malformed YAML is an error at the parser's line", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[15] = "    when: {min_volume_ml: 40";  // line 16: the flow mapping is never closed
  const std::string error = ErrorOf(lines);
  // yaml-cpp (0.7) reports where it noticed: the line after the open brace.
  CHECK_THAT(error, Catch::StartsWith("alert_policy.yaml:17: not valid YAML: end of map flow not found"));

  lines = SmallPolicy();
  lines[8] = "    notify: neuroradiology: x";  // line 9: a second ':' on the line
  CHECK_THAT(ErrorOf(lines), Catch::StartsWith("alert_policy.yaml:9: not valid YAML"));
}

TEST_CASE("every problem of a policy is reported at once in line order", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[9] = "    priority: crtical";          // line 10
  lines[12] = "      - {group: senior-radiology, after: 5m}";  // line 13: before the 10m ack timeout
  lines[17] = "    priority: urgent";          // fine
  lines[18] = "    fhir_priority: immediate";  // line 19
  const std::string error = ErrorOf(lines);
  CHECK_THAT(error, Catch::Contains("(3 problems)"));
  const size_t p10 = error.find("alert_policy.yaml:10: rules[0].priority: unknown priority 'crtical'");
  const size_t p13 = error.find("alert_policy.yaml:13: rules[0].escalate[0].after: escalation to 'senior-radiology' after 5m "
                                "comes before the ack_timeout of 10m");
  const size_t p19 = error.find("alert_policy.yaml:19: rules[1].fhir_priority: unknown FHIR priority 'immediate'");
  CHECK(p10 != std::string::npos);
  CHECK(p13 != std::string::npos);
  CHECK(p19 != std::string::npos);
  CHECK(p10 < p13);
  CHECK(p13 < p19);
}

TEST_CASE("unknown top-level keys, quality flags and versions are refused", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines.insert(lines.begin() + 5, {"quality:", "  veto: [header_conflict, motion_artifact]"});  // lines 6-7
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:7: quality.veto[1]: unknown quality flag "
                                             "'motion_artifact' (did you mean 'motion_artefact'?)"));

  lines = SmallPolicy();
  lines.push_back("rule:");  // line 21
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:21: unknown key 'rule' (did you mean 'rules'?)"));

  lines = SmallPolicy();
  lines[0] = "version: 2";
  CHECK_THAT(ErrorOf(lines), Catch::Contains("alert_policy.yaml:1: version: unsupported version '2'"));

  CHECK_THAT(std::string(ParseAlertPolicy("", "alert_policy.yaml", {}).status().message()),
             Catch::Contains("the policy is empty"));
}

TEST_CASE("a group named twice in the groups is an error", "[alert_policy]") {
  std::vector<std::string> lines = SmallPolicy();
  lines[4] = "  neuroradiology: Again";  // line 5
  CHECK_THAT(ErrorOf(lines),
             Catch::Contains("alert_policy.yaml:5: groups: key 'neuroradiology' is given twice (first at line 3)"));
}

TEST_CASE("policy durations read seconds, minutes, hours and their combinations", "[alert_policy]") {
  using parallax::alerting::ParsePolicyDuration;
  CHECK(ParsePolicyDuration("90s") == 90s);
  CHECK(ParsePolicyDuration("10m") == 10min);
  CHECK(ParsePolicyDuration("1h") == 1h);
  CHECK(ParsePolicyDuration("1h30m") == 90min);
  CHECK(ParsePolicyDuration("2m30s") == 150s);
  CHECK_FALSE(ParsePolicyDuration("").has_value());
  CHECK_FALSE(ParsePolicyDuration("10").has_value());
  CHECK_FALSE(ParsePolicyDuration("m").has_value());
  CHECK_FALSE(ParsePolicyDuration("10 m").has_value());
  CHECK_FALSE(ParsePolicyDuration("30m1h").has_value());
  CHECK_FALSE(ParsePolicyDuration("1d").has_value());
  CHECK_FALSE(ParsePolicyDuration("-5m").has_value());
}

TEST_CASE("loading a policy file that does not exist answers not found", "[alert_policy]") {
  parallax::testing::TempDir dir;
  auto loaded = LoadAlertPolicy((dir.path() / "missing.yaml").string(), {});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("a policy file's errors name the file as given", "[alert_policy]") {
  parallax::testing::TempDir dir;
  const std::string path = (dir.path() / "dept.yaml").string();
  std::vector<std::string> lines = SmallPolicy();
  lines[16] = "    notify: [neurosurgry]";
  std::ofstream(path) << Lines(lines);
  auto loaded = LoadAlertPolicy(path, kHeadCtLabels);
  REQUIRE_FALSE(loaded.ok());
  CHECK_THAT(std::string(loaded.status().message()), Catch::Contains(path + ":17: rules[1].notify[0]"));
}
