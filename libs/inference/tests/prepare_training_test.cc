// parallax-prepare-training turns a phantom set into training arrays through
// the service's own decoding and preprocessing.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace {
int Run(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("a phantom chest set becomes N x C x H x W inputs and multi-hot targets", "[inference]") {
  parallax::testing::TempDir dir;
  const std::string bin = parallax::testing::BinDir();
  const std::string set = (dir.path() / "set").string();
  std::string out;
  REQUIRE(Run(bin + "/libs/phantom/tools/parallax-synth --kind chest_xray --out " + set +
                  " --seed 40 --count 2 --findings Effusion",
              &out) == 0);
  REQUIRE(Run(bin + "/libs/phantom/tools/parallax-synth --kind chest_xray --out " + set +
                  " --seed 50 --count 2 --normal-fraction 1",
              &out) == 0);
  const std::string prefix = (dir.path() / "train").string();
  const std::string manifest = parallax::testing::SourceDir() + "/scripts/models/chest_xray.example.json";
  INFO(out);
  REQUIRE(Run(bin + "/libs/inference/tools/parallax-prepare-training --set " + set + " --manifest " + manifest +
                  " --out " + prefix,
              &out) == 0);
  // 4 studies x 1 x 128 x 128 float32 inputs; 4 x 3 float32 targets.
  CHECK(std::filesystem::file_size(prefix + ".x.f32") == 4u * 128 * 128 * 4);
  CHECK(std::filesystem::file_size(prefix + ".y.f32") == 4u * 3 * 4);
  std::ifstream y(prefix + ".y.f32", std::ios::binary);
  std::vector<float> targets(12);
  y.read(reinterpret_cast<char*>(targets.data()), 48);
  float effusions = 0, others = 0;
  for (int i = 0; i < 4; ++i) {
    effusions += targets[i * 3 + 1];
    others += targets[i * 3 + 0] + targets[i * 3 + 2];
  }
  CHECK(effusions == 2.0f);  // the two studies drawn with an effusion, and only those
  CHECK(others == 0.0f);
  std::ifstream index(prefix + ".json");
  auto j = nlohmann::json::parse(index);
  CHECK(j["count"] == 4);
}

TEST_CASE("a set folder without its manifest is refused naming it", "[inference]") {
  parallax::testing::TempDir dir;
  std::string out;
  const int code = Run(parallax::testing::BinDir() + "/libs/inference/tools/parallax-prepare-training --set " +
                           dir.path().string() + " --manifest " + parallax::testing::SourceDir() +
                           "/scripts/models/chest_xray.example.json --out " + (dir.path() / "x").string(),
                       &out);
  CHECK(code != 0);
  CHECK(out.find("manifest.csv") != std::string::npos);
}
