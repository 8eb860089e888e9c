#pragma once
// A minimal PNG encoder: 8-bit greyscale or RGB, non-interlaced, filter 0 on
// every row, the image data deflated by zlib. Enough for heatmap overlays and
// report plots; no decoder (tests inflate with zlib themselves).
//
// Thread-safe (pure functions).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::evidence {

// CRC-32 (ISO 3309, as PNG and zip use) of `size` bytes at `data`.
uint32_t Crc32(const uint8_t* data, size_t size);

// The PNG file (its bytes) of `width` x `height` pixels, `rgb` holding 3
// bytes per pixel row by row. Errors: INVALID_ARGUMENT for a non-positive
// size, a size over 2^24 per side, or rgb.size() != width * height * 3;
// RESOURCE_EXHAUSTED when zlib runs out of memory.
absl::StatusOr<std::string> EncodePngRgb(int width, int height, const std::vector<uint8_t>& rgb);

// The same for 8-bit greyscale: `gray` holds 1 byte per pixel
// (size width * height). Same errors.
absl::StatusOr<std::string> EncodePngGray(int width, int height, const std::vector<uint8_t>& gray);

}  // namespace parallax::evidence
