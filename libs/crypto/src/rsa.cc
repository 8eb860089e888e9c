#include "parallax/crypto/rsa.h"

#include <memory>

#include <absl/strings/str_cat.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

namespace parallax::crypto {

struct RsaPublicKey::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// The reason of the most recent OpenSSL error on this thread ("" when none),
// clearing the queue so that it does not leak into later calls.
std::string TakeOpenSslReason() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : absl::StrCat("OpenSSL error ", last);
}

std::string WithReason(std::string message) {
  const std::string reason = TakeOpenSslReason();
  if (!reason.empty()) absl::StrAppend(&message, " (OpenSSL: ", reason, ")");
  return message;
}

Bio MemoryBio(std::string_view text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
}

// Refuses to prompt on a terminal for the pass phrase of an encrypted key.
int NoPassphrase(char*, int, int, void*) { return 0; }

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Checks that `pkey` is an RSA key of acceptable size; `what` names it in messages.
absl::Status CheckRsa(const EVP_PKEY* pkey, std::string_view what) {
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
    const char* type = EVP_PKEY_get0_type_name(pkey);
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is not an RSA key (it is ", type != nullptr ? type : "of another type",
                                                   "); RS256 needs an RSA key"));
  }
  const int bits = EVP_PKEY_get_bits(pkey);
  if (bits < kMinRsaKeyBits) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is a ", bits, "-bit RSA key; at least ", kMinRsaKeyBits, " bits are required"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RsaPublicKey> RsaPublicKey::FromPem(std::string_view pem) {
  ERR_clear_error();
  if (Contains(pem, "PRIVATE KEY-----")) {
    return absl::InvalidArgumentError(
        "the RSA public key PEM holds a private key; configure the public key only "
        "(openssl pkey -in private.pem -pubout)");
  }
  Bio bio = MemoryBio(pem);
  if (!bio) return absl::ResourceExhaustedError(WithReason("cannot allocate a buffer for the RSA public key PEM"));
  Pkey pkey(nullptr, &EVP_PKEY_free);
  if (Contains(pem, "-----BEGIN CERTIFICATE-----")) {
    std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr),
                                                     &X509_free);
    if (!cert) return absl::InvalidArgumentError(WithReason("the PEM certificate holding the RSA public key cannot be parsed"));
    pkey.reset(X509_get_pubkey(cert.get()));
    if (!pkey) return absl::InvalidArgumentError(WithReason("the PEM certificate's public key cannot be read"));
  } else if (Contains(pem, "-----BEGIN PUBLIC KEY-----")) {
    pkey.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, &NoPassphrase, nullptr));
    if (!pkey) return absl::InvalidArgumentError(WithReason("the PEM public key (BEGIN PUBLIC KEY) cannot be parsed"));
  } else if (Contains(pem, "-----BEGIN RSA PUBLIC KEY-----")) {
    EVP_PKEY* decoded = nullptr;
    std::unique_ptr<OSSL_DECODER_CTX, decltype(&OSSL_DECODER_CTX_free)> dctx(
        OSSL_DECODER_CTX_new_for_pkey(&decoded, "PEM", nullptr, "RSA", EVP_PKEY_PUBLIC_KEY, nullptr, nullptr),
        &OSSL_DECODER_CTX_free);
    if (!dctx || OSSL_DECODER_from_bio(dctx.get(), bio.get()) != 1 || decoded == nullptr) {
      EVP_PKEY_free(decoded);
      return absl::InvalidArgumentError(WithReason("the PEM RSA public key (BEGIN RSA PUBLIC KEY) cannot be parsed"));
    }
    pkey.reset(decoded);
  } else {
    return absl::InvalidArgumentError(
        "no PEM public key found: expected a block starting with -----BEGIN PUBLIC KEY-----, "
        "-----BEGIN RSA PUBLIC KEY----- or -----BEGIN CERTIFICATE-----");
  }
  if (absl::Status s = CheckRsa(pkey.get(), "the configured public key"); !s.ok()) return s;
  auto key = std::make_shared<Key>();
  key->pkey = pkey.release();
  return RsaPublicKey(std::move(key));
}

bool RsaPublicKey::Verify(std::string_view data, std::string_view signature) const {
  EVP_PKEY* pkey = key_->pkey;
  // A PKCS#1 v1.5 signature is exactly as long as the modulus.
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey))) return false;
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

int RsaPublicKey::bits() const { return EVP_PKEY_get_bits(key_->pkey); }

absl::StatusOr<bool> RsaSha256Verify(std::string_view public_key_pem, std::string_view data,
                                     std::string_view signature) {
  absl::StatusOr<RsaPublicKey> key = RsaPublicKey::FromPem(public_key_pem);
  if (!key.ok()) return key.status();
  return key->Verify(data, signature);
}

absl::StatusOr<std::string> RsaSha256Sign(std::string_view private_key_pem, std::string_view data) {
  ERR_clear_error();
  if (Contains(private_key_pem, "ENCRYPTED PRIVATE KEY-----") || Contains(private_key_pem, "Proc-Type: 4,ENCRYPTED")) {
    return absl::InvalidArgumentError("the RSA private key PEM is encrypted; give an unencrypted key");
  }
  Bio bio = MemoryBio(private_key_pem);
  if (!bio) return absl::ResourceExhaustedError(WithReason("cannot allocate a buffer for the RSA private key PEM"));
  Pkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr), &EVP_PKEY_free);
  if (!pkey) return absl::InvalidArgumentError(WithReason("no PEM private key could be parsed"));
  if (absl::Status s = CheckRsa(pkey.get(), "the private key"); !s.ok()) return s;

  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, bytes, data.size()) != 1) {
    return absl::InternalError(WithReason("RS256 signing could not start"));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, bytes, data.size()) != 1) {
    return absl::InternalError(WithReason("RS256 signing failed"));
  }
  signature.resize(len);
  return signature;
}

}  // namespace parallax::crypto
