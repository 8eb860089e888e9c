#pragma once
// A model directory holds one `<name>.json` manifest and one `<name>.pt`
// TorchScript file per model. Stateless and thread-safe.
#include <memory>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/inference/model.h"

namespace parallax::inference {

// Loads every model of `dir`, ordered by file name. All or nothing: returns
//   NOT_FOUND         `dir` is not a directory;
//   INVALID_ARGUMENT  a manifest without its .pt (or a .pt without its
//                     manifest), a manifest that does not parse, a model that
//                     fails Model::Load, or two models with the same id.
// Each message names the offending file. An empty directory gives no models.
absl::StatusOr<std::vector<std::unique_ptr<Model>>> LoadModelDirectory(
    const std::string& dir, const LoadOptions& opts = {});

}  // namespace parallax::inference
