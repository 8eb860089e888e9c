#include "parallax/inference/model_directory.h"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parallax/testing/temp_dir.h"
#include "test_data.h"

namespace parallax::inference {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Installs tiny.pt (or `model_file`) as <name>.pt with tiny.json renamed to `id`.
void Install(const fs::path& dir, const std::string& name, const std::string& id,
             const std::string& model_file = "tiny.pt") {
  fs::copy_file(test::DataPath(model_file), dir / (name + ".pt"));
  json manifest = json::parse(test::ReadText(test::DataPath("tiny.json")));
  manifest["id"] = id;
  std::ofstream(dir / (name + ".json")) << manifest.dump(2);
}

TEST_CASE("a model directory loads every manifest and TorchScript pair in name order", "[inference]") {
  parallax::testing::TempDir dir;
  Install(dir.path(), "b_effusion", "parallax.test.b");
  Install(dir.path(), "a_pneumothorax", "parallax.test.a");
  std::ofstream(dir.path() / "README.txt") << "ignored\n";
  auto models = LoadModelDirectory(dir.path().string());
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  REQUIRE(models->size() == 2);
  CHECK((*models)[0]->manifest().id == "parallax.test.a");
  CHECK((*models)[1]->manifest().id == "parallax.test.b");
}

TEST_CASE("one broken model fails the whole directory load naming its file", "[inference]") {
  parallax::testing::TempDir dir;
  Install(dir.path(), "good", "parallax.test.good");
  Install(dir.path(), "broken", "parallax.test.broken", "tiny_no_head.pt");
  auto models = LoadModelDirectory(dir.path().string());
  REQUIRE_FALSE(models.ok());
  CHECK(models.status().code() == absl::StatusCode::kInvalidArgument);
  INFO(models.status().message());
  CHECK(std::string(models.status().message()).find((dir.path() / "broken.pt").string() + " lacks method head()") !=
        std::string::npos);
}

TEST_CASE("a manifest without its TorchScript file fails the directory load", "[inference]") {
  parallax::testing::TempDir dir;
  Install(dir.path(), "good", "parallax.test.good");
  fs::remove(dir.path() / "good.pt");
  auto models = LoadModelDirectory(dir.path().string());
  REQUIRE_FALSE(models.ok());
  INFO(models.status().message());
  CHECK(std::string(models.status().message()).find("good.json has no TorchScript file") != std::string::npos);
}

TEST_CASE("a bad manifest fails the directory load naming the manifest and field", "[inference]") {
  parallax::testing::TempDir dir;
  Install(dir.path(), "good", "parallax.test.good");
  json manifest = json::parse(test::ReadText((dir.path() / "good.json").string()));
  manifest["labels"][0]["operating_point"] = 2;
  std::ofstream(dir.path() / "good.json") << manifest.dump();
  auto models = LoadModelDirectory(dir.path().string());
  REQUIRE_FALSE(models.ok());
  CHECK(models.status().message() == "manifest " + (dir.path() / "good.json").string() +
                                         ": labels[0].operating_point must be within [0,1] (got 2)");
}

TEST_CASE("two models with the same id fail the directory load", "[inference]") {
  parallax::testing::TempDir dir;
  Install(dir.path(), "one", "parallax.test.same");
  Install(dir.path(), "two", "parallax.test.same");
  auto models = LoadModelDirectory(dir.path().string());
  REQUIRE_FALSE(models.ok());
  INFO(models.status().message());
  CHECK(std::string(models.status().message()).find("model id parallax.test.same is already used") !=
        std::string::npos);
}

TEST_CASE("a missing model directory is NOT_FOUND", "[inference]") {
  auto models = LoadModelDirectory("/nonexistent/models");
  REQUIRE_FALSE(models.ok());
  CHECK(models.status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace parallax::inference
