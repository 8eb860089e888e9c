#include "parallax/quality/image_quality.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/strings/str_format.h>

#include "measures.h"

namespace parallax::quality {

const char* IssueName(Issue issue) {
  switch (issue) {
    case Issue::kRotated: return "rotated";
    case Issue::kMotionArtefact: return "motion_artefact";
    case Issue::kUnderexposed: return "underexposed";
    case Issue::kOverexposed: return "overexposed";
    case Issue::kNoisy: return "noisy";
    case Issue::kMissingSlices: return "missing_slices";
    case Issue::kIncompleteSeries: return "incomplete_series";
    case Issue::kAnatomyTruncated: return "anatomy_truncated";
    case Issue::kThickSlices: return "thick_slices";
    case Issue::kLowResolution: return "low_resolution";
  }
  return "unknown";
}

bool Assessment::Flagged(Issue issue) const {
  for (const auto& c : checks) {
    if (c.issue == issue && c.flagged) return true;
  }
  return false;
}

std::vector<Issue> Assessment::FlaggedIssues() const {
  std::vector<Issue> out;
  for (const auto& c : checks) {
    if (c.flagged && std::find(out.begin(), out.end(), c.issue) == out.end()) out.push_back(c.issue);
  }
  return out;
}

const Check* Assessment::Find(Issue issue) const {
  const Check* found = nullptr;
  for (const auto& c : checks) {
    if (c.issue != issue) continue;
    if (found == nullptr || (c.flagged && !found->flagged)) found = &c;
  }
  return found;
}

namespace {

absl::Status Validate(const dicom::PixelImage& image, const char* what) {
  if (image.rows < 32 || image.columns < 32) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is %dx%d; the quality gate needs at least 32x32", what,
                                                      image.rows, image.columns));
  }
  if (image.values.size() != static_cast<size_t>(image.rows) * image.columns) {
    return absl::InvalidArgumentError(absl::StrFormat("%s has %d values for %dx%d pixels", what,
                                                      image.values.size(), image.rows, image.columns));
  }
  return absl::OkStatus();
}

Check Below(Issue issue, double measured, double threshold, std::string detail) {
  return Check{issue, measured < threshold, measured, threshold, -1, std::move(detail)};
}
Check Above(Issue issue, double measured, double threshold, std::string detail) {
  return Check{issue, measured > threshold, measured, threshold, -1, std::move(detail)};
}

}  // namespace

absl::StatusOr<Assessment> AssessRadiograph(const dicom::PixelImage& image, const RadiographOptions& options) {
  if (absl::Status s = Validate(image, "radiograph"); !s.ok()) return s;
  const RadiographMeasures m = MeasureRadiograph(image, options.bits_stored, options.frontal_chest);
  Assessment a;
  if (options.frontal_chest) {
    a.checks.push_back(Above(Issue::kRotated, std::abs(m.tilt_deg), options.max_tilt_deg,
                             absl::StrFormat("midline tilted %.1f deg (limit %.1f deg)", m.tilt_deg,
                                             options.max_tilt_deg)));
  }
  const double min_sharp =
      options.min_directional_sharpness > 0 ? options.min_directional_sharpness : kRadiographMinSharpness;
  a.checks.push_back(Below(Issue::kMotionArtefact, m.sharpness_min, min_sharp,
                           absl::StrFormat("weakest-direction edge strength %.3f of range (minimum %.3f)",
                                           m.sharpness_min, min_sharp)));
  a.checks.push_back(Below(Issue::kUnderexposed, m.range_fraction, options.min_range_fraction,
                           absl::StrFormat("signal spans %.0f%% of the %d-bit range (minimum %.0f%%)",
                                           100 * m.range_fraction, m.bits, 100 * options.min_range_fraction)));
  const double min_snr = options.min_snr > 0 ? options.min_snr : kRadiographMinSnr;
  a.checks.push_back(Below(Issue::kNoisy, m.snr, min_snr,
                           absl::StrFormat("signal range %.0f times the pixel noise SD (minimum %.0f)", m.snr,
                                           min_snr)));
  a.checks.push_back(Above(Issue::kOverexposed, m.clipped_fraction, options.max_clipped_fraction,
                           absl::StrFormat("%.1f%% of pixels clipped at the detector limits (limit %.1f%%)",
                                           100 * m.clipped_fraction, 100 * options.max_clipped_fraction)));
  if (options.max_pixel_spacing_mm > 0 && image.pixel_spacing_mm[0] > 0 && image.pixel_spacing_mm[1] > 0) {
    const double sp = std::max(image.pixel_spacing_mm[0], image.pixel_spacing_mm[1]);
    a.checks.push_back(Above(Issue::kLowResolution, sp, options.max_pixel_spacing_mm,
                             absl::StrFormat("pixel spacing %.3f mm (limit %.3f mm)", sp,
                                             options.max_pixel_spacing_mm)));
  }
  return a;
}

absl::StatusOr<Assessment> AssessVolume(std::span<const dicom::PixelImage> slices,
                                        std::span<const double> positions_mm, double slice_thickness_mm,
                                        const VolumeOptions& options) {
  if (slices.empty()) return absl::InvalidArgumentError("volume has no slices");
  if (positions_mm.size() != slices.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("volume has %d slices but %d positions", slices.size(), positions_mm.size()));
  }
  for (double p : positions_mm) {
    if (!std::isfinite(p)) return absl::InvalidArgumentError("volume has a slice position that is not a number");
  }
  for (const auto& s : slices) {
    if (absl::Status st = Validate(s, "slice"); !st.ok()) return st;
    if (s.rows != slices[0].rows || s.columns != slices[0].columns) {
      return absl::InvalidArgumentError("volume slices differ in size");
    }
  }
  const VolumeMeasures m = MeasureVolume(slices, positions_mm, options.ct, options.body_threshold);
  const int n = static_cast<int>(slices.size());
  Assessment a;

  // Gaps along the normal.
  if (n >= 3) {
    Check c = Above(Issue::kMissingSlices, m.max_gap_ratio, options.max_gap_ratio,
                    absl::StrFormat("largest spacing %.2f mm is %.2f x the median %.2f mm (limit %.2f x)",
                                    m.max_gap_mm, m.max_gap_ratio, m.median_spacing_mm, options.max_gap_ratio));
    c.slice = m.max_gap_slice;
    a.checks.push_back(std::move(c));
  }
  if (options.max_slice_thickness_mm > 0 && slice_thickness_mm > 0) {
    Check c = Above(Issue::kThickSlices, slice_thickness_mm, options.max_slice_thickness_mm,
                    absl::StrFormat("slice thickness %.2f mm (limit %.2f mm)", slice_thickness_mm,
                                    options.max_slice_thickness_mm));
    c.flagged = slice_thickness_mm > options.max_slice_thickness_mm + 1e-6;  // 5.0000001 from a header is 5
    a.checks.push_back(std::move(c));
  }
  if (options.min_slices > 0) {
    a.checks.push_back(Below(Issue::kIncompleteSeries, n, options.min_slices,
                             absl::StrFormat("%d slices (minimum %d)", n, options.min_slices)));
  }
  if (options.min_coverage_mm > 0) {
    const double cover = m.extent_mm + std::max(0.0, slice_thickness_mm);
    a.checks.push_back(Below(Issue::kIncompleteSeries, cover, options.min_coverage_mm,
                             absl::StrFormat("covers %.0f mm (minimum %.0f mm)", cover, options.min_coverage_mm)));
  }
  auto end_check = [&](bool highest) {
    const double frac = highest ? m.highest_end_area_fraction : m.lowest_end_area_fraction;
    Check c = Above(Issue::kAnatomyTruncated, frac, options.max_end_area_fraction,
                    absl::StrFormat("%s slice shows %.0f%% of the largest cross-section (limit %.0f%%)",
                                    highest ? "highest" : "lowest", 100 * frac, 100 * options.max_end_area_fraction));
    c.slice = highest ? m.highest_slice : m.lowest_slice;
    a.checks.push_back(std::move(c));
  };
  const OrganEnd ends = options.organ_must_end;
  if (ends == OrganEnd::kLowestPosition || ends == OrganEnd::kBoth) end_check(false);
  if (ends == OrganEnd::kHighestPosition || ends == OrganEnd::kBoth) end_check(true);

  const double min_rel =
      options.min_relative_sharpness > 0 ? options.min_relative_sharpness : kVolumeMinRelativeSharpness;
  if (m.min_relative_sharpness_slice >= 0) {  // needs >= 4 slices that show the body
    Check c = Below(Issue::kMotionArtefact, m.min_relative_sharpness, min_rel, "");
    c.slice = m.min_relative_sharpness_slice;
    int blurred = 0;
    for (double r : m.relative_sharpness) blurred += r < min_rel ? 1 : 0;
    c.detail = absl::StrFormat("%d slice(s) blurred; weakest, image %d, has %.2f of its neighbours' edge strength "
                               "(minimum %.2f)",
                               blurred, c.slice, m.min_relative_sharpness, min_rel);
    a.checks.push_back(std::move(c));
  }
  const double max_noise = options.max_noise_sd > 0 ? options.max_noise_sd : kVolumeMaxNoiseSd;
  a.checks.push_back(Above(Issue::kNoisy, m.noise_sd, max_noise,
                           absl::StrFormat("pixel noise SD %.1f inside the body (limit %.1f)", m.noise_sd,
                                           max_noise)));
  return a;
}

}  // namespace parallax::quality
