// parallax-eval: a model's local validation on a labelled set, through the
// very code path the inference service uses (inference::StudyAnalyzer:
// series selection, DICOM pixels, preprocessing, the model, study-level
// aggregation, measurements).
//
//   parallax-eval --set PATH --models DIR | --model FILE.pt --out DIR
//                 [--any-label NAME] [--threads N] [--bootstrap N]
//                 [--skip-not-applicable]
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
// tables. Exit status: 0 when every study was analysed, 1 when any failed
// or did not apply (the reports still cover the others), 2 for bad usage.
#include <cmath>
#include <cstdio>
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
#include "parallax/inference/model.h"
#include "parallax/inference/model_directory.h"
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
};

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "parallax-eval: %s\n", error.c_str());
  std::fputs(
      "usage: parallax-eval --set PATH (--models DIR | --model FILE.pt) --out DIR\n"
      "                     [--any-label NAME] [--threads N] [--bootstrap N] [--skip-not-applicable]\n",
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
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "--skip-not-applicable") {
      a.skip_not_applicable = true;
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

  std::vector<PerModel> runs;
  for (const auto& m : models) {
    PerModel r{m.get(), std::make_unique<inf::StudyAnalyzer>(*m), {}, ""};
    for (const auto& meas : m->manifest().measurements) {
      if (meas.unit == "mL" || meas.unit == "cm3") r.volume_measurement = meas.name;
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
    vo.any_label = a.any_label.empty() ? DefaultAnyLabel(m) : a.any_label;
    vo.bootstrap_resamples = a.bootstrap;
    if (!r.volume_measurement.empty()) vo.volume_label = vo.any_label.empty() ? m.labels[0].name : vo.any_label;
    auto result = ev::Validate(labels, *set, r.scores, vo);
    if (!result.ok()) {
      std::fprintf(stderr, "parallax-eval: %s: %s\n", m.id.c_str(), std::string(result.status().message()).c_str());
      return 1;
    }
    const fs::path dir = fs::path(a.out) / m.id;
    fs::create_directories(dir);
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
