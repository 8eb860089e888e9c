#include <catch2/catch.hpp>

#include "parallax/phantom/ground_truth.h"

using namespace parallax::phantom;

TEST_CASE("ground truth round-trips through JSON with its mask", "[phantom]") {
  Study study;
  study.kind = "head_ct";
  study.seed = 42;
  Finding f;
  f.label = "Subdural";
  f.laterality = Laterality::kLeft;
  f.zone = "frontal";
  f.volume_ml = 12.5;
  f.mask.slices = 2;
  f.mask.rows = 3;
  f.mask.columns = 4;
  f.mask.bits = {0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0,  // slice 0
                 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1};  // slice 1
  study.findings.push_back(f);
  study.quality_defects = {"noise"};

  auto truth = ParseGroundTruth(GroundTruthJson(study, "2.25.1"));
  REQUIRE(truth.ok());
  CHECK(truth->kind == "head_ct");
  CHECK(truth->seed == 42);
  CHECK(truth->study_instance_uid == "2.25.1");
  CHECK(truth->labels == std::vector<std::string>{"Subdural"});
  CHECK(truth->quality_defects == std::vector<std::string>{"noise"});
  REQUIRE(truth->findings.size() == 1);
  CHECK(truth->findings[0].laterality == Laterality::kLeft);
  CHECK(truth->findings[0].volume_ml == Approx(12.5));
  CHECK(truth->findings[0].mask.bits == f.mask.bits);
  CHECK(EncodeRuns(f.mask).size() == 4);
}

TEST_CASE("a normal study's truth has no labels", "[phantom]") {
  Study study;
  study.kind = "chest_xray";
  auto truth = ParseGroundTruth(GroundTruthJson(study, "2.25.2"));
  REQUIRE(truth.ok());
  CHECK(truth->labels.empty());
  CHECK(truth->findings.empty());
}

TEST_CASE("malformed ground truth is refused naming the field", "[phantom]") {
  auto bad = ParseGroundTruth(R"({"labels": []})");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("'kind'") != std::string::npos);
  auto runs = ParseGroundTruth(
      R"({"kind": "x", "labels": ["A"], "findings": [{"label": "A", "mask": {"rows": 2, "columns": 2, "runs": [[3, 5]]}}]})");
  REQUIRE_FALSE(runs.ok());
  CHECK(std::string(runs.status().message()).find("mask.runs") != std::string::npos);
  CHECK_FALSE(ParseGroundTruth("not json").ok());
}
