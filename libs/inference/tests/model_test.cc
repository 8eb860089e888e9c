#include "parallax/inference/model.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parallax/testing/temp_dir.h"
#include "test_data.h"

namespace parallax::inference {
namespace {

using nlohmann::json;

ModelManifest TinyManifest() {
  absl::StatusOr<ModelManifest> m = ParseModelManifest(test::ReadText(test::DataPath("tiny.json")));
  REQUIRE(m.ok());
  return *m;
}

struct Probe {
  Tensor input;
  std::vector<float> logits;
};

Probe TinyProbe() {
  json j = json::parse(test::ReadText(test::DataPath("tiny_probe.json")));
  Probe p;
  p.input.shape = j["shape"].get<std::vector<int64_t>>();
  for (double v : j["input"]) p.input.data.push_back(static_cast<float>(v));
  for (double v : j["logits"]) p.logits.push_back(static_cast<float>(v));
  return p;
}

std::unique_ptr<Model> LoadTiny(const LoadOptions& opts = {}) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(test::DataPath("tiny.pt"), TinyManifest(), opts);
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  return *std::move(model);
}

float MaxAbsDifference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST_CASE("the tiny model loads and keeps its manifest", "[inference]") {
  std::unique_ptr<Model> model = LoadTiny();
  CHECK(model->manifest().id == "parallax.test.tiny");
  CHECK(model->path() == test::DataPath("tiny.pt"));
}

TEST_CASE("C++ logits equal the logits PyTorch computed for the probe input", "[inference]") {
  Probe probe = TinyProbe();
  REQUIRE(probe.logits.size() == 3);
  for (bool freeze : {false, true}) {
    INFO("freeze = " << freeze);
    std::unique_ptr<Model> model = LoadTiny({.intra_op_threads = 1, .freeze = freeze});
    absl::StatusOr<std::vector<float>> logits = model->Logits(probe.input);
    REQUIRE(logits.ok());
    float diff = MaxAbsDifference(*logits, probe.logits);
    INFO("max |C++ - Python| logit difference: " << diff);
    CHECK(diff <= 1e-4f);

    absl::StatusOr<std::vector<float>> probabilities = model->Probabilities(probe.input);
    REQUIRE(probabilities.ok());
    for (size_t i = 0; i < 3; ++i) {
      CHECK((*probabilities)[i] == Approx(1.0 / (1.0 + std::exp(-probe.logits[i]))).margin(1e-5));
    }
  }
}

TEST_CASE("a batch gives one row of logits per input", "[inference]") {
  Probe probe = TinyProbe();
  std::unique_ptr<Model> model = LoadTiny();
  Tensor batch{.shape = {2, 1, 64, 64}, .data = probe.input.data};
  std::vector<float> zeros(probe.input.data.size(), 0.0f);
  batch.data.insert(batch.data.end(), zeros.begin(), zeros.end());
  absl::StatusOr<std::vector<float>> logits = model->Logits(batch);
  REQUIRE(logits.ok());
  REQUIRE(logits->size() == 6);
  CHECK(MaxAbsDifference({logits->begin(), logits->begin() + 3}, probe.logits) <= 1e-4f);
  CHECK(MaxAbsDifference({logits->begin() + 3, logits->end()}, probe.logits) > 1e-3f);
}

TEST_CASE("features are the last conv activation and head of them gives the logits", "[inference]") {
  Probe probe = TinyProbe();
  std::unique_ptr<Model> model = LoadTiny();
  absl::StatusOr<FeatureResult> result = model->Features(probe.input);
  REQUIRE(result.ok());
  CHECK(result->features.shape == std::vector<int64_t>{1, 8, 16, 16});
  CHECK(result->features.data.size() == 8 * 16 * 16);
  CHECK(MaxAbsDifference(result->logits, probe.logits) <= 1e-4f);
}

TEST_CASE("concurrent Logits calls on one model agree with a single call", "[inference]") {
  Probe probe = TinyProbe();
  std::unique_ptr<Model> model = LoadTiny();
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        absl::StatusOr<std::vector<float>> logits = model->Logits(probe.input);
        if (!logits.ok()) return;
        results[t] = *logits;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::vector<float>& r : results) CHECK(MaxAbsDifference(r, probe.logits) <= 1e-4f);
}

TEST_CASE("the model reports the device it runs on, cpu by default", "[inference]") {
  std::unique_ptr<Model> model = LoadTiny();
  CHECK(model->device() == "cpu");
}

TEST_CASE("an unknown device name is refused naming it", "[inference]") {
  LoadOptions opts;
  opts.device = "tpu";
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(test::DataPath("tiny.pt"), TinyManifest(), opts);
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(model.status().message()).find("tpu") != std::string::npos);
}

TEST_CASE("asking for CUDA runs there when a device exists and is refused clearly when not", "[inference]") {
  LoadOptions opts;
  opts.device = "cuda";
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(test::DataPath("tiny.pt"), TinyManifest(), opts);
  if (model.ok()) {
    // A CUDA machine: the same code path gives the same logits as on the CPU.
    Probe probe = TinyProbe();
    absl::StatusOr<std::vector<float>> logits = (*model)->Logits(probe.input);
    REQUIRE(logits.ok());
    for (size_t i = 0; i < probe.logits.size(); ++i) CHECK(std::abs((*logits)[i] - probe.logits[i]) < 1e-3);
    CHECK((*model)->device().rfind("cuda", 0) == 0);
  } else {
    CHECK(model.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(model.status().message()).find("CUDA") != std::string::npos);
  }
}

TEST_CASE("a missing model file is NOT_FOUND naming the file", "[inference]") {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load("/nonexistent/tiny.pt", TinyManifest(), {});
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == absl::StatusCode::kNotFound);
  CHECK(model.status().message() == "model file /nonexistent/tiny.pt does not exist");
}

TEST_CASE("a file that is not TorchScript is rejected as such", "[inference]") {
  parallax::testing::TempDir dir;
  std::string path = (dir.path() / "text.pt").string();
  std::ofstream(path) << "this is a text file, not a model\n";
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(path, TinyManifest(), {});
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
  INFO(model.status().message());
  CHECK(Contains(model.status(), "model file " + path + " is not a TorchScript archive"));
}

TEST_CASE("a module without head() is rejected naming the missing method", "[inference]") {
  std::string path = test::DataPath("tiny_no_head.pt");
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(path, TinyManifest(), {});
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
  INFO(model.status().message());
  CHECK(Contains(model.status(), "model file " + path + " lacks method head()"));
}

TEST_CASE("a module whose forward differs from head(features) breaks the contract", "[inference]") {
  std::string path = test::DataPath("tiny_mismatch.pt");
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(path, TinyManifest(), {});
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
  INFO(model.status().message());
  CHECK(Contains(model.status(), "model file " + path +
                                     " breaks the contract forward(x) == head(features(x)): max |difference| 1 "
                                     "exceeds 0.0001"));
}

TEST_CASE("a manifest whose label count differs from the model's outputs is rejected", "[inference]") {
  ModelManifest manifest = TinyManifest();
  manifest.labels.push_back(manifest.labels.back());
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(test::DataPath("tiny.pt"), manifest, {});
  REQUIRE_FALSE(model.ok());
  INFO(model.status().message());
  CHECK(Contains(model.status(), "gives 3 outputs (shape [1,3]) for one input but manifest parallax.test.tiny "
                                 "lists 4 labels"));
}

TEST_CASE("a manifest input shape the model cannot take is rejected at load", "[inference]") {
  ModelManifest manifest = TinyManifest();
  manifest.input.channels = 3;
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(test::DataPath("tiny.pt"), manifest, {});
  REQUIRE_FALSE(model.ok());
  INFO(model.status().message());
  CHECK(Contains(model.status(), "fails on an input of the manifest's shape [1,3,64,64]"));
}

TEST_CASE("an input of the wrong shape is rejected by Logits naming both shapes", "[inference]") {
  std::unique_ptr<Model> model = LoadTiny();
  Tensor small{.shape = {1, 1, 32, 32}, .data = std::vector<float>(32 * 32, 0.5f)};
  absl::StatusOr<std::vector<float>> logits = model->Logits(small);
  REQUIRE_FALSE(logits.ok());
  CHECK(logits.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(logits.status().message() ==
        "input shape [1,1,32,32] does not match model parallax.test.tiny's input [N,1,64,64]");

  Tensor short_data{.shape = {1, 1, 64, 64}, .data = std::vector<float>(10, 0.5f)};
  logits = model->Logits(short_data);
  REQUIRE_FALSE(logits.ok());
  CHECK(logits.status().message() == "tensor of shape [1,1,64,64] needs 4096 values but holds 10");

  CHECK_FALSE(model->Features(small).ok());
  CHECK_FALSE(model->Probabilities(small).ok());
}

}  // namespace
}  // namespace parallax::inference
