#pragma once
// Who may do what in review and escalation: pure rules, no I/O, so every
// decision is testable and the same rules hold for gRPC and the web UI.
//
//   - Reviewing a finding (accept / reject / modify) needs a reviewing role:
//     radiologist, thoracic or neuroradiologist, senior radiologist or
//     department head.
//   - Rejecting or modifying a CRITICAL finding also needs the override
//     right for its condition: the user's own override labels (label or
//     "*"), or a role the department grants it for that label (or for "*").
//   - Deciding an escalation case needs senior radiologist or department
//     head, and never the reviewer who rejected the finding (four eyes).
//   - Users are managed by admins; cases are listed by reviewers, auditors
//     and admins; reports are opened by services (integration role).
// Thread-safe (immutable values).
#include <map>
#include <set>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/escalation/v1/escalation.pb.h"

namespace parallax::escalation {

// The authenticated caller, with the roles and groups in force: the token's
// (mapped) roles joined with those the directory assigns, and the
// directory's override labels.
struct Caller {
  std::string user_id;
  std::set<escalation::v1::Role> roles;
  std::set<std::string> groups;
  std::set<std::string> override_labels;  // "*" = all
  bool active = true;                      // false when the directory deactivated the user

  bool Has(escalation::v1::Role role) const { return roles.count(role) > 0; }
};

// Per-condition override rights granted to roles: label ("*" for every
// label) -> roles that may reject or modify a critical finding of it.
using OverrideRights = std::map<std::string, std::set<escalation::v1::Role>>;

// Parses "label:role|role, label:role" (role names as in auth, e.g.
// "any_haemorrhage:neuroradiologist|senior_radiologist, *:department_head").
// INVALID_ARGUMENT naming the bad entry.
absl::StatusOr<OverrideRights> ParseOverrideRights(const std::string& spec);

// OK, or PERMISSION_DENIED with a reason naming the missing right (user ids
// and labels only).
absl::Status AuthorizeReview(const Caller& caller, escalation::v1::ReviewAction action, const std::string& label,
                             bool critical, const OverrideRights& rights);
absl::Status AuthorizeDecision(const Caller& caller, const std::string& rejecting_reviewer);
absl::Status AuthorizeUserAdministration(const Caller& caller);
absl::Status AuthorizeCaseListing(const Caller& caller);
absl::Status AuthorizeReportOpening(const Caller& caller);

}  // namespace parallax::escalation
