#pragma once
// The local identity provider: user names with PBKDF2 password hashes and
// the roles and groups their tokens carry, for signing in to the workspace
// on a stack without a hospital identity provider (the demo, a test lab).
// Like any identity provider it vouches for roles in the token; escalation
// adds the roles its own directory gives and refuses users it deactivated.
//
// File format (JSON):
//   {"users": [{"user": "dr.chest", "display_name": "Dr Chest",
//               "roles": ["thoracic_radiologist"], "groups": ["thoracic-radiology"],
//               "password": "pbkdf2-sha256$<iterations>$<salt>$<hash>"}]}
// with salt and hash in unpadded base64url (the hash 32 bytes). Make an entry
// with HashPassword, or in Python:
//   hashlib.pbkdf2_hmac("sha256", pw, salt, iterations, 32).
//
// Immutable after Load/Parse: Verify may be called from many threads.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/auth/roles.h"

namespace parallax::fhir_facade::workspace {

// What a signed-in user's token says about them.
struct LocalAccount {
  std::string display_name;
  std::vector<auth::Role> roles;
  std::vector<std::string> groups;
};

class LocalIdentities {
 public:
  // Reads and parses `path`. NOT_FOUND naming the path when it cannot be
  // read; INVALID_ARGUMENT as Parse.
  static absl::StatusOr<LocalIdentities> Load(const std::string& path);
  // INVALID_ARGUMENT naming `origin` and the entry (by position and user,
  // never the password) for bad JSON, a missing user or password, a repeated
  // user, no role or an unknown role name (auth::ParseRole), or a password
  // that is not a well-formed pbkdf2-sha256 hash with at least 10,000
  // iterations.
  static absl::StatusOr<LocalIdentities> Parse(std::string_view json, std::string_view origin);

  // True when `user` exists and `password` matches its hash. An unknown
  // user costs the same derivation as a known one, so timing does not tell
  // which user names exist.
  bool Verify(std::string_view user, std::string_view password) const;

  // The user's roles, groups and name; nullptr for an unknown user.
  const LocalAccount* Account(std::string_view user) const;

  size_t size() const { return users_.size(); }

 private:
  struct Hash {
    int iterations = 0;
    std::string salt;
    std::string key;
  };
  struct Entry {
    Hash hash;
    LocalAccount account;
  };
  std::map<std::string, Entry, std::less<>> users_;
};

// "pbkdf2-sha256$<iterations>$<salt>$<hash>" for `password`. INVALID_ARGUMENT
// for fewer than 10,000 iterations or an empty salt.
absl::StatusOr<std::string> HashPassword(std::string_view password, std::string_view salt, int iterations);

}  // namespace parallax::fhir_facade::workspace
