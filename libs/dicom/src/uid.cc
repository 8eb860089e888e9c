#include "parallax/dicom/uid.h"

namespace parallax::dicom {
namespace {

// SplitMix64: a tiny, well-mixed generator; good enough for UIDs.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t HashString(std::string_view s) {  // FNV-1a
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

}  // namespace

std::string DerivedUid(uint64_t seed, std::string_view salt, uint64_t index) {
  uint64_t state = seed ^ HashString(salt) ^ (index * 0xD1B54A32D192ED03ULL);
  const uint64_t hi = SplitMix64(state);
  const uint64_t lo = SplitMix64(state);
  unsigned __int128 v = (static_cast<unsigned __int128>(hi) << 64) | lo;
  // Version 4 and variant bits, as a random UUID would have.
  const unsigned __int128 one = 1;
  v &= ~(static_cast<unsigned __int128>(0xF) << 76);
  v |= static_cast<unsigned __int128>(0x4) << 76;
  v &= ~(static_cast<unsigned __int128>(0x3) << 62);
  v |= one << 63;
  char digits[40];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  } while (v != 0);
  std::string uid = "2.25.";
  while (n > 0) uid.push_back(digits[--n]);
  return uid;
}

}  // namespace parallax::dicom
