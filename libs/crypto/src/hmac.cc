#include "parallax/crypto/hmac.h"

#include <array>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace parallax::crypto {

std::string HmacSha256(std::string_view key, std::string_view data) {
  // OpenSSL wants non-null pointers even for empty inputs.
  static const unsigned char kEmpty = 0;
  const auto* key_bytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  const auto* data_bytes = data.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // HMAC-SHA-256 cannot fail for in-memory inputs short of memory exhaustion;
  // an empty result then never equals a real MAC.
  if (HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()), data_bytes, data.size(), md.data(), &len) ==
      nullptr) {
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace parallax::crypto
