#include "parallax/crypto/pbkdf2.h"

#include <openssl/evp.h>

namespace parallax::crypto {

absl::StatusOr<std::string> Pbkdf2HmacSha256(std::string_view password, std::string_view salt, int iterations,
                                             size_t length) {
  if (iterations < 1) return absl::InvalidArgumentError("PBKDF2: iterations must be at least 1");
  if (length == 0 || length > 1024) return absl::InvalidArgumentError("PBKDF2: key length must be 1 to 1024 bytes");
  std::string key(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                        EVP_sha256(), static_cast<int>(length), reinterpret_cast<unsigned char*>(key.data())) != 1) {
    return absl::InternalError("PBKDF2: OpenSSL failed to derive the key");
  }
  return key;
}

}  // namespace parallax::crypto
