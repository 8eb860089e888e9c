#include "parallax/evaluation/report.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace parallax::evaluation {
namespace {

// nlohmann writes NaN and infinity as null already; being explicit keeps the
// JSON valid whatever the library's settings.
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string EscapeCell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string ReportJson(const std::vector<LabelReport>& rows) {
  nlohmann::json labels = nlohmann::json::array();
  for (const LabelReport& row : rows) {
    const OperatingPointResult& op = row.at_operating_point;
    nlohmann::json j = {
        {"label", row.label},
        {"positives", row.positives},
        {"negatives", row.negatives},
        {"auc",
         {{"estimate", Number(row.auc.estimate)},
          {"lower", Number(row.auc.lower)},
          {"upper", Number(row.auc.upper)}}},
        {"operating_point",
         {{"threshold", Number(op.threshold)},
          {"sensitivity", Number(op.sensitivity)},
          {"specificity", Number(op.specificity)},
          {"true_positives", op.true_positives},
          {"false_positives", op.false_positives},
          {"true_negatives", op.true_negatives},
          {"false_negatives", op.false_negatives},
          {"false_alerts_per_1000_negatives", Number(op.false_alerts_per_1000_negatives)}}},
    };
    if (row.volume) {
      j["volume"] = {{"mean_absolute_ml", Number(row.volume->mean_absolute_ml)},
                     {"mean_absolute_percent", Number(row.volume->mean_absolute_percent)},
                     {"n", row.volume->n}};
    }
    if (row.pointing_game) {
      const PointingGame& pg = *row.pointing_game;
      j["pointing_game"] = {{"hits", pg.hits},
                            {"evaluated", pg.evaluated},
                            {"hit_rate", Number(pg.evaluated > 0 ? static_cast<double>(pg.hits) / pg.evaluated
                                                                 : std::nan(""))},
                            {"empty_maps", pg.empty_maps},
                            {"errors", pg.errors},
                            {"without_mask", pg.without_mask},
                            {"tolerance_pixels", pg.tolerance_pixels}};
    }
    labels.push_back(std::move(j));
  }
  return nlohmann::json{{"labels", std::move(labels)}}.dump(2) + "\n";
}

std::string ReportMarkdown(const std::vector<LabelReport>& rows) {
  bool pointing = false;
  for (const LabelReport& row : rows) pointing = pointing || row.pointing_game.has_value();
  std::string out =
      "| Label | Positives | Negatives | AUC (95% CI) | Threshold | Sensitivity | Specificity "
      "| TP | FP | TN | FN | False alerts / 1000 negatives | Volume MAE (ml) | Volume MAPE (%) "
      "| Volume n |";
  out += pointing ? " Pointing game (hits / evaluated) |\n" : "\n";
  out += "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|";
  out += pointing ? "--:|\n" : "\n";
  for (const LabelReport& row : rows) {
    const OperatingPointResult& op = row.at_operating_point;
    out += "| " + EscapeCell(row.label) + " | " + std::to_string(row.positives) + " | " +
           std::to_string(row.negatives) + " | " + Fixed(row.auc.estimate, 3) + " (" +
           Fixed(row.auc.lower, 3) + "–" + Fixed(row.auc.upper, 3) + ") | " +
           Fixed(op.threshold, 4) + " | " + Fixed(op.sensitivity, 3) + " | " +
           Fixed(op.specificity, 4) + " | " + std::to_string(op.true_positives) + " | " +
           std::to_string(op.false_positives) + " | " + std::to_string(op.true_negatives) +
           " | " + std::to_string(op.false_negatives) + " | " +
           Fixed(op.false_alerts_per_1000_negatives, 2) + " | ";
    if (row.volume) {
      out += Fixed(row.volume->mean_absolute_ml, 2) + " | " +
             Fixed(row.volume->mean_absolute_percent, 1) + " | " + std::to_string(row.volume->n) + " |";
    } else {
      out += "– | – | – |";
    }
    if (pointing) {
      if (!row.pointing_game) {
        out += " – |";
      } else {
        const PointingGame& pg = *row.pointing_game;
        out += " " + std::to_string(pg.hits) + " / " + std::to_string(pg.evaluated);
        if (pg.evaluated > 0) out += " (" + Fixed(100.0 * pg.hits / pg.evaluated, 1) + "%)";
        out += " |";
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace parallax::evaluation
