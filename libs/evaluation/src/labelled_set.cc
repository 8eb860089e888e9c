#include "parallax/evaluation/labelled_set.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parallax/phantom/ground_truth.h"

namespace parallax::evaluation {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Normalised(const std::string& label) {
  std::string out;
  for (char c : label) out.push_back(c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
  return s.substr(start);
}

// Fills labels, volume, defects and masks from a truth.json in `dir`.
absl::Status ReadTruth(const fs::path& dir, LabelledStudy* study, bool keep_csv_labels) {
  auto text = ReadText(dir / "truth.json");
  if (!text.ok()) return text.status();
  auto truth = phantom::ParseGroundTruth(*text);
  if (!truth.ok()) {
    return absl::InvalidArgumentError((dir / "truth.json").string() + ": " + std::string(truth.status().message()));
  }
  if (!keep_csv_labels) study->labels = truth->labels;
  study->quality_defects = truth->quality_defects;
  double volume = 0;
  bool has_volume = false;
  for (const auto& f : truth->findings) {
    if (f.volume_ml > 0) {
      volume += f.volume_ml;
      has_volume = true;
    }
    if (f.mask.bits.empty()) continue;
    TruthMask m;
    m.label = f.label;
    m.slices = f.mask.slices;
    m.rows = f.mask.rows;
    m.columns = f.mask.columns;
    m.runs = phantom::EncodeRuns(f.mask);
    study->masks.push_back(std::move(m));
  }
  if (has_volume && !study->volume_ml) study->volume_ml = volume;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LabelledStudy>> ReadFolder(const fs::path& root) {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && fs::exists(e.path() / "truth.json")) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  std::vector<LabelledStudy> studies;
  for (const auto& dir : dirs) {
    LabelledStudy s;
    s.id = dir.filename().string();
    s.dir = dir.string();
    if (auto st = ReadTruth(dir, &s, false); !st.ok()) return st;
    studies.push_back(std::move(s));
  }
  if (studies.empty()) {
    return absl::InvalidArgumentError(root.string() + " holds no study folder with a truth.json");
  }
  return studies;
}

absl::StatusOr<std::vector<LabelledStudy>> ReadCsv(const fs::path& csv) {
  auto text = ReadText(csv);
  if (!text.ok()) return text.status();
  std::istringstream in(*text);
  std::string line;
  if (!std::getline(in, line)) return absl::InvalidArgumentError(csv.string() + " is empty");
  const auto header = Split(Trim(line), ',');
  int dir_col = -1, labels_col = -1, volume_col = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string h = Trim(header[i]);
    if (h == "study_dir") dir_col = static_cast<int>(i);
    if (h == "labels") labels_col = static_cast<int>(i);
    if (h == "volume_ml") volume_col = static_cast<int>(i);
  }
  if (dir_col < 0 || labels_col < 0) {
    return absl::InvalidArgumentError(csv.string() + " line 1: the header must name the columns study_dir and labels");
  }
  const fs::path base = csv.parent_path();
  std::vector<LabelledStudy> studies;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    line = Trim(line);
    if (line.empty()) continue;
    const auto cells = Split(line, ',');
    const std::string where = csv.string() + " line " + std::to_string(line_no);
    if (cells.size() != header.size()) {
      return absl::InvalidArgumentError(where + ": " + std::to_string(cells.size()) + " fields, the header has " +
                                        std::to_string(header.size()));
    }
    LabelledStudy s;
    s.id = Trim(cells[dir_col]);
    if (s.id.empty()) return absl::InvalidArgumentError(where + ": study_dir is empty");
    fs::path dir = fs::path(s.id).is_absolute() ? fs::path(s.id) : base / s.id;
    if (!fs::is_directory(dir)) return absl::NotFoundError(where + ": study folder " + dir.string() + " does not exist");
    s.dir = dir.string();
    for (const auto& label : Split(cells[labels_col], ';')) {
      if (!Trim(label).empty()) s.labels.push_back(Trim(label));
    }
    if (volume_col >= 0 && !Trim(cells[volume_col]).empty()) {
      const std::string v = Trim(cells[volume_col]);
      char* end = nullptr;
      const double value = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !std::isfinite(value) || value < 0) {
        return absl::InvalidArgumentError(where + ": volume_ml '" + v + "' is not a volume in mL");
      }
      s.volume_ml = value;
    }
    // The CSV's labels are the truth; a truth.json beside the images adds
    // what a CSV cannot carry (masks, defects, volumes when not given).
    if (fs::exists(dir / "truth.json")) {
      if (auto st = ReadTruth(dir, &s, true); !st.ok()) return st;
    }
    studies.push_back(std::move(s));
  }
  if (studies.empty()) return absl::InvalidArgumentError(csv.string() + " lists no studies");
  return studies;
}

}  // namespace

absl::StatusOr<std::vector<LabelledStudy>> ReadLabelledSet(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec)) return absl::NotFoundError("labelled set " + path + " does not exist");
  if (fs::is_directory(p)) return ReadFolder(p);
  return ReadCsv(p);
}

bool SameLabel(const std::string& truth_label, const std::string& model_label) {
  return truth_label == model_label || Normalised(truth_label) == Normalised(model_label);
}

bool IsPositive(const LabelledStudy& study, const std::string& model_label, const std::string& any_label) {
  const bool is_union = !any_label.empty() && SameLabel(model_label, any_label);
  for (const auto& label : study.labels) {
    if (is_union || SameLabel(label, model_label)) return true;
  }
  return false;
}

}  // namespace parallax::evaluation
