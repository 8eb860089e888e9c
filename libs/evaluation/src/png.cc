#include "png.h"

#include <algorithm>
#include <array>

namespace parallax::evaluation {
namespace {

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

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t Adler32(const uint8_t* data, size_t size) {
  constexpr uint32_t kMod = 65521;
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < size; ++i) {
    a = (a + data[i]) % kMod;
    b = (b + a) % kMod;
  }
  return (b << 16) | a;
}

std::string EncodeRgbPng(int width, int height, const std::vector<uint8_t>& rgb) {
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  // Scanlines, each led by filter type 0 (none).
  std::vector<uint8_t> raw;
  raw.reserve((row_bytes + 1) * static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    const auto row = rgb.begin() + static_cast<std::ptrdiff_t>(row_bytes * static_cast<size_t>(y));
    raw.insert(raw.end(), row, row + static_cast<std::ptrdiff_t>(row_bytes));
  }

  // zlib: CMF/FLG (deflate, 32K window, no dictionary; 0x7801 % 31 == 0),
  // stored blocks of at most 65535 bytes, Adler-32 of the raw data.
  std::string zlib = {'\x78', '\x01'};
  size_t offset = 0;
  do {
    const size_t len = std::min<size_t>(65535, raw.size() - offset);
    const bool final_block = offset + len == raw.size();
    zlib.push_back(final_block ? '\x01' : '\x00');  // BFINAL, BTYPE = 00 (stored)
    zlib.push_back(static_cast<char>(len & 0xFF));
    zlib.push_back(static_cast<char>(len >> 8));
    zlib.push_back(static_cast<char>(~len & 0xFF));
    zlib.push_back(static_cast<char>((~len >> 8) & 0xFF));
    zlib.append(reinterpret_cast<const char*>(raw.data() + offset), len);
    offset += len;
  } while (offset < raw.size());
  PutBigEndian32(&zlib, Adler32(raw.data(), raw.size()));

  std::string header;
  PutBigEndian32(&header, static_cast<uint32_t>(width));
  PutBigEndian32(&header, static_cast<uint32_t>(height));
  header += {'\x08', '\x02', '\x00', '\x00', '\x00'};  // 8-bit, RGB, deflate, filter 0, no interlace

  std::string png = "\x89PNG\r\n\x1a\n";
  PutChunk(&png, "IHDR", header);
  PutChunk(&png, "IDAT", zlib);
  PutChunk(&png, "IEND", "");
  return png;
}

}  // namespace parallax::evaluation
