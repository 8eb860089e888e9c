#include "parallax/auth/roles.h"

#include <algorithm>
#include <array>
#include <utility>

#include <absl/status/status.h>
#include <absl/strings/str_cat.h>

#include "parallax/auth/principal.h"

namespace parallax::auth {
namespace {

namespace v1 = ::parallax::escalation::v1;

constexpr std::array<std::pair<Role, std::string_view>, 8> kRoles = {{
    {v1::ROLE_RADIOLOGIST, "radiologist"},
    {v1::ROLE_THORACIC_RADIOLOGIST, "thoracic_radiologist"},
    {v1::ROLE_NEURORADIOLOGIST, "neuroradiologist"},
    {v1::ROLE_SENIOR_RADIOLOGIST, "senior_radiologist"},
    {v1::ROLE_DEPARTMENT_HEAD, "department_head"},
    {v1::ROLE_AUDITOR, "auditor"},
    {v1::ROLE_ADMIN, "admin"},
    {v1::ROLE_INTEGRATION, "integration"},
}};

}  // namespace

std::string RoleName(Role role) {
  if (role == v1::ROLE_UNSPECIFIED) return "unspecified";
  for (const auto& [r, name] : kRoles) {
    if (r == role) return std::string(name);
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  for (const auto& [r, known] : kRoles) {
    if (known == name) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", std::string(name), "' is not a Parallax role (known: ", KnownRoleNames(), ")"));
}

std::string KnownRoleNames() {
  std::string out;
  for (const auto& [r, name] : kRoles) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool Principal::HasRole(Role role) const { return std::find(roles.begin(), roles.end(), role) != roles.end(); }

bool Principal::HasAnyRole(std::initializer_list<Role> any_of) const {
  return std::any_of(any_of.begin(), any_of.end(), [this](Role r) { return HasRole(r); });
}

}  // namespace parallax::auth
