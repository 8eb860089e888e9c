#include "parallax/inference/model_manifest.h"

#include <cctype>

#include <absl/strings/str_split.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_data.h"

namespace parallax::inference {
namespace {

using nlohmann::json;

json GoodManifest() { return json::parse(test::ReadText(test::DataPath("tiny.json"))); }

std::string ErrorOf(const json& manifest) {
  absl::StatusOr<ModelManifest> m = ParseModelManifest(manifest.dump());
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(m.status().message());
}

TEST_CASE("a complete manifest parses into its typed fields", "[inference]") {
  absl::StatusOr<ModelManifest> m = ParseModelManifest(GoodManifest().dump());
  REQUIRE(m.ok());
  CHECK(m->id == "parallax.test.tiny");
  CHECK(m->version == "0.0.1");
  CHECK(m->device_uid == "2.25.215506243118391750958722061384962425919");
  CHECK(m->applies_to.modality == std::vector<std::string>{"CR", "DX"});
  CHECK(m->applies_to.body_part == std::vector<std::string>{"CHEST"});
  CHECK(m->applies_to.view_position == std::vector<std::string>{"PA", "AP"});
  CHECK(m->input.channels == 1);
  CHECK(m->input.height == 64);
  CHECK(m->input.width == 64);
  CHECK(m->input.depth == 1);
  CHECK(m->input.windows.empty());
  REQUIRE(m->input.normalisation.has_value());
  CHECK(m->input.normalisation->mean == 0.5);
  CHECK(m->input.normalisation->std == 0.25);
  CHECK(m->input.Shape(2) == std::vector<int64_t>{2, 1, 64, 64});
  REQUIRE(m->labels.size() == 3);
  CHECK(m->labels[0].name == "pneumothorax");
  CHECK(m->labels[0].code.system == "http://snomed.info/sct");
  CHECK(m->labels[0].code.code == "36118008");
  CHECK(m->labels[0].code.display == "Pneumothorax");
  CHECK(m->labels[1].operating_point == 0.4);
  REQUIRE(m->measurements.size() == 1);
  CHECK(m->measurements[0].unit == "mL");
}

TEST_CASE("a CT manifest carries one HU window per channel and a 3-D shape", "[inference]") {
  json j = GoodManifest();
  j["input"].erase("normalisation");
  j["input"]["channels"] = 2;
  j["input"]["depth"] = 16;
  j["input"]["windows"] = json::array({{{"center", 40}, {"width", 400}}, {{"center", -600}, {"width", 1500}}});
  absl::StatusOr<ModelManifest> m = ParseModelManifest(j.dump());
  REQUIRE(m.ok());
  REQUIRE(m->input.windows.size() == 2);
  CHECK(m->input.windows[1].center == -600);
  CHECK(m->input.windows[1].width == 1500);
  CHECK_FALSE(m->input.normalisation.has_value());
  CHECK(m->input.Shape(1) == std::vector<int64_t>{1, 2, 16, 64, 64});

  j["input"]["windows"].erase(1);
  CHECK(ErrorOf(j) == "input.windows must list one window per channel (2), got 1");
}

TEST_CASE("a manifest lacking a required field is rejected naming that field", "[inference]") {
  const std::vector<json::json_pointer> required = {
      json::json_pointer("/id"),
      json::json_pointer("/version"),
      json::json_pointer("/device_uid"),
      json::json_pointer("/applies_to"),
      json::json_pointer("/applies_to/modality"),
      json::json_pointer("/applies_to/body_part"),
      json::json_pointer("/applies_to/view_position"),
      json::json_pointer("/input"),
      json::json_pointer("/input/channels"),
      json::json_pointer("/input/height"),
      json::json_pointer("/input/width"),
      json::json_pointer("/input/depth"),
      json::json_pointer("/labels"),
      json::json_pointer("/labels/1/name"),
      json::json_pointer("/labels/1/code"),
      json::json_pointer("/labels/1/code/system"),
      json::json_pointer("/labels/1/code/code"),
      json::json_pointer("/labels/1/code/display"),
      json::json_pointer("/labels/1/operating_point"),
      json::json_pointer("/measurements/0/unit"),
  };
  for (const json::json_pointer& field : required) {
    json j = GoodManifest();
    j[field.parent_pointer()].erase(field.back());
    // "/labels/1/code/system" -> "labels[1].code.system"
    std::string path;
    for (const std::string& token :
         std::vector<std::string>(absl::StrSplit(field.to_string().substr(1), '/'))) {
      bool index = !token.empty() && std::isdigit(static_cast<unsigned char>(token[0]));
      path += index ? "[" + token + "]" : (path.empty() ? "" : ".") + token;
    }
    INFO("removed " << field.to_string());
    CHECK(ErrorOf(j) == path + " is missing");
  }
}

TEST_CASE("a manifest with neither normalisation nor windows is rejected", "[inference]") {
  json j = GoodManifest();
  j["input"].erase("normalisation");
  CHECK(ErrorOf(j) == "input.windows (CT, in HU) or input.normalisation must be given, and not both");
}

TEST_CASE("an operating point outside [0,1] is rejected naming the label", "[inference]") {
  json j = GoodManifest();
  j["labels"][2]["operating_point"] = 1.5;
  CHECK(ErrorOf(j) == "labels[2].operating_point must be within [0,1] (got 1.5)");
  j["labels"][2]["operating_point"] = -0.1;
  CHECK(ErrorOf(j) == "labels[2].operating_point must be within [0,1] (got -0.1)");
  j["labels"][2]["operating_point"] = "0.5";
  CHECK(ErrorOf(j) == "labels[2].operating_point must be a number");
}

TEST_CASE("malformed manifests are rejected with a message naming the problem", "[inference]") {
  CHECK(ParseModelManifest("{ not json").status().message().find("manifest is not JSON") == 0);
  CHECK(ErrorOf(json::array()) == "manifest must be a JSON object");

  json j = GoodManifest();
  j["applies_to"]["modalities"] = json::array({"CT"});
  CHECK(ErrorOf(j) == "unknown key applies_to.modalities");

  j = GoodManifest();
  j["labels"] = json::array();
  CHECK(ErrorOf(j) == "labels must list at least one label");

  j = GoodManifest();
  j["labels"][2]["name"] = "pneumothorax";
  CHECK(ErrorOf(j) == "labels[2].name \"pneumothorax\" is used by an earlier label");

  j = GoodManifest();
  j["input"]["height"] = 0;
  CHECK(ErrorOf(j) == "input.height must be a positive integer (got 0)");

  j = GoodManifest();
  j["input"]["normalisation"]["std"] = 0;
  CHECK(ErrorOf(j) == "input.normalisation.std must be > 0");

  j = GoodManifest();
  j["device_uid"] = "1.2.abc";
  CHECK(ErrorOf(j).find("device_uid must be a DICOM UID") == 0);

  j = GoodManifest();
  j["applies_to"]["modality"] = json::array();
  CHECK(ErrorOf(j) == "applies_to.modality must list at least one value");
}

}  // namespace
}  // namespace parallax::inference
