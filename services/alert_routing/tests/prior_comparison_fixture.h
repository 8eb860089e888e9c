#pragma once
// A finding as triage fills it after comparing with the patient's prior,
// for the alert routing tests (policy and dispatcher).
#include <optional>

#include "parallax/common/v1/finding.pb.h"

namespace parallax::alerting::testing {

inline constexpr char kPriorStudyUid[] = "1.2.826.0.1.3680043.10.1.7";

// `f` compared with a prior of 2026-06-01, 92 days before (sizes in mL when
// both are known); NO_PRIOR carries no prior and interval -1.
inline common::v1::Finding WithChange(common::v1::Finding f, common::v1::ChangeClass change,
                                      std::optional<double> prior_ml = std::nullopt) {
  common::v1::PriorComparison* c = f.mutable_prior_comparison();
  c->set_change(change);
  if (change == common::v1::CHANGE_CLASS_NO_PRIOR) {
    c->set_interval_days(-1);
    return f;
  }
  c->set_prior_study_instance_uid(kPriorStudyUid);
  c->set_prior_study_date("20260601");
  c->set_interval_days(92);
  if (prior_ml) c->set_prior_size(*prior_ml);
  if (f.has_volume_ml()) c->set_current_size(f.volume_ml());
  c->set_unit("mL");
  c->set_sizes_compared(prior_ml.has_value() && f.has_volume_ml());
  return f;
}

}  // namespace parallax::alerting::testing
