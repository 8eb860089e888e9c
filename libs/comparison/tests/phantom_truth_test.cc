// The change rule against the phantom follow-up pairs' own truth: the
// lesion sizes the generator measured from its masks (libs/phantom
// follow_up.h), put on Finding protos as the services would carry them,
// must give the pair's truth class in every pair of every kind, label and
// class. This checks the rule and its defaults, not a model: how often the
// models' own measurements get the class right is parallax-eval-prior's
// figure (libs/comparison/tools). Renders about 80 pairs: labelled slow.
#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "parallax/comparison/change.h"
#include "parallax/phantom/follow_up.h"

namespace {

namespace cmp = parallax::comparison;
namespace ph = parallax::phantom;
using parallax::common::v1::Finding;

// A Finding carrying the truth size (none when absent: size 0).
std::vector<Finding> TruthFindings(const std::string& label, double size, const std::string& unit) {
  if (size <= 0) return {};
  Finding f;
  f.set_label(label);
  f.set_positive(true);
  f.set_probability(1);
  if (unit == "mL") {
    f.set_volume_ml(size);
  } else {
    f.set_area_cm2(size);
  }
  return {f};
}

cmp::ChangeClass Expected(ph::Change c) {
  switch (c) {
    case ph::Change::kNew: return cmp::ChangeClass::kNew;
    case ph::Change::kLarger: return cmp::ChangeClass::kLarger;
    case ph::Change::kStable: return cmp::ChangeClass::kStable;
    case ph::Change::kSmaller: return cmp::ChangeClass::kSmaller;
    case ph::Change::kResolved: return cmp::ChangeClass::kResolved;
  }
  return cmp::ChangeClass::kNoPrior;
}

}  // namespace

TEST_CASE("the change rule on the phantom pairs' truth sizes gives the truth class in every pair", "[slow]") {
  int pairs = 0, right = 0;
  uint64_t seed = 700001;
  for (const std::string kind : {"head_ct", "brain_mri", "chest_xray"}) {
    for (const std::string& label : ph::FollowUpLabels(kind)) {
      for (ph::Change change :
           {ph::Change::kNew, ph::Change::kLarger, ph::Change::kStable, ph::Change::kSmaller, ph::Change::kResolved}) {
        for (int i = 0; i < 2; ++i) {
          ph::FollowUpOptions o;
          o.kind = kind;
          o.seed = seed++;
          o.findings = {label};
          o.changes = {change};
          auto pair = ph::MakeFollowUpPair(o);
          if (!pair.ok()) continue;  // the generator refuses a lesion it cannot measure; another seed follows
          REQUIRE(pair->changes.size() == 1);
          const ph::FindingChange& tc = pair->changes[0];
          const std::string prior_date = "20250301";
          auto r = cmp::CompareFindings(TruthFindings(label, tc.prior_size, pair->size_unit),
                                        TruthFindings(label, tc.current_size, pair->size_unit), prior_date,
                                        ph::AddDays(prior_date, pair->interval_days));
          REQUIRE(r.ok());
          REQUIRE(r->size() == 1);
          const cmp::FindingChange& c = r->front();
          INFO(kind << " seed " << o.seed << " " << label << ": truth " << ph::ChangeName(tc.change) << " "
                    << tc.prior_size << " -> " << tc.current_size << " " << pair->size_unit << ", rule says "
                    << cmp::ChangeClassName(c.change));
          CHECK(c.change == Expected(tc.change));
          CHECK(c.interval_days == pair->interval_days);
          CHECK(c.unit == pair->size_unit);
          ++pairs;
          right += c.change == Expected(tc.change) ? 1 : 0;
        }
      }
    }
  }
  std::printf("change rule on phantom truth sizes: %d / %d pairs right\n", right, pairs);
  CHECK(pairs >= 70);
}

TEST_CASE("a phantom current study without a prior gets no prior available", "[slow]") {
  ph::FollowUpOptions o;
  o.kind = "head_ct";
  o.seed = 700901;
  o.findings = {"Subdural"};
  o.changes = {ph::Change::kNew};
  auto pair = ph::MakeFollowUpPair(o);
  REQUIRE(pair.ok());
  auto r = cmp::NoPriorAvailable(TruthFindings("Subdural", pair->changes[0].current_size, pair->size_unit));
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK(r->front().change == cmp::ChangeClass::kNoPrior);
  REQUIRE(r->front().current_size.has_value());
  CHECK(*r->front().current_size == Approx(pair->changes[0].current_size));
}
