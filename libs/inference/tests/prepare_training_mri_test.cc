// parallax-prepare-training on a brain MRI set: per-slice items with one
// channel per series role, through the analyzer's series selection.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace {
int RunMri(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("a brain MRI set becomes per-slice two-channel items with per-slice targets", "[inference]") {
  parallax::testing::TempDir dir;
  const std::string bin = parallax::testing::BinDir();
  const std::string set = (dir.path() / "set").string();
  std::string out;
  REQUIRE(RunMri(bin + "/libs/phantom/tools/parallax-synth --kind brain_mri --out " + set +
                     " --seed 70 --count 2 --findings Metastases --difficulty 0.2",
                 &out) == 0);
  const std::string prefix = (dir.path() / "mri").string();
  const std::string manifest = parallax::testing::SourceDir() + "/libs/inference/tests/data/probe_mri.json";
  INFO(out);
  REQUIRE(RunMri(bin + "/libs/inference/tools/parallax-prepare-training --set " + set + " --manifest " + manifest +
                     " --out " + prefix,
                 &out) == 0);
  // 2 studies x 24 slices, 2 x 32 x 32 float32 each; 4 labels.
  CHECK(std::filesystem::file_size(prefix + ".x.f32") == 48u * 2 * 32 * 32 * 4);
  CHECK(std::filesystem::file_size(prefix + ".y.f32") == 48u * 4 * 4);
  std::ifstream y(prefix + ".y.f32", std::ios::binary);
  std::vector<float> targets(48 * 4);
  y.read(reinterpret_cast<char*>(targets.data()), static_cast<std::streamsize>(targets.size() * 4));
  int metastasis_slices = 0, other = 0;
  for (int i = 0; i < 48; ++i) {
    metastasis_slices += targets[i * 4 + 2] > 0.5f;
    other += (targets[i * 4 + 0] + targets[i * 4 + 1] + targets[i * 4 + 3]) > 0.5f;
  }
  CHECK(metastasis_slices > 0);
  CHECK(metastasis_slices < 48);  // per-slice targets, not the study label on every slice
  CHECK(other == 0);
  std::ifstream index(prefix + ".json");
  auto j = nlohmann::json::parse(index);
  CHECK(j["count"] == 48);
  CHECK(j["shape"] == nlohmann::json::array({48, 2, 32, 32}));
}
