#include "rbac.h"

#include "parallax/auth/roles.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>

namespace parallax::escalation {
namespace {

using escalation::v1::Role;

bool Active(const Caller& c) { return c.active && !c.user_id.empty(); }

absl::Status Inactive(const Caller& c) {
  return absl::PermissionDeniedError(absl::StrCat("user ", c.user_id.empty() ? "(anonymous)" : c.user_id,
                                                  " is not an active user"));
}

}  // namespace

absl::StatusOr<OverrideRights> ParseOverrideRights(const std::string& spec) {
  OverrideRights rights;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits(':', 1));
    if (parts.size() != 2 || absl::StripAsciiWhitespace(parts[0]).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("override rights: '", std::string(entry),
                                                      "' is not label:role|role"));
    }
    const std::string label(absl::StripAsciiWhitespace(parts[0]));
    for (absl::string_view r : absl::StrSplit(parts[1], '|', absl::SkipWhitespace())) {
      const std::string name(absl::StripAsciiWhitespace(r));
      auto role = auth::ParseRole(name);
      if (!role.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("override rights for ", label, ": ", role.status().message()));
      }
      rights[label].insert(*role);
    }
    if (rights[label].empty()) return absl::InvalidArgumentError(absl::StrCat("override rights: no role for ", label));
  }
  return rights;
}

absl::Status AuthorizeReview(const Caller& caller, v1::ReviewAction action, const std::string& label, bool critical,
                             const OverrideRights& rights) {
  if (!Active(caller)) return Inactive(caller);
  static const std::set<Role> kReviewing = {v1::ROLE_RADIOLOGIST, v1::ROLE_THORACIC_RADIOLOGIST,
                                            v1::ROLE_NEURORADIOLOGIST, v1::ROLE_SENIOR_RADIOLOGIST,
                                            v1::ROLE_DEPARTMENT_HEAD};
  bool reviewer = false;
  for (Role r : caller.roles) reviewer = reviewer || kReviewing.count(r) > 0;
  if (!reviewer) {
    return absl::PermissionDeniedError(absl::StrCat("user ", caller.user_id, " has no reviewing role"));
  }
  if (action == v1::REVIEW_ACTION_ACCEPT || !critical) return absl::OkStatus();
  if (caller.override_labels.count(label) || caller.override_labels.count("*")) return absl::OkStatus();
  for (const std::string& key : {label, std::string("*")}) {
    auto it = rights.find(key);
    if (it == rights.end()) continue;
    for (Role r : it->second) {
      if (caller.Has(r)) return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat("user ", caller.user_id, " may not ",
                                                  action == v1::REVIEW_ACTION_REJECT ? "reject" : "modify",
                                                  " a critical ", label, " finding (no override right)"));
}

absl::Status AuthorizeDecision(const Caller& caller, const std::string& rejecting_reviewer) {
  if (!Active(caller)) return Inactive(caller);
  if (!caller.Has(v1::ROLE_SENIOR_RADIOLOGIST) && !caller.Has(v1::ROLE_DEPARTMENT_HEAD)) {
    return absl::PermissionDeniedError(
        absl::StrCat("user ", caller.user_id, " is neither senior radiologist nor department head"));
  }
  if (caller.user_id == rejecting_reviewer) {
    return absl::PermissionDeniedError(
        absl::StrCat("user ", caller.user_id, " rejected this finding and may not decide its case (four eyes)"));
  }
  return absl::OkStatus();
}

absl::Status AuthorizeUserAdministration(const Caller& caller) {
  if (!Active(caller)) return Inactive(caller);
  if (!caller.Has(v1::ROLE_ADMIN)) {
    return absl::PermissionDeniedError(absl::StrCat("user ", caller.user_id, " is not an admin"));
  }
  return absl::OkStatus();
}

absl::Status AuthorizeCaseListing(const Caller& caller) {
  if (!Active(caller)) return Inactive(caller);
  for (Role r : caller.roles) {
    if (r != v1::ROLE_INTEGRATION && r != v1::ROLE_UNSPECIFIED) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("user ", caller.user_id, " may not list escalation cases"));
}

absl::Status AuthorizeReportOpening(const Caller& caller) {
  if (!Active(caller)) return Inactive(caller);
  if (!caller.Has(v1::ROLE_INTEGRATION)) {
    return absl::PermissionDeniedError(absl::StrCat("caller ", caller.user_id, " is not a Parallax service"));
  }
  return absl::OkStatus();
}

}  // namespace parallax::escalation
