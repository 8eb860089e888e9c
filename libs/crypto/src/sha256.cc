#include "parallax/crypto/sha256.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

#include <absl/strings/str_cat.h>
#include <openssl/evp.h>

namespace parallax::crypto {
namespace {

struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  DigestContext() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string Final() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md.data(), &len);
    return std::string(reinterpret_cast<const char*>(md.data()), len);
  }
  std::string FinalHex() {
    static constexpr char kHex[] = "0123456789abcdef";
    const std::string raw = Final();
    std::string hex;
    hex.reserve(2 * raw.size());
    for (unsigned char c : raw) {
      hex.push_back(kHex[c >> 4]);
      hex.push_back(kHex[c & 15]);
    }
    return hex;
  }
};

}  // namespace

std::string Sha256Hex(std::string_view data) {
  DigestContext d;
  d.Update(data.data(), data.size());
  return d.FinalHex();
}

std::string Sha256(std::string_view data) {
  DigestContext d;
  d.Update(data.data(), data.size());
  return d.Final();
}

absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path, " to hash it"));
  DigestContext d;
  std::array<char, 1 << 16> buffer;
  while (in) {
    in.read(buffer.data(), buffer.size());
    d.Update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("read of ", path, " failed while hashing it"));
  return d.FinalHex();
}

}  // namespace parallax::crypto
