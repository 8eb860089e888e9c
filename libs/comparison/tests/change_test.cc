// The change rule on hand-made Finding protos: each class, the ratio
// thresholds at their edges, the minimum measurable size, missing sizes,
// label matching, dates and errors.
#include "parallax/comparison/change.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using parallax::common::v1::Finding;
using parallax::comparison::ChangeClass;
using parallax::comparison::ChangeClassName;
using parallax::comparison::ChangeRule;
using parallax::comparison::ClassifySizes;
using parallax::comparison::CompareFindings;
using parallax::comparison::DaysBetween;
using parallax::comparison::FindingChange;
using parallax::comparison::NoPriorAvailable;
using parallax::comparison::ParseChangeClass;

Finding Make(const std::string& label, bool positive, std::optional<double> volume_ml = std::nullopt,
             std::optional<double> area_cm2 = std::nullopt, double probability = 0.9) {
  Finding f;
  f.set_finding_id("f-" + label + (positive ? "-pos" : "-neg"));
  f.set_label(label);
  f.set_positive(positive);
  f.set_probability(positive ? probability : 0.01);
  f.set_operating_point(0.5);
  if (volume_ml) f.set_volume_ml(*volume_ml);
  if (area_cm2) f.set_area_cm2(*area_cm2);
  return f;
}

// The single change of a one-label comparison.
FindingChange One(const std::vector<Finding>& prior, const std::vector<Finding>& current,
                  const ChangeRule& rule = {}) {
  auto r = CompareFindings(prior, current, "20250301", "20250901", rule);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  return r->front();
}

}  // namespace

TEST_CASE("a finding absent in the prior and present now is new, with its size now") {
  const FindingChange c = One({Make("Subdural", false)}, {Make("Subdural", true, 12.5)});
  CHECK(c.change == ChangeClass::kNew);
  CHECK_FALSE(c.present_prior);
  CHECK(c.present_current);
  CHECK_FALSE(c.prior_size.has_value());
  REQUIRE(c.current_size.has_value());
  CHECK(*c.current_size == Approx(12.5));
  CHECK(c.unit == "mL");
  CHECK(c.interval_days == 184);
  CHECK(c.current_finding_id == "f-Subdural-pos");
  CHECK(c.prior_finding_id.empty());
}

TEST_CASE("a finding present in the prior and absent now is resolved, with its prior size") {
  const FindingChange c = One({Make("Nodule", true, std::nullopt, 2.0)}, {});
  CHECK(c.change == ChangeClass::kResolved);
  REQUIRE(c.prior_size.has_value());
  CHECK(*c.prior_size == Approx(2.0));
  CHECK(c.unit == "cm2");
  CHECK_FALSE(c.current_size.has_value());
}

TEST_CASE("sizes at both times give larger, stable or smaller by their ratio") {
  CHECK(One({Make("Epidural", true, 4.0)}, {Make("Epidural", true, 10.0)}).change == ChangeClass::kLarger);
  CHECK(One({Make("Epidural", true, 10.0)}, {Make("Epidural", true, 4.0)}).change == ChangeClass::kSmaller);
  const FindingChange stable = One({Make("Epidural", true, 10.0)}, {Make("Epidural", true, 12.0)});
  CHECK(stable.change == ChangeClass::kStable);
  CHECK(stable.sizes_compared);
  REQUIRE(stable.ratio.has_value());
  CHECK(*stable.ratio == Approx(1.2));
}

TEST_CASE("the ratio thresholds are inclusive at 1.5 and 0.67 by default") {
  const ChangeRule rule;
  CHECK(rule.larger_ratio == 1.5);
  CHECK(rule.smaller_ratio == 0.67);
  CHECK(ClassifySizes(10, 15, 0.1, rule) == ChangeClass::kLarger);
  CHECK(ClassifySizes(10, 14.9, 0.1, rule) == ChangeClass::kStable);
  CHECK(ClassifySizes(100, 67, 0.1, rule) == ChangeClass::kSmaller);
  CHECK(ClassifySizes(100, 67.5, 0.1, rule) == ChangeClass::kStable);
}

TEST_CASE("sizes below the minimum measurable size do not flip the class") {
  // 0.02 -> 0.06 mL is three times larger on paper, but both are noise.
  const FindingChange tiny = One({Make("Subdural", true, 0.02)}, {Make("Subdural", true, 0.06)});
  CHECK(tiny.change == ChangeClass::kStable);
  REQUIRE(tiny.ratio.has_value());
  CHECK(*tiny.ratio == Approx(1.0));
  // From below the minimum to well above it is a real growth.
  CHECK(One({Make("Subdural", true, 0.02)}, {Make("Subdural", true, 0.5)}).change == ChangeClass::kLarger);
  // A larger minimum swallows more.
  ChangeRule coarse;
  coarse.min_volume_ml = 1.0;
  CHECK(One({Make("Subdural", true, 0.2)}, {Make("Subdural", true, 0.9)}, coarse).change == ChangeClass::kStable);
}

TEST_CASE("a finding present at both times without a size at one of them is stable by presence") {
  const FindingChange c = One({Make("Mass", true)}, {Make("Mass", true, std::nullopt, 3.0)});
  CHECK(c.change == ChangeClass::kStable);
  CHECK_FALSE(c.sizes_compared);
  CHECK_FALSE(c.ratio.has_value());
  CHECK(c.note.find("prior") != std::string::npos);
  // Sizes in different units are not compared either.
  const FindingChange units = One({Make("Mass", true, 4.0)}, {Make("Mass", true, std::nullopt, 9.0)});
  CHECK(units.change == ChangeClass::kStable);
  CHECK_FALSE(units.sizes_compared);
}

TEST_CASE("a size on a negative finding is ignored") {
  Finding negative = Make("Subdural", false, 30.0);
  const FindingChange c = One({negative}, {Make("Subdural", true, 5.0)});
  CHECK(c.change == ChangeClass::kNew);
  CHECK_FALSE(c.prior_size.has_value());
}

TEST_CASE("findings are matched by label and a label negative at both times is not reported") {
  const std::vector<Finding> prior = {Make("Subdural", true, 10.0), Make("Epidural", false), Make("Subarachnoid", true, 1.0)};
  const std::vector<Finding> current = {Make("Epidural", true, 3.0), Make("Subdural", true, 10.5),
                                        Make("Intraventricular", false)};
  auto r = CompareFindings(prior, current, "20240110", "20240110");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  // Current study's labels first, then the prior's.
  CHECK((*r)[0].label == "Epidural");
  CHECK((*r)[0].change == ChangeClass::kNew);
  CHECK((*r)[1].label == "Subdural");
  CHECK((*r)[1].change == ChangeClass::kStable);
  CHECK((*r)[2].label == "Subarachnoid");
  CHECK((*r)[2].change == ChangeClass::kResolved);
  for (const auto& c : *r) CHECK(c.interval_days == 0);
}

TEST_CASE("of two positive findings with the same label the more probable one is compared") {
  const std::vector<Finding> current = {Make("Mass", true, std::nullopt, 1.0, 0.6),
                                        Make("Mass", true, std::nullopt, 8.0, 0.95)};
  const FindingChange c = One({Make("Mass", true, std::nullopt, 4.0)}, current);
  REQUIRE(c.current_size.has_value());
  CHECK(*c.current_size == Approx(8.0));
  CHECK(c.change == ChangeClass::kLarger);
}

TEST_CASE("with persistence set a finding just below its operating point at the other time persists") {
  // Positive now; the prior's probability 0.95 is under its operating point
  // (0.99) but above the persistence probability.
  Finding prior = Make("Epidural", false, 4.0);
  prior.set_probability(0.95);
  prior.set_operating_point(0.99);
  const Finding current = Make("Epidural", true, 10.0);
  // Off by default: presence is the operating point alone.
  const FindingChange strict = One({prior}, {current});
  CHECK(strict.change == ChangeClass::kNew);
  CHECK_FALSE(strict.persisted_prior);
  ChangeRule rule;
  rule.persistence_probability = 0.9;
  const FindingChange persisting = One({prior}, {current}, rule);
  CHECK(persisting.change == ChangeClass::kLarger);
  CHECK(persisting.present_prior);
  CHECK(persisting.persisted_prior);
  CHECK_FALSE(persisting.persisted_current);
  REQUIRE(persisting.prior_size.has_value());
  CHECK(*persisting.prior_size == Approx(4.0));
  CHECK(persisting.note.find("persisting") != std::string::npos);
  // Below the persistence probability it stays absent.
  prior.set_probability(0.5);
  CHECK(One({prior}, {current}, rule).change == ChangeClass::kNew);
  // The same the other way round: resolved unless it persists.
  Finding now = Make("Epidural", false, 9.0);
  now.set_probability(0.97);
  CHECK(One({Make("Epidural", true, 10.0)}, {now}).change == ChangeClass::kResolved);
  const FindingChange kept = One({Make("Epidural", true, 10.0)}, {now}, rule);
  CHECK(kept.change == ChangeClass::kStable);
  CHECK(kept.persisted_current);
}

TEST_CASE("persistence needs a measurable size at the time below the operating point") {
  ChangeRule rule;
  rule.persistence_probability = 0.9;
  const Finding current = Make("Intracranial haemorrhage", true, 11.0);
  // Probable but with nothing measurable (0.05 mL < 0.1 mL), or no size: still new.
  Finding tiny = Make("Intracranial haemorrhage", false, 0.05);
  tiny.set_probability(0.95);
  CHECK(One({tiny}, {current}, rule).change == ChangeClass::kNew);
  Finding unsized = Make("Intracranial haemorrhage", false);
  unsized.set_probability(0.95);
  CHECK(One({unsized}, {current}, rule).change == ChangeClass::kNew);
}

TEST_CASE("persistence never makes a label present that is positive at neither time") {
  Finding a = Make("Subdural", false);
  a.set_probability(0.98);
  Finding b = a;
  ChangeRule rule;
  rule.persistence_probability = 0.9;
  auto r = CompareFindings({a}, {b}, "20250301", "20250901", rule);
  REQUIRE(r.ok());
  CHECK(r->empty());
}

TEST_CASE("a patient without a prior gets no prior available for every present finding") {
  auto r = NoPriorAvailable({Make("Subdural", true, 7.0), Make("Epidural", false)});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].change == ChangeClass::kNoPrior);
  CHECK(std::string(ChangeClassName((*r)[0].change)) == "no prior available");
  REQUIRE((*r)[0].current_size.has_value());
  CHECK(*(*r)[0].current_size == Approx(7.0));
  CHECK((*r)[0].interval_days == -1);
}

TEST_CASE("the interval counts calendar days across leap years") {
  CHECK(*DaysBetween("20240228", "20240301") == 2);
  CHECK(*DaysBetween("20230228", "20230301") == 1);
  CHECK(*DaysBetween("19991231", "20000101") == 1);
  CHECK(*DaysBetween("20250101", "20260101") == 365);
  CHECK(*DaysBetween("20250301", "20250201") == -28);
}

TEST_CASE("malformed dates, a prior after the current study and a bad rule are refused") {
  const std::vector<Finding> f = {Make("Subdural", true, 1.0)};
  CHECK(CompareFindings(f, f, "2025-03-01", "20250901").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(CompareFindings(f, f, "20250230", "20250901").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(CompareFindings(f, f, "20250301", "").status().code() == absl::StatusCode::kInvalidArgument);
  const auto reversed = CompareFindings(f, f, "20250901", "20250301");
  CHECK(reversed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(reversed.status().message()).find("after") != std::string::npos);
  ChangeRule bad;
  bad.larger_ratio = 1.0;
  CHECK(CompareFindings(f, f, "20250301", "20250901", bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = {};
  bad.persistence_probability = 0;
  CHECK(CompareFindings(f, f, "20250301", "20250901", bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = {};
  bad.smaller_ratio = 1.2;
  CHECK(CompareFindings(f, f, "20250301", "20250901", bad).status().code() == absl::StatusCode::kInvalidArgument);
  Finding unlabelled = Make("", true, 1.0);
  CHECK(CompareFindings({unlabelled}, f, "20250301", "20250901").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("class names round-trip") {
  for (ChangeClass c : {ChangeClass::kNoPrior, ChangeClass::kNew, ChangeClass::kLarger, ChangeClass::kStable,
                        ChangeClass::kSmaller, ChangeClass::kResolved}) {
    ChangeClass parsed = ChangeClass::kStable;
    REQUIRE(ParseChangeClass(ChangeClassName(c), &parsed));
    CHECK(parsed == c);
  }
  ChangeClass unused;
  CHECK_FALSE(ParseChangeClass("bigger", &unused));
}

TEST_CASE("a change goes on the wire with the prior it was measured against") {
  const FindingChange larger = One({Make("Subdural", true, 5.0)}, {Make("Subdural", true, 12.5)});
  const auto p = parallax::comparison::ToProto(larger, "1.2.3.4", "20250301");
  CHECK(p.change() == parallax::common::v1::CHANGE_CLASS_LARGER);
  CHECK(p.prior_study_instance_uid() == "1.2.3.4");
  CHECK(p.prior_study_date() == "20250301");
  CHECK(p.interval_days() == 184);
  REQUIRE(p.has_prior_size());
  CHECK(p.prior_size() == Approx(5.0));
  CHECK(p.current_size() == Approx(12.5));
  CHECK(p.unit() == "mL");
  CHECK(p.sizes_compared());
  CHECK(p.prior_finding_id() == "f-Subdural-pos");
  CHECK_FALSE(p.has_registration_residual());

  auto none = NoPriorAvailable({Make("Subdural", true, 12.5)});
  REQUIRE(none.ok());
  REQUIRE(none->size() == 1);
  const auto q = parallax::comparison::ToProto(none->front(), "ignored", "ignored");
  CHECK(q.change() == parallax::common::v1::CHANGE_CLASS_NO_PRIOR);
  CHECK(q.prior_study_instance_uid().empty());
  CHECK(q.interval_days() == -1);
  CHECK_FALSE(q.has_prior_size());
}

namespace {

// A head CT study as the inference service maps it (finding_mapping): the
// summary "Intracranial haemorrhage" (volume, subtype = the most probable
// subtype when positive) and three subtype Findings whose own operating
// points (0.9998) the probabilities do not reach.
std::vector<Finding> HeadCt(bool summary_positive, std::optional<double> volume_ml, double subdural,
                            double epidural, double summary_probability = 0.999) {
  std::vector<Finding> out;
  Finding any = Make("Intracranial haemorrhage", summary_positive, volume_ml);
  any.set_probability(summary_probability);
  any.set_operating_point(0.98);
  const std::vector<std::pair<std::string, double>> subtypes = {
      {"Subdural", subdural}, {"Epidural", epidural}, {"Intraparenchymal", 0.2}};
  if (summary_positive) {
    const auto best = std::max_element(subtypes.begin(), subtypes.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    std::string s = best->first;
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    any.set_subtype(s);
  }
  any.mutable_model()->set_model_id("parallax.headct");
  out.push_back(any);
  for (const auto& [label, p] : subtypes) {
    Finding f = Make(label, false);
    f.set_probability(p);
    f.set_operating_point(0.9998);
    std::string s = label;
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    f.set_subtype(s);
    f.mutable_model()->set_model_id("parallax.headct");
    out.push_back(f);
  }
  return out;
}

const FindingChange* Named(const std::vector<FindingChange>& changes, const std::string& label) {
  for (const FindingChange& c : changes) {
    if (c.label == label) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("with subtypes through the summary a subtype's change is the haemorrhage's, by the summary's subtype") {
  const auto prior = HeadCt(true, 8.0, 0.99, 0.3), current = HeadCt(true, 21.0, 0.995, 0.4);
  // Off (the default): the subtype Findings never reach their operating
  // points, so only the summary is compared.
  auto plain = CompareFindings(prior, current, "20250301", "20250901");
  REQUIRE(plain.ok());
  REQUIRE(plain->size() == 1);
  CHECK(plain->front().label == "Intracranial haemorrhage");
  CHECK(plain->front().change == ChangeClass::kLarger);
  ChangeRule rule;
  rule.subtypes_through_summary = true;
  auto r = CompareFindings(prior, current, "20250301", "20250901", rule);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].label == "Intracranial haemorrhage");
  CHECK_FALSE((*r)[0].via_summary);
  const FindingChange* sdh = Named(*r, "Subdural");
  REQUIRE(sdh != nullptr);
  CHECK(sdh->change == ChangeClass::kLarger);
  CHECK(sdh->via_summary);
  REQUIRE(sdh->prior_size.has_value());
  CHECK(*sdh->prior_size == Approx(8.0));
  CHECK(*sdh->current_size == Approx(21.0));
  CHECK(sdh->current_finding_id == "f-Subdural-neg");  // the subtype's own Finding carries the change
  CHECK(sdh->note.find("through the finding 'Intracranial haemorrhage'") != std::string::npos);
  CHECK(Named(*r, "Epidural") == nullptr);
  // Smaller and stable likewise.
  rule.larger_ratio = 1.5;
  auto smaller = CompareFindings(HeadCt(true, 21.0, 0.99, 0.3), HeadCt(true, 7.0, 0.99, 0.3), "20250301",
                                 "20250901", rule);
  REQUIRE(smaller.ok());
  REQUIRE(Named(*smaller, "Subdural") != nullptr);
  CHECK(Named(*smaller, "Subdural")->change == ChangeClass::kSmaller);
}

TEST_CASE("with subtypes through the summary a haemorrhage that appears or goes is new or resolved per subtype") {
  ChangeRule rule;
  rule.subtypes_through_summary = true;
  auto appeared = CompareFindings(HeadCt(false, std::nullopt, 0.01, 0.02, 0.05), HeadCt(true, 12.0, 0.3, 0.99),
                                  "20250301", "20250901", rule);
  REQUIRE(appeared.ok());
  REQUIRE(Named(*appeared, "Epidural") != nullptr);
  CHECK(Named(*appeared, "Epidural")->change == ChangeClass::kNew);
  CHECK(*Named(*appeared, "Epidural")->current_size == Approx(12.0));
  CHECK(Named(*appeared, "Subdural") == nullptr);
  auto gone = CompareFindings(HeadCt(true, 12.0, 0.99, 0.3), HeadCt(false, std::nullopt, 0.01, 0.02, 0.05),
                              "20250301", "20250901", rule);
  REQUIRE(gone.ok());
  REQUIRE(Named(*gone, "Subdural") != nullptr);
  CHECK(Named(*gone, "Subdural")->change == ChangeClass::kResolved);
  // A different subtype named at each time reads as one resolved and one new.
  auto switched = CompareFindings(HeadCt(true, 12.0, 0.99, 0.3), HeadCt(true, 12.0, 0.3, 0.99), "20250301",
                                  "20250901", rule);
  REQUIRE(switched.ok());
  REQUIRE(Named(*switched, "Subdural") != nullptr);
  REQUIRE(Named(*switched, "Epidural") != nullptr);
  CHECK(Named(*switched, "Subdural")->change == ChangeClass::kResolved);
  CHECK(Named(*switched, "Epidural")->change == ChangeClass::kNew);
}

TEST_CASE("with subtypes through the summary a persisting summary names its study's most probable subtype") {
  ChangeRule rule;
  rule.subtypes_through_summary = true;
  rule.persistence_probability = 0.9;
  // The prior's summary (0.95) is under its operating point (0.98), so it has
  // no subtype of its own; its volume is measurable.
  const auto prior = HeadCt(false, 5.0, 0.97, 0.2, 0.95), current = HeadCt(true, 14.0, 0.99, 0.3);
  auto r = CompareFindings(prior, current, "20250301", "20250901", rule);
  REQUIRE(r.ok());
  const FindingChange* sdh = Named(*r, "Subdural");
  REQUIRE(sdh != nullptr);
  CHECK(sdh->change == ChangeClass::kLarger);
  CHECK(sdh->persisted_prior);
  CHECK(sdh->note.find("probability 0.950") != std::string::npos);  // the summary's probability decided
  // Without persistence the subtype is new.
  rule.persistence_probability = 1;
  auto strict = CompareFindings(prior, current, "20250301", "20250901", rule);
  REQUIRE(strict.ok());
  REQUIRE(Named(*strict, "Subdural") != nullptr);
  CHECK(Named(*strict, "Subdural")->change == ChangeClass::kNew);
}

TEST_CASE("subtypes through the summary leave findings of models without subtypes alone") {
  ChangeRule rule;
  rule.subtypes_through_summary = true;
  Finding nodule = Make("Nodule", true, std::nullopt, 2.0);
  Finding mass = Make("Mass", false);
  const auto r = CompareFindings({nodule, mass}, {Make("Nodule", true, std::nullopt, 5.0), mass}, "20250301",
                                 "20250901", rule);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK(r->front().label == "Nodule");
  CHECK(r->front().change == ChangeClass::kLarger);
  CHECK_FALSE(r->front().via_summary);
}

TEST_CASE("with subtypes through the summary a study without a prior lists the subtype the summary names") {
  ChangeRule rule;
  rule.subtypes_through_summary = true;
  auto r = NoPriorAvailable(HeadCt(true, 9.0, 0.3, 0.99), rule);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  const FindingChange* edh = Named(*r, "Epidural");
  REQUIRE(edh != nullptr);
  CHECK(edh->change == ChangeClass::kNoPrior);
  CHECK(edh->via_summary);
  REQUIRE(edh->current_size.has_value());
  CHECK(*edh->current_size == Approx(9.0));
  // The one-argument form is unchanged: the summary alone.
  auto plain = NoPriorAvailable(HeadCt(true, 9.0, 0.3, 0.99));
  REQUIRE(plain.ok());
  CHECK(plain->size() == 1);
}

namespace {

ChangeRule LungLesionFamily() {
  ChangeRule rule;
  rule.label_families = {{"Nodule", "Mass", "Lung Lesion"}};
  return rule;
}

}  // namespace

TEST_CASE("with label families a nodule that grew into a mass is larger under both names, not resolved and new") {
  const std::vector<Finding> prior = {Make("Nodule", true, std::nullopt, 1.0), Make("Mass", false)};
  const std::vector<Finding> current = {Make("Nodule", false), Make("Mass", true, std::nullopt, 4.0)};

  auto alone = CompareFindings(prior, current, "20250301", "20250901");
  REQUIRE(alone.ok());
  REQUIRE(Named(*alone, "Nodule") != nullptr);
  CHECK(Named(*alone, "Nodule")->change == ChangeClass::kResolved);
  CHECK(Named(*alone, "Mass")->change == ChangeClass::kNew);

  auto grouped = CompareFindings(prior, current, "20250301", "20250901", LungLesionFamily());
  REQUIRE(grouped.ok());
  REQUIRE(grouped->size() == 2);
  const FindingChange* mass = Named(*grouped, "Mass");
  REQUIRE(mass != nullptr);
  CHECK(mass->change == ChangeClass::kLarger);
  CHECK(mass->prior_sibling == "Nodule");
  CHECK(mass->current_sibling.empty());
  CHECK(mass->prior_finding_id == "f-Nodule-pos");
  REQUIRE(mass->prior_size.has_value());
  CHECK(*mass->prior_size == Approx(1.0));
  CHECK(mass->note.find("in the prior study as 'Nodule'") != std::string::npos);
  const FindingChange* nodule = Named(*grouped, "Nodule");
  REQUIRE(nodule != nullptr);
  CHECK(nodule->change == ChangeClass::kLarger);
  CHECK(nodule->current_sibling == "Mass");
}

TEST_CASE("a sibling on the other side, or outside any family, does not stand in for a label") {
  Finding left = Make("Nodule", true, std::nullopt, 1.0);
  left.set_laterality(parallax::common::v1::LATERALITY_LEFT);
  Finding right = Make("Mass", true, std::nullopt, 4.0);
  right.set_laterality(parallax::common::v1::LATERALITY_RIGHT);
  auto r = CompareFindings({left, Make("Mass", false)}, {Make("Nodule", false), right}, "20250301", "20250901",
                           LungLesionFamily());
  REQUIRE(r.ok());
  CHECK(Named(*r, "Nodule")->change == ChangeClass::kResolved);
  CHECK(Named(*r, "Mass")->change == ChangeClass::kNew);

  // Pneumothorax is in no family: a mass does not make it present.
  auto other = CompareFindings({Make("Pneumothorax", true, std::nullopt, 3.0)},
                               {Make("Pneumothorax", false), Make("Mass", true, std::nullopt, 4.0)}, "20250301",
                               "20250901", LungLesionFamily());
  REQUIRE(other.ok());
  CHECK(Named(*other, "Pneumothorax")->change == ChangeClass::kResolved);
  CHECK(Named(*other, "Mass")->change == ChangeClass::kNew);
}

TEST_CASE("a persisting sibling stands in only with a measured size") {
  ChangeRule rule = LungLesionFamily();
  rule.persistence_probability = 0.5;
  Finding near = Make("Nodule", false, std::nullopt, 1.5);
  near.set_probability(0.6);  // below its operating point, at or above the persistence probability
  near.set_operating_point(0.8);
  auto r = CompareFindings({near, Make("Mass", false)}, {Make("Mass", true, std::nullopt, 4.0)}, "20250301",
                           "20250901", rule);
  REQUIRE(r.ok());
  const FindingChange* mass = Named(*r, "Mass");
  REQUIRE(mass != nullptr);
  CHECK(mass->change == ChangeClass::kLarger);
  CHECK(mass->persisted_prior);
  CHECK(mass->prior_sibling == "Nodule");

  near.clear_area_cm2();
  auto unmeasured = CompareFindings({near, Make("Mass", false)}, {Make("Mass", true, std::nullopt, 4.0)},
                                    "20250301", "20250901", rule);
  REQUIRE(unmeasured.ok());
  CHECK(Named(*unmeasured, "Mass")->change == ChangeClass::kNew);
}

TEST_CASE("label families are parsed from their configured text and refused when malformed") {
  auto f = parallax::comparison::ParseLabelFamilies(" Nodule, Mass ,Lung Lesion ; A,B");
  REQUIRE(f.ok());
  REQUIRE(f->size() == 2);
  CHECK((*f)[0] == std::vector<std::string>{"Nodule", "Mass", "Lung Lesion"});
  CHECK((*f)[1] == std::vector<std::string>{"A", "B"});
  auto none = parallax::comparison::ParseLabelFamilies("");
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto single = parallax::comparison::ParseLabelFamilies("Nodule");
  REQUIRE_FALSE(single.ok());
  CHECK(single.status().message().find("two labels") != std::string::npos);
  auto twice = parallax::comparison::ParseLabelFamilies("Nodule,Mass;Mass,Lung Lesion");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().message().find("'Mass' is listed twice") != std::string::npos);
  auto empty_label = parallax::comparison::ParseLabelFamilies("Nodule,,Mass");
  CHECK_FALSE(empty_label.ok());
}
