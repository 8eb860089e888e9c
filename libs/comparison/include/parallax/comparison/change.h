#pragma once
// Prior-study comparison of findings: how each finding changed between the
// patient's prior study and the current one (new, larger, stable, smaller,
// resolved; or "no prior available"), with the measured size at both times
// and the interval. It feeds the alert (a new haemorrhage is more urgent than
// a stable one), the report and the workspace.
//
// The rule (ChangeRule below), per label, on the parallax.common.v1.Finding
// protos of the two studies:
//
//   present   a label is present in a study when a Finding of that label is
//             positive (probability >= its operating point: Finding.positive).
//             Optionally (ChangeRule::persistence_probability, off by
//             default), a label positive at one time also counts as present
//             at the other when that study's probability of it is at least
//             persistence_probability though below the operating point, and
//             that Finding carries a size at or above the minimum measurable
//             size (a below-threshold finding needs measured support).
//   size      the present Finding's volume_ml (CT, MR) or else its area_cm2
//             (films), unit "mL" / "cm2". When several positive Findings carry
//             the label (e.g. two models), the most probable one counts.
//   class     absent before, present now        -> new
//             present before, absent now        -> resolved
//             present at both, sizes in the same unit at both times:
//               r = max(current, min) / max(prior, min), with min the
//               rule's minimum measurable size for that unit (a size below
//               it counts as the minimum, so two tiny noisy sizes compare as
//               equal and 0.02 -> 0.05 mL is not "larger");
//               r >= larger_ratio   -> larger
//               r <= smaller_ratio  -> smaller
//               otherwise           -> stable
//             present at both, a size missing at either time (or in
//               different units)    -> stable, with sizes_compared = false
//               and a note saying the size could not be compared: presence
//               did not change and nothing says the size did.
//   labels    one result per label present in either study, in the order the
//             labels first appear (current study first, then the prior's).
//             A label negative at both times is not reported.
//   subtypes  optionally (ChangeRule::subtypes_through_summary) a
//             haemorrhage subtype's presence and size come from the summary
//             Finding that names it (see the field).
//   families  optionally (ChangeRule::label_families) a label absent at one
//             time is present there through a sibling label of its family
//             that is (the same lesion named by its size or look: a nodule
//             that grows past 3 cm is a mass); see the field.
//
// The defaults are those of the phantom follow-up truth (libs/phantom
// ground_truth.h: kLargerRatio 1.5, kSmallerRatio 0.67), whose pairs change
// size by 2-3x so that a class is never at the edge of measurement noise.
//
// No LibTorch, no I/O. Pure functions: thread-safe.
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/common/v1/finding.pb.h"

namespace parallax::comparison {

enum class ChangeClass {
  kNoPrior,   // the patient has no prior study of this modality and body part
  kNew,       // absent in the prior, present now
  kLarger,    // present at both, current / prior size >= larger_ratio
  kStable,    // present at both, size within the ratios (or not comparable)
  kSmaller,   // present at both, current / prior size <= smaller_ratio
  kResolved,  // present in the prior, absent now
};

// "no prior available", "new", "larger", "stable", "smaller", "resolved".
const char* ChangeClassName(ChangeClass change);
// The inverse of ChangeClassName; false for any other text.
bool ParseChangeClass(const std::string& name, ChangeClass* out);

// leveldb-style options of the rule: each field has a usable default.
struct ChangeRule {
  double larger_ratio = 1.5;     // current / prior >= this: larger (> 1)
  double smaller_ratio = 0.67;   // current / prior <= this: smaller (in (0, 1))
  // Minimum measurable size per unit: a size below it counts as this much in
  // the ratio (see above). 0.1 mL is about 4 voxels of a 512 x 512 x 5 mm
  // head CT; 0.1 cm2 is 3 x 3 pixels of a 1 mm film.
  double min_volume_ml = 0.1;
  double min_area_cm2 = 0.1;
  // Hysteresis for a finding already positive at the other time: a label
  // whose Finding is below its operating point but has probability >= this
  // counts as present (persisting) when it also carries a size at or above
  // the minimum measurable size, so a finding seen clearly in one study
  // is not called new or resolved because the other study's probability sits
  // just under the operating point. The operating points are calibrated for
  // few false alerts on one study alone, which is stricter than "is the
  // known lesion still there". 1 (the default) = off: presence is the
  // operating point alone. In (0, 1] when set.
  double persistence_probability = 1.0;
  // Subtypes through their summary (head CT haemorrhage). A model that has a
  // summary label ("Intracranial haemorrhage") and subtype labels marks them
  // on the Findings (services/inference finding_mapping): a subtype Finding
  // has subtype == its lower-cased label; the summary Finding of the same
  // model (Finding.model) has subtype = the most probable subtype when
  // positive, "" otherwise. The subtypes' own operating points are set for
  // alerting on one study and are rarely reached, while the summary carries
  // the measured volume. When true, a subtype label S is present in a study
  // when the summary is present (positive, or persisting as above) and its
  // subtype is S (a summary without one takes its study's most probable
  // subtype Finding), or when S's own Finding is positive; its size is then
  // the summary's (the study's haemorrhage volume), and the change names
  // S's own Finding (note: "through <summary label>"). A subtype named at
  // one time and another at the other time reads as one resolved and one
  // new. False (the default): every label stands alone, as above.
  bool subtypes_through_summary = false;
  // Label families: labels that name one kind of lesion by its size or
  // look (the chest model's "Nodule", "Mass" and "Lung Lesion": a nodule is
  // at most 3 cm, a mass larger; the department's policy routes the three
  // as one alert). A label that is absent at one time (its own Finding
  // neither positive nor persisting) is present there when a sibling of
  // its family is: the most probable positive sibling, else (with
  // persistence) the most probable persisting one with a measured size. Its
  // size is then the sibling's, and the note names the sibling. A sibling
  // on the other side of the body (both lateralities known and different)
  // does not count. So a nodule that grew into a mass reads "larger", not
  // "Nodule resolved" and "Mass new". Labels are matched exactly; a label in
  // no family stands alone. Empty (the default): no families.
  std::vector<std::vector<std::string>> label_families;
};

// One label's change between the two studies.
struct FindingChange {
  std::string label;
  ChangeClass change = ChangeClass::kStable;
  bool present_prior = false;
  bool present_current = false;
  // Present at that time only by persistence_probability (below the
  // operating point).
  bool persisted_prior = false;
  bool persisted_current = false;
  // The present Finding's size in `unit`; unset when absent or not measured.
  std::optional<double> prior_size;
  std::optional<double> current_size;
  std::string unit;              // "mL", "cm2", or "" when neither time has a size
  bool sizes_compared = false;   // the class came from the size ratio
  std::optional<double> ratio;   // the ratio the class came from (after the minimum)
  int interval_days = -1;        // current date - prior date; -1 when no prior
  std::string prior_finding_id;  // the Findings compared ("" when absent)
  std::string current_finding_id;
  std::string note;              // how the class was decided, for the report
  // subtypes_through_summary: presence and size came from the summary
  // Finding (at either time).
  bool via_summary = false;
  // label_families: the sibling label through which the label was present
  // at that time ("" when its own Finding, or absent).
  std::string prior_sibling;
  std::string current_sibling;
};

// Compares two studies' findings. `prior_date` and `current_date` are DICOM
// dates (YYYYMMDD, the StudyDate of each). Returns one FindingChange per
// label present at either time (empty when none is). Errors:
// INVALID_ARGUMENT when a date is not a valid YYYYMMDD, when the current
// date is before the prior's, when a Finding has an empty label, or when the
// rule is out of range (larger_ratio <= 1, smaller_ratio outside (0, 1),
// a negative minimum, persistence_probability outside (0, 1], a label
// family of fewer than two labels, an empty label or one listed twice).
absl::StatusOr<std::vector<FindingChange>> CompareFindings(const std::vector<common::v1::Finding>& prior,
                                                           const std::vector<common::v1::Finding>& current,
                                                           const std::string& prior_date,
                                                           const std::string& current_date,
                                                           const ChangeRule& rule = {});

// The wire form of one change (common.v1.PriorComparison) for the Finding
// of the current study; `prior_study_uid` and `prior_date` name the prior
// (empty for kNoPrior).
common::v1::PriorComparison ToProto(const FindingChange& change, const std::string& prior_study_uid,
                                    const std::string& prior_date);

// The comparison of a study whose patient has no prior: one FindingChange of
// class kNoPrior per label present now, with its current size. Errors:
// INVALID_ARGUMENT for a Finding with an empty label.
absl::StatusOr<std::vector<FindingChange>> NoPriorAvailable(const std::vector<common::v1::Finding>& current);
// The same under `rule`: with subtypes_through_summary, a positive summary
// also lists the subtype it names, with the summary's size (only that field
// of the rule matters here).
absl::StatusOr<std::vector<FindingChange>> NoPriorAvailable(const std::vector<common::v1::Finding>& current,
                                                            const ChangeRule& rule);

// Label families as configured: families separated by ';', labels within a
// family by ',', spaces around each trimmed ("Nodule,Mass,Lung Lesion").
// "" = none. INVALID_ARGUMENT naming the problem when a family has fewer
// than two labels or a label is listed twice.
absl::StatusOr<std::vector<std::vector<std::string>>> ParseLabelFamilies(const std::string& text);

// The labels of `labels`' families under `rule` (label_families), the
// labels themselves included; for choosing which near-threshold Findings
// need a size.
std::vector<std::string> WithFamilies(const std::vector<std::string>& labels, const ChangeRule& rule);

// The class of two sizes under `rule` (both present, both measured, same
// unit, `min_size` the unit's minimum): larger, smaller or stable; sets
// *ratio to the ratio used when `ratio` is not null. Exposed for tools that
// measure sizes themselves.
ChangeClass ClassifySizes(double prior_size, double current_size, double min_size, const ChangeRule& rule,
                          double* ratio = nullptr);

// Days from `from` to `to` (YYYYMMDD, proleptic Gregorian; negative when `to`
// is earlier). INVALID_ARGUMENT naming the text when either is not a valid
// date.
absl::StatusOr<int> DaysBetween(const std::string& from, const std::string& to);

}  // namespace parallax::comparison
