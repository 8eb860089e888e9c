#include "parallax/phantom/follow_up.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "volume.h"

namespace parallax::phantom {
namespace {

using internal::HashName;
using internal::MixSeed;
using internal::Random;

bool IsFilm(const std::string& kind) { return kind == "chest_xray"; }

// The default motion: translation <= 5 mm, total rotation <= 3 degrees.
RigidShift DrawShift(const std::string& kind, uint64_t seed, double centre_z) {
  Random r(MixSeed(seed, HashName("follow-up shift")));
  RigidShift s;
  const bool film = IsFilm(kind);
  for (int i = 0; i < (film ? 2 : 3); ++i) s.translation_mm[i] = r.Uniform(-3.5, 3.5);
  const double norm = std::sqrt(s.translation_mm[0] * s.translation_mm[0] + s.translation_mm[1] * s.translation_mm[1] +
                                s.translation_mm[2] * s.translation_mm[2]);
  if (norm > 5) {
    for (double& t : s.translation_mm) t *= 5 / norm;
  }
  if (film) {
    s.rotation_deg[2] = r.Uniform(-3, 3);
  } else {
    // |each| <= 1.7 keeps the angle of the combined rotation under 3 degrees.
    for (double& a : s.rotation_deg) a = r.Uniform(-1.7, 1.7);
    s.centre_mm = {0, 0, centre_z};
  }
  // Round to 0.01 mm / 0.01 degree so the JSON text carries the shift exactly.
  for (double& t : s.translation_mm) t = std::round(t * 100) / 100;
  for (double& a : s.rotation_deg) a = std::round(a * 100) / 100;
  return s;
}

// Per finding: (prior scale, current scale, requested ratio current/prior).
struct Scales {
  double prior = 1, current = 1, ratio = 1;
};
Scales ScalesFor(Change c, uint64_t seed, const std::string& label) {
  Random r(MixSeed(seed, HashName(("follow-up size " + label).c_str())));
  const double f = r.Uniform(2.0, 3.0);
  switch (c) {
    case Change::kNew: return {0, 1, 0};
    case Change::kResolved: return {1, 0, 0};
    case Change::kLarger: return {1 / f, 1, f};
    case Change::kSmaller: return {1, 1 / f, 1 / f};
    case Change::kStable: break;
  }
  return {1, 1, 1};
}

int IndexOf(const Study& s, const std::string& label) {
  for (size_t i = 0; i < s.findings.size(); ++i) {
    if (s.findings[i].label == label) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::vector<std::string> FollowUpLabels(const std::string& kind) {
  if (kind == "head_ct") return {"Intraparenchymal", "Epidural", "Subdural"};
  if (kind == "brain_mri") return {"Enhancing tumour", "Non-enhancing lesion"};
  if (kind == "chest_xray") return {"Nodule", "Mass", "Lung Lesion"};
  return {};
}

absl::StatusOr<FollowUpPair> MakeFollowUpPair(const FollowUpOptions& options) {
  const std::vector<std::string> known = FollowUpLabels(options.kind);
  if (known.empty()) {
    return absl::InvalidArgumentError("follow-up pairs support kind head_ct, brain_mri or chest_xray, not '" +
                                      options.kind + "'");
  }
  std::vector<std::string> labels = options.normal            ? std::vector<std::string>{}
                                    : options.findings.empty() ? std::vector<std::string>{known[0]}
                                                               : options.findings;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (std::find(known.begin(), known.end(), labels[i]) == known.end()) {
      return absl::InvalidArgumentError("follow-up pairs of " + options.kind + " do not support finding '" +
                                        labels[i] + "'");
    }
    if (std::find(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(i), labels[i]) !=
        labels.begin() + static_cast<std::ptrdiff_t>(i)) {
      return absl::InvalidArgumentError("follow-up finding '" + labels[i] + "' requested twice");
    }
  }
  if (!options.normal && options.changes.size() != 1 && options.changes.size() != labels.size()) {
    return absl::InvalidArgumentError("follow-up needs one change class, or one per finding (" +
                                      std::to_string(labels.size()) + "), not " +
                                      std::to_string(options.changes.size()));
  }

  FollowUpPair pair;
  pair.kind = options.kind;
  pair.seed = options.seed;
  pair.size_unit = IsFilm(options.kind) ? "cm2" : "mL";
  std::vector<Scales> scales;
  std::vector<double> prior_scale, current_scale;
  for (size_t i = 0; i < labels.size(); ++i) {
    const Change c = options.changes.size() == 1 ? options.changes[0] : options.changes[i];
    scales.push_back(ScalesFor(c, options.seed, labels[i]));
    prior_scale.push_back(scales.back().prior);
    current_scale.push_back(scales.back().current);
    FindingChange fc;
    fc.label = labels[i];
    fc.change = c;
    fc.requested_ratio = scales.back().ratio;
    pair.changes.push_back(fc);
  }
  {
    Random r(MixSeed(options.seed, HashName("follow-up interval")));
    pair.interval_days = options.interval_days > 0 ? options.interval_days : r.Int(60, 540);
  }
  // The current study's own noise (the prior's is the seed's, as for any study).
  const uint64_t current_acquisition = MixSeed(options.seed, HashName("follow-up current acquisition")) | 1;
  const double d = std::clamp(options.difficulty, 0.0, 1.0);

  try {
    // Head CT and brain MRI options share these fields; one recipe for both.
    const auto volume_pair = [&](auto o, auto make) {
      o.seed = options.seed;
      o.findings = labels;
      o.difficulty = d;
      if (options.size > 0) o.size = options.size;
      if (options.slices > 0) o.slices = options.slices;
      if (options.slice_thickness_mm > 0) o.slice_thickness_mm = options.slice_thickness_mm;
      pair.shift = options.shift ? *options.shift
                                 : DrawShift(options.kind, options.seed, (o.slices - 1) * o.slice_thickness_mm / 2);
      o.finding_scale = prior_scale;
      pair.prior = make(o);
      o.finding_scale = current_scale;
      o.patient_shift = pair.shift;
      o.acquisition_seed = current_acquisition;
      pair.current = make(o);
    };
    if (options.kind == "head_ct") {
      volume_pair(HeadCtOptions{}, MakeHeadCt);
    } else if (options.kind == "brain_mri") {
      volume_pair(BrainMriOptions{}, MakeBrainMri);
    } else {
      ChestXrayOptions o;
      o.seed = options.seed;
      o.findings = labels;
      o.difficulty = d;
      if (options.size > 0) o.size = options.size;
      pair.shift = options.shift ? *options.shift : DrawShift(options.kind, options.seed, 0);
      o.finding_scale = prior_scale;
      pair.prior = MakeChestXray(o);
      o.finding_scale = current_scale;
      o.patient_shift = pair.shift;
      o.acquisition_seed = current_acquisition;
      pair.current = MakeChestXray(o);
    }
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(std::string("follow-up: ") + e.what());
  }

  const bool film = IsFilm(options.kind);
  for (FindingChange& fc : pair.changes) {
    fc.prior_index = IndexOf(pair.prior, fc.label);
    fc.current_index = IndexOf(pair.current, fc.label);
    auto size = [&](const Study& s, int index) {
      if (index < 0) return 0.0;
      const Finding& f = s.findings[static_cast<size_t>(index)];
      return film ? f.area_cm2 : f.volume_ml;
    };
    fc.prior_size = size(pair.prior, fc.prior_index);
    fc.current_size = size(pair.current, fc.current_index);
    // The generator must agree with the rule it documents.
    const bool present_ok = (fc.prior_index >= 0) == (fc.change != Change::kNew) &&
                            (fc.current_index >= 0) == (fc.change != Change::kResolved);
    if (!present_ok || ClassifyChange(fc.prior_size, fc.current_size) != fc.change) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "follow-up seed %llu: '%s' measures %.3g -> %.3g %s, which does not read as '%s'; choose "
                    "another seed or a lower difficulty",
                    static_cast<unsigned long long>(options.seed), fc.label.c_str(), fc.prior_size, fc.current_size,
                    pair.size_unit.c_str(), ChangeName(fc.change));
      return absl::InternalError(buf);
    }
  }
  return pair;
}

FollowUpTruth FollowUpTruthOf(const FollowUpPair& pair) {
  FollowUpTruth t;
  t.kind = pair.kind;
  t.seed = pair.seed;
  t.interval_days = pair.interval_days;
  t.size_unit = pair.size_unit;
  t.shift = pair.shift;
  t.changes = pair.changes;
  return t;
}

namespace {
// Days since 1970-01-01 of a civil date and back (H. Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}
}  // namespace

std::string AddDays(const std::string& date, int days) {
  if (date.size() != 8 || date.find_first_not_of("0123456789") != std::string::npos) return "";
  const int64_t y = std::stoll(date.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(date.substr(4, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(date.substr(6, 2)));
  if (m < 1 || m > 12 || d < 1 || d > 31) return "";
  int64_t yy;
  unsigned mm, dd;
  CivilFromDays(DaysFromCivil(y, m, d) + days, &yy, &mm, &dd);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02u", static_cast<long long>(yy), mm, dd);
  return buf;
}

}  // namespace parallax::phantom
