#include "parallax/comparison/change_words.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace parallax::comparison {
namespace {

std::string SizeText(double value, const std::string& unit) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return unit.empty() ? std::string(buffer) : std::string(buffer) + " " + unit;
}

// "2026-06-01" from "20260601"; "" for anything else.
std::string DateText(const std::string& d) {
  if (d.size() != 8) return "";
  for (char c : d) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return "";
  }
  return d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2);
}

const char* Word(common::v1::ChangeClass change) {
  switch (change) {
    case common::v1::CHANGE_CLASS_NEW: return "new";
    case common::v1::CHANGE_CLASS_LARGER: return "larger";
    case common::v1::CHANGE_CLASS_STABLE: return "stable";
    case common::v1::CHANGE_CLASS_SMALLER: return "smaller";
    case common::v1::CHANGE_CLASS_RESOLVED: return "resolved";
    default: return nullptr;
  }
}

}  // namespace

std::string ChangeSincePriorText(const common::v1::PriorComparison& c) {
  if (c.change() == common::v1::CHANGE_CLASS_NO_PRIOR) return "no prior available";
  const char* word = Word(c.change());
  if (word == nullptr) return "";
  std::string text = std::string(word) + " since prior";
  const std::string date = DateText(c.prior_study_date());
  if (!date.empty()) text += " of " + date;
  if (c.interval_days() >= 0) {
    text += " (" + std::to_string(c.interval_days()) + (c.interval_days() == 1 ? " day)" : " days)");
  }
  if (c.has_prior_size() && c.has_current_size() && std::isfinite(c.prior_size()) &&
      std::isfinite(c.current_size())) {
    text += ": " + SizeText(c.prior_size(), c.unit()) + " -> " + SizeText(c.current_size(), c.unit());
  } else if (c.change() == common::v1::CHANGE_CLASS_RESOLVED && c.has_prior_size() && std::isfinite(c.prior_size())) {
    text += ": was " + SizeText(c.prior_size(), c.unit());
  }
  if (c.change() == common::v1::CHANGE_CLASS_STABLE && !c.sizes_compared()) text += ", size not compared";
  return text;
}

}  // namespace parallax::comparison
