#include "urgency.h"

#include <algorithm>

namespace parallax::triage {

int InitialUrgency(PatientSetting setting, const std::string& modality, bool head) {
  int u = 20;
  switch (setting) {
    case PatientSetting::kEmergency: u = 50; break;
    case PatientSetting::kInpatient: u = 30; break;
    case PatientSetting::kOutpatient: u = 10; break;
    default: break;
  }
  if (modality == "CT") u += head ? 20 : 10;
  else if (modality == "DX" || modality == "CR") u += 5;
  return u;
}

int FinalUrgency(int initial, const std::vector<common::v1::Finding>& findings, bool indeterminate,
                 const UrgencyOptions& options) {
  double critical = 0, other = 0;
  for (const common::v1::Finding& f : findings) {
    if (!f.positive()) continue;
    const bool is_critical = std::find(options.critical_labels.begin(), options.critical_labels.end(), f.label()) !=
                             options.critical_labels.end();
    const common::v1::ChangeClass change = f.prior_comparison().change();
    const bool known = change == common::v1::CHANGE_CLASS_STABLE || change == common::v1::CHANGE_CLASS_SMALLER;
    if (is_critical) critical += (known ? 25 : 50) * f.probability();
    else other += 5;
  }
  int u = initial + static_cast<int>(std::min(critical, 60.0)) + static_cast<int>(std::min(other, 10.0));
  if (indeterminate) u += 5;
  return u;
}

}  // namespace parallax::triage
