#pragma once
// Helpers shared by the auth tests: key pairs from the openssl CLI, files,
// and hand-built tokens.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parallax/auth/jwt.h"
#include "parallax/crypto/hmac.h"
#include "parallax/crypto/rsa.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::auth::test {

// A fixed "now": 2027-01-15T08:00:00Z.
inline const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1'800'000'000)};
inline constexpr int64_t kNowUnix = 1'800'000'000;

inline const std::string kSecret = "local-stack-secret-0123456789-abcdef";

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Runs the openssl CLI; FAILs the test when it does not succeed.
inline void OpenSsl(const std::string& args) {
  const std::string command = "openssl " + args + " >/dev/null 2>&1";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
  std::filesystem::path public_path;
};

// A fresh 2048-bit RSA key pair made by the openssl CLI in `dir`.
inline KeyPair GenerateRsaKeyPair(const testing::TempDir& dir, const std::string& name) {
  const auto priv = dir.path() / (name + ".key.pem");
  const auto pub = dir.path() / (name + ".pub.pem");
  OpenSsl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + priv.string());
  OpenSsl("pkey -in " + priv.string() + " -pubout -out " + pub.string());
  return {ReadFile(priv), ReadFile(pub), pub};
}

// Claims valid at kNow for an hour.
inline nlohmann::json BaseClaims() {
  return {{"sub", "u-1042"}, {"roles", {"radiologist"}}, {"iat", kNowUnix}, {"exp", kNowUnix + 3600}};
}

inline std::string HsToken(const nlohmann::json& claims, const std::string& secret = kSecret,
                           const std::string& header = R"({"alg":"HS256","typ":"JWT"})") {
  const std::string payload = claims.dump();
  return EncodeCompactJws(header, payload, crypto::HmacSha256(secret, SigningInput(header, payload)));
}

inline std::string RsToken(const nlohmann::json& claims, const std::string& private_pem) {
  const std::string header = R"({"alg":"RS256","typ":"JWT","kid":"idp-1"})";
  const std::string payload = claims.dump();
  absl::StatusOr<std::string> signature = crypto::RsaSha256Sign(private_pem, SigningInput(header, payload));
  REQUIRE(signature.ok());
  return EncodeCompactJws(header, payload, *signature);
}

inline JwtVerifier HsVerifier(VerifierOptions options = {}) {
  options.hs256_secret = kSecret;
  absl::StatusOr<JwtVerifier> v = JwtVerifier::Create(std::move(options));
  REQUIRE(v.ok());
  return *std::move(v);
}

// Checks that `result` is UNAUTHENTICATED with `words` in its message, and
// that the message repeats neither the token nor `secret_values`.
template <typename T>
void CheckRefused(const absl::StatusOr<T>& result, std::string_view words, const std::string& token,
                  std::initializer_list<std::string> secret_values = {}) {
  REQUIRE_FALSE(result.ok());
  const std::string message(result.status().message());
  INFO("message: " << message);
  CHECK(result.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(message.find(words) != std::string::npos);
  if (token.size() > 3) CHECK(message.find(token) == std::string::npos);
  for (const std::string& v : secret_values) CHECK(message.find(v) == std::string::npos);
}

}  // namespace parallax::auth::test
