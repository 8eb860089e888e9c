// parallax-token --secret-file F --sub USER --roles r1,r2 [--groups g1,g2]
//                [--ttl-seconds N] [--issuer I] [--audience A]
// Prints an HS256 bearer token for the local stack, signed with the secret
// in F (the same file the services' HS256 secret setting names). Exit status
// 0 on success, 2 on a usage error (an unknown role is named), 1 when the
// secret file cannot be used.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <absl/strings/numbers.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include "parallax/auth/jwt.h"
#include "parallax/auth/roles.h"

namespace {

constexpr char kUsage[] =
    "usage: parallax-token --secret-file F --sub USER --roles r1,r2 [--groups g1,g2]\n"
    "                      [--ttl-seconds N] [--issuer I] [--audience A]\n";

int UsageError(const std::string& message) {
  std::cerr << "parallax-token: " << message << "\n" << kUsage;
  return 2;
}

std::vector<std::string> SplitList(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

}  // namespace

int main(int argc, char** argv) {
  using parallax::auth::Role;
  const std::vector<std::string> known_flags = {"--secret-file", "--sub",    "--roles",   "--groups",
                                                "--ttl-seconds", "--issuer", "--audience"};
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage << "roles: " << parallax::auth::KnownRoleNames() << "\n";
      return 0;
    }
    std::string value;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      if (i + 1 >= argc) return UsageError(arg + " needs a value");
      value = argv[++i];
    }
    if (std::find(known_flags.begin(), known_flags.end(), arg) == known_flags.end()) {
      return UsageError("unknown option " + arg);
    }
    flags[arg] = value;
  }
  for (const char* required : {"--secret-file", "--sub", "--roles"}) {
    if (flags[required].empty()) return UsageError(std::string(required) + " is required");
  }

  parallax::auth::TokenClaims claims;
  claims.subject = flags["--sub"];
  std::vector<std::string> unknown;
  for (const std::string& name : SplitList(flags["--roles"])) {
    absl::StatusOr<Role> role = parallax::auth::ParseRole(name);
    if (role.ok()) {
      claims.roles.push_back(*role);
    } else {
      unknown.push_back(name);
    }
  }
  if (!unknown.empty()) {
    return UsageError("unknown role(s): " + absl::StrJoin(unknown, ", ") +
                      " (known: " + parallax::auth::KnownRoleNames() + ")");
  }
  if (claims.roles.empty()) return UsageError("--roles names no role");
  if (flags.count("--groups")) claims.groups = SplitList(flags["--groups"]);
  if (flags.count("--ttl-seconds")) {
    int64_t ttl = 0;
    if (!absl::SimpleAtoi(flags["--ttl-seconds"], &ttl) || ttl <= 0) {
      return UsageError("--ttl-seconds must be a positive whole number");
    }
    claims.ttl = std::chrono::seconds(ttl);
  }
  claims.issuer = flags["--issuer"];
  claims.audience = flags["--audience"];

  absl::StatusOr<std::string> secret = parallax::auth::ReadSecretFile(flags["--secret-file"]);
  if (!secret.ok()) {
    std::cerr << "parallax-token: " << secret.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<parallax::auth::JwtIssuer> issuer = parallax::auth::JwtIssuer::Create(*std::move(secret));
  if (!issuer.ok()) {
    std::cerr << "parallax-token: " << issuer.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::string> token = issuer->Issue(claims, std::chrono::system_clock::now());
  if (!token.ok()) {
    std::cerr << "parallax-token: " << token.status().message() << "\n";
    return 2;
  }
  std::cout << *token << "\n";
  return 0;
}
