#include "workspace/local_identity.h"

#include <fstream>
#include <sstream>
#include <vector>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <nlohmann/json.hpp>

#include "parallax/auth/base64url.h"
#include "parallax/crypto/hmac.h"
#include "parallax/crypto/pbkdf2.h"

namespace parallax::fhir_facade::workspace {
namespace {

constexpr int kMinIterations = 10000;
constexpr size_t kKeyBytes = 32;

}  // namespace

absl::StatusOr<std::string> HashPassword(std::string_view password, std::string_view salt, int iterations) {
  if (iterations < kMinIterations) {
    return absl::InvalidArgumentError(absl::StrCat("password hashes need at least ", kMinIterations, " iterations"));
  }
  if (salt.empty()) return absl::InvalidArgumentError("password hashes need a salt");
  auto key = crypto::Pbkdf2HmacSha256(password, salt, iterations, kKeyBytes);
  if (!key.ok()) return key.status();
  return absl::StrCat("pbkdf2-sha256$", iterations, "$", auth::Base64UrlEncode(salt), "$",
                      auth::Base64UrlEncode(*key));
}

absl::StatusOr<LocalIdentities> LocalIdentities::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("local identity file ", path, " cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

absl::StatusOr<LocalIdentities> LocalIdentities::Parse(std::string_view json, std::string_view origin_view) {
  const std::string origin(origin_view);
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("users") || !doc["users"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": expected a JSON object with a \"users\" array"));
  }
  LocalIdentities out;
  int index = 0;
  for (const nlohmann::json& entry : doc["users"]) {
    const std::string where = absl::StrCat(origin, ": users[", index++, "]");
    if (!entry.is_object() || !entry.contains("user") || !entry["user"].is_string() ||
        entry["user"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has no \"user\""));
    }
    const std::string user = entry["user"].get<std::string>();
    if (!entry.contains("password") || !entry["password"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " (", user, ") has no \"password\" hash"));
    }
    const std::vector<std::string> parts = absl::StrSplit(entry["password"].get<std::string>(), '$');
    Hash hash;
    auto salt = parts.size() == 4 ? auth::Base64UrlDecode(parts[2]) : absl::InvalidArgumentError("");
    auto key = parts.size() == 4 ? auth::Base64UrlDecode(parts[3]) : absl::InvalidArgumentError("");
    if (parts.size() != 4 || parts[0] != "pbkdf2-sha256" || !absl::SimpleAtoi(parts[1], &hash.iterations) ||
        hash.iterations < kMinIterations || !salt.ok() || salt->empty() || !key.ok() || key->size() != kKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " (", user, "): the password must be pbkdf2-sha256$<iterations >= ", kMinIterations,
          ">$<salt>$<32-byte hash>, base64url"));
    }
    hash.salt = *salt;
    hash.key = *key;
    Entry e{std::move(hash), {}};
    if (entry.contains("display_name") && entry["display_name"].is_string()) {
      e.account.display_name = entry["display_name"].get<std::string>();
    }
    if (!entry.contains("roles") || !entry["roles"].is_array() || entry["roles"].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " (", user, ") needs \"roles\": one or more of ",
                                                     auth::KnownRoleNames()));
    }
    for (const nlohmann::json& r : entry["roles"]) {
      auto role = r.is_string() ? auth::ParseRole(r.get<std::string>()) : absl::InvalidArgumentError("not a string");
      if (!role.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, " (", user, "): unknown role; known roles: ",
                                                       auth::KnownRoleNames()));
      }
      e.account.roles.push_back(*role);
    }
    if (entry.contains("groups") && entry["groups"].is_array()) {
      for (const nlohmann::json& g : entry["groups"]) {
        if (g.is_string()) e.account.groups.push_back(g.get<std::string>());
      }
    }
    if (!out.users_.emplace(user, std::move(e)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": user ", user, " is listed twice"));
    }
  }
  return out;
}

bool LocalIdentities::Verify(std::string_view user, std::string_view password) const {
  static const Hash kDecoy{kMinIterations, "no-such-user-salt", std::string(kKeyBytes, '\0')};
  auto it = users_.find(user);
  const Hash& hash = it == users_.end() ? kDecoy : it->second.hash;
  auto key = crypto::Pbkdf2HmacSha256(password, hash.salt, hash.iterations, kKeyBytes);
  const bool match = key.ok() && crypto::ConstantTimeEquals(*key, hash.key);
  return match && it != users_.end();
}

const LocalAccount* LocalIdentities::Account(std::string_view user) const {
  auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second.account;
}

}  // namespace parallax::fhir_facade::workspace
