#pragma once
// Parallax roles (parallax.escalation.v1.Role) by name, for token claims,
// configuration and messages. Pure functions, thread-safe.
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

#include "parallax/escalation/v1/escalation.pb.h"

namespace parallax::auth {

using Role = ::parallax::escalation::v1::Role;

// The lower-case name of a role: "radiologist", "thoracic_radiologist",
// "neuroradiologist", "senior_radiologist", "department_head", "auditor",
// "admin", "integration"; "unspecified" for ROLE_UNSPECIFIED and "unknown"
// for a value outside the enum.
std::string RoleName(Role role);

// The role named `name` (exactly one of the names above, lower case;
// "unspecified" is not a role). INVALID_ARGUMENT naming `name` and listing
// the known names otherwise.
absl::StatusOr<Role> ParseRole(std::string_view name);

// "radiologist, thoracic_radiologist, ..." for messages and usage text.
std::string KnownRoleNames();

}  // namespace parallax::auth
