#include "parallax/evidence/png.h"

#include <array>

#include <absl/status/status.h>
#include <absl/strings/str_cat.h>
#include <zlib.h>

namespace parallax::evidence {
namespace {

constexpr int kZlibLevel = Z_BEST_SPEED;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}

void PutBigEndian32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

// Length, type, data, CRC over type and data.
void PutChunk(std::string* out, const char type[4], const std::string& data) {
  PutBigEndian32(out, static_cast<uint32_t>(data.size()));
  std::string typed(type, 4);
  typed += data;
  out->append(typed);
  PutBigEndian32(out, Crc32(reinterpret_cast<const uint8_t*>(typed.data()), typed.size()));
}

// colour_type: 0 greyscale, 2 RGB; channels 1 or 3.
absl::StatusOr<std::string> Encode(int width, int height, const std::vector<uint8_t>& pixels, int channels,
                                   uint8_t colour_type) {
  constexpr int kMaxSide = 1 << 24;
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat("png: bad size ", width, "x", height));
  }
  const size_t row_bytes = static_cast<size_t>(width) * static_cast<size_t>(channels);
  if (pixels.size() != row_bytes * static_cast<size_t>(height)) {
    return absl::InvalidArgumentError(absl::StrCat("png: ", pixels.size(), " bytes for ", width, "x", height,
                                                   " with ", channels, " channel(s)"));
  }
  // Scanlines, each led by filter type 0 (none).
  std::vector<uint8_t> raw;
  raw.reserve((row_bytes + 1) * static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    const auto row = pixels.begin() + static_cast<std::ptrdiff_t>(row_bytes * static_cast<size_t>(y));
    raw.insert(raw.end(), row, row + static_cast<std::ptrdiff_t>(row_bytes));
  }

  // zlib stream (RFC 1950) by zlib itself: plots and overlays have large flat
  // areas and shrink well. Z_BEST_SPEED: the overlays are made while a
  // radiologist waits (Explain's latency budget); level 9 took ~5x longer.
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string zlib(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(zlib.data()), &packed_size, raw.data(), static_cast<uLong>(raw.size()),
                kZlibLevel) != Z_OK) {
    return absl::ResourceExhaustedError("png: zlib could not compress the image (out of memory)");
  }
  zlib.resize(packed_size);

  std::string header;
  PutBigEndian32(&header, static_cast<uint32_t>(width));
  PutBigEndian32(&header, static_cast<uint32_t>(height));
  header.push_back('\x08');                            // bit depth 8
  header.push_back(static_cast<char>(colour_type));    // 0 grey, 2 RGB
  header += {'\x00', '\x00', '\x00'};                  // deflate, filter 0, no interlace

  std::string png("\x89PNG\r\n\x1a\n", 8);
  PutChunk(&png, "IHDR", header);
  PutChunk(&png, "IDAT", zlib);
  PutChunk(&png, "IEND", "");
  return png;
}

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

absl::StatusOr<std::string> EncodePngRgb(int width, int height, const std::vector<uint8_t>& rgb) {
  return Encode(width, height, rgb, 3, 2);
}

absl::StatusOr<std::string> EncodePngGray(int width, int height, const std::vector<uint8_t>& gray) {
  return Encode(width, height, gray, 1, 0);
}

}  // namespace parallax::evidence
