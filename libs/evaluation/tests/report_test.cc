#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "parallax/evaluation/report.h"

using namespace parallax::evaluation;

namespace {

std::vector<LabelReport> Rows() {
  LabelReport subdural;
  subdural.label = "Subdural";
  subdural.positives = 40;
  subdural.negatives = 2000;
  subdural.auc = {0.93, 0.89, 0.96};
  subdural.at_operating_point = {0.71, 0.85, 0.999, 34, 2, 1998, 6, 1.0};
  subdural.volume = VolumeError{2.1, 9.5, 38};

  LabelReport pneumothorax;
  pneumothorax.label = "Pneumo|thorax";
  pneumothorax.positives = 0;
  pneumothorax.negatives = 10;
  pneumothorax.auc = {std::nan(""), std::nan(""), std::nan("")};
  pneumothorax.at_operating_point = {0.5, std::nan(""), 1.0, 0, 0, 10, 0, 0.0};
  return {subdural, pneumothorax};
}

}  // namespace

TEST_CASE("ReportMarkdown has a header row, a separator and one row per label", "[evaluation]") {
  const std::string md = ReportMarkdown(Rows());
  std::istringstream in(md);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  CHECK_THAT(lines[0], Catch::StartsWith("| Label |") && Catch::Contains("AUC (95% CI)") &&
                           Catch::Contains("False alerts / 1000 negatives"));
  CHECK_THAT(lines[1], Catch::StartsWith("|---|"));
  CHECK_THAT(lines[2], Catch::StartsWith("| Subdural | 40 | 2000 | 0.930 (0.890–0.960) |"));
  CHECK_THAT(lines[2], Catch::Contains("| 2.10 | 9.5 | 38 |"));
  CHECK_THAT(lines[3], Catch::StartsWith("| Pneumo\\|thorax | 0 | 10 | n/a (n/a–n/a) |"));
  // Every row has as many cells as the header.
  const auto cells = [](const std::string& line) {
    int n = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++n;
    }
    return n;
  };
  for (const auto& line : lines) CHECK(cells(line) == cells(lines[0]));
}

TEST_CASE("ReportJson writes every field, null for NaN, volume only when present",
          "[evaluation]") {
  const auto j = nlohmann::json::parse(ReportJson(Rows()));
  REQUIRE(j["labels"].size() == 2);
  const auto& subdural = j["labels"][0];
  CHECK(subdural["label"] == "Subdural");
  CHECK(subdural["positives"] == 40);
  CHECK(subdural["negatives"] == 2000);
  CHECK(subdural["auc"]["lower"].get<double>() == 0.89);
  CHECK(subdural["operating_point"]["false_positives"] == 2);
  CHECK(subdural["operating_point"]["false_alerts_per_1000_negatives"].get<double>() == 1.0);
  CHECK(subdural["volume"]["n"] == 38);
  const auto& pneumothorax = j["labels"][1];
  CHECK(pneumothorax["label"] == "Pneumo|thorax");
  CHECK(pneumothorax["auc"]["estimate"].is_null());
  CHECK(pneumothorax["operating_point"]["sensitivity"].is_null());
  CHECK_FALSE(pneumothorax.contains("volume"));

  CHECK(nlohmann::json::parse(ReportJson({}))["labels"].empty());
}

TEST_CASE("the pointing game appears in JSON and as a Markdown column only when run", "[evaluation]") {
  std::vector<LabelReport> rows = Rows();
  CHECK_FALSE(nlohmann::json::parse(ReportJson(rows))["labels"][0].contains("pointing_game"));
  CHECK_THAT(ReportMarkdown(rows), !Catch::Contains("Pointing game"));

  PointingGame pg;
  pg.hits = 30;
  pg.evaluated = 34;
  pg.empty_maps = 1;
  pg.errors = 2;
  pg.without_mask = 3;
  pg.tolerance_pixels = 4;
  rows[0].pointing_game = pg;
  rows[1].pointing_game = PointingGame{};  // evaluated 0: no rate

  const auto j = nlohmann::json::parse(ReportJson(rows));
  const auto& s = j["labels"][0]["pointing_game"];
  CHECK(s["hits"] == 30);
  CHECK(s["evaluated"] == 34);
  CHECK(s["hit_rate"].get<double>() == Approx(30.0 / 34.0));
  CHECK(s["empty_maps"] == 1);
  CHECK(s["errors"] == 2);
  CHECK(s["without_mask"] == 3);
  CHECK(s["tolerance_pixels"] == 4);
  CHECK(j["labels"][1]["pointing_game"]["hit_rate"].is_null());
  CHECK(j["labels"][1]["pointing_game"]["evaluated"] == 0);

  const std::string md = ReportMarkdown(rows);
  std::istringstream in(md);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  CHECK_THAT(lines[0], Catch::EndsWith("| Pointing game (hits / evaluated) |"));
  CHECK_THAT(lines[2], Catch::EndsWith("| 2.10 | 9.5 | 38 | 30 / 34 (88.2%) |"));
  CHECK_THAT(lines[3], Catch::EndsWith("| – | – | – | 0 / 0 |"));
  const auto cells = [](const std::string& line) {
    int n = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++n;
    }
    return n;
  };
  for (const auto& line : lines) CHECK(cells(line) == cells(lines[0]));

  // A row without the game in a table that has the column reads "–".
  rows[1].pointing_game.reset();
  CHECK_THAT(ReportMarkdown(rows), Catch::EndsWith("| – | – | – | – |\n"));
}
