#include "workspace/study_keys.h"

#include "parallax/auth/base64url.h"
#include "parallax/crypto/hmac.h"

namespace parallax::fhir_facade::workspace {

std::string StudyKeys::KeyOf(const std::string& study_instance_uid) {
  const std::string mac = crypto::HmacSha256(secret_, "study-key/" + study_instance_uid);
  std::string key = auth::Base64UrlEncode(std::string_view(mac).substr(0, 16));
  std::lock_guard<std::mutex> lock(mu_);
  studies_.emplace(key, study_instance_uid);
  return key;
}

std::optional<std::string> StudyKeys::StudyOf(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = studies_.find(key);
  if (it == studies_.end()) return std::nullopt;
  return it->second;
}

}  // namespace parallax::fhir_facade::workspace
