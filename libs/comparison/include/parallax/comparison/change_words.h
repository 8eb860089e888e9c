#pragma once
// A finding's change since the prior study in words, for the alert text and
// the FHIR report (one wording everywhere), e.g.
//   "new since prior of 2026-06-01 (92 days)"
//   "stable since prior of 2026-06-01 (92 days): 12.1 mL -> 11.8 mL"
//   "stable since prior of 2026-06-01 (92 days), size not compared"
//   "resolved since prior of 2026-06-01 (92 days): was 4.0 mL"
//   "no prior available"
// and "" when no comparison was made (class unspecified). Carries dates,
// intervals and sizes only, never patient data. Pure: thread-safe.
#include <string>

#include "parallax/common/v1/finding.pb.h"

namespace parallax::comparison {

std::string ChangeSincePriorText(const common::v1::PriorComparison& comparison);

}  // namespace parallax::comparison
