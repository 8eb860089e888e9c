#pragma once
// The authenticated caller that a verified bearer token yields. A plain
// value type: safe to share read-only between threads.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "parallax/auth/roles.h"

namespace parallax::auth {

// Who is calling, as established by a verified bearer token.
struct Principal {
  std::string user_id;                  // the token's `sub` claim
  std::vector<Role> roles;              // recognised Parallax roles, no duplicates, never empty
  std::vector<std::string> groups;      // routing groups from the group claim (may be empty)
  int64_t expires_at_unix = 0;          // the token's `exp`, seconds since the Unix epoch

  // True when `role` is among roles.
  bool HasRole(Role role) const;
  // True when any of `any_of` is among roles (false for an empty list).
  bool HasAnyRole(std::initializer_list<Role> any_of) const;
};

}  // namespace parallax::auth
