#include "parallax/inference/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace parallax::inference {
namespace {

// Bilinear resize with pixel centres aligned (align_corners = false).
void Resize(const dicom::PixelImage& in, int height, int width, std::vector<float>* out) {
  out->resize(static_cast<size_t>(height) * width);
  const double sy = static_cast<double>(in.rows) / height;
  const double sx = static_cast<double>(in.columns) / width;
  for (int y = 0; y < height; ++y) {
    const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, static_cast<double>(in.rows - 1));
    const int y0 = static_cast<int>(fy);
    const int y1 = std::min(y0 + 1, in.rows - 1);
    const double wy = fy - y0;
    for (int x = 0; x < width; ++x) {
      const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, static_cast<double>(in.columns - 1));
      const int x0 = static_cast<int>(fx);
      const int x1 = std::min(x0 + 1, in.columns - 1);
      const double wx = fx - x0;
      auto at = [&](int r, int c) { return static_cast<double>(in.values[static_cast<size_t>(r) * in.columns + c]); };
      const double top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
      const double bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
      (*out)[static_cast<size_t>(y) * width + x] = static_cast<float>(top * (1 - wy) + bottom * wy);
    }
  }
}

absl::Status CheckSpec(const InputSpec& spec) {
  if (spec.channels < 1 || spec.height < 1 || spec.width < 1 || spec.depth < 1) {
    return absl::InvalidArgumentError("the manifest's input has a non-positive dimension");
  }
  if (!spec.windows.empty() && static_cast<int>(spec.windows.size()) != spec.channels) {
    return absl::InvalidArgumentError("the manifest has " + std::to_string(spec.windows.size()) +
                                      " windows for " + std::to_string(spec.channels) + " channels");
  }
  if (spec.windows.empty() && !spec.normalisation) {
    return absl::InvalidArgumentError("the manifest's input has neither windows nor a normalisation");
  }
  return absl::OkStatus();
}

absl::Status CheckFrame(const dicom::PixelImage& frame) {
  if (frame.rows < 1 || frame.columns < 1 ||
      frame.values.size() != static_cast<size_t>(frame.rows) * frame.columns) {
    return absl::InvalidArgumentError("an empty or inconsistent frame cannot be preprocessed");
  }
  return absl::OkStatus();
}

// Writes the C channel planes of one resized frame at `out`.
void Channels(const std::vector<float>& resized, const InputSpec& spec, float* out) {
  const size_t plane = resized.size();
  for (int c = 0; c < spec.channels; ++c) {
    float* dst = out + static_cast<size_t>(c) * plane;
    if (!spec.windows.empty()) {
      const double lo = spec.windows[static_cast<size_t>(c)].center - spec.windows[static_cast<size_t>(c)].width / 2;
      const double width = spec.windows[static_cast<size_t>(c)].width;
      for (size_t i = 0; i < plane; ++i) dst[i] = static_cast<float>(std::clamp((resized[i] - lo) / width, 0.0, 1.0));
    } else {
      const double mean = spec.normalisation->mean;
      const double sd = spec.normalisation->std;
      for (size_t i = 0; i < plane; ++i) dst[i] = static_cast<float>((resized[i] - mean) / sd);
    }
  }
}

}  // namespace

absl::StatusOr<Tensor> PreprocessFrame(const dicom::PixelImage& frame, const InputSpec& spec) {
  if (absl::Status s = CheckSpec(spec); !s.ok()) return s;
  if (spec.depth != 1) return absl::InvalidArgumentError("PreprocessFrame needs a 2-D model (depth 1)");
  if (absl::Status s = CheckFrame(frame); !s.ok()) return s;
  Tensor t;
  t.shape = spec.Shape(1);
  t.data.resize(static_cast<size_t>(NumElements(t.shape)));
  std::vector<float> resized;
  Resize(frame, spec.height, spec.width, &resized);
  Channels(resized, spec, t.data.data());
  return t;
}

absl::StatusOr<Tensor> PreprocessSlices(std::span<const dicom::PixelImage> slices, const InputSpec& spec) {
  if (absl::Status s = CheckSpec(spec); !s.ok()) return s;
  if (slices.empty()) return absl::InvalidArgumentError("no slices to preprocess");
  for (const auto& s : slices) {
    if (absl::Status st = CheckFrame(s); !st.ok()) return st;
    if (s.rows != slices[0].rows || s.columns != slices[0].columns) {
      return absl::InvalidArgumentError("the slices of a series differ in size");
    }
  }
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
  std::vector<float> resized;
  Tensor t;
  if (spec.depth == 1) {
    t.shape = spec.Shape(static_cast<int64_t>(slices.size()));
    t.data.resize(static_cast<size_t>(NumElements(t.shape)));
    for (size_t n = 0; n < slices.size(); ++n) {
      Resize(slices[n], spec.height, spec.width, &resized);
      Channels(resized, spec, t.data.data() + n * spec.channels * plane);
    }
    return t;
  }
  // 3-D: {1, C, D, H, W}; slice d of the input takes the nearest source slice.
  t.shape = spec.Shape(1);
  t.data.resize(static_cast<size_t>(NumElements(t.shape)));
  std::vector<float> channels(static_cast<size_t>(spec.channels) * plane);
  for (int d = 0; d < spec.depth; ++d) {
    const size_t source = std::min(slices.size() - 1,
                                   static_cast<size_t>((d + 0.5) * slices.size() / spec.depth));
    Resize(slices[source], spec.height, spec.width, &resized);
    Channels(resized, spec, channels.data());
    for (int c = 0; c < spec.channels; ++c) {
      std::copy_n(channels.data() + static_cast<size_t>(c) * plane, plane,
                  t.data.data() + (static_cast<size_t>(c) * spec.depth + d) * plane);
    }
  }
  return t;
}

}  // namespace parallax::inference
