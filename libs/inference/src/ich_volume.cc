#include "parallax/inference/ich_volume.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace parallax::inference {
namespace {

// Pixels enclosed by the skull on one slice (1 = intracranial).
std::vector<uint8_t> IntracranialMask(const dicom::PixelImage& s, const IchVolumeOptions& o) {
  const int rows = s.rows, cols = s.columns;
  const size_t n = static_cast<size_t>(rows) * cols;
  std::vector<uint8_t> bone(n), sealed(n, 0);
  for (size_t i = 0; i < n; ++i) bone[i] = s.values[i] >= o.bone_hu;
  // Close gaps: dilate bone by seal_px (separable square).
  const int r = std::max(0, o.seal_px);
  std::vector<uint8_t> tmp(n, 0);
  for (int y = 0; y < rows; ++y) {
    int run = -1;  // last bone column seen
    for (int x = 0; x < cols; ++x) {
      if (bone[static_cast<size_t>(y) * cols + x]) run = x;
      if (run >= 0 && x - run <= r) tmp[static_cast<size_t>(y) * cols + x] = 1;
    }
    run = -1;
    for (int x = cols - 1; x >= 0; --x) {
      if (bone[static_cast<size_t>(y) * cols + x]) run = x;
      if (run >= 0 && run - x <= r) tmp[static_cast<size_t>(y) * cols + x] = 1;
    }
  }
  for (int x = 0; x < cols; ++x) {
    int run = -1;
    for (int y = 0; y < rows; ++y) {
      if (tmp[static_cast<size_t>(y) * cols + x]) run = y;
      if (run >= 0 && y - run <= r) sealed[static_cast<size_t>(y) * cols + x] = 1;
    }
    run = -1;
    for (int y = rows - 1; y >= 0; --y) {
      if (tmp[static_cast<size_t>(y) * cols + x]) run = y;
      if (run >= 0 && run - y <= r) sealed[static_cast<size_t>(y) * cols + x] = 1;
    }
  }
  // Flood the outside from the border over non-sealed pixels.
  std::vector<uint8_t> outside(n, 0);
  std::vector<size_t> stack;
  auto push = [&](int y, int x) {
    const size_t i = static_cast<size_t>(y) * cols + x;
    if (!sealed[i] && !outside[i]) {
      outside[i] = 1;
      stack.push_back(i);
    }
  };
  for (int x = 0; x < cols; ++x) {
    push(0, x);
    push(rows - 1, x);
  }
  for (int y = 0; y < rows; ++y) {
    push(y, 0);
    push(y, cols - 1);
  }
  while (!stack.empty()) {
    const size_t i = stack.back();
    stack.pop_back();
    const int y = static_cast<int>(i / cols), x = static_cast<int>(i % cols);
    if (y > 0) push(y - 1, x);
    if (y + 1 < rows) push(y + 1, x);
    if (x > 0) push(y, x - 1);
    if (x + 1 < cols) push(y, x + 1);
  }
  // Inside = not outside, grown back over the seal (within seal_px of the
  // inside, not bone, not outside), so blood against the inner table counts.
  std::vector<uint8_t> inside(n, 0);
  for (size_t i = 0; i < n; ++i) inside[i] = !outside[i] && !sealed[i];
  for (int pass = 0; pass < r; ++pass) {
    std::vector<uint8_t> grown = inside;
    for (int y = 1; y + 1 < rows; ++y) {
      for (int x = 1; x + 1 < cols; ++x) {
        const size_t i = static_cast<size_t>(y) * cols + x;
        if (inside[i] || bone[i] || outside[i]) continue;
        if (inside[i - 1] || inside[i + 1] || inside[i - cols] || inside[i + cols]) grown[i] = 1;
      }
    }
    inside.swap(grown);
  }
  return inside;
}

// Blood voxels of one slice that survive the region-size filter.
int64_t BloodVoxels(const dicom::PixelImage& s, const IchVolumeOptions& o) {
  const int rows = s.rows, cols = s.columns;
  const size_t n = static_cast<size_t>(rows) * cols;
  const std::vector<uint8_t> inside = IntracranialMask(s, o);
  std::vector<uint8_t> blood(n, 0);
  for (int y = 1; y + 1 < rows; ++y) {
    for (int x = 1; x + 1 < cols; ++x) {
      const size_t i = static_cast<size_t>(y) * cols + x;
      if (!inside[i]) continue;
      // 3x3 mean over the intracranial neighbours only, so the skull does
      // not leak into blood against the inner table.
      double sum = 0;
      int count = 0;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const size_t j = i + static_cast<ptrdiff_t>(dy) * cols + dx;
          if (inside[j]) {
            sum += s.values[j];
            ++count;
          }
        }
      }
      const double v = o.smooth ? sum / count : s.values[i];
      blood[i] = v >= o.min_hu && v <= o.max_hu;
    }
  }
  // 8-connected regions; keep those of at least min_region_px.
  int64_t total = 0;
  std::vector<uint8_t> seen(n, 0);
  std::vector<size_t> stack, region;
  for (size_t start = 0; start < n; ++start) {
    if (!blood[start] || seen[start]) continue;
    region.clear();
    stack.push_back(start);
    seen[start] = 1;
    while (!stack.empty()) {
      const size_t i = stack.back();
      stack.pop_back();
      region.push_back(i);
      const int y = static_cast<int>(i / cols), x = static_cast<int>(i % cols);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= rows || xx >= cols) continue;
          const size_t j = static_cast<size_t>(yy) * cols + xx;
          if (blood[j] && !seen[j]) {
            seen[j] = 1;
            stack.push_back(j);
          }
        }
      }
    }
    if (static_cast<int>(region.size()) >= o.min_region_px) total += static_cast<int64_t>(region.size());
  }
  return total;
}

}  // namespace

absl::StatusOr<IchVolumeEstimate> EstimateIchVolume(std::span<const dicom::PixelImage> slices,
                                                    std::span<const double> positions_mm,
                                                    std::span<const uint8_t> counted,
                                                    const IchVolumeOptions& options,
                                                    double fallback_thickness_mm) {
  if (slices.size() != positions_mm.size() || slices.size() != counted.size()) {
    return absl::InvalidArgumentError("ICH volume: " + std::to_string(slices.size()) + " slices, " +
                                      std::to_string(positions_mm.size()) + " positions and " +
                                      std::to_string(counted.size()) + " slice flags must match");
  }
  if (slices.empty()) return absl::InvalidArgumentError("ICH volume: no slices");
  IchVolumeEstimate out;
  if (slices.size() >= 2) {
    std::vector<double> gaps;
    for (size_t k = 1; k < positions_mm.size(); ++k) gaps.push_back(std::abs(positions_mm[k] - positions_mm[k - 1]));
    std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
    out.slice_spacing_mm = gaps[gaps.size() / 2];
  } else {
    out.slice_spacing_mm = fallback_thickness_mm;
  }
  if (!(out.slice_spacing_mm > 0)) {
    return absl::InvalidArgumentError("ICH volume: the slice spacing is unknown (positions coincide)");
  }
  const auto& first = slices.front();
  if (!(first.pixel_spacing_mm[0] > 0 && first.pixel_spacing_mm[1] > 0)) {
    return absl::InvalidArgumentError("ICH volume: the series has no pixel spacing");
  }
  out.voxel_ml = first.pixel_spacing_mm[0] * first.pixel_spacing_mm[1] * out.slice_spacing_mm / 1000.0;
  for (size_t k = 0; k < slices.size(); ++k) {
    if (slices[k].rows != first.rows || slices[k].columns != first.columns ||
        slices[k].values.size() != static_cast<size_t>(first.rows) * first.columns) {
      return absl::InvalidArgumentError("ICH volume: slice " + std::to_string(k + 1) + " differs in size");
    }
    if (!counted[k]) continue;
    ++out.slices_counted;
    out.voxels += BloodVoxels(slices[k], options);
  }
  out.volume_ml = static_cast<double>(out.voxels) * out.voxel_ml;
  return out;
}

}  // namespace parallax::inference
