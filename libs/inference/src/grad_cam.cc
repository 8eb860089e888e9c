// Grad-CAM in plain C++ over Model::LogitGradientWrtFeatures (no LibTorch
// here: model.cc stays the only translation unit that includes it).
#include "parallax/inference/grad_cam.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace parallax::inference {
namespace {

// Bilinear resize of an h x w map to H x W with pixel centres aligned
// (align_corners = false), as preprocess.cc resizes frames.
std::vector<float> Upsample(const std::vector<double>& in, int h, int w, int height, int width) {
  std::vector<float> out(static_cast<size_t>(height) * width);
  const double sy = static_cast<double>(h) / height;
  const double sx = static_cast<double>(w) / width;
  for (int y = 0; y < height; ++y) {
    const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, static_cast<double>(h - 1));
    const int y0 = static_cast<int>(fy);
    const int y1 = std::min(y0 + 1, h - 1);
    const double wy = fy - y0;
    for (int x = 0; x < width; ++x) {
      const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, static_cast<double>(w - 1));
      const int x0 = static_cast<int>(fx);
      const int x1 = std::min(x0 + 1, w - 1);
      const double wx = fx - x0;
      auto at = [&](int r, int c) { return in[static_cast<size_t>(r) * w + c]; };
      const double top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
      const double bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
      out[static_cast<size_t>(y) * width + x] = static_cast<float>(top * (1 - wy) + bottom * wy);
    }
  }
  return out;
}

int ToOriginal(int index, int input_size, int original_size) {
  const double v = (index + 0.5) * static_cast<double>(original_size) / input_size - 0.5;
  return std::clamp(static_cast<int>(std::lround(v)), 0, original_size - 1);
}

absl::Status Check2d(const Model& model) {
  const InputSpec& spec = model.manifest().input;
  if (spec.depth != 1) {
    return absl::InvalidArgumentError("Grad-CAM supports 2-D models only; model " + model.manifest().id +
                                      " has input depth " + std::to_string(spec.depth));
  }
  return absl::OkStatus();
}

// The map of one item from its features and gradient (K planes of h x w each).
Heatmap CamOf(const InputSpec& spec, const float* features, const float* gradient, int64_t k, int h, int w,
              float logit, CamMethod method) {
  const size_t plane = static_cast<size_t>(h) * w;
  std::vector<double> cam(plane, 0.0);
  for (int64_t c = 0; c < k; ++c) {
    const float* grad = gradient + c * plane;
    const float* act = features + c * plane;
    if (method == CamMethod::kHiResCam) {
      for (size_t i = 0; i < plane; ++i) cam[i] += static_cast<double>(grad[i]) * act[i];
      continue;
    }
    if (method == CamMethod::kLayerCam) {
      for (size_t i = 0; i < plane; ++i) cam[i] += std::max(static_cast<double>(grad[i]), 0.0) * act[i];
      continue;
    }
    double weight = 0;
    for (size_t i = 0; i < plane; ++i) weight += grad[i];
    weight /= static_cast<double>(plane);
    if (weight == 0) continue;
    for (size_t i = 0; i < plane; ++i) cam[i] += weight * act[i];
  }
  for (double& v : cam) v = std::isfinite(v) ? std::max(v, 0.0) : 0.0;

  Heatmap out;
  out.height = spec.height;
  out.width = spec.width;
  out.feature_height = h;
  out.feature_width = w;
  out.logit = logit;
  out.values = Upsample(cam, h, w, spec.height, spec.width);
  size_t best = 0;
  for (size_t i = 1; i < out.values.size(); ++i) {
    if (out.values[i] > out.values[best]) best = i;
  }
  out.raw_max = out.values.empty() ? 0.0f : out.values[best];
  if (!(out.raw_max > 0) || !std::isfinite(out.raw_max)) {
    std::fill(out.values.begin(), out.values.end(), 0.0f);
    out.raw_max = 0;
    return out;
  }
  for (float& v : out.values) v = std::clamp(v / out.raw_max, 0.0f, 1.0f);
  out.empty = false;
  out.peak_row = static_cast<int>(best / static_cast<size_t>(spec.width));
  out.peak_column = static_cast<int>(best % static_cast<size_t>(spec.width));
  return out;
}

}  // namespace

absl::StatusOr<Heatmap> GradCam(const Model& model, const Tensor& input, int label_index, CamMethod method) {
  if (absl::Status s = Check2d(model); !s.ok()) return s;
  absl::StatusOr<FeatureGradient> g = model.LogitGradientWrtFeatures(input, label_index);
  if (!g.ok()) return g.status();
  const std::vector<int64_t>& shape = g->features.shape;
  if (shape.size() != 4 || shape[0] != 1 || g->gradient.shape != shape) {
    return absl::FailedPreconditionError("Grad-CAM needs features(x) of shape [1, K, h, w]; model " +
                                         model.manifest().id + " gives " + ShapeToString(shape));
  }
  return CamOf(model.manifest().input, g->features.data.data(), g->gradient.data.data(), shape[1],
               static_cast<int>(shape[2]), static_cast<int>(shape[3]), g->logit, method);
}

absl::StatusOr<std::vector<Heatmap>> GradCamBatch(const Model& model, const Tensor& input, int label_index,
                                                  CamMethod method) {
  if (absl::Status s = Check2d(model); !s.ok()) return s;
  absl::StatusOr<FeatureGradients> g = model.LogitGradientsWrtFeatures(input, label_index);
  if (!g.ok()) return g.status();
  const std::vector<int64_t>& shape = g->features.shape;
  if (shape.size() != 4 || shape[0] != input.shape[0] || g->gradient.shape != shape ||
      g->logits.size() != static_cast<size_t>(shape[0])) {
    return absl::FailedPreconditionError("Grad-CAM needs features(x) of shape [N, K, h, w]; model " +
                                         model.manifest().id + " gives " + ShapeToString(shape));
  }
  const size_t item = static_cast<size_t>(shape[1] * shape[2] * shape[3]);
  std::vector<Heatmap> out;
  out.reserve(static_cast<size_t>(shape[0]));
  for (int64_t n = 0; n < shape[0]; ++n) {
    out.push_back(CamOf(model.manifest().input, g->features.data.data() + n * item,
                        g->gradient.data.data() + n * item, shape[1], static_cast<int>(shape[2]),
                        static_cast<int>(shape[3]), g->logits[static_cast<size_t>(n)], method));
  }
  return out;
}

ImagePoint InputPixelToImage(const Heatmap& heatmap, int slice, int row, int column, int original_rows,
                             int original_columns) {
  return {slice, ToOriginal(row, heatmap.height, original_rows), ToOriginal(column, heatmap.width, original_columns)};
}

absl::StatusOr<ImagePoint> HeatmapPeakInImage(const Heatmap& heatmap, int slice, int original_rows,
                                              int original_columns) {
  if (original_rows < 1 || original_columns < 1 || slice < 0 || heatmap.height < 1 || heatmap.width < 1) {
    return absl::InvalidArgumentError("HeatmapPeakInImage needs a positive image size, a heatmap and a slice >= 0");
  }
  if (heatmap.empty) return absl::FailedPreconditionError("the heatmap is empty (no positive evidence): no peak");
  return InputPixelToImage(heatmap, slice, heatmap.peak_row, heatmap.peak_column, original_rows, original_columns);
}

}  // namespace parallax::inference
