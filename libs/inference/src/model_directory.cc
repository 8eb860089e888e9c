#include "parallax/inference/model_directory.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <absl/strings/str_cat.h>

#include "parallax/inference/model_manifest.h"

namespace parallax::inference {
namespace fs = std::filesystem;

absl::StatusOr<std::vector<std::unique_ptr<Model>>> LoadModelDirectory(const std::string& dir,
                                                                       const LoadOptions& opts) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model directory ", dir, " does not exist"));
  }
  // stem -> which of the pair are present
  std::map<std::string, std::pair<bool, bool>> pairs;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const fs::path& p = entry.path();
    if (p.extension() == ".json") pairs[p.stem().string()].first = true;
    if (p.extension() == ".pt") pairs[p.stem().string()].second = true;
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list model directory ", dir, ": ", ec.message()));

  std::vector<std::unique_ptr<Model>> models;
  std::set<std::string> ids;
  for (const auto& [stem, present] : pairs) {
    const std::string json_path = (fs::path(dir) / (stem + ".json")).string();
    const std::string pt_path = (fs::path(dir) / (stem + ".pt")).string();
    if (!present.second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model directory ", dir, ": manifest ", json_path, " has no TorchScript file ", pt_path));
    }
    if (!present.first) {
      return absl::InvalidArgumentError(
          absl::StrCat("model directory ", dir, ": model file ", pt_path, " has no manifest ", json_path));
    }
    std::ifstream in(json_path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return absl::UnavailableError(absl::StrCat("cannot read manifest ", json_path));
    absl::StatusOr<ModelManifest> manifest = ParseModelManifest(text.str());
    if (!manifest.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("manifest ", json_path, ": ", manifest.status().message()));
    }
    if (!ids.insert(manifest->id).second) {
      return absl::InvalidArgumentError(absl::StrCat("manifest ", json_path, ": model id ", manifest->id,
                                                     " is already used by another model in ", dir));
    }
    absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(pt_path, *std::move(manifest), opts);
    if (!model.ok()) {
      return absl::Status(model.status().code(),
                          absl::StrCat("model directory ", dir, ": ", model.status().message()));
    }
    models.push_back(*std::move(model));
  }
  return models;
}

}  // namespace parallax::inference
