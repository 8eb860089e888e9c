#include <catch2/catch.hpp>

#include "parallax/inference/preprocess.h"

using namespace parallax::inference;
using parallax::dicom::PixelImage;

namespace {
PixelImage Frame(int rows, int columns, float value) {
  PixelImage p;
  p.rows = rows;
  p.columns = columns;
  p.values.assign(static_cast<size_t>(rows) * columns, value);
  return p;
}
}  // namespace

TEST_CASE("CT windows become channels in [0, 1]", "[inference]") {
  InputSpec spec;
  spec.channels = 3;
  spec.height = 8;
  spec.width = 8;
  spec.windows = {{40, 80}, {80, 200}, {600, 2800}};  // brain, subdural, bone
  PixelImage slice = Frame(16, 16, 40.0f);             // 40 HU everywhere
  auto t = PreprocessFrame(slice, spec);
  REQUIRE(t.ok());
  CHECK(t->shape == std::vector<int64_t>{1, 3, 8, 8});
  CHECK(t->data[0] == Approx(0.5));                      // brain window centre
  CHECK(t->data[64] == Approx((40.0 - (80 - 100)) / 200));  // subdural window
  CHECK(t->data[128] == Approx(std::max(0.0, (40.0 - (600 - 1400)) / 2800)));
  PixelImage air = Frame(16, 16, -1000.0f);
  auto a = PreprocessFrame(air, spec);
  REQUIRE(a.ok());
  CHECK(a->data[0] == 0.0f);  // clamped
}

TEST_CASE("resizing keeps a gradient's ends and middle", "[inference]") {
  InputSpec spec;
  spec.channels = 1;
  spec.height = 2;
  spec.width = 4;
  spec.normalisation = Normalisation{0, 1};
  PixelImage p;
  p.rows = 2;
  p.columns = 8;
  for (int r = 0; r < 2; ++r) for (int c = 0; c < 8; ++c) p.values.push_back(static_cast<float>(c));
  auto t = PreprocessFrame(p, spec);
  REQUIRE(t.ok());
  // Output pixel centres map to input x = 0.5, 2.5, 4.5, 6.5.
  CHECK(t->data[0] == Approx(0.5));
  CHECK(t->data[3] == Approx(6.5));
}

TEST_CASE("a per-slice model gets one batch item per slice, a 3-D model gets depth slices", "[inference]") {
  std::vector<PixelImage> slices;
  for (int i = 0; i < 5; ++i) slices.push_back(Frame(4, 4, static_cast<float>(i)));
  InputSpec per_slice;
  per_slice.channels = 1;
  per_slice.height = 4;
  per_slice.width = 4;
  per_slice.normalisation = Normalisation{0, 1};
  auto batch = PreprocessSlices(slices, per_slice);
  REQUIRE(batch.ok());
  CHECK(batch->shape == std::vector<int64_t>{5, 1, 4, 4});
  CHECK(batch->data[16 * 3] == Approx(3.0));

  InputSpec volume = per_slice;
  volume.depth = 10;
  auto v = PreprocessSlices(slices, volume);
  REQUIRE(v.ok());
  CHECK(v->shape == std::vector<int64_t>{1, 1, 10, 4, 4});
  CHECK(v->data[0] == Approx(0.0));
  CHECK(v->data[16 * 9] == Approx(4.0));
}

TEST_CASE("preprocessing refuses what it cannot do, naming it", "[inference]") {
  InputSpec spec;
  spec.channels = 2;
  spec.height = 4;
  spec.width = 4;
  spec.windows = {{40, 80}};
  auto bad = PreprocessFrame(Frame(4, 4, 0), spec);
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("1 windows for 2 channels") != std::string::npos);
  spec.windows = {{40, 80}, {80, 200}};
  CHECK_FALSE(PreprocessFrame(PixelImage{}, spec).ok());
  std::vector<PixelImage> mixed = {Frame(4, 4, 0), Frame(8, 8, 0)};
  CHECK_FALSE(PreprocessSlices(mixed, spec).ok());
  CHECK_FALSE(PreprocessSlices({}, spec).ok());
}
