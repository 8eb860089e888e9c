#include <catch2/catch.hpp>

#include "parallax/config/config_schema.h"

using parallax::config::ConfigSchema;
using namespace std::chrono_literals;

namespace {
struct Sample {
  int port = 104;
  std::string ae_title = "PARALLAX";
  bool strict = true;
  std::vector<std::string> allowed;
  std::chrono::milliseconds quiet = 10s;
  double ratio = 0.5;
};

void Bind(ConfigSchema& schema, Sample& s) {
  schema.Field("port", &s.port, "port");
  schema.Field("ae_title", &s.ae_title, "AE title");
  schema.Field("strict", &s.strict, "strictness");
  schema.Field("allowed", &s.allowed, "allow-list");
  schema.Field("quiet", &s.quiet, "quiet period");
  schema.Field("ratio", &s.ratio, "ratio");
}
}  // namespace

TEST_CASE("a config file fills the typed struct and keeps defaults for the rest", "[config]") {
  Sample s;
  ConfigSchema schema;
  Bind(schema, s);
  REQUIRE(schema.ApplyJson(R"({"port": 11112, "allowed": ["MODALITY1", "PACS"], "quiet": "2s"})", "t").ok());
  CHECK(s.port == 11112);
  CHECK(s.allowed == std::vector<std::string>{"MODALITY1", "PACS"});
  CHECK(s.quiet == 2s);
  CHECK(s.ae_title == "PARALLAX");
}

TEST_CASE("an unknown key in the file is an error naming it", "[config]") {
  Sample s;
  ConfigSchema schema;
  Bind(schema, s);
  absl::Status st = schema.ApplyJson(R"({"prot": 1})", "ingest.json");
  REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(st.message()).find("'prot'") != std::string::npos);
}

TEST_CASE("a value of the wrong type is an error naming the key", "[config]") {
  Sample s;
  ConfigSchema schema;
  Bind(schema, s);
  absl::Status st = schema.ApplyJson(R"({"port": "eleven"})", "ingest.json");
  REQUIRE_FALSE(st.ok());
  CHECK(std::string(st.message()).find("'port'") != std::string::npos);
  CHECK_FALSE(schema.ApplyJson("{not json", "x").ok());
  CHECK_FALSE(schema.ApplyJson(R"({"port": 99999999999})", "x").ok());  // does not fit an int
  CHECK(s.port == 104);
}

TEST_CASE("environment variables override the file and typos are refused", "[config]") {
  Sample s;
  ConfigSchema schema;
  Bind(schema, s);
  char a[] = "PX_PORT=4242";
  char b[] = "PX_STRICT=false";
  char c[] = "PX_QUIET=250ms";
  char d[] = "OTHER_PORT=1";
  char* env[] = {a, b, c, d, nullptr};
  REQUIRE(schema.ApplyEnvironment("PX", env).ok());
  CHECK(s.port == 4242);
  CHECK_FALSE(s.strict);
  CHECK(s.quiet == 250ms);

  char typo[] = "PX_POTR=1";
  char* env2[] = {typo, nullptr};
  absl::Status st = schema.ApplyEnvironment("PX", env2);
  REQUIRE_FALSE(st.ok());
  CHECK(std::string(st.message()).find("PX_POTR") != std::string::npos);

  char bad[] = "PX_PORT=abc";
  char* env3[] = {bad, nullptr};
  CHECK_FALSE(schema.ApplyEnvironment("PX", env3).ok());
}
