#pragma once
// A minimal PNG encoder: 8-bit RGB, non-interlaced, filter 0 on every row,
// the image data deflated by zlib. Returns "" only when zlib runs out of memory.
//
// Thread-safe (pure functions).
#include <cstdint>
#include <string>
#include <vector>

namespace parallax::evaluation {

// CRC-32 (ISO 3309, as PNG and zip use) of `size` bytes at `data`.
uint32_t Crc32(const uint8_t* data, size_t size);

// The PNG file of `width` x `height` pixels, `rgb` holding 3 bytes per pixel
// row by row (size must be width * height * 3).
std::string EncodeRgbPng(int width, int height, const std::vector<uint8_t>& rgb);

}  // namespace parallax::evaluation
