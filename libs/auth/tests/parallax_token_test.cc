#include <array>
#include <cstdio>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "auth_test_support.h"
#include "parallax/testing/environment.h"

namespace parallax::auth {
namespace {

namespace v1 = ::parallax::escalation::v1;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

RunResult Run(const std::string& command) {
  RunResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Tool() { return testing::BinDir() + "/libs/auth/parallax-token"; }

}  // namespace

TEST_CASE("parallax-token prints an HS256 token the verifier accepts", "[auth]") {
  testing::TempDir dir;
  const auto secret_file = dir.path() / "hs256.secret";
  test::WriteFile(secret_file, test::kSecret + "\n");
  RunResult r = Run(Tool() + " --secret-file " + secret_file.string() +
                    " --sub u-77 --roles radiologist,auditor --groups thoracic-radiology,on-call"
                    " --ttl-seconds 600 --issuer parallax-local --audience=parallax");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(!r.output.empty());
  REQUIRE(r.output.back() == '\n');
  const std::string token = r.output.substr(0, r.output.size() - 1);

  absl::StatusOr<VerifierOptions> options =
      LoadVerifierOptions(secret_file.string(), "", "parallax-local", "parallax", "", "");
  REQUIRE(options.ok());
  const JwtVerifier verifier = *JwtVerifier::Create(*options);
  const auto now = std::chrono::system_clock::now();
  absl::StatusOr<Principal> p = verifier.Verify(token, now);
  REQUIRE(p.ok());
  CHECK(p->user_id == "u-77");
  CHECK(p->roles == std::vector<Role>{v1::ROLE_RADIOLOGIST, v1::ROLE_AUDITOR});
  CHECK(p->groups == std::vector<std::string>{"thoracic-radiology", "on-call"});
  const int64_t now_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  CHECK(p->expires_at_unix >= now_unix + 590);
  CHECK(p->expires_at_unix <= now_unix + 600);
  // The ttl is real: ten minutes on, the token is refused.
  CHECK_FALSE(verifier.Verify(token, now + std::chrono::minutes(11)).ok());
}

TEST_CASE("parallax-token refuses unknown roles and names them", "[auth]") {
  testing::TempDir dir;
  const auto secret_file = dir.path() / "hs256.secret";
  test::WriteFile(secret_file, test::kSecret);
  RunResult r = Run(Tool() + " --secret-file " + secret_file.string() + " --sub u-1 --roles radiologist,chief,boss");
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("unknown role(s): chief, boss") != std::string::npos);
  CHECK(r.output.find("eyJ") == std::string::npos);  // no token printed
}

TEST_CASE("parallax-token explains a missing option or an unusable secret file", "[auth]") {
  testing::TempDir dir;
  RunResult no_sub = Run(Tool() + " --secret-file /dev/null --roles admin");
  CHECK(no_sub.exit_code == 2);
  CHECK(no_sub.output.find("--sub is required") != std::string::npos);
  const std::string missing = (dir.path() / "nope").string();
  RunResult no_file = Run(Tool() + " --secret-file " + missing + " --sub u --roles admin");
  CHECK(no_file.exit_code == 1);
  CHECK(no_file.output.find(missing) != std::string::npos);
  const auto short_file = dir.path() / "short";
  test::WriteFile(short_file, "short");
  RunResult too_short = Run(Tool() + " --secret-file " + short_file.string() + " --sub u --roles admin");
  CHECK(too_short.exit_code == 1);
  CHECK(too_short.output.find("at least 32") != std::string::npos);
  RunResult bad_ttl = Run(Tool() + " --secret-file " + short_file.string() + " --sub u --roles admin --ttl-seconds 0");
  CHECK(bad_ttl.exit_code == 2);
}

}  // namespace parallax::auth
