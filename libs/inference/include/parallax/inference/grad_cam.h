#pragma once
// Grad-CAM through the Parallax model contract (ARCHITECTURE.md, Models):
// with A = features(x) ([1, K, h, w]) and y = head(A)[label],
//   w_k  = mean over (i, j) of dy / dA_k[i, j]      (channel weights)
//   cam  = ReLU(sum_k w_k * A_k)                     (h x w)
// then upsampled to the model input's H x W (bilinear, pixel centres aligned,
// the same resize preprocess.h uses) and divided by its maximum, so values
// lie in [0, 1]; a map with no positive value is all zeros ("empty").
//
// HeatmapPeakInImage maps the peak back to the original image: preprocessing
// resizes the whole frame to H x W (no crop, no padding), so input pixel
// centre (r, c) is original pixel ((r + 0.5) * rows / H - 0.5,
// (c + 0.5) * columns / W - 0.5), rounded and clamped.
//
// CamMethod::kHiResCam (an option, not the default) keeps the gradient's
// spatial layout instead of averaging it: cam = ReLU(sum_k dy/dA_k * A_k)
// (Draelos & Carin, "HiResCAM", 2020); for a head that is a global average
// pool plus a linear layer it equals Grad-CAM, for a non-linear head it shows
// where the logit's first-order evidence lies. Measured on the reference
// head CT model: standard Grad-CAM at features() is empty (every value <= 0)
// on most positive slices, HiResCAM is not.
//
// CamMethod::kLayerCam keeps only the positive part of the gradient:
// cam = ReLU(sum_k ReLU(dy/dA_k) * A_k) (Jiang et al., "LayerCAM", IEEE TIP
// 2021), made for the shallow, high-resolution layers where Grad-CAM's
// channel average cancels out. The reference models split features() after
// their first block for it (models/README.md: the pointing game per method).
//
// Only 2-D models (input depth 1, features [1, K, h, w]); a 3-D model is
// refused. Thread-safe like Model (pure functions over a const Model).
// No LibTorch types here: the gradient comes from
// Model::LogitGradientWrtFeatures.
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/inference/model.h"
#include "parallax/inference/tensor.h"

namespace parallax::inference {

enum class CamMethod {
  kGradCam,   // channel weights = spatial mean of the gradient (the default)
  kHiResCam,  // element-wise gradient x activation, summed over channels
  kLayerCam,  // element-wise positive gradient x activation, summed over channels
};

struct Heatmap {
  int height = 0, width = 0;     // the model input's H and W
  std::vector<float> values;     // row-major H x W, in [0, 1]
  bool empty = true;             // no positive evidence: values all 0, peak -1
  int peak_row = -1;             // argmax of values (first in row-major order)
  int peak_column = -1;
  float raw_max = 0;             // max of the upsampled ReLU map before normalising
  int feature_height = 0, feature_width = 0;  // h, w of features(x)
  float logit = 0;               // the target logit head(features(x))[label]
};

// Grad-CAM of label `label_index` (manifest order) for `input`, one
// preprocessed item of shape manifest().input.Shape(1). Errors:
// INVALID_ARGUMENT for a wrong input shape, more than one item, a label index
// out of range, or a 3-D model; FAILED_PRECONDITION when the model as loaded
// cannot back-propagate through head() (see Model::LogitGradientWrtFeatures)
// or its features are not [1, K, h, w]; INTERNAL when LibTorch fails.
absl::StatusOr<Heatmap> GradCam(const Model& model, const Tensor& input, int label_index,
                                CamMethod method = CamMethod::kGradCam);

// GradCam of every item of `input` (shape manifest().input.Shape(N), N >= 1)
// from one backward pass (Model::LogitGradientsWrtFeatures): item n's map
// equals GradCam of that item alone within float rounding (batched
// convolutions may sum in another order). Errors as GradCam, without the
// one-item rule.
absl::StatusOr<std::vector<Heatmap>> GradCamBatch(const Model& model, const Tensor& input, int label_index,
                                                  CamMethod method = CamMethod::kGradCam);

// A point of the original image: the item (slice) index in the analysed
// series order, and the pixel's row and column in the original matrix.
struct ImagePoint {
  int slice = 0;
  int row = 0;
  int column = 0;
};

// The heatmap's peak in the original image of `original_rows` x
// `original_columns` pixels, for item `slice` (passed through). Errors:
// INVALID_ARGUMENT for a non-positive size or slice, FAILED_PRECONDITION for
// an empty heatmap (no peak).
absl::StatusOr<ImagePoint> HeatmapPeakInImage(const Heatmap& heatmap, int slice, int original_rows,
                                              int original_columns);

// The same mapping for any heatmap pixel (row, column) in [0, H) x [0, W).
ImagePoint InputPixelToImage(const Heatmap& heatmap, int slice, int row, int column, int original_rows,
                             int original_columns);

}  // namespace parallax::inference
