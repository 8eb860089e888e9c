#include "parallax/audit_client/event_id.h"

#include <array>
#include <cstdint>
#include <random>

#include "parallax/crypto/sha256.h"

namespace parallax::audit_client {
namespace {

std::string Format(std::array<uint8_t, 16> b, int version) {
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | (version << 4));
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 / 9562 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::string NewEventId() {
  thread_local std::random_device source;
  std::array<uint8_t, 16> b;
  for (size_t i = 0; i < b.size(); i += 4) {
    const uint32_t r = source();
    for (size_t k = 0; k < 4; ++k) b[i + k] = static_cast<uint8_t>(r >> (8 * k));
  }
  return Format(b, 4);
}

std::string EventIdFor(std::string_view name) {
  const std::string digest = crypto::Sha256(name);
  std::array<uint8_t, 16> b;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(digest[i]);
  return Format(b, 8);
}

}  // namespace parallax::audit_client
