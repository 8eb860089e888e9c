// Triage's configuration: the prior comparison's label families, by default
// and as set in the environment, and refused when malformed.
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "triage_config.h"

namespace tr = parallax::triage;

namespace {

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) { setenv(n.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("triage compares the chest model's lung lesion labels as one family unless configured otherwise") {
  ScopedEnv db("PARALLAX_TRIAGE_DATABASE_URL", "postgresql://127.0.0.1:1/none");
  tr::TriageConfig c;
  REQUIRE(tr::LoadTriageConfig("", &c).ok());
  CHECK(c.change_label_family_list == std::vector<std::vector<std::string>>{{"Nodule", "Mass", "Lung Lesion"}});

  ScopedEnv none("PARALLAX_TRIAGE_CHANGE_LABEL_FAMILIES", "");
  tr::TriageConfig off;
  REQUIRE(tr::LoadTriageConfig("", &off).ok());
  CHECK(off.change_label_family_list.empty());
}

TEST_CASE("a malformed label family is refused at start-up with the key and the problem") {
  ScopedEnv db("PARALLAX_TRIAGE_DATABASE_URL", "postgresql://127.0.0.1:1/none");
  ScopedEnv bad("PARALLAX_TRIAGE_CHANGE_LABEL_FAMILIES", "Nodule;Mass,Lung Lesion");
  tr::TriageConfig c;
  const absl::Status s = tr::LoadTriageConfig("", &c);
  REQUIRE_FALSE(s.ok());
  CHECK(std::string(s.message()).find("change_label_families") != std::string::npos);
  CHECK(std::string(s.message()).find("two labels") != std::string::npos);
}
