#pragma once
// Worklist urgency (higher = read sooner), from what triage knows:
//   setting   emergency 50, inpatient 30, unknown 20, outpatient 10
//   modality  head CT +20 (haemorrhage is time-critical), other CT +10,
//             radiographs +5, MR +0
//   result    each positive critical finding (UrgencyOptions::critical_labels,
//             e.g. pneumothorax, any haemorrhage) + 50 x its probability,
//             capped at +60 in all (so a critical finding on a routine film
//             outranks a normal emergency film), or + 25 x its probability
//             when the prior study already showed it at the same or a
//             larger size (change stable or smaller: known, not new);
//             another positive finding +5 each,
//             capped at +10; an analysis that failed or is indeterminate
//             +5 (someone must look).
// Before analysis only the first two terms count. Pure; thread-safe.
#include <string>
#include <vector>

#include "parallax/common/v1/finding.pb.h"
#include "study_plan.h"

namespace parallax::triage {

struct UrgencyOptions {
  // Labels whose positive finding is critical for the worklist.
  std::vector<std::string> critical_labels = {"Pneumothorax", "Intracranial haemorrhage", "Epidural", "Subdural",
                                              "Subarachnoid", "Intraparenchymal", "Intraventricular"};
};

int InitialUrgency(PatientSetting setting, const std::string& modality, bool head);

int FinalUrgency(int initial, const std::vector<common::v1::Finding>& findings, bool indeterminate,
                 const UrgencyOptions& options = {});

}  // namespace parallax::triage
