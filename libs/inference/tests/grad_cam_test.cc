#include "parallax/inference/grad_cam.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parallax/inference/preprocess.h"
#include "test_data.h"

// Fixtures: libs/inference/tests/make_grad_cam_fixtures.py (grad_cam_blob.*,
// grad_cam_reference.json) and scripts/models/make_test_model.py (tiny.*).
namespace parallax::inference {
namespace {

std::unique_ptr<Model> LoadModel(const std::string& name, const LoadOptions& opts = {}) {
  absl::StatusOr<ModelManifest> manifest = ParseModelManifest(test::ReadText(test::DataPath(name + ".json")));
  REQUIRE(manifest.ok());
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Load(test::DataPath(name + ".pt"), *manifest, opts);
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  return *std::move(model);
}

// A 1 x 1 x 32 x 32 input: 0 everywhere, +1 on rows 20-23 x columns 8-11
// (bright block) and -1 on rows 4-7 x columns 24-27 (dark block).
Tensor BlobInput() {
  Tensor t{{1, 1, 32, 32}, std::vector<float>(32 * 32, 0.0f)};
  for (int r = 20; r < 24; ++r)
    for (int c = 8; c < 12; ++c) t.data[r * 32 + c] = 1.0f;
  for (int r = 4; r < 8; ++r)
    for (int c = 24; c < 28; ++c) t.data[r * 32 + c] = -1.0f;
  return t;
}

float At(const Heatmap& h, int r, int c) { return h.values[static_cast<size_t>(r) * h.width + c]; }

void CheckRange(const Heatmap& h) {
  REQUIRE(h.values.size() == static_cast<size_t>(h.height) * h.width);
  const auto [lo, hi] = std::minmax_element(h.values.begin(), h.values.end());
  CHECK(*lo >= 0.0f);
  CHECK(*hi <= 1.0f);
  if (!h.empty) CHECK(*hi == 1.0f);
}

TEST_CASE("Grad-CAM peaks where the hand-built model's evidence is", "[inference][grad_cam]") {
  for (bool freeze : {false, true}) {
    INFO("freeze = " << freeze);
    std::unique_ptr<Model> model = LoadModel("grad_cam_blob", {.intra_op_threads = 1, .freeze = freeze});
    const Tensor x = BlobInput();

    // "bright": cam = brightness / 256 -> 1 on feature cells (10-11, 4-5);
    // upsampled x2 the plateau of 1 is input rows 21-22, columns 9-10.
    absl::StatusOr<Heatmap> bright = GradCam(*model, x, 0);
    INFO(bright.status().ToString());
    REQUIRE(bright.ok());
    CHECK(bright->height == 32);
    CHECK(bright->width == 32);
    CHECK(bright->feature_height == 16);
    CHECK(bright->feature_width == 16);
    CHECK_FALSE(bright->empty);
    CheckRange(*bright);
    CHECK(bright->peak_row == 21);
    CHECK(bright->peak_column == 9);
    CHECK(At(*bright, 22, 10) == Approx(1.0f));
    CHECK(At(*bright, 5, 25) == 0.0f);   // the dark block carries no "bright" evidence
    CHECK(At(*bright, 0, 0) == 0.0f);
    CHECK(bright->logit == Approx(16.0 / 1024.0));  // mean over 16x16 cells of 4 cells of 1

    // "dark": the dark block, rows 4-7 x columns 24-27 -> plateau rows 5-6, columns 25-26.
    absl::StatusOr<Heatmap> dark = GradCam(*model, x, 1);
    REQUIRE(dark.ok());
    CheckRange(*dark);
    CHECK(dark->peak_row == 5);
    CHECK(dark->peak_column == 25);
    CHECK(At(*dark, 21, 9) == 0.0f);

    // "never": ReLU(-brightness) has no positive value: an empty map.
    absl::StatusOr<Heatmap> never = GradCam(*model, x, 2);
    REQUIRE(never.ok());
    CHECK(never->empty);
    CHECK(never->peak_row == -1);
    CHECK(std::all_of(never->values.begin(), never->values.end(), [](float v) { return v == 0.0f; }));
    CHECK(HeatmapPeakInImage(*never, 0, 512, 512).status().code() == absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("Grad-CAM equals PyTorch's on the tiny model", "[inference][grad_cam]") {
  const nlohmann::json ref = nlohmann::json::parse(test::ReadText(test::DataPath("grad_cam_reference.json")));
  const nlohmann::json probe = nlohmann::json::parse(test::ReadText(test::DataPath("tiny_probe.json")));
  Tensor x;
  x.shape = probe["shape"].get<std::vector<int64_t>>();
  for (double v : probe["input"]) x.data.push_back(static_cast<float>(v));
  for (bool freeze : {false, true}) {
    INFO("freeze = " << freeze << " (with optimize_for_inference)");
    std::unique_ptr<Model> model = LoadModel("tiny", {.intra_op_threads = 1, .freeze = freeze});
    for (const auto& label : ref["labels"]) {
      const int index = label["label"].get<int>();
      INFO("label " << index);
      absl::StatusOr<Heatmap> h = GradCam(*model, x, index);
      INFO(h.status().ToString());
      REQUIRE(h.ok());
      CHECK(h->logit == Approx(label["logit"].get<double>()).margin(1e-4));
      const auto& expected = label["heatmap"];
      REQUIRE(h->values.size() == expected.size());
      float worst = 0;
      for (size_t i = 0; i < expected.size(); ++i) {
        worst = std::max(worst, std::abs(h->values[i] - expected[i].get<float>()));
      }
      INFO("max |C++ - PyTorch| = " << worst);
      CHECK(worst <= 1e-4f);
      const bool expected_empty =
          std::all_of(expected.begin(), expected.end(), [](const nlohmann::json& v) { return v.get<float>() == 0; });
      CHECK(h->empty == expected_empty);
    }
  }
}

TEST_CASE("HiResCAM keeps the gradient's layout", "[inference][grad_cam]") {
  std::unique_ptr<Model> model = LoadModel("grad_cam_blob");
  const Tensor x = BlobInput();
  // A mean-pool + linear head has a uniform gradient: HiResCAM equals Grad-CAM.
  for (int label : {0, 1, 2}) {
    absl::StatusOr<Heatmap> grad_cam = GradCam(*model, x, label);
    absl::StatusOr<Heatmap> hires = GradCam(*model, x, label, CamMethod::kHiResCam);
    REQUIRE(grad_cam.ok());
    REQUIRE(hires.ok());
    CHECK(hires->empty == grad_cam->empty);
    CHECK(hires->peak_row == grad_cam->peak_row);
    CHECK(hires->peak_column == grad_cam->peak_column);
    for (size_t i = 0; i < hires->values.size(); ++i) REQUIRE(hires->values[i] == Approx(grad_cam->values[i]).margin(1e-6));
  }
  // On the tiny model (non-uniform gradient after its conv layers) the map
  // is still a normalised, non-negative map.
  std::unique_ptr<Model> tiny = LoadModel("tiny");
  const nlohmann::json probe = nlohmann::json::parse(test::ReadText(test::DataPath("tiny_probe.json")));
  Tensor t;
  t.shape = probe["shape"].get<std::vector<int64_t>>();
  for (double v : probe["input"]) t.data.push_back(static_cast<float>(v));
  absl::StatusOr<Heatmap> h = GradCam(*tiny, t, 0, CamMethod::kHiResCam);
  REQUIRE(h.ok());
  CheckRange(*h);
}

TEST_CASE("LayerCAM keeps only the positive gradient's evidence", "[inference][grad_cam]") {
  // The blob model's gradient is uniform and >= 0 per channel for labels 0
  // and 1: LayerCAM equals Grad-CAM there.
  std::unique_ptr<Model> model = LoadModel("grad_cam_blob");
  const Tensor x = BlobInput();
  for (int label : {0, 1}) {
    absl::StatusOr<Heatmap> grad_cam = GradCam(*model, x, label);
    absl::StatusOr<Heatmap> layer = GradCam(*model, x, label, CamMethod::kLayerCam);
    REQUIRE(grad_cam.ok());
    REQUIRE(layer.ok());
    CHECK(layer->peak_row == grad_cam->peak_row);
    CHECK(layer->peak_column == grad_cam->peak_column);
    for (size_t i = 0; i < layer->values.size(); ++i) REQUIRE(layer->values[i] == Approx(grad_cam->values[i]).margin(1e-6));
  }
  // Label 2's gradient is negative wherever there is activation: no evidence.
  absl::StatusOr<Heatmap> never = GradCam(*model, x, 2, CamMethod::kLayerCam);
  REQUIRE(never.ok());
  CHECK(never->empty);

  // On the tiny model: ReLU(sum_k ReLU(dy/dA_k) * A_k) from the model's own
  // gradient, upsampled bilinearly with pixel centres aligned (as
  // grad_cam.h says) and divided by its maximum, is the map, value by value.
  std::unique_ptr<Model> tiny = LoadModel("tiny");
  const nlohmann::json probe = nlohmann::json::parse(test::ReadText(test::DataPath("tiny_probe.json")));
  Tensor t;
  t.shape = probe["shape"].get<std::vector<int64_t>>();
  for (double v : probe["input"]) t.data.push_back(static_cast<float>(v));
  for (int label = 0; label < static_cast<int>(tiny->manifest().labels.size()); ++label) {
    INFO("label " << label);
    absl::StatusOr<FeatureGradient> g = tiny->LogitGradientWrtFeatures(t, label);
    REQUIRE(g.ok());
    const int64_t k = g->features.shape[1], h = g->features.shape[2], w = g->features.shape[3];
    std::vector<double> cam(static_cast<size_t>(h * w), 0.0);
    for (int64_t c = 0; c < k; ++c)
      for (int64_t i = 0; i < h * w; ++i)
        cam[i] += std::max(static_cast<double>(g->gradient.data[c * h * w + i]), 0.0) * g->features.data[c * h * w + i];
    for (double& v : cam) v = std::max(v, 0.0);
    absl::StatusOr<Heatmap> layer = GradCam(*tiny, t, label, CamMethod::kLayerCam);
    REQUIRE(layer.ok());
    CheckRange(*layer);
    const int H = layer->height, W = layer->width;
    std::vector<double> up(static_cast<size_t>(H) * W);
    for (int y = 0; y < H; ++y) {
      const double fy = std::clamp((y + 0.5) * h / H - 0.5, 0.0, static_cast<double>(h - 1));
      const int y0 = static_cast<int>(fy), y1 = std::min<int>(y0 + 1, static_cast<int>(h - 1));
      for (int x = 0; x < W; ++x) {
        const double fx = std::clamp((x + 0.5) * w / W - 0.5, 0.0, static_cast<double>(w - 1));
        const int x0 = static_cast<int>(fx), x1 = std::min<int>(x0 + 1, static_cast<int>(w - 1));
        auto at = [&](int r, int c) { return cam[static_cast<size_t>(r * w + c)]; };
        const double top = at(y0, x0) * (1 - (fx - x0)) + at(y0, x1) * (fx - x0);
        const double bottom = at(y1, x0) * (1 - (fx - x0)) + at(y1, x1) * (fx - x0);
        up[static_cast<size_t>(y) * W + x] = top * (1 - (fy - y0)) + bottom * (fy - y0);
      }
    }
    const double top = *std::max_element(up.begin(), up.end());
    CHECK(layer->empty == !(top > 0));
    if (layer->empty) continue;
    for (size_t i = 0; i < up.size(); ++i) REQUIRE(layer->values[i] == Approx(up[i] / top).margin(1e-5));
  }
}

TEST_CASE("Grad-CAM refuses a label out of range and a wrong input", "[inference][grad_cam]") {
  std::unique_ptr<Model> model = LoadModel("grad_cam_blob");
  const Tensor x = BlobInput();
  for (int label : {-1, 3, 100}) {
    absl::StatusOr<Heatmap> h = GradCam(*model, x, label);
    CHECK(h.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(h.status().message()).find("label index") != std::string::npos);
  }
  Tensor wrong{{1, 1, 16, 16}, std::vector<float>(256, 0.0f)};
  absl::StatusOr<Heatmap> h = GradCam(*model, wrong, 0);
  CHECK(h.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(h.status().message()).find("[1,1,16,16]") != std::string::npos);

  Tensor two{{2, 1, 32, 32}, std::vector<float>(2 * 32 * 32, 0.0f)};
  CHECK(GradCam(*model, two, 0).status().code() == absl::StatusCode::kInvalidArgument);

  Tensor short_data{{1, 1, 32, 32}, std::vector<float>(10, 0.0f)};
  CHECK(GradCam(*model, short_data, 0).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the heatmap peak maps back to the original image", "[inference][grad_cam]") {
  Heatmap h;
  h.height = 32;
  h.width = 32;
  h.values.assign(32 * 32, 0.0f);
  h.empty = false;
  h.peak_row = 21;
  h.peak_column = 9;
  // (r + 0.5) * 512 / 32 - 0.5 = 343.5 -> 344; (9.5) * 16 - 0.5 = 151.5 -> 152.
  absl::StatusOr<ImagePoint> p = HeatmapPeakInImage(h, 7, 512, 512);
  REQUIRE(p.ok());
  CHECK(p->slice == 7);
  CHECK(p->row == 344);
  CHECK(p->column == 152);
  // Non-square original: 64 rows x 96 columns.
  p = HeatmapPeakInImage(h, 0, 64, 96);
  REQUIRE(p.ok());
  CHECK(p->row == 43);     // 21.5 * 2 - 0.5 = 42.5 -> 43
  CHECK(p->column == 28);  // 9.5 * 3 - 0.5 = 28
  // Corners stay inside the image.
  CHECK(InputPixelToImage(h, 0, 0, 0, 10, 10).row == 0);
  CHECK(InputPixelToImage(h, 0, 31, 31, 10, 10).column == 9);
  CHECK(HeatmapPeakInImage(h, 0, 0, 512).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(HeatmapPeakInImage(h, -1, 512, 512).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a bright spot in an original frame is found again through preprocessing", "[inference][grad_cam]") {
  std::unique_ptr<Model> model = LoadModel("grad_cam_blob");
  // A 200 x 300 frame with a bright 20 x 30 patch at rows 140-159, columns 60-89.
  dicom::PixelImage frame;
  frame.rows = 200;
  frame.columns = 300;
  frame.values.assign(200 * 300, 0.0f);
  for (int r = 140; r < 160; ++r)
    for (int c = 60; c < 90; ++c) frame.values[r * 300 + c] = 1.0f;
  absl::StatusOr<Tensor> x = PreprocessFrame(frame, model->manifest().input);
  REQUIRE(x.ok());
  absl::StatusOr<Heatmap> h = GradCam(*model, *x, 0);
  REQUIRE(h.ok());
  absl::StatusOr<ImagePoint> p = HeatmapPeakInImage(*h, 0, frame.rows, frame.columns);
  REQUIRE(p.ok());
  INFO("peak at row " << p->row << ", column " << p->column);
  CHECK(p->row >= 140);
  CHECK(p->row < 160);
  CHECK(p->column >= 60);
  CHECK(p->column < 90);
}

TEST_CASE("Grad-CAM runs concurrently on one model", "[inference][grad_cam]") {
  std::unique_ptr<Model> model = LoadModel("tiny");
  const nlohmann::json probe = nlohmann::json::parse(test::ReadText(test::DataPath("tiny_probe.json")));
  Tensor x;
  x.shape = probe["shape"].get<std::vector<int64_t>>();
  for (double v : probe["input"]) x.data.push_back(static_cast<float>(v));
  absl::StatusOr<Heatmap> serial = GradCam(*model, x, 0);
  REQUIRE(serial.ok());
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      bool all = true;
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<Heatmap> h = GradCam(*model, x, 0);
        all = all && h.ok() && h->values == serial->values;
      }
      same[t] = all ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  CHECK(same == std::vector<int>(4, 1));
}

}  // namespace
}  // namespace parallax::inference
