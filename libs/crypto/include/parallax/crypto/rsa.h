#pragma once
// RSASSA-PKCS1-v1_5 with SHA-256 (the JOSE "RS256" algorithm, RFC 7518
// §3.3): verifying bearer tokens signed by a hospital's identity provider,
// and signing (tests, tools that mint RS256 test tokens). OpenSSL stays
// behind this header.
//
// Keys are PEM text. A public key may be given as
//   -----BEGIN PUBLIC KEY-----      (X.509 SubjectPublicKeyInfo, what
//                                    `openssl rsa -pubout` writes),
//   -----BEGIN RSA PUBLIC KEY-----  (PKCS#1), or
//   -----BEGIN CERTIFICATE-----     (the key is taken from the certificate;
//                                    its validity dates are not checked).
// Only RSA keys of at least 2048 bits are accepted.
//
// Thread-safety: the free functions are thread-safe. An RsaPublicKey is
// immutable once made; Verify() may be called from many threads at once,
// and copies share the parsed key.
#include <memory>
#include <string>
#include <string_view>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

namespace parallax::crypto {

// Smallest RSA modulus accepted, in bits.
inline constexpr int kMinRsaKeyBits = 2048;

class RsaPublicKey {
 public:
  // Parses `pem` once so that Verify() does no parsing.
  // Returns the key; INVALID_ARGUMENT when the text is not a PEM RSA public
  // key or certificate (the message says what was found instead, e.g. a
  // private key, an EC key, or no PEM at all), or when the key is shorter
  // than kMinRsaKeyBits. The message never contains the PEM text.
  static absl::StatusOr<RsaPublicKey> FromPem(std::string_view pem);

  // True when `signature` is a valid RS256 signature of `data` under this
  // key; false for any wrong, truncated or garbage signature.
  bool Verify(std::string_view data, std::string_view signature) const;

  // Size of the modulus in bits.
  int bits() const;

 private:
  struct Key;
  explicit RsaPublicKey(std::shared_ptr<const Key> key) : key_(std::move(key)) {}
  std::shared_ptr<const Key> key_;
};

// RsaPublicKey::FromPem(public_key_pem) then Verify(data, signature).
// Returns true for a valid signature and false for a bad one (a bad
// signature is an answer, not an error); INVALID_ARGUMENT when the PEM is not
// an acceptable RSA public key (see FromPem).
absl::StatusOr<bool> RsaSha256Verify(std::string_view public_key_pem, std::string_view data,
                                     std::string_view signature);

// The raw RS256 signature (modulus-length bytes) of `data` under the private
// key in `private_key_pem` (PKCS#8 "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA
// PRIVATE KEY", unencrypted). INVALID_ARGUMENT when the PEM is not an
// unencrypted RSA private key of at least kMinRsaKeyBits; INTERNAL when
// OpenSSL fails to sign (with OpenSSL's reason).
absl::StatusOr<std::string> RsaSha256Sign(std::string_view private_key_pem, std::string_view data);

}  // namespace parallax::crypto
