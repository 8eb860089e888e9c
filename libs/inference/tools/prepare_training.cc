// parallax-prepare-training: turns a parallax-synth set into training arrays
// for scripts/models/train.py, preprocessing every image through the very
// code path the inference service uses (dicom::ReadPixels, then
// inference::PreprocessFrame / PreprocessSlices).
//
//   parallax-prepare-training --set DIR --manifest model.json --out PREFIX
//
// Writes
//   PREFIX.x.f32  float32, row-major, N x C x H x W (or N x C x D x H x W for
//                 a 3-D model): the preprocessed inputs;
//   PREFIX.y.f32  float32, row-major, N x L: multi-hot targets, column i for
//                 the manifest's labels[i];
//   PREFIX.json   {"count", "shape", "labels", "studies": [{"study_dir",
//                 "first", "items", "positives"}...], "skipped": [...]}.
//
// Items: a 2-D kind (chest_xray, bone_xray) gives one item per study from its
// single image. head_ct with a 2-D manifest (depth 1) gives one item per
// slice (files sorted by name = mask slice index); a slice is positive for a
// label when that finding's mask has a voxel on it. Studies with the
// "missing_slices" defect are skipped (the file index no longer equals the
// mask slice). head_ct with a 3-D manifest gives one item per study with the
// study's labels. brain_mri goes through the analyzer's series selection
// (SelectSeries on the headers: with input.series roles, e.g.
// ["T1_POST_CONTRAST", "FLAIR"], one co-registered series per channel;
// without, the single series it picks) and PreprocessVolumes on whole
// volumes (so a volume_zscore normalisation uses the whole volume, as the
// StudyAnalyzer does): with a 2-D manifest one item per slice, positive for a
// label when that finding's mask has a voxel on the slice (slices in position
// order = mask slice order); with a 3-D manifest one item per study. Label
// names match the truth's labels exactly, else ignoring case and treating '_'
// as ' '.
//
// Not for clinical data: it reads phantom truth.json files only.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/inference/preprocess.h"
#include "parallax/inference/series_selection.h"
#include "parallax/inference/tensor.h"
#include "parallax/phantom/ground_truth.h"

namespace fs = std::filesystem;
namespace inf = parallax::inference;

namespace {

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "parallax-prepare-training: %s\n", error.c_str());
  std::fputs("usage: parallax-prepare-training --set DIR --manifest model.json --out PREFIX\n", stderr);
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "parallax-prepare-training: %s\n", message.c_str());
  return 1;
}

absl::StatusOr<std::string> ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Canonical(std::string s) {
  for (char& c : s) c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Index of `truth_label` among the manifest's labels, or -1.
int LabelIndex(const std::vector<inf::Label>& labels, const std::string& truth_label) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].name == truth_label) return static_cast<int>(i);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (Canonical(labels[i].name) == Canonical(truth_label)) return static_cast<int>(i);
  }
  return -1;
}

struct StudyRow {
  std::string dir;
};

absl::StatusOr<std::vector<StudyRow>> ReadSetManifest(const fs::path& set) {
  auto text = ReadText(set / "manifest.csv");
  if (!text.ok()) return text.status();
  std::vector<StudyRow> rows;
  std::stringstream in(*text);
  std::string line;
  bool header = true;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (header) {
      header = false;
      if (line.rfind("study_dir,", 0) == 0) continue;
    }
    const auto comma = line.find(',');
    if (comma == 0 || comma == std::string::npos) {
      return absl::InvalidArgumentError("manifest.csv line " + std::to_string(line_no) + " has no study_dir");
    }
    std::string dir = line.substr(0, comma);
    for (const auto& r : rows) {
      if (r.dir == dir) {
        return absl::InvalidArgumentError("manifest.csv line " + std::to_string(line_no) + ": study " + dir +
                                          " is listed twice (a later parallax-synth run reused its seed?)");
      }
    }
    rows.push_back({std::move(dir)});
  }
  if (rows.empty()) return absl::InvalidArgumentError((set / "manifest.csv").string() + " lists no studies");
  return rows;
}

std::vector<fs::path> DicomFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".dcm") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Reads a file holding exactly one frame.
absl::StatusOr<parallax::dicom::PixelImage> ReadOneFrame(const fs::path& file) {
  auto frames = parallax::dicom::ReadPixels(file.string());
  if (!frames.ok()) return frames.status();
  if (frames->size() != 1) {
    return absl::InvalidArgumentError(file.filename().string() + " has " + std::to_string(frames->size()) +
                                      " frames, expected 1");
  }
  return std::move(frames->front());
}

}  // namespace

int main(int argc, char** argv) {
  std::string set_dir, manifest_path, out_prefix;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") return Usage("");
    if (i + 1 >= argc) return Usage("missing value for " + key);
    const std::string value = argv[++i];
    if (key == "--set") set_dir = value;
    else if (key == "--manifest") manifest_path = value;
    else if (key == "--out") out_prefix = value;
    else return Usage("unknown option " + key);
  }
  if (set_dir.empty() || manifest_path.empty() || out_prefix.empty()) {
    return Usage("--set, --manifest and --out are required");
  }

  auto manifest_text = ReadText(manifest_path);
  if (!manifest_text.ok()) return Fail(std::string(manifest_text.status().message()));
  auto manifest = inf::ParseModelManifest(*manifest_text);
  if (!manifest.ok()) return Fail(manifest_path + ": " + std::string(manifest.status().message()));
  const inf::InputSpec& spec = manifest->input;
  const auto& labels = manifest->labels;
  const size_t num_labels = labels.size();

  auto rows = ReadSetManifest(set_dir);
  if (!rows.ok()) return Fail(std::string(rows.status().message()));

  const fs::path prefix(out_prefix);
  if (prefix.has_parent_path()) fs::create_directories(prefix.parent_path());
  std::ofstream xout(out_prefix + ".x.f32", std::ios::binary | std::ios::trunc);
  std::ofstream yout(out_prefix + ".y.f32", std::ios::binary | std::ios::trunc);
  if (!xout || !yout) return Fail("cannot write " + out_prefix + ".x.f32 / .y.f32");

  const auto item_shape = spec.Shape(1);  // {1, C, H, W} or {1, C, D, H, W}
  const int64_t item_size = inf::NumElements(item_shape);
  int64_t count = 0;
  std::vector<int64_t> positives(num_labels, 0);
  nlohmann::json studies = nlohmann::json::array();
  nlohmann::json skipped = nlohmann::json::array();
  std::vector<std::string> unmatched;

  auto write_items = [&](const inf::Tensor& x, const std::vector<float>& y, int64_t items) {
    xout.write(reinterpret_cast<const char*>(x.data.data()), static_cast<std::streamsize>(x.data.size() * sizeof(float)));
    yout.write(reinterpret_cast<const char*>(y.data()), static_cast<std::streamsize>(y.size() * sizeof(float)));
    for (int64_t n = 0; n < items; ++n) {
      for (size_t l = 0; l < num_labels; ++l) positives[l] += y[n * num_labels + l] > 0.5f;
    }
    count += items;
  };

  for (const auto& row : *rows) {
    const fs::path dir = fs::path(set_dir) / row.dir;
    const std::string who = "study " + row.dir + ": ";
    auto truth_text = ReadText(dir / "truth.json");
    if (!truth_text.ok()) return Fail(who + std::string(truth_text.status().message()));
    auto truth = parallax::phantom::ParseGroundTruth(*truth_text);
    if (!truth.ok()) return Fail(who + "truth.json: " + std::string(truth.status().message()));
    for (const auto& l : truth->labels) {
      if (LabelIndex(labels, l) < 0 && std::find(unmatched.begin(), unmatched.end(), l) == unmatched.end()) {
        unmatched.push_back(l);
      }
    }
    if (!fs::is_directory(dir)) return Fail(who + "no folder " + dir.string());
    const auto files = DicomFiles(dir);
    if (files.empty()) return Fail(who + "has no .dcm files");

    std::vector<float> study_y(num_labels, 0.f);
    for (const auto& l : truth->labels) {
      const int idx = LabelIndex(labels, l);
      if (idx >= 0) study_y[idx] = 1.f;
    }
    const int64_t first = count;
    int64_t items = 0;

    if (truth->kind == "chest_xray" || truth->kind == "bone_xray") {
      if (spec.depth != 1) return Fail(who + "a 2-D " + truth->kind + " study cannot feed a 3-D model (input.depth " + std::to_string(spec.depth) + ")");
      if (files.size() != 1) return Fail(who + "expected 1 image file, found " + std::to_string(files.size()));
      auto frame = ReadOneFrame(files[0]);
      if (!frame.ok()) return Fail(who + std::string(frame.status().message()));
      auto x = inf::PreprocessFrame(*frame, spec);
      if (!x.ok()) return Fail(who + "preprocessing: " + std::string(x.status().message()));
      if (inf::NumElements(x->shape) != item_size) return Fail(who + "preprocessed shape " + inf::ShapeToString(x->shape) + " differs from " + inf::ShapeToString(item_shape));
      write_items(*x, study_y, 1);
      items = 1;
    } else if (truth->kind == "head_ct") {
      const bool missing = std::find(truth->quality_defects.begin(), truth->quality_defects.end(), "missing_slices") !=
                           truth->quality_defects.end();
      if (missing && spec.depth == 1) {
        std::fprintf(stderr, "parallax-prepare-training: %sskipped: missing_slices defect\n", who.c_str());
        skipped.push_back({{"study_dir", row.dir}, {"reason", "missing_slices defect"}});
        continue;
      }
      std::vector<parallax::dicom::PixelImage> slices;
      slices.reserve(files.size());
      for (const auto& f : files) {
        auto frame = ReadOneFrame(f);
        if (!frame.ok()) return Fail(who + std::string(frame.status().message()));
        slices.push_back(std::move(*frame));
      }
      auto x = inf::PreprocessSlices(slices, spec);
      if (!x.ok()) return Fail(who + "preprocessing: " + std::string(x.status().message()));
      if (spec.depth == 1) {
        const int64_t ns = static_cast<int64_t>(slices.size());
        std::vector<float> y(ns * num_labels, 0.f);
        for (const auto& finding : truth->findings) {
          const int idx = LabelIndex(labels, finding.label);
          if (idx < 0) continue;
          const auto& m = finding.mask;
          if (m.slices != ns) {
            return Fail(who + "finding " + finding.label + " has a mask of " + std::to_string(m.slices) +
                        " slices but the study has " + std::to_string(ns) + " image files");
          }
          const int64_t per_slice = int64_t{m.rows} * m.columns;
          for (int64_t k = 0; k < ns; ++k) {
            const auto begin = m.bits.begin() + k * per_slice;
            if (std::any_of(begin, begin + per_slice, [](uint8_t b) { return b != 0; })) y[k * num_labels + idx] = 1.f;
          }
        }
        write_items(*x, y, ns);
        items = ns;
      } else {
        write_items(*x, study_y, 1);
        items = 1;
      }
    } else if (truth->kind == "brain_mri") {
      std::vector<parallax::dicom::InstanceHeader> headers;
      for (const auto& f : files) {
        auto h = parallax::dicom::ReadInstanceHeaderFromFile(f.string());
        if (!h.ok()) return Fail(who + f.filename().string() + ": " + std::string(h.status().message()));
        headers.push_back(std::move(*h));
      }
      const auto selection = inf::SelectSeries(headers, *manifest);
      if (!selection.applies) return Fail(who + "the manifest does not apply: " + selection.reason);
      std::vector<std::vector<parallax::dicom::PixelImage>> volumes;
      for (const auto& series : selection.series) {
        std::vector<parallax::dicom::PixelImage> volume;
        for (size_t idx : series.instances) {
          auto frame = ReadOneFrame(files[idx]);
          if (!frame.ok()) return Fail(who + std::string(frame.status().message()));
          volume.push_back(std::move(*frame));
        }
        volumes.push_back(std::move(volume));
      }
      const int64_t ns = static_cast<int64_t>(volumes.front().size());
      auto x = inf::PreprocessVolumes(volumes, 0, static_cast<size_t>(ns), spec);
      if (!x.ok()) return Fail(who + "preprocessing: " + std::string(x.status().message()));
      if (spec.depth == 1) {
        std::vector<float> y(ns * num_labels, 0.f);
        for (const auto& finding : truth->findings) {
          const int idx = LabelIndex(labels, finding.label);
          if (idx < 0) continue;
          const auto& m = finding.mask;
          if (m.slices != ns) {
            return Fail(who + "finding " + finding.label + " has a mask of " + std::to_string(m.slices) +
                        " slices but the selected series has " + std::to_string(ns));
          }
          const int64_t per_slice = int64_t{m.rows} * m.columns;
          for (int64_t k = 0; k < ns; ++k) {
            const auto begin = m.bits.begin() + k * per_slice;
            if (std::any_of(begin, begin + per_slice, [](uint8_t b) { return b != 0; })) y[k * num_labels + idx] = 1.f;
          }
        }
        write_items(*x, y, ns);
        items = ns;
      } else {
        write_items(*x, study_y, 1);
        items = 1;
      }
    } else {
      return Fail(who + "kind '" + truth->kind + "' is not supported (chest_xray, bone_xray, head_ct, brain_mri)");
    }
    if (!xout || !yout) return Fail(who + "write failed for " + out_prefix + ".x.f32 / .y.f32");
    studies.push_back({{"study_dir", row.dir}, {"first", first}, {"items", items}});
  }
  if (count == 0) return Fail("no items: every study was skipped");

  std::vector<int64_t> shape = item_shape;
  shape[0] = count;
  nlohmann::json label_names = nlohmann::json::array();
  for (const auto& l : labels) label_names.push_back(l.name);
  nlohmann::json doc = {{"count", count},       {"shape", shape},
                        {"labels", label_names}, {"positives", positives},
                        {"manifest", manifest->id}, {"set", fs::absolute(set_dir).string()},
                        {"studies", studies},   {"skipped", skipped},
                        {"unmatched_truth_labels", unmatched}};
  std::ofstream(out_prefix + ".json") << doc.dump(2) << "\n";
  std::printf("%lld items from %zu studies -> %s.{x,y}.f32 shape %s\n", static_cast<long long>(count), studies.size(),
              out_prefix.c_str(), inf::ShapeToString(shape).c_str());
  for (size_t l = 0; l < num_labels; ++l) {
    std::printf("  %-24s %lld positive\n", labels[l].name.c_str(), static_cast<long long>(positives[l]));
  }
  return 0;
}
