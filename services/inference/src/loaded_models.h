#pragma once
// The models one inference replica serves: each Model loaded from the model
// directory, its StudyAnalyzer, and what ListModels reports of it (weights
// digest, load time, device). Loading is all or nothing: a broken model stops
// start-up with a message naming its file.
//
// Thread-safety: immutable after LoadModels(); shared by every call.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/inference/model.h"
#include "parallax/inference/study_analysis.h"

namespace parallax::inference_service {

struct LoadedModel {
  std::unique_ptr<inference::Model> model;
  std::unique_ptr<inference::StudyAnalyzer> analyzer;
  std::string weights_sha256;
  std::chrono::system_clock::time_point loaded_at;
  double warmup_seconds = 0;  // one full-batch run at start-up
};

struct ModelLoadOptions {
  std::string device = "cpu";
  int intra_op_threads = 1;
  int batch_size = 16;
};

// Loads every model of `dir` (inference::LoadModelDirectory), hashes its
// weights and warms it up with one batch of `batch_size` items (a 2-D model:
// one item), so the first study does not pay for LibTorch's lazy plans.
// Errors: those of LoadModelDirectory (naming the file); FAILED_PRECONDITION
// for an unusable device; INTERNAL when the warm-up run fails (naming the
// model). An empty directory gives an empty list.
absl::StatusOr<std::vector<LoadedModel>> LoadModels(const std::string& dir, const ModelLoadOptions& options);

}  // namespace parallax::inference_service
