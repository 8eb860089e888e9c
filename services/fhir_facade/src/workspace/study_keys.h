#pragma once
// Opaque keys for studies in the workspace's URLs, so that no identifier
// from the PACS (Study Instance UID, accession) appears in an address bar,
// a browser history or an access log: key = the first 128 bits of
// HMAC-SHA-256(secret, "study-key/" + Study Instance UID), base64url.
// Deterministic (the same study has the same key across restarts and
// replicas that share the secret) and not reversible without the secret;
// the facade resolves a key through the keys it has handed out.
//
// Thread-safe.
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace parallax::fhir_facade::workspace {

class StudyKeys {
 public:
  // `secret`: any byte string kept by the facade (the stack's HS256 secret).
  explicit StudyKeys(std::string secret) : secret_(std::move(secret)) {}

  // The study's key; remembers it so that StudyOf can resolve it.
  std::string KeyOf(const std::string& study_instance_uid);

  // The study a key was handed out for; nullopt for a key not (yet) seen.
  std::optional<std::string> StudyOf(const std::string& key) const;

 private:
  const std::string secret_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> studies_;  // key -> study UID
};

}  // namespace parallax::fhir_facade::workspace
