#pragma once
// Follow-up pairs: the same phantom patient studied twice, months apart, for
// prior-study comparison. Both studies share the seed, so the normal anatomy
// is identical apart from a small, exactly known rigid shift of the patient
// (the current study relative to the prior, rigid_shift.h); each requested
// finding changes by its class (ground_truth.h's Change):
//
//   new       absent in the prior, natural size now
//   resolved  natural size in the prior, absent now
//   larger    prior at 1/f of its natural volume (area for films), natural now
//   smaller   natural in the prior, 1/f now
//   stable    natural at both times (only shifted)
//
// with f drawn from [2, 3], well beyond the classification rule's 1.5 / 0.67
// (kLargerRatio, kSmallerRatio), and the lesion kept at the same place
// (grown or shrunk around its centre). The current study has its own
// acquisition noise. Sizes are measured from the masks of both studies and
// checked against the rule, so a pair never carries a class its own
// measurements contradict.
//
// Kinds: "head_ct" and "brain_mri" (3-D: volumes in mL, shift in patient
// coordinates with rotation about all three axes, centred on the scanned
// volume) and "chest_xray" (2-D: areas in cm2, shift in detector mm with
// in-plane rotation about the image centre). Not clinical data. Pure
// functions: thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/phantom/ground_truth.h"
#include "parallax/phantom/phantom.h"
#include "parallax/phantom/rigid_shift.h"

namespace parallax::phantom {

struct FollowUpOptions {
  std::string kind = "head_ct";       // "head_ct", "brain_mri" or "chest_xray"
  uint64_t seed = 1;                  // the patient, the lesions, the shift: same seed -> same pair
  // Labels from FollowUpLabels(kind), at most one of each; empty = the kind's first label.
  std::vector<std::string> findings;
  // One per finding, or a single class for all of them.
  std::vector<Change> changes = {Change::kStable};
  // A normal pair: neither study has a finding (findings and changes are
  // ignored; the pair's changes are empty). What a change rule must leave
  // alone: any finding called in it is a false one.
  bool normal = false;
  double difficulty = 0.3;            // the lesions' natural size and conspicuity, 0..1
  int size = 0;                       // rows = columns; 0 = the generator's default
  int slices = 0;                     // volumes; 0 = the generator's default
  double slice_thickness_mm = 0;      // volumes; 0 = the generator's default
  // The patient's motion, current relative to prior; default: drawn from the
  // seed, translation <= 5 mm, total rotation <= 3 degrees (films: in-plane).
  std::optional<RigidShift> shift;
  int interval_days = 0;              // days from prior to current; 0 = drawn from the seed (60..540)
};

struct FollowUpPair {
  std::string kind;
  uint64_t seed = 0;
  Study prior, current;
  RigidShift shift;                   // current = shift.Apply(prior), patient or detector mm
  int interval_days = 0;
  std::string size_unit;              // "mL" or "cm2"
  std::vector<FindingChange> changes; // one per requested finding, in request order
};

// The labels a kind's pairs can carry (those whose size scales cleanly):
// head_ct: Intraparenchymal, Epidural, Subdural; brain_mri: Enhancing
// tumour, Non-enhancing lesion; chest_xray: Nodule, Mass, Lung Lesion.
// Empty for another kind.
std::vector<std::string> FollowUpLabels(const std::string& kind);

// Renders both studies. INVALID_ARGUMENT for an unknown kind, an
// unsupported or repeated label, or a changes list that is neither one class
// nor one per finding; INTERNAL (naming the seed and label) if a lesion's
// measured sizes contradict its class (e.g. a lesion too small to measure at
// this resolution), so a caller can choose another seed.
absl::StatusOr<FollowUpPair> MakeFollowUpPair(const FollowUpOptions& options);

// The pair's truth for pair.json / truth.json, without UIDs, dates and
// folders (the writer fills them in).
FollowUpTruth FollowUpTruthOf(const FollowUpPair& pair);

// YYYYMMDD plus `days` (proleptic Gregorian); "" if `date` is not YYYYMMDD.
std::string AddDays(const std::string& date, int days);

}  // namespace parallax::phantom
