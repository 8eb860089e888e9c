// The workspace's parts that need no service: local sign-in, study keys,
// the live-update feed, static files and the JSON shapes.
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "parallax/testing/temp_dir.h"
#include "workspace/change_feed.h"
#include "workspace/local_identity.h"
#include "workspace/static_files.h"
#include "workspace/study_keys.h"
#include "workspace/workspace_api.h"
#include "workspace/workspace_json.h"

namespace parallax::fhir_facade::workspace {
namespace {

std::string IdentityFile(const std::string& password_hash, const std::string& roles = "[\"thoracic_radiologist\"]") {
  return R"({"users": [{"user": "dr.chest", "display_name": "Dr Chest", "roles": )" + roles +
         R"(, "groups": ["thoracic-radiology"], "password": ")" + password_hash + R"("}]})";
}

TEST_CASE("local identity accepts the right password and refuses a wrong one or an unknown user") {
  auto hash = HashPassword("correct horse", "salt-1234", 10000);
  REQUIRE(hash.ok());
  auto ids = LocalIdentities::Parse(IdentityFile(*hash), "users.json");
  REQUIRE(ids.ok());
  CHECK(ids->Verify("dr.chest", "correct horse"));
  CHECK_FALSE(ids->Verify("dr.chest", "correct horse "));
  CHECK_FALSE(ids->Verify("dr.nobody", "correct horse"));
  const LocalAccount* account = ids->Account("dr.chest");
  REQUIRE(account != nullptr);
  CHECK(account->display_name == "Dr Chest");
  CHECK(account->roles == std::vector<auth::Role>{escalation::v1::ROLE_THORACIC_RADIOLOGIST});
  CHECK(account->groups == std::vector<std::string>{"thoracic-radiology"});
}

TEST_CASE("local identity matches hashes made the way the demo script makes them (Python hashlib)") {
  // python3 -c 'import hashlib,base64; print(base64.urlsafe_b64encode(
  //   hashlib.pbkdf2_hmac("sha256", b"demo", b"0123456789abcdef", 10000, 32)).rstrip(b"=").decode())'
  auto ids = LocalIdentities::Parse(
      IdentityFile("pbkdf2-sha256$10000$MDEyMzQ1Njc4OWFiY2RlZg$" + std::string("hZQ3OWtEsqGsbl9WA7faAPyJUkRLcmWMmGKB7Dn1mRY")), "users.json");
  REQUIRE(ids.ok());
  CHECK(ids->Verify("dr.chest", "demo"));
}

TEST_CASE("local identity names the entry that is wrong, never its password") {
  auto weak = HashPassword("pw", "salt", 10000);
  REQUIRE(weak.ok());
  std::string few = *weak;
  few.replace(few.find("10000"), 5, "1000");
  auto r = LocalIdentities::Parse(IdentityFile(few), "users.json");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()).find("users.json: users[0] (dr.chest)") != std::string::npos);
  auto role = LocalIdentities::Parse(IdentityFile(*weak, "[\"surgeon\"]"), "users.json");
  CHECK(role.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(role.status().message()).find("unknown role") != std::string::npos);
  CHECK(LocalIdentities::Parse("{}", "x").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(LocalIdentities::Load("/nonexistent/users.json").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("study keys are stable and opaque and resolve only once handed out") {
  StudyKeys keys("secret-one-with-enough-bytes-000");
  const std::string uid = "1.2.826.0.1.3680043.10.1234.5";
  CHECK_FALSE(keys.StudyOf("nothing").has_value());
  const std::string key = keys.KeyOf(uid);
  CHECK(key.size() == 22);
  CHECK(key.find("1.2.826") == std::string::npos);
  CHECK(keys.KeyOf(uid) == key);
  CHECK(keys.StudyOf(key) == uid);
  StudyKeys other("secret-two-with-enough-bytes-000");
  CHECK(other.KeyOf(uid) != key);
  CHECK(keys.KeyOf(uid + "1") != key);
}

TEST_CASE("the change feed resets a new or stale cursor and then hands out each event once") {
  ChangeFeed feed(3);
  ChangeBatch first = feed.Wait(0, std::chrono::milliseconds(0));
  CHECK(first.reset);
  CHECK(first.events.empty());
  feed.Publish("report", "k1");
  feed.Publish("alert", "k2");
  ChangeBatch next = feed.Wait(first.seq, std::chrono::milliseconds(0));
  CHECK_FALSE(next.reset);
  REQUIRE(next.events.size() == 2);
  CHECK(next.events[0].kind == "report");
  CHECK(next.events[1].study_key == "k2");
  ChangeBatch none = feed.Wait(next.seq, std::chrono::milliseconds(20));
  CHECK(none.events.empty());
  CHECK(none.seq == next.seq);
  // Four more overflow a capacity of three: the old cursor is stale.
  for (int i = 0; i < 4; ++i) feed.Publish("case", "k3");
  CHECK(feed.Wait(next.seq, std::chrono::milliseconds(0)).reset);
  // A cursor from another process life (larger than anything here) resets too.
  CHECK(feed.Wait(next.seq + 1000000, std::chrono::milliseconds(0)).reset);
}

TEST_CASE("a waiting browser is woken by the next event") {
  ChangeFeed feed;
  const int64_t cursor = feed.Wait(0, std::chrono::milliseconds(0)).seq;
  std::thread publisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    feed.Publish("report", "k9");
  });
  const auto start = std::chrono::steady_clock::now();
  ChangeBatch batch = feed.Wait(cursor, std::chrono::seconds(10));
  publisher.join();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  REQUIRE(batch.events.size() == 1);
  CHECK(batch.events[0].study_key == "k9");
}

TEST_CASE("static files serve the workspace and nothing outside it") {
  testing::TempDir dir;
  std::ofstream(dir.path().string() + "/index.html") << "<!doctype html><title>Parallax</title>";
  std::filesystem::create_directories(dir.path().string() + "/js");
  std::ofstream(dir.path().string() + "/js/app.js") << "export {}";
  std::ofstream(dir.path().string() + "/secret.txt") << "no";
  StaticFiles files(dir.path().string());
  http::Response index = files.Serve("index.html");
  CHECK(index.status == 200);
  CHECK(index.Header("Content-Type") == "text/html; charset=utf-8");
  CHECK_FALSE(index.Header("Content-Security-Policy").empty());
  CHECK(files.Serve("js/app.js").Header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(files.Serve("secret.txt").status == 404);
  CHECK(files.Serve("../index.html").status == 404);
  CHECK(files.Serve("js/../index.html").status == 404);
  CHECK(files.Serve(".hidden.js").status == 404);
  CHECK(files.Serve("missing.css").status == 404);
}

TEST_CASE("workspace JSON names enums in lower case and computes false alerts per 1000 studies per condition") {
  CHECK(LateralityText(common::v1::LATERALITY_RIGHT) == "right");
  CHECK(LateralityText(common::v1::LATERALITY_UNSPECIFIED).empty());
  common::v1::Laterality l;
  CHECK(ParseLaterality("not_applicable", &l));
  CHECK(l == common::v1::LATERALITY_NOT_APPLICABLE);
  CHECK_FALSE(ParseLaterality("up", &l));
  CHECK(ReportStatusText(escalation::v1::REPORT_STATUS_UNSPECIFIED) == "none");
  CHECK(OutcomeText(escalation::v1::FINDING_OUTCOME_CONFIRMED_BY_SENIOR) == "confirmed_by_senior");

  audit::v1::GetAnalyticsResponse a;
  a.set_studies_analysed(200);
  auto* c = a.add_conditions();
  c->set_label("Pneumothorax");
  c->set_false_alerts(3);
  c->set_agreement(0.75);
  c->mutable_time_to_acknowledgment()->mutable_median()->set_seconds(90);
  const Json j = DepartmentJson(a, 30);
  CHECK(j["conditions"][0]["false_alerts_per_1000_studies"].get<double>() == Approx(15.0));
  CHECK(j["conditions"][0]["time_to_acknowledgment"]["median_s"].get<double>() == Approx(90));
  CHECK(j["window_days"] == 30);

  common::v1::Finding f;
  f.set_finding_id("f1");
  f.set_label("Subdural");
  f.set_volume_ml(41.8);
  f.add_quality_flags(common::v1::QUALITY_FLAG_MOTION_ARTEFACT);
  const Json fj = FindingJson(f);
  CHECK(fj["volume_ml"].get<double>() == Approx(41.8));
  CHECK(fj["area_cm2"].is_null());
  CHECK(fj["display"] == "Subdural");
  CHECK(fj["quality_flags"][0] == "motion_artefact");
}

TEST_CASE("service errors map to the HTTP statuses the workspace acts on") {
  CHECK(ErrorResponse(absl::PermissionDeniedError("no override right")).status == 403);
  CHECK(ErrorResponse(absl::UnauthenticatedError("x")).status == 401);
  CHECK(ErrorResponse(absl::FailedPreconditionError("x")).status == 409);
  CHECK(ErrorResponse(absl::UnavailableError("x")).status == 503);
  CHECK(ErrorResponse(absl::InvalidArgumentError("x")).status == 400);
  const http::Response r = ErrorResponse(absl::PermissionDeniedError("no override right"));
  CHECK(Json::parse(r.body)["error"] == "no override right");
}

}  // namespace
}  // namespace parallax::fhir_facade::workspace
