#pragma once
// Tensor: a dense float32 array in row-major (C-contiguous) order, the only
// array type the inference library's callers see (no LibTorch types leak out
// of libs/inference). A plain value; not synchronised.
#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/status.h>

namespace parallax::inference {

struct Tensor {
  std::vector<int64_t> shape;  // e.g. {N, C, H, W} or {N, C, D, H, W}
  std::vector<float> data;     // row-major; size == product of shape
};

// Returns the product of `shape` (1 for an empty shape).
int64_t NumElements(const std::vector<int64_t>& shape);

// Returns "[1,1,64,64]" for messages.
std::string ShapeToString(const std::vector<int64_t>& shape);

// OK when every dimension is positive and data.size() equals the product of
// shape; otherwise INVALID_ARGUMENT saying which.
absl::Status ValidateTensor(const Tensor& tensor);

}  // namespace parallax::inference
