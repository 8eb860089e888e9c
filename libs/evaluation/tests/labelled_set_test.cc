#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "parallax/evaluation/labelled_set.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::evaluation;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A head CT truth with two findings of known volume and a 2x2x2 mask.
const char* kTruth = R"({"kind": "head_ct", "seed": 7, "study_instance_uid": "2.25.7",
  "labels": ["Subdural", "Subarachnoid"], "quality_defects": ["noise"],
  "findings": [
    {"label": "Subdural", "laterality": "left", "zone": "frontal", "area_cm2": 0, "volume_ml": 20.5,
     "contrast": 30, "subtle": false, "mask": {"slices": 2, "rows": 2, "columns": 2, "runs": [[1, 2]]}},
    {"label": "Subarachnoid", "laterality": "bilateral", "zone": "sulci", "area_cm2": 0, "volume_ml": 4.5,
     "contrast": 20, "subtle": true, "mask": {"slices": 2, "rows": 2, "columns": 2, "runs": [[6, 1]]}}]})";

const char* kNormal = R"({"kind": "head_ct", "seed": 8, "study_instance_uid": "2.25.8",
  "labels": [], "quality_defects": [], "findings": []})";

}  // namespace

TEST_CASE("a phantom folder reads labels, total volume, defects and masks per study") {
  parallax::testing::TempDir tmp;
  Write(tmp.path() / "b" / "truth.json", kTruth);
  Write(tmp.path() / "a" / "truth.json", kNormal);
  fs::create_directories(tmp.path() / "not-a-study");
  auto set = ReadLabelledSet(tmp.path().string());
  REQUIRE(set.ok());
  REQUIRE(set->size() == 2);
  CHECK((*set)[0].id == "a");
  CHECK((*set)[0].labels.empty());
  CHECK_FALSE((*set)[0].volume_ml.has_value());
  const auto& b = (*set)[1];
  CHECK(b.labels == std::vector<std::string>{"Subdural", "Subarachnoid"});
  REQUIRE(b.volume_ml.has_value());
  CHECK(*b.volume_ml == Approx(25.0));
  CHECK(b.quality_defects == std::vector<std::string>{"noise"});
  REQUIRE(b.masks.size() == 2);
  CHECK(b.masks[0].runs == std::vector<std::pair<int64_t, int64_t>>{{1, 2}});
  CHECK(b.masks[1].label == "Subarachnoid");
}

TEST_CASE("a CSV set takes its labels and volumes, relative to its folder") {
  parallax::testing::TempDir tmp;
  fs::create_directories(tmp.path() / "s1");
  fs::create_directories(tmp.path() / "s2");
  Write(tmp.path() / "set.csv", "study_dir,site,labels,volume_ml\ns1,x,Subdural;Epidural,31.5\ns2,y,,\n");
  auto set = ReadLabelledSet((tmp.path() / "set.csv").string());
  REQUIRE(set.ok());
  REQUIRE(set->size() == 2);
  CHECK((*set)[0].labels == std::vector<std::string>{"Subdural", "Epidural"});
  CHECK((*set)[0].volume_ml.value_or(-1) == Approx(31.5));
  CHECK((*set)[0].dir == (tmp.path() / "s1").string());
  CHECK((*set)[1].labels.empty());
  CHECK_FALSE((*set)[1].volume_ml.has_value());
}

TEST_CASE("malformed sets are refused with the file, line and problem") {
  parallax::testing::TempDir tmp;
  fs::create_directories(tmp.path() / "s1");
  SECTION("missing path") {
    auto set = ReadLabelledSet((tmp.path() / "nope").string());
    CHECK(set.status().code() == absl::StatusCode::kNotFound);
  }
  SECTION("header without labels") {
    Write(tmp.path() / "set.csv", "study_dir,findings\ns1,x\n");
    auto set = ReadLabelledSet((tmp.path() / "set.csv").string());
    REQUIRE_FALSE(set.ok());
    CHECK_THAT(std::string(set.status().message()), Catch::Contains("line 1") && Catch::Contains("labels"));
  }
  SECTION("bad volume") {
    Write(tmp.path() / "set.csv", "study_dir,labels,volume_ml\ns1,Subdural,lots\n");
    auto set = ReadLabelledSet((tmp.path() / "set.csv").string());
    REQUIRE_FALSE(set.ok());
    CHECK_THAT(std::string(set.status().message()), Catch::Contains("line 2") && Catch::Contains("lots"));
  }
  SECTION("missing study folder") {
    Write(tmp.path() / "set.csv", "study_dir,labels\ns9,\n");
    auto set = ReadLabelledSet((tmp.path() / "set.csv").string());
    CHECK(set.status().code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(set.status().message()), Catch::Contains("s9"));
  }
  SECTION("broken truth.json") {
    Write(tmp.path() / "s1" / "truth.json", "{\"kind\": 3}");
    auto set = ReadLabelledSet(tmp.path().string());
    REQUIRE_FALSE(set.ok());
    CHECK_THAT(std::string(set.status().message()), Catch::Contains("truth.json"));
  }
  SECTION("empty folder") {
    auto set = ReadLabelledSet(tmp.path().string());
    CHECK(set.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("labels match ignoring case and underscores, and a union label matches any finding") {
  CHECK(SameLabel("Pleural_Thickening", "pleural thickening"));
  CHECK_FALSE(SameLabel("Nodule", "Mass"));
  LabelledStudy s;
  s.labels = {"Subdural"};
  CHECK(IsPositive(s, "subdural"));
  CHECK_FALSE(IsPositive(s, "Epidural"));
  CHECK(IsPositive(s, "Intracranial haemorrhage", "Intracranial haemorrhage"));
  CHECK_FALSE(IsPositive(LabelledStudy{}, "Intracranial haemorrhage", "Intracranial haemorrhage"));
}
