#include "parallax/evidence/png.h"

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <zlib.h>

#include "parallax/evidence/overlay.h"

namespace ev = parallax::evidence;

namespace {

uint32_t BigEndian32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

struct Decoded {
  uint32_t width = 0, height = 0;
  int colour_type = -1;
  std::string raw;  // inflated scanlines
  bool crcs_ok = true;
};

// Walks the chunks (checking each CRC with zlib's crc32) and inflates IDAT.
Decoded Decode(const std::string& png) {
  Decoded d;
  REQUIRE(png.size() > 8);
  REQUIRE(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  size_t at = 8;
  std::vector<std::string> types;
  while (at + 12 <= png.size()) {
    const uint32_t length = BigEndian32(png, at);
    REQUIRE(at + 12 + length <= png.size());
    const std::string type = png.substr(at + 4, 4);
    types.push_back(type);
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), 4 + length);
    d.crcs_ok = d.crcs_ok && crc == BigEndian32(png, at + 8 + length);
    if (type == "IHDR") {
      d.width = BigEndian32(png, at + 8);
      d.height = BigEndian32(png, at + 12);
      d.colour_type = uint8_t(png[at + 17]);
    } else if (type == "IDAT") {
      idat += png.substr(at + 8, length);
    }
    at += 12 + length;
  }
  CHECK(at == png.size());
  REQUIRE(types.size() >= 3);
  CHECK(types.front() == "IHDR");
  CHECK(types.back() == "IEND");
  uLongf size = 64u << 20;
  d.raw.assign(size, '\0');
  REQUIRE(uncompress(reinterpret_cast<Bytef*>(d.raw.data()), &size, reinterpret_cast<const Bytef*>(idat.data()),
                     idat.size()) == Z_OK);
  d.raw.resize(size);
  return d;
}

}  // namespace

TEST_CASE("evidence: EncodePngRgb writes a PNG that inflates back to the same pixels", "[evidence][png]") {
  const int w = 5, h = 3;
  std::vector<uint8_t> rgb(w * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  auto png = ev::EncodePngRgb(w, h, rgb);
  REQUIRE(png.ok());
  const Decoded d = Decode(*png);
  CHECK(d.crcs_ok);
  CHECK(d.width == 5);
  CHECK(d.height == 3);
  CHECK(d.colour_type == 2);
  REQUIRE(d.raw.size() == size_t(h) * (1 + w * 3));
  for (int y = 0; y < h; ++y) {
    CHECK(d.raw[size_t(y) * (1 + w * 3)] == 0);  // filter none
    for (int x = 0; x < w * 3; ++x) CHECK(uint8_t(d.raw[size_t(y) * (1 + w * 3) + 1 + x]) == rgb[size_t(y) * w * 3 + x]);
  }
}

TEST_CASE("evidence: EncodePngGray writes an 8-bit greyscale PNG and refuses wrong sizes", "[evidence][png]") {
  auto png = ev::EncodePngGray(4, 2, {0, 1, 2, 3, 4, 5, 6, 7});
  REQUIRE(png.ok());
  const Decoded d = Decode(*png);
  CHECK(d.colour_type == 0);
  CHECK(d.raw.size() == 2u * 5u);
  CHECK(ev::EncodePngGray(4, 2, {0, 1}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ev::EncodePngRgb(0, 2, {}).status().code() == absl::StatusCode::kInvalidArgument);
  const std::string check = "IEND";
  CHECK(ev::Crc32(reinterpret_cast<const uint8_t*>(check.data()), 4) == 0xAE426082u);
}

TEST_CASE("evidence: the overlay is an RGB PNG at source resolution, grey below the threshold, coloured above", "[evidence][png]") {
  const int rows = 40, columns = 60;
  std::vector<float> image(rows * columns), heatmap(rows * columns, 0.f);
  for (int i = 0; i < rows * columns; ++i) image[size_t(i)] = static_cast<float>(i % columns) * 2.f;  // 0..118 HU
  for (int r = 10; r < 20; ++r) {
    for (int c = 30; c < 40; ++c) heatmap[size_t(r) * columns + c] = c == 35 ? 1.f : 0.7f;
  }
  ev::OverlayOptions o;
  o.window = ev::Window{40, 80};
  auto png = ev::OverlayPng(image, heatmap, rows, columns, o);
  REQUIRE(png.ok());
  const Decoded d = Decode(*png);
  CHECK(d.crcs_ok);
  CHECK(d.width == uint32_t(columns));
  CHECK(d.height == uint32_t(rows));
  REQUIRE(d.raw.size() == size_t(rows) * (1 + columns * 3));
  auto pixel = [&](int r, int c) {
    const size_t at = size_t(r) * (1 + columns * 3) + 1 + size_t(c) * 3;
    return std::array<int, 3>{uint8_t(d.raw[at]), uint8_t(d.raw[at + 1]), uint8_t(d.raw[at + 2])};
  };
  const auto outside = pixel(2, 20);  // 40 HU at the window centre: mid grey
  CHECK(outside[0] == outside[1]);
  CHECK(outside[1] == outside[2]);
  CHECK(std::abs(outside[0] - 128) <= 1);
  const auto peak = pixel(15, 35);
  CHECK(peak[0] > peak[2] + 40);  // red end of the ramp
  CHECK(pixel(0, 0) == std::array<int, 3>{0, 0, 0});  // below the window: black

  auto heat = ev::HeatmapPng(heatmap, rows, columns, o);
  REQUIRE(heat.ok());
  CHECK(Decode(*heat).width == uint32_t(columns));
  o.threshold = 1.0;
  CHECK(ev::HeatmapPng(heatmap, rows, columns, o).status().code() == absl::StatusCode::kInvalidArgument);
  o.threshold = 0.5;
  CHECK(ev::OverlayPng(image, {1.f}, rows, columns, o).status().code() == absl::StatusCode::kInvalidArgument);
  // The ramp runs blue -> red.
  const auto low = ev::TurboColour(0.1), high = ev::TurboColour(1);
  CHECK(low[2] > low[0]);
  CHECK(high[0] > high[2]);
}
