// The review and escalation rules, without a database.
#include "rbac.h"

#include <catch2/catch.hpp>

namespace parallax::escalation {
namespace {

using v1::ReviewAction;

Caller User(const std::string& id, std::set<v1::Role> roles, std::set<std::string> overrides = {}) {
  Caller c;
  c.user_id = id;
  c.roles = std::move(roles);
  c.override_labels = std::move(overrides);
  return c;
}

const OverrideRights& Rights() {
  static const OverrideRights rights = *ParseOverrideRights(
      "any_haemorrhage:neuroradiologist|senior_radiologist, pneumothorax:thoracic_radiologist, *:department_head");
  return rights;
}

TEST_CASE("rbac: any reviewing role may accept, and only a reviewing role may review", "[escalation][rbac]") {
  CHECK(AuthorizeReview(User("r1", {v1::ROLE_RADIOLOGIST}), v1::REVIEW_ACTION_ACCEPT, "any_haemorrhage", true, Rights())
            .ok());
  const absl::Status auditor =
      AuthorizeReview(User("a1", {v1::ROLE_AUDITOR}), v1::REVIEW_ACTION_ACCEPT, "pneumothorax", false, Rights());
  CHECK(auditor.code() == absl::StatusCode::kPermissionDenied);
  CHECK(AuthorizeReview(User("adm", {v1::ROLE_ADMIN}), v1::REVIEW_ACTION_ACCEPT, "pneumothorax", false, Rights())
            .code() == absl::StatusCode::kPermissionDenied);
}

TEST_CASE("rbac: rejecting a critical haemorrhage needs a neuroradiologist, a senior or a granted override",
          "[escalation][rbac]") {
  const auto reject = v1::REVIEW_ACTION_REJECT;
  const absl::Status general = AuthorizeReview(User("r1", {v1::ROLE_RADIOLOGIST}), reject, "any_haemorrhage", true, Rights());
  CHECK(general.code() == absl::StatusCode::kPermissionDenied);
  CHECK(general.message().find("any_haemorrhage") != std::string::npos);
  CHECK(AuthorizeReview(User("n1", {v1::ROLE_NEURORADIOLOGIST}), reject, "any_haemorrhage", true, Rights()).ok());
  CHECK(AuthorizeReview(User("s1", {v1::ROLE_SENIOR_RADIOLOGIST}), reject, "any_haemorrhage", true, Rights()).ok());
  CHECK(AuthorizeReview(User("h1", {v1::ROLE_DEPARTMENT_HEAD}), reject, "any_haemorrhage", true, Rights()).ok());
  // A thoracic radiologist may override pneumothorax but not haemorrhage.
  CHECK(AuthorizeReview(User("t1", {v1::ROLE_THORACIC_RADIOLOGIST}), reject, "pneumothorax", true, Rights()).ok());
  CHECK(!AuthorizeReview(User("t1", {v1::ROLE_THORACIC_RADIOLOGIST}), reject, "any_haemorrhage", true, Rights()).ok());
  // A user-level override label works, "*" for all.
  CHECK(AuthorizeReview(User("r2", {v1::ROLE_RADIOLOGIST}, {"any_haemorrhage"}), reject, "any_haemorrhage", true,
                        Rights())
            .ok());
  CHECK(AuthorizeReview(User("r3", {v1::ROLE_RADIOLOGIST}, {"*"}), v1::REVIEW_ACTION_MODIFY, "pneumothorax", true,
                        Rights())
            .ok());
  // A non-critical finding needs no override right.
  CHECK(AuthorizeReview(User("r1", {v1::ROLE_RADIOLOGIST}), reject, "fracture", false, Rights()).ok());
}

TEST_CASE("rbac: a case is decided by a senior or the department head, never by the reviewer who rejected",
          "[escalation][rbac]") {
  CHECK(AuthorizeDecision(User("s1", {v1::ROLE_SENIOR_RADIOLOGIST}), "r1").ok());
  CHECK(AuthorizeDecision(User("h1", {v1::ROLE_DEPARTMENT_HEAD}), "r1").ok());
  CHECK(AuthorizeDecision(User("s1", {v1::ROLE_SENIOR_RADIOLOGIST}), "s1").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(AuthorizeDecision(User("n1", {v1::ROLE_NEURORADIOLOGIST}), "r1").code() == absl::StatusCode::kPermissionDenied);
}

TEST_CASE("rbac: an inactive user may do nothing, and only admins manage users", "[escalation][rbac]") {
  Caller gone = User("s9", {v1::ROLE_SENIOR_RADIOLOGIST, v1::ROLE_ADMIN});
  gone.active = false;
  CHECK(!AuthorizeDecision(gone, "r1").ok());
  CHECK(!AuthorizeUserAdministration(gone).ok());
  CHECK(AuthorizeUserAdministration(User("adm", {v1::ROLE_ADMIN})).ok());
  CHECK(!AuthorizeUserAdministration(User("h1", {v1::ROLE_DEPARTMENT_HEAD})).ok());
  CHECK(AuthorizeReportOpening(User("alert-routing", {v1::ROLE_INTEGRATION})).ok());
  CHECK(!AuthorizeReportOpening(User("r1", {v1::ROLE_RADIOLOGIST})).ok());
}

TEST_CASE("rbac: override rights name their bad entry", "[escalation][rbac]") {
  auto bad_role = ParseOverrideRights("any_haemorrhage:neuroradiologist|chief");
  REQUIRE(!bad_role.ok());
  CHECK(bad_role.status().message().find("chief") != std::string::npos);
  CHECK(!ParseOverrideRights("pneumothorax").ok());
  auto empty = ParseOverrideRights("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

}  // namespace
}  // namespace parallax::escalation
