// parallax-eval: a model's local validation on a labelled set, through the
// very code path the inference service uses (inference::StudyAnalyzer:
// series selection, DICOM pixels, preprocessing, the model, study-level
// aggregation, measurements).
//
//   parallax-eval --set PATH --models DIR | --model FILE.pt --out DIR
//                 [--any-label NAME] [--threads N] [--bootstrap N]
//                 [--skip-not-applicable]
//                 [--pointing-game [--pointing-tolerance PX] [--grad-cam-frozen] [--cam gradcam|hirescam|layercam]]
//
// PATH: a folder of study folders with truth.json (parallax-synth) or a CSV
// (study_dir,labels[,volume_ml]; see libs/evaluation/labelled_set.h).
// --model FILE.pt takes FILE.json beside it as the manifest; --models DIR
// loads every model of the directory and gives each study to the models that
// apply to it. A study no model applies to is an error naming the study and
// each model's reason, unless --skip-not-applicable.
//
// Writes per model DIR/<model id>/report.json, report.md, roc.png (the
// Markdown names each curve's colour) and studies.csv (per study: the
// probability per label and the measured volume), and prints the Markdown
// tables.
//
// --pointing-game (off by default: one backward pass per true positive): for
// every true-positive study of a label (truth positive, model positive at the
// operating point), Grad-CAM of that label (libs/inference grad_cam.h) on the
// item with the highest probability (LabelResult.max_item), its peak mapped
// to original pixels, is a hit when it lies inside a truth mask of a finding
// with that label (for the union label, e.g. "Intracranial haemorrhage", any
// finding's mask), within PX pixels (Chebyshev) when --pointing-tolerance is
// given (default 0: strictly inside). The truth mask's slice index is the
// analysed series' item index: checked per study (same slice count, slices
// evenly spaced, no gap), else the study counts as an error. Grad-CAM runs on
// a second copy of the model loaded without freezing (autograd through
// head()); --grad-cam-frozen uses the frozen, optimised evaluation model
// instead (for measuring that they agree). --cam hirescam plays it with
// HiResCAM (gradient x activation, grad_cam.h), --cam layercam with LayerCAM
// (positive gradient x activation) instead of Grad-CAM. Adds "pointing_game" to
// report.json, a column to report.md, and pointing_game.csv per model (per
// evaluated study and label: the peak, hit, and the distance in pixels from
// the peak to the nearest mask pixel on that slice).
//
// Exit status: 0 when every study was analysed, 1 when any failed
// or did not apply (the reports still cover the others), 2 for bad usage.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parallax/evaluation/labelled_set.h"
#include "parallax/evaluation/report.h"
#include "parallax/evaluation/roc_plot.h"
#include "parallax/evaluation/validation.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/grad_cam.h"
#include "parallax/inference/model.h"
#include "parallax/inference/model_directory.h"
#include "parallax/inference/preprocess.h"
#include "parallax/inference/study_analysis.h"

namespace fs = std::filesystem;
namespace ev = parallax::evaluation;
namespace inf = parallax::inference;

namespace {

struct Args {
  std::string set, models, model, out, any_label;
  int threads = 2;
  int bootstrap = ev::kDefaultBootstrapResamples;
  bool skip_not_applicable = false;
  bool pointing_game = false;
  bool grad_cam_frozen = false;
  int pointing_tolerance = 0;
  inf::CamMethod cam = inf::CamMethod::kGradCam;
};

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "parallax-eval: %s\n", error.c_str());
  std::fputs(
      "usage: parallax-eval --set PATH (--models DIR | --model FILE.pt) --out DIR\n"
      "                     [--any-label NAME] [--threads N] [--bootstrap N] [--skip-not-applicable]\n"
      "                     [--pointing-game [--pointing-tolerance PX] [--grad-cam-frozen] [--cam gradcam|hirescam|layercam]]\n",
      stderr);
  return 2;
}

bool ParseInt(const std::string& text, int min, int* out) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v < min || v > 1000000) return false;
  *out = static_cast<int>(v);
  return true;
}

// A union label: named "any ..." or "... haemorrhage"/"... hemorrhage", the
// same rule StudyAnalyzer uses for the ich_volume measurement's slices.
std::string DefaultAnyLabel(const inf::ModelManifest& m) {
  for (const auto& l : m.labels) {
    std::string lower;
    for (char c : l.name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    const auto ends = [&](const std::string& suffix) {
      return lower.size() >= suffix.size() && lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (lower.rfind("any", 0) == 0 || ends("haemorrhage") || ends("hemorrhage")) return l.name;
  }
  return "";
}

std::vector<inf::StudyInstance> StudyFiles(const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "truth.json" || name == "DICOMDIR" || (!name.empty() && name[0] == '.')) continue;
    if (e.path().extension() == ".json" || e.path().extension() == ".csv") continue;
    paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<inf::StudyInstance> out;
  for (auto& p : paths) out.push_back({std::move(p), {}});
  return out;
}

std::string Num(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

struct PerModel {
  const inf::Model* model;
  std::unique_ptr<inf::StudyAnalyzer> analyzer;
  std::vector<ev::StudyScores> scores;
  std::string volume_measurement;  // measurement name compared with the truth's volume
  std::string any_label;           // the union label ("" for none)
  const inf::Model* grad_model = nullptr;   // Grad-CAM model (pointing game)
  std::vector<ev::PointingGame> pointing;   // per label, manifest order
  std::string pointing_csv;                 // rows of pointing_game.csv
};

// The study's files by SOP Instance UID (headers only).
absl::StatusOr<std::map<std::string, std::string>> FilesByUid(const std::vector<inf::StudyInstance>& files) {
  std::map<std::string, std::string> out;
  for (const auto& f : files) {
    auto h = parallax::dicom::ReadInstanceHeaderFromFile(f.path);
    if (!h.ok()) return h.status();
    out[h->sop_instance_uid] = f.path;
  }
  return out;
}

// The decoded volumes (one per analysed series), read again for Grad-CAM.
struct StudyPixels {
  std::vector<std::vector<parallax::dicom::PixelImage>> volumes;
  std::vector<inf::Normalisation> stats;
};

absl::StatusOr<StudyPixels> ReadStudyPixels(const inf::StudyAnalysis& analysis,
                                            const std::vector<inf::StudyInstance>& files,
                                            const inf::InputSpec& spec) {
  auto by_uid = FilesByUid(files);
  if (!by_uid.ok()) return by_uid.status();
  StudyPixels px;
  for (const auto& series : analysis.series) {
    std::vector<parallax::dicom::PixelImage> frames;
    for (const auto& uid : series.sop_instance_uids) {
      auto it = by_uid->find(uid);
      if (it == by_uid->end()) return absl::NotFoundError("instance " + uid + " of the analysis is not in the study");
      auto f = parallax::dicom::ReadPixels(it->second);
      if (!f.ok()) return f.status();
      if (f->size() != 1) return absl::InvalidArgumentError("instance " + uid + " has other than one frame");
      frames.push_back(std::move(f->front()));
    }
    px.volumes.push_back(std::move(frames));
  }
  if (spec.windows.empty() && spec.normalisation && spec.normalisation->mode == inf::NormalisationMode::kVolumeZScore) {
    for (const auto& v : px.volumes) {
      auto z = inf::VolumeZScore(v);
      if (!z.ok()) return z.status();
      px.stats.push_back(*z);
    }
  }
  return px;
}

// Whether the analysed series' item k is the truth's slice k: the same slice
// count and evenly spaced positions without a gap (a radiograph: one item).
bool SliceOrderMatches(const inf::AnalysedSeries& series, int truth_slices) {
  if (static_cast<int>(series.sop_instance_uids.size()) != truth_slices) return false;
  if (series.positions_mm.size() <= 1) return true;
  const double spacing = series.slice_spacing_mm;
  if (!(spacing > 0)) return false;
  for (size_t k = 1; k < series.positions_mm.size(); ++k) {
    const double gap = series.positions_mm[k] - series.positions_mm[k - 1];
    if (std::abs(gap - spacing) > 0.01 * spacing) return false;
  }
  return true;
}

// The Chebyshev distance in pixels from (row, column) to the nearest pixel of
// `mask` on `slice`; INT_MAX when the mask has none on that slice.
int DistanceToMask(const ev::TruthMask& mask, int slice, int row, int column) {
  const int64_t plane = static_cast<int64_t>(mask.rows) * mask.columns;
  const int64_t lo = slice * plane, hi = lo + plane;
  int best = INT_MAX;
  for (const auto& [start, length] : mask.runs) {
    const int64_t a = std::max(start, lo), b = std::min(start + length, hi);
    for (int64_t i = a; i < b; ++i) {
      const int r = static_cast<int>((i - lo) / mask.columns), c = static_cast<int>((i - lo) % mask.columns);
      best = std::min(best, std::max(std::abs(r - row), std::abs(c - column)));
      if (best == 0) return 0;
    }
  }
  return best;
}

// Plays the pointing game for every true-positive label of one analysed
// study; adds to r.pointing and r.pointing_csv.
void PointingGameForStudy(PerModel& r, const ev::LabelledStudy& study, const inf::StudyAnalysis& analysis,
                          const std::vector<inf::StudyInstance>& files, int tolerance, inf::CamMethod cam) {
  const auto& manifest = r.model->manifest();
  std::optional<absl::StatusOr<StudyPixels>> pixels;  // read once, when first needed
  for (size_t l = 0; l < analysis.labels.size(); ++l) {
    const auto& label = analysis.labels[l];
    if (!label.positive || !ev::IsPositive(study, label.name, r.any_label)) continue;
    ev::PointingGame& pg = r.pointing[l];
    const bool is_union = !r.any_label.empty() && ev::SameLabel(label.name, r.any_label);
    std::vector<const ev::TruthMask*> masks;
    for (const auto& m : study.masks) {
      if (is_union || ev::SameLabel(m.label, label.name)) masks.push_back(&m);
    }
    if (masks.empty()) {
      ++pg.without_mask;
      continue;
    }
    ++pg.evaluated;
    std::string csv_row = study.id + "," + label.name + ",";
    auto fail = [&](const std::string& why) {
      ++pg.errors;
      std::fprintf(stderr, "parallax-eval: pointing game, study %s, %s: %s\n", study.id.c_str(), label.name.c_str(),
                   why.c_str());
      r.pointing_csv += csv_row + ",,,,,error\n";
    };
    const int item = std::max(label.max_item, 0);
    if (!SliceOrderMatches(analysis.series.front(), masks.front()->slices)) {
      fail("the analysed series' slices (" + std::to_string(analysis.series.front().sop_instance_uids.size()) +
           ") do not match the truth's " + std::to_string(masks.front()->slices) + " slices one to one");
      continue;
    }
    if (!pixels) pixels = ReadStudyPixels(analysis, files, manifest.input);
    if (!pixels->ok()) {
      fail(std::string(pixels->status().message()));
      continue;
    }
    const auto& px = **pixels;
    auto x = inf::PreprocessVolumes(px.volumes, static_cast<size_t>(item), 1, manifest.input, px.stats);
    if (!x.ok()) {
      fail(std::string(x.status().message()));
      continue;
    }
    auto heatmap = inf::GradCam(*r.grad_model, *x, static_cast<int>(l), cam);
    if (!heatmap.ok()) {
      fail(std::string(heatmap.status().message()));
      continue;
    }
    // The input must be the very one the analysis scored: its logit gives the
    // item's probability again (guards the re-read and preprocessing).
    if (!label.item_probabilities.empty()) {
      const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(heatmap->logit)));
      if (std::abs(p - label.item_probabilities[static_cast<size_t>(item)]) > 1e-3) {
        fail("Grad-CAM's input gives probability " + Num(p) + ", the analysis " +
             Num(label.item_probabilities[static_cast<size_t>(item)]));
        continue;
      }
    }
    const auto& frame = px.volumes.front()[static_cast<size_t>(item)];
    if (heatmap->empty) {
      ++pg.empty_maps;
      r.pointing_csv += csv_row + std::to_string(item) + ",,,0,,empty\n";
      continue;
    }
    auto peak = inf::HeatmapPeakInImage(*heatmap, item, frame.rows, frame.columns);
    if (!peak.ok()) {
      fail(std::string(peak.status().message()));
      continue;
    }
    int distance = INT_MAX;
    bool size_ok = true;
    for (const auto* m : masks) {
      if (m->rows != frame.rows || m->columns != frame.columns) {
        size_ok = false;
        continue;
      }
      distance = std::min(distance, DistanceToMask(*m, peak->slice, peak->row, peak->column));
    }
    if (!size_ok && distance == INT_MAX) {
      fail("the truth mask's matrix differs from the image's " + std::to_string(frame.rows) + "x" +
           std::to_string(frame.columns));
      continue;
    }
    const bool hit = distance <= tolerance;
    if (hit) ++pg.hits;
    r.pointing_csv += csv_row + std::to_string(peak->slice) + "," + std::to_string(peak->row) + "," +
                      std::to_string(peak->column) + "," + (hit ? "1" : "0") + "," +
                      (distance == INT_MAX ? std::string("no mask on slice") : std::to_string(distance)) + ",\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "--skip-not-applicable") {
      a.skip_not_applicable = true;
      continue;
    }
    if (key == "--pointing-game") {
      a.pointing_game = true;
      continue;
    }
    if (key == "--grad-cam-frozen") {
      a.grad_cam_frozen = true;
      continue;
    }
    if (i + 1 >= argc) return Usage("missing value for " + key);
    const std::string value = argv[++i];
    if (key == "--set") a.set = value;
    else if (key == "--models") a.models = value;
    else if (key == "--model") a.model = value;
    else if (key == "--out") a.out = value;
    else if (key == "--any-label") a.any_label = value;
    else if (key == "--threads") { if (!ParseInt(value, 1, &a.threads)) return Usage("--threads wants an integer >= 1"); }
    else if (key == "--cam") {
      if (value == "gradcam") a.cam = inf::CamMethod::kGradCam;
      else if (value == "hirescam") a.cam = inf::CamMethod::kHiResCam;
      else if (value == "layercam") a.cam = inf::CamMethod::kLayerCam;
      else return Usage("--cam wants gradcam, hirescam or layercam");
    }
    else if (key == "--pointing-tolerance") { if (!ParseInt(value, 0, &a.pointing_tolerance)) return Usage("--pointing-tolerance wants an integer >= 0"); }
    else if (key == "--bootstrap") { if (!ParseInt(value, 1, &a.bootstrap)) return Usage("--bootstrap wants an integer >= 1"); }
    else return Usage("unknown option " + key);
  }
  if (a.set.empty() || a.out.empty() || (a.models.empty() == a.model.empty())) {
    return Usage("give --set, --out, and one of --models or --model");
  }

  auto set = ev::ReadLabelledSet(a.set);
  if (!set.ok()) return std::fprintf(stderr, "parallax-eval: %s\n", std::string(set.status().message()).c_str()), 1;

  inf::LoadOptions load;
  load.intra_op_threads = a.threads;
  std::vector<std::unique_ptr<inf::Model>> models;
  if (!a.models.empty()) {
    auto loaded = inf::LoadModelDirectory(a.models, load);
    if (!loaded.ok()) return std::fprintf(stderr, "parallax-eval: %s\n", std::string(loaded.status().message()).c_str()), 1;
    models = std::move(*loaded);
    if (models.empty()) return std::fprintf(stderr, "parallax-eval: %s holds no model\n", a.models.c_str()), 1;
  } else {
    const fs::path pt(a.model);
    const fs::path manifest_path = fs::path(pt).replace_extension(".json");
    std::ifstream in(manifest_path);
    if (!in) return std::fprintf(stderr, "parallax-eval: no manifest %s beside the model\n", manifest_path.c_str()), 1;
    std::stringstream text;
    text << in.rdbuf();
    auto manifest = inf::ParseModelManifest(text.str());
    if (!manifest.ok()) {
      return std::fprintf(stderr, "parallax-eval: %s: %s\n", manifest_path.c_str(),
                          std::string(manifest.status().message()).c_str()), 1;
    }
    auto model = inf::Model::Load(pt.string(), *manifest, load);
    if (!model.ok()) return std::fprintf(stderr, "parallax-eval: %s\n", std::string(model.status().message()).c_str()), 1;
    models.push_back(std::move(*model));
  }

  // Grad-CAM back-propagates through head(): by default on a copy of each
  // model loaded without freezing (see --grad-cam-frozen).
  std::vector<std::unique_ptr<inf::Model>> grad_models;
  std::vector<PerModel> runs;
  for (const auto& m : models) {
    PerModel r{m.get(), std::make_unique<inf::StudyAnalyzer>(*m), {}, "", "", nullptr, {}, ""};
    for (const auto& meas : m->manifest().measurements) {
      if (meas.unit == "mL" || meas.unit == "cm3") r.volume_measurement = meas.name;
    }
    r.any_label = a.any_label.empty() ? DefaultAnyLabel(m->manifest()) : a.any_label;
    if (a.pointing_game) {
      r.pointing.assign(m->manifest().labels.size(), ev::PointingGame{});
      for (auto& pg : r.pointing) pg.tolerance_pixels = a.pointing_tolerance;
      r.grad_model = m.get();
      if (!a.grad_cam_frozen) {
        inf::LoadOptions unfrozen = load;
        unfrozen.freeze = false;
        unfrozen.optimize_for_inference = false;
        auto g = inf::Model::Load(m->path(), m->manifest(), unfrozen);
        if (!g.ok()) return std::fprintf(stderr, "parallax-eval: %s\n", std::string(g.status().message()).c_str()), 1;
        r.grad_model = g->get();
        grad_models.push_back(std::move(*g));
      }
    }
    runs.push_back(std::move(r));
  }

  int failed = 0;
  std::vector<std::pair<std::string, std::string>> problems;  // study id, what went wrong
  for (size_t s = 0; s < set->size(); ++s) {
    const auto& study = (*set)[s];
    const auto files = StudyFiles(study.dir);
    std::string reasons;
    bool applied = false;
    for (auto& r : runs) {
      auto analysis = r.analyzer->Analyze(files);
      if (!analysis.ok()) {
        problems.emplace_back(study.id, r.model->manifest().id + ": " + std::string(analysis.status().message()));
        applied = true;  // counted as a failure, not as "does not apply"
        ++failed;
        continue;
      }
      if (!analysis->applies) {
        reasons += (reasons.empty() ? "" : "; ") + r.model->manifest().id + ": " + analysis->reason;
        continue;
      }
      applied = true;
      ev::StudyScores sc;
      sc.study = s;
      for (const auto& l : analysis->labels) sc.probabilities.push_back(l.probability);
      for (const auto& m : analysis->measurements) {
        if (m.name == r.volume_measurement && m.available) sc.measured_volume_ml = m.value;
      }
      r.scores.push_back(std::move(sc));
      if (a.pointing_game) PointingGameForStudy(r, study, *analysis, files, a.pointing_tolerance, a.cam);
    }
    if (!applied) {
      if (!a.skip_not_applicable) {
        problems.emplace_back(study.id, "no model applies: " + reasons);
        ++failed;
      }
    }
    if ((s + 1) % 100 == 0) std::fprintf(stderr, "parallax-eval: %zu/%zu studies\n", s + 1, set->size());
  }

  for (const auto& r : runs) {
    const auto& m = r.model->manifest();
    if (r.scores.empty()) continue;
    std::vector<ev::ModelLabel> labels;
    for (const auto& l : m.labels) labels.push_back({l.name, l.operating_point});
    ev::ValidationOptions vo;
    vo.any_label = r.any_label;
    vo.bootstrap_resamples = a.bootstrap;
    if (!r.volume_measurement.empty()) vo.volume_label = vo.any_label.empty() ? m.labels[0].name : vo.any_label;
    auto result = ev::Validate(labels, *set, r.scores, vo);
    if (!result.ok()) {
      std::fprintf(stderr, "parallax-eval: %s: %s\n", m.id.c_str(), std::string(result.status().message()).c_str());
      return 1;
    }
    if (a.pointing_game) {
      for (size_t l = 0; l < result->rows.size() && l < r.pointing.size(); ++l) {
        result->rows[l].pointing_game = r.pointing[l];
      }
    }
    const fs::path dir = fs::path(a.out) / m.id;
    fs::create_directories(dir);
    if (a.pointing_game) {
      std::ofstream(dir / "pointing_game.csv") << "study,label,slice,row,column,hit,distance_px,problem\n"
                                               << r.pointing_csv;
    }
    std::ofstream(dir / "report.json") << ev::ReportJson(result->rows);
    std::string md = "# " + m.id + " " + m.version + " on " + a.set + "\n\n" + std::to_string(r.scores.size()) +
                     " studies; operating points from the manifest (positive when p >= threshold)" +
                     (vo.any_label.empty() ? "" : "; \"" + vo.any_label + "\" is positive for any finding") + ".\n\n" +
                     ev::ReportMarkdown(result->rows);
    if (!result->roc.empty()) {
      std::ofstream(dir / "roc.png", std::ios::binary) << ev::RocCurvesPng(result->roc);
      md += "\nROC curves (roc.png):";
      for (size_t i = 0; i < result->roc.size(); ++i) {
        md += (i ? ", " : " ") + result->roc[i].first + " " + ev::RocCurveColourName(i);
      }
      md += ".\n";
    }
    if (a.pointing_game) {
      const char* cam_name = a.cam == inf::CamMethod::kHiResCam   ? "HiResCAM"
                             : a.cam == inf::CamMethod::kLayerCam ? "LayerCAM"
                                                                  : "Grad-CAM";
      md += std::string("\nPointing game (") + cam_name +
            "): the peak of each true positive's label on its highest-probability item, a hit "
            "when inside a truth mask of that label" +
            (r.any_label.empty() ? std::string()
                                 : " (for \"" + r.any_label + "\", which has no mask of its own, the union of "
                                   "every finding's mask)") +
            (a.pointing_tolerance > 0 ? " within " + std::to_string(a.pointing_tolerance) + " pixels"
                                      : std::string(" (no tolerance)")) +
            (a.grad_cam_frozen ? "; the map on the frozen, optimised model" : "; the map on the unfrozen model") +
            ". The peak is the heatmap's maximum at the model's input resolution, mapped to the original "
            "pixel under that input pixel's centre. Empty maps and errors count as misses; labels without a "
            "true positive cannot be evaluated (0 / 0).\n";
    }
    for (const auto& note : result->notes) md += "\n- " + note;
    if (!result->notes.empty()) md += "\n";
    std::ofstream(dir / "report.md") << md;
    std::ofstream csv(dir / "studies.csv");
    csv << "study";
    for (const auto& l : labels) csv << "," << l.name;
    csv << ",measured_volume_ml,true_volume_ml\n";
    for (const auto& sc : r.scores) {
      const auto& st = (*set)[sc.study];
      csv << st.id;
      for (double p : sc.probabilities) csv << "," << Num(p);
      csv << "," << (sc.measured_volume_ml ? Num(*sc.measured_volume_ml) : "") << ","
          << (st.volume_ml ? Num(*st.volume_ml) : "") << "\n";
    }
    std::printf("%s\n", md.c_str());
  }
  for (const auto& [id, what] : problems) std::fprintf(stderr, "parallax-eval: study %s: %s\n", id.c_str(), what.c_str());
  if (failed > 0) std::fprintf(stderr, "parallax-eval: %d studies failed or had no applicable model\n", failed);
  return failed > 0 ? 1 : 0;
}
