#include "loaded_models.h"

#include <absl/strings/str_cat.h>

#include "parallax/crypto/sha256.h"
#include "parallax/inference/model_directory.h"

namespace parallax::inference_service {

absl::StatusOr<std::vector<LoadedModel>> LoadModels(const std::string& dir, const ModelLoadOptions& options) {
  inference::LoadOptions load;
  load.device = options.device;
  load.intra_op_threads = options.intra_op_threads;
  absl::StatusOr<std::vector<std::unique_ptr<inference::Model>>> models = inference::LoadModelDirectory(dir, load);
  if (!models.ok()) return models.status();
  std::vector<LoadedModel> out;
  for (std::unique_ptr<inference::Model>& model : *models) {
    LoadedModel loaded;
    absl::StatusOr<std::string> digest = crypto::Sha256HexOfFile(model->path());
    if (!digest.ok()) return digest.status();
    loaded.weights_sha256 = *digest;
    // Per-slice models see full batches of slices; a radiograph model sees
    // one image at a time but a batch costs little here.
    const int items = model->manifest().input.depth == 1 ? options.batch_size : 1;
    inference::Tensor warm;
    warm.shape = model->manifest().input.Shape(items);
    int64_t n = 1;
    for (int64_t d : warm.shape) n *= d;
    warm.data.assign(static_cast<size_t>(n), 0.0f);
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::vector<float>> probe = model->Probabilities(warm);
    if (!probe.ok()) {
      return absl::InternalError(absl::StrCat("model ", model->manifest().id, " (", model->path(),
                                              ") fails its warm-up run: ", probe.status().message()));
    }
    loaded.warmup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    inference::AnalyzerOptions analyzer_options;
    analyzer_options.batch_size = options.batch_size;
    loaded.analyzer = std::make_unique<inference::StudyAnalyzer>(*model, analyzer_options);
    loaded.model = std::move(model);
    loaded.loaded_at = std::chrono::system_clock::now();
    out.push_back(std::move(loaded));
  }
  return out;
}

}  // namespace parallax::inference_service
