#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "parallax/crypto/hmac.h"
#include "parallax/crypto/pbkdf2.h"
#include "parallax/crypto/rsa.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::crypto {
namespace {

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  return hex;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the openssl CLI; FAILs the test when it does not succeed.
void OpenSsl(const std::string& args) {
  const std::string command = "openssl " + args + " >/dev/null 2>&1";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

// A fresh RSA key pair made by the openssl CLI in `dir`.
KeyPair GenerateRsaKeyPair(const testing::TempDir& dir, int bits, const std::string& name) {
  const auto priv = dir.path() / (name + ".key.pem");
  const auto pub = dir.path() / (name + ".pub.pem");
  OpenSsl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:" + std::to_string(bits) + " -out " + priv.string());
  OpenSsl("pkey -in " + priv.string() + " -pubout -out " + pub.string());
  return {ReadFile(priv), ReadFile(pub)};
}

}  // namespace

TEST_CASE("HMAC-SHA-256 matches the RFC 4231 test vectors", "[crypto]") {
  // Test case 1.
  CHECK(ToHex(HmacSha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  CHECK(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 3: 0xaa key, 0xdd data.
  CHECK(ToHex(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Test case 4.
  CHECK(ToHex(HmacSha256(FromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'))) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Test case 6: a key longer than the block size is hashed first.
  CHECK(ToHex(HmacSha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Test case 7: long key and long data.
  CHECK(ToHex(HmacSha256(std::string(131, '\xaa'),
                         "This is a test using a larger than block-size key and a larger than block-size data. "
                         "The key needs to be hashed before being used by the HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("HMAC-SHA-256 handles an empty key and empty data", "[crypto]") {
  // Known value: HMAC-SHA-256 with empty key and empty message.
  CHECK(ToHex(HmacSha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("constant-time comparison tells equal bytes from different bytes and lengths", "[crypto]") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "ab"));
  CHECK_FALSE(ConstantTimeEquals("", "a"));
  const std::string mac = HmacSha256("key", "data");
  std::string flipped = mac;
  flipped[0] = static_cast<char>(flipped[0] ^ 1);
  CHECK(ConstantTimeEquals(mac, HmacSha256("key", "data")));
  CHECK_FALSE(ConstantTimeEquals(mac, flipped));
  CHECK(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("an RS256 signature made with an openssl CLI key verifies and a tampered message does not", "[crypto]") {
  testing::TempDir dir;
  const KeyPair keys = GenerateRsaKeyPair(dir, 2048, "idp");
  const std::string message = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1MSJ9";

  absl::StatusOr<std::string> signature = RsaSha256Sign(keys.private_pem, message);
  REQUIRE(signature.ok());
  CHECK(signature->size() == 256);

  absl::StatusOr<bool> good = RsaSha256Verify(keys.public_pem, message, *signature);
  REQUIRE(good.ok());
  CHECK(*good);

  std::string tampered = message;
  tampered.back() = 'X';
  absl::StatusOr<bool> bad_message = RsaSha256Verify(keys.public_pem, tampered, *signature);
  REQUIRE(bad_message.ok());
  CHECK_FALSE(*bad_message);

  std::string bad_signature = *signature;
  bad_signature[100] = static_cast<char>(bad_signature[100] ^ 0x40);
  CHECK_FALSE(*RsaSha256Verify(keys.public_pem, message, bad_signature));
  CHECK_FALSE(*RsaSha256Verify(keys.public_pem, message, signature->substr(0, 255)));
  CHECK_FALSE(*RsaSha256Verify(keys.public_pem, message, ""));

  // Another key pair's public key does not verify it.
  const KeyPair other = GenerateRsaKeyPair(dir, 2048, "other");
  CHECK_FALSE(*RsaSha256Verify(other.public_pem, message, *signature));
}

TEST_CASE("the openssl CLI verifies a signature made here, so the padding is PKCS1 v1.5 with SHA-256", "[crypto]") {
  testing::TempDir dir;
  const KeyPair keys = GenerateRsaKeyPair(dir, 2048, "idp");
  const std::string message = "header.payload";
  absl::StatusOr<std::string> signature = RsaSha256Sign(keys.private_pem, message);
  REQUIRE(signature.ok());
  { std::ofstream(dir.path() / "msg", std::ios::binary) << message; }
  { std::ofstream(dir.path() / "sig", std::ios::binary) << *signature; }
  OpenSsl("dgst -sha256 -verify " + (dir.path() / "idp.pub.pem").string() + " -signature " +
          (dir.path() / "sig").string() + " " + (dir.path() / "msg").string());
  // And a signature the CLI makes verifies here.
  OpenSsl("dgst -sha256 -sign " + (dir.path() / "idp.key.pem").string() + " -out " + (dir.path() / "cli.sig").string() +
          " " + (dir.path() / "msg").string());
  CHECK(*RsaSha256Verify(keys.public_pem, message, ReadFile(dir.path() / "cli.sig")));
}

TEST_CASE("PKCS1 public keys and certificates are accepted as RS256 verification keys", "[crypto]") {
  testing::TempDir dir;
  const KeyPair keys = GenerateRsaKeyPair(dir, 2048, "idp");
  const auto priv = (dir.path() / "idp.key.pem").string();
  OpenSsl("rsa -in " + priv + " -RSAPublicKey_out -out " + (dir.path() / "pkcs1.pem").string());
  OpenSsl("req -new -x509 -key " + priv + " -subj /CN=idp.example -days 1 -out " + (dir.path() / "cert.pem").string());
  const std::string pkcs1 = ReadFile(dir.path() / "pkcs1.pem");
  const std::string cert = ReadFile(dir.path() / "cert.pem");
  REQUIRE(pkcs1.find("BEGIN RSA PUBLIC KEY") != std::string::npos);

  const std::string signature = *RsaSha256Sign(keys.private_pem, "data");
  for (const std::string& pem : {keys.public_pem, pkcs1, cert}) {
    absl::StatusOr<RsaPublicKey> key = RsaPublicKey::FromPem(pem);
    REQUIRE(key.ok());
    CHECK(key->bits() == 2048);
    CHECK(key->Verify("data", signature));
    CHECK_FALSE(key->Verify("datA", signature));
  }
}

TEST_CASE("a PEM that is not an acceptable RSA public key is INVALID_ARGUMENT", "[crypto]") {
  testing::TempDir dir;
  const KeyPair keys = GenerateRsaKeyPair(dir, 2048, "idp");
  const KeyPair small = GenerateRsaKeyPair(dir, 1024, "small");
  OpenSsl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + (dir.path() / "ec.pem").string());
  OpenSsl("pkey -in " + (dir.path() / "ec.pem").string() + " -pubout -out " + (dir.path() / "ec.pub.pem").string());

  auto refused = [](const std::string& pem, std::string_view expected_words) {
    absl::StatusOr<bool> r = RsaSha256Verify(pem, "data", std::string(256, 'x'));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    INFO(r.status().message());
    CHECK(std::string(r.status().message()).find(expected_words) != std::string::npos);
  };
  refused("", "no PEM public key");
  refused("just some text", "no PEM public key");
  refused(keys.private_pem, "private key");
  refused(ReadFile(dir.path() / "ec.pub.pem"), "not an RSA key");
  refused(small.public_pem, "1024-bit");
  // A damaged body is a parse error, not a crash.
  std::string damaged = keys.public_pem;
  damaged[40] = '!';
  damaged[41] = '!';
  refused(damaged, "cannot be parsed");
}

TEST_CASE("signing refuses a key that is not an RSA private key", "[crypto]") {
  testing::TempDir dir;
  const KeyPair keys = GenerateRsaKeyPair(dir, 2048, "idp");
  absl::StatusOr<std::string> with_public = RsaSha256Sign(keys.public_pem, "data");
  CHECK(with_public.status().code() == absl::StatusCode::kInvalidArgument);
  OpenSsl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + (dir.path() / "ec.pem").string());
  absl::StatusOr<std::string> with_ec = RsaSha256Sign(ReadFile(dir.path() / "ec.pem"), "data");
  CHECK(with_ec.status().code() == absl::StatusCode::kInvalidArgument);
  OpenSsl("pkey -in " + (dir.path() / "idp.key.pem").string() + " -aes256 -passout pass:secret -out " +
          (dir.path() / "enc.pem").string());
  absl::StatusOr<std::string> with_encrypted = RsaSha256Sign(ReadFile(dir.path() / "enc.pem"), "data");
  CHECK(with_encrypted.status().code() == absl::StatusCode::kInvalidArgument);
}

// RFC 7914 §11 gives these PBKDF2-HMAC-SHA256 vectors.
TEST_CASE("PBKDF2-HMAC-SHA256 derives the RFC 7914 test vectors") {
  auto one = Pbkdf2HmacSha256("passwd", "salt", 1, 64);
  REQUIRE(one.ok());
  CHECK(ToHex(*one) ==
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
  auto many = Pbkdf2HmacSha256("Password", "NaCl", 80000, 64);
  REQUIRE(many.ok());
  CHECK(ToHex(*many) ==
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST_CASE("PBKDF2 refuses zero iterations and empty or huge keys") {
  CHECK(Pbkdf2HmacSha256("p", "s", 0, 32).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Pbkdf2HmacSha256("p", "s", 1, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Pbkdf2HmacSha256("p", "s", 1, 4096).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace parallax::crypto
