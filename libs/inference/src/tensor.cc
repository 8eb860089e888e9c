#include "parallax/inference/tensor.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

namespace parallax::inference {

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::Status ValidateTensor(const Tensor& tensor) {
  for (int64_t d : tensor.shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor shape ", ShapeToString(tensor.shape), " has a non-positive dimension"));
    }
  }
  if (static_cast<int64_t>(tensor.data.size()) != NumElements(tensor.shape)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor of shape ", ShapeToString(tensor.shape),
                                                   " needs ", NumElements(tensor.shape),
                                                   " values but holds ", tensor.data.size()));
  }
  return absl::OkStatus();
}

}  // namespace parallax::inference
