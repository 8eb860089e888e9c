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

// "2.25." followed by the decimal of 128 bits with the version-4 and variant
// bits of a random UUID set.
std::string UuidShapedUid(uint64_t hi, uint64_t lo) {
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

}  // namespace

std::string DerivedUid(uint64_t seed, std::string_view salt, uint64_t index) {
  uint64_t state = seed ^ HashString(salt) ^ (index * 0xD1B54A32D192ED03ULL);
  const uint64_t hi = SplitMix64(state);
  const uint64_t lo = SplitMix64(state);
  return UuidShapedUid(hi, lo);
}

std::string NameBasedUid(std::string_view name) {
  // Two independent 64-bit hashes of the name (FNV-1a from two offsets, each
  // also folding in the length), each finished by SplitMix64 for avalanche.
  uint64_t a = HashString(name) ^ (static_cast<uint64_t>(name.size()) * 0x9E3779B97F4A7C15ULL);
  uint64_t b = 0x6C62272E07BB0142ULL;
  for (unsigned char c : name) {
    b ^= c;
    b *= 0x100000001B3ULL;
    b = (b << 29) | (b >> 35);
  }
  b ^= static_cast<uint64_t>(name.size());
  const uint64_t hi = SplitMix64(a);
  const uint64_t lo = SplitMix64(b);
  return UuidShapedUid(hi, lo);
}

}  // namespace parallax::dicom
