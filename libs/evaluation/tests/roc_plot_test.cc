#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "parallax/evaluation/roc_plot.h"

using namespace parallax::evaluation;

namespace {

// Independent of the encoder's: bitwise CRC-32 (reflected 0xEDB88320).
uint32_t ReferenceCrc32(const std::string& bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return ~c;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(s[at + 3])};
}

struct Chunk {
  std::string type;
  std::string data;
  bool crc_ok = false;
};

// Splits a PNG after its signature into chunks, checking each CRC.
std::vector<Chunk> Chunks(const std::string& png) {
  std::vector<Chunk> out;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const uint32_t length = BigEndian32(png, at);
    REQUIRE(at + 12 + length <= png.size());
    Chunk c;
    c.type = png.substr(at + 4, 4);
    c.data = png.substr(at + 8, length);
    c.crc_ok = BigEndian32(png, at + 8 + length) == ReferenceCrc32(png.substr(at + 4, 4 + length));
    out.push_back(c);
    at += 12 + length;
  }
  CHECK(at == png.size());
  return out;
}

// Inflates the zlib stream with zlib (which checks the Adler-32) and checks
// the header ourselves.
std::string Inflate(const std::string& z, size_t expected_size) {
  REQUIRE(z.size() >= 6);
  REQUIRE((static_cast<uint8_t>(z[0]) & 0x0F) == 8);  // deflate
  REQUIRE(((static_cast<uint8_t>(z[0]) << 8) | static_cast<uint8_t>(z[1])) % 31 == 0);
  std::string raw(expected_size, '\0');
  uLongf size = static_cast<uLongf>(raw.size());
  REQUIRE(uncompress(reinterpret_cast<Bytef*>(raw.data()), &size, reinterpret_cast<const Bytef*>(z.data()),
                     static_cast<uLong>(z.size())) == Z_OK);
  REQUIRE(size == expected_size);
  return raw;
}

std::vector<std::pair<std::string, std::vector<RocPoint>>> TwoCurves() {
  std::vector<LabelledScore> perfect = {{0.9, true}, {0.8, true}, {0.2, false}, {0.1, false}};
  std::vector<LabelledScore> middling;
  for (int i = 0; i < 40; ++i) middling.push_back({(i * 37 % 40) / 40.0, i % 3 == 0});
  return {{"Perfect", RocCurve(perfect)}, {"Middling", RocCurve(middling)}};
}

}  // namespace

TEST_CASE("RocCurvesPng is a valid 512x512 RGB PNG with correct CRCs", "[evaluation]") {
  const std::string png = RocCurvesPng(TwoCurves());
  if (const char* out = std::getenv("PARALLAX_EVAL_PNG_OUT")) {
    std::ofstream(out, std::ios::binary) << png;
  }
  REQUIRE(png.size() > 8);
  REQUIRE(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));

  const auto chunks = Chunks(png);
  REQUIRE(chunks.size() >= 3);
  REQUIRE(chunks.front().type == "IHDR");
  CHECK(chunks.back().type == "IEND");
  for (const auto& c : chunks) {
    INFO("chunk " << c.type);
    CHECK(c.crc_ok);
  }
  const std::string& ihdr = chunks.front().data;
  REQUIRE(ihdr.size() == 13);
  CHECK(BigEndian32(ihdr, 0) == 512);
  CHECK(BigEndian32(ihdr, 4) == 512);
  CHECK(ihdr[8] == 8);   // bit depth
  CHECK(ihdr[9] == 2);   // RGB
  CHECK(ihdr[12] == 0);  // not interlaced

  std::string zlib;
  for (const auto& c : chunks) {
    if (c.type == "IDAT") zlib += c.data;
  }
  const std::string raw = Inflate(zlib, 512u * (1 + 512 * 3));
  REQUIRE(raw.size() == 512u * (1 + 512 * 3));
  const auto pixel = [&raw](int x, int y) {
    const size_t i = static_cast<size_t>(y) * (1 + 512 * 3) + 1 + static_cast<size_t>(x) * 3;
    return std::vector<int>{static_cast<uint8_t>(raw[i]), static_cast<uint8_t>(raw[i + 1]),
                            static_cast<uint8_t>(raw[i + 2])};
  };
  for (int y = 0; y < 512; ++y) REQUIRE(raw[static_cast<size_t>(y) * (1 + 512 * 3)] == 0);
  // The perfect curve runs along the top of the plot, in the first colour (blue).
  CHECK(RocCurveColourName(0) == "blue");
  CHECK(pixel(256, 16) == std::vector<int>{31, 119, 180});
  // The image corner is background.
  CHECK(pixel(2, 2) == std::vector<int>{255, 255, 255});
  // The second curve is drawn somewhere, in orange.
  bool orange = false;
  for (int y = 0; y < 512 && !orange; ++y) {
    for (int x = 0; x < 512 && !orange; ++x) orange = pixel(x, y) == std::vector<int>{255, 127, 14};
  }
  CHECK(orange);
}

TEST_CASE("the PNG check notices a corrupted byte", "[evaluation]") {
  std::string png = RocCurvesPng({});
  png[png.size() / 2] ^= 0x01;  // inside IDAT
  bool all_ok = true;
  for (const auto& c : Chunks(png)) all_ok = all_ok && c.crc_ok;
  CHECK_FALSE(all_ok);
}
