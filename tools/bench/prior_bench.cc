// parallax-prior-bench (scripts/bench/prior): times prior-study comparison
// of phantom head CT follow-up pairs whose truth is known (the patient's
// exact shift, each finding's change class and sizes): the co-registration
// alone (inference::Register + Resample) and the whole comparison the
// product pays beyond the current study's own analysis. A benchmark: it
// prints figures and never asserts; it exits non-zero only when it cannot
// run at all.
//
// Rows, all in the same process and on the same pair(s). Registration
// (phantom volumes handed over directly, no DICOM):
//   register+resample  Register (rigid, the options given) then Resample of
//                      the whole prior onto the current grid: the
//                      registered side-by-side view
//   anchor: resample   one Resample pass at full resolution with the
//                      identity: the floor any registered side-by-side view
//                      pays, however the transform is found
//   translation only   Register with TransformKind::kTranslation + Resample:
//                      the plainest search, to show what rotations cost and
//                      what they buy in accuracy
//   rigid+affine       the rigid then affine option + Resample
// Comparison (head CT only), what triage's PriorComparer
// (services/triage/src/prior_comparison.cc) makes inference, explainability
// and libs/comparison do for a prior it has no stored analysis of, in its
// order, from the pair's Part-10 bytes in memory (written and read back
// untimed, as inference receives them from ingest):
//   comparison: whole  prior analysis + CompareFindings + read both series
//                      + Register (the goal: <= 2 s on 2 cores for
//                      a head CT pair)
//   prior analysis     Inference.Analyze's work on the prior with the head CT
//                      model loaded as the service loads it (LoadModels:
//                      frozen, warmed up): StudyAnalyzer::Prepare (DICOM
//                      decoding, selection), the quality gate,
//                      AnalyzePrepared (slices, ICH volume), ToModelResult
//   CompareFindings    comparison::CompareFindings of the prior's findings
//                      with the current study's (default ChangeRule, triage's
//                      default configuration)
//   read both series   Inference.RegisterPrior's reading: VolumeFromInstances
//                      of the current and of the prior series
//   Register (rigid)   Inference.RegisterPrior's Register, rigid, without a
//                      Resample (the product stores the matrix only)
//   explain prior positives  not in "whole": the Explain calls PriorComparer
//                      makes on the prior's positive findings (no PNG, no
//                      DICOM evidence), run by the explainability service's
//                      own code (ExplainabilityService::Run over the prior's
//                      files), one after the other. For head CT the size
//                      stays inference's ICH volume: only the time counts.
//   as PriorComparer runs  the same run end to end, explain included
//   prior analysed     read both series + Register + CompareFindings: what a
//                      comparison costs when triage already holds the
//                      prior's analysis (the prior came through ingest)
// Not timed: the phantom rendering, DICOM writing and reading files into
// memory, the current study's own analysis and Explain calls, the gRPC hops
// and ingest's transfer of the bytes.
// Correctness beside the time: per pair, the class CompareFindings gave the
// "Intracranial haemorrhage" finding (and the truth's subtype label) next
// to the truth (pair.changes), and the registration error against the
// true shift.
//
// Usage: parallax-prior-bench [--kind head_ct] [--seeds 11,12,13] [--threads 2]
//          [--repeats 5] [--levels 3] [--finest-mm 3] [--iterations 60] [--goal-s 2]
//          [--changes new,larger,stable,smaller,resolved] [--models DIR]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <absl/status/statusor.h>

#include "explainability_service.h"
#include "file_study_source.h"
#include "finding_mapping.h"
#include "loaded_models.h"
#include "parallax/common/v1/finding.pb.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/comparison/change.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/inference/registration.h"
#include "parallax/inference/registration_input.h"
#include "parallax/inference/study_analysis.h"
#include "parallax/inference/v1/inference.pb.h"
#include "parallax/phantom/follow_up.h"
#include "phantom_volumes.h"
#include "quality_gate.h"

namespace {

namespace fs = std::filesystem;
namespace cmp = parallax::comparison;
namespace svc = parallax::inference_service;
namespace xpl = parallax::explainability;
using parallax::common::v1::Finding;
using parallax::inference::Matrix4;
using parallax::inference::RegistrationOptions;
using parallax::inference::TransformKind;
using parallax::inference::Volume;
namespace phantom = parallax::phantom;

using parallax::inference::testing::VolumeOf;

constexpr const char* kHaemorrhage = "Intracranial haemorrhage";  // the head CT model's summary label

// Mean and max distance, over points of the patient in the current image,
// between where the truth and the estimate send them.
std::pair<double, double> ErrorMm(const Volume& v, const phantom::RigidShift& truth, const Matrix4& m) {
  const auto e = parallax::inference::testing::ErrorAt(truth, m, parallax::inference::testing::PatientPoints(v));
  return {e.mean_mm, e.max_mm};
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds (user + system) of this process so far, all threads.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// Wall and CPU seconds of one stretch of work.
struct Stopwatch {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double c0 = CpuSeconds();
  std::pair<double, double> Lap() {
    const double wall = Seconds(t0), cpu = CpuSeconds() - c0;
    t0 = std::chrono::steady_clock::now();
    c0 = CpuSeconds();
    return {wall, cpu};
  }
};

struct Row {
  explicit Row(std::string n) : name(std::move(n)) {}
  std::string name;
  std::vector<double> seconds, cpu_seconds, mean_error, max_error, residual;  // error, residual: empty = not a registration
  int iterations = 0;
  void Add(std::pair<double, double> wall_cpu) {
    seconds.push_back(wall_cpu.first);
    cpu_seconds.push_back(wall_cpu.second);
  }
};

const char* Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

// The scratch folder of the DICOM files, removed at exit (also after an
// error that ends the run).
fs::path g_work;
void RemoveWork() {
  std::error_code ec;
  if (!g_work.empty()) fs::remove_all(g_work, ec);
}

// One phantom study as the inference service receives it: its Part-10
// files' bytes (ingest's ReadInstances), in memory.
struct StudyBytes {
  std::string study_uid;
  std::vector<std::string> files;  // where they were written (explainability reads them through a StudySource)
  std::vector<std::string> bytes;
  std::vector<parallax::inference::StudyInstance> Instances() const {
    std::vector<parallax::inference::StudyInstance> out;
    for (const std::string& b : bytes) out.push_back({"", b});
    return out;
  }
};

// Writes `study` as DICOM under `dir` and reads the files back (untimed).
absl::StatusOr<StudyBytes> WriteStudy(const phantom::Study& study, uint64_t uid_seed, const std::string& date,
                                      const fs::path& dir) {
  parallax::dicom::StudyIdentity id;
  id.uid_seed = uid_seed;
  id.patient_id = "PHANTOM-BENCH";
  id.study_date = date;
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.string());
  if (!written.ok()) return written.status();
  StudyBytes out;
  out.study_uid = written->study_instance_uid;
  out.files = written->files;
  for (const std::string& path : written->files) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in) return absl::DataLossError("cannot read back " + path);
    out.bytes.push_back(std::move(content).str());
  }
  return out;
}

// One model selection of Inference.Analyze (services/inference
// inference_service.cc Run): Prepare, the quality gate, AnalyzePrepared,
// ToModelResult. FAILED_PRECONDITION when the model did not read the study.
absl::StatusOr<parallax::inference::v1::ModelResult> AnalyzeAsInference(const svc::LoadedModel& loaded,
                                                                         const StudyBytes& study) {
  const auto instances = study.Instances();
  absl::StatusOr<parallax::inference::PreparedStudy> prepared = loaded.analyzer->Prepare(instances);
  if (!prepared.ok()) return prepared.status();
  const svc::QualityResult quality = svc::AssessQuality(loaded.model->manifest(), *prepared);
  absl::StatusOr<parallax::inference::StudyAnalysis> analysis = loaded.analyzer->AnalyzePrepared(*std::move(prepared));
  if (!analysis.ok()) return analysis.status();
  parallax::common::v1::StudyRef ref;
  ref.set_study_instance_uid(study.study_uid);
  ref.set_generation(1);
  parallax::inference::v1::ModelResult result =
      svc::ToModelResult(loaded.model->manifest(), *analysis, ref, quality.flags);
  for (auto q : quality.flags) result.add_quality_flags(q);
  for (const std::string& note : quality.notes) result.add_quality_notes(note);
  if (result.outcome() != parallax::inference::v1::MODEL_OUTCOME_OK) {
    return absl::FailedPreconditionError("the head CT model did not read the study: " + result.error());
  }
  return result;
}

// PriorComparer's ExplainPositives on the prior (services/triage
// study_analysis.cc), one call after the other: an Explain per positive
// finding, its source slices (at most 16), no PNG, no DICOM evidence, run by
// the explainability service's own code (Run) reading the prior's files.
// For head CT the size stays inference's ICH volume; the call is timed
// because PriorComparer makes it. Returns the calls made and failed.
std::pair<int, int> ExplainPositives(xpl::ExplainabilityService& service, const std::string& prior_uid,
                                     const std::vector<Finding>& findings) {
  int calls = 0, failures = 0;
  for (const Finding& f : findings) {
    if (!f.positive()) continue;
    parallax::explainability::v1::ExplainRequest ex;
    ex.mutable_study()->set_study_instance_uid(prior_uid);
    ex.mutable_study()->set_generation(1);
    ex.set_series_instance_uid(f.series_instance_uid());
    const int n = std::min(f.source_sop_instance_uids_size(), 16);
    for (int k = 0; k < n; ++k) ex.add_sop_instance_uids(f.source_sop_instance_uids(k));
    *ex.mutable_model() = f.model();
    ex.set_finding_label(f.label());
    ex.set_finding_id(f.finding_id());
    ex.set_include_png(false);
    ++calls;
    auto explained = service.Run(ex, std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!explained.ok()) {
      std::fprintf(stderr, "prior bench: Explain %s: %s\n", f.label().c_str(),
                   std::string(explained.status().message()).c_str());
      ++failures;
    }
  }
  return {calls, failures};
}

// What CompareFindings said of one label: its class name ("none" when the
// label is negative at both times) and sizes.
struct LabelChange {
  std::string change = "none";
  std::optional<double> prior_size, current_size;
  bool operator==(const LabelChange& o) const {
    return change == o.change && prior_size == o.prior_size && current_size == o.current_size;
  }
};

LabelChange ChangeOf(const std::vector<cmp::FindingChange>& changes, const std::string& label) {
  LabelChange out;
  for (const cmp::FindingChange& c : changes) {
    if (c.label != label) continue;
    out.change = cmp::ChangeClassName(c.change);
    out.prior_size = c.prior_size;
    out.current_size = c.current_size;
  }
  return out;
}

std::string SizeText(const std::optional<double>& s) {
  if (!s) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", *s);
  return b;
}

// One comparison of a pair: the parts' times and what they produced.
struct ComparisonRun {
  // Wall, cpu seconds. whole = analyse + compare + read + registration;
  // as_triage = the same run end to end, explain included.
  std::pair<double, double> analyse, explain, compare, read, registration, whole, as_triage;
  int explain_calls = 0, explain_failures = 0;
  LabelChange haemorrhage, subtype;
  Matrix4 current_to_prior{};
  double residual = 0;
  int iterations = 0;  // Register's, all levels
  Volume current;      // as RegisterPrior read it, for the registration error
};

// PriorComparer's work for a prior without a stored analysis, in its order:
// the prior read with the same model, its positive findings explained,
// CompareFindings, RegisterPrior.
absl::StatusOr<ComparisonRun> CompareOnce(const svc::LoadedModel& model, xpl::ExplainabilityService& explainer,
                                          const StudyBytes& prior,
                                          const StudyBytes& current, const std::vector<Finding>& current_findings,
                                          const std::string& prior_date, const std::string& current_date,
                                          const std::string& subtype_label, const RegistrationOptions& options) {
  ComparisonRun run;
  Stopwatch whole, part;

  auto analysed = AnalyzeAsInference(model, prior);
  if (!analysed.ok()) return analysed.status();
  const std::vector<Finding> before(analysed->findings().begin(), analysed->findings().end());
  run.analyse = part.Lap();

  std::tie(run.explain_calls, run.explain_failures) = ExplainPositives(explainer, prior.study_uid, before);
  run.explain = part.Lap();

  auto changes = cmp::CompareFindings(before, current_findings, prior_date, current_date, cmp::ChangeRule{});
  if (!changes.ok()) return changes.status();
  run.compare = part.Lap();

  const auto current_instances = current.Instances(), prior_instances = prior.Instances();
  auto cur = parallax::inference::VolumeFromInstances(current_instances);
  if (!cur.ok()) return cur.status();
  auto pri = parallax::inference::VolumeFromInstances(prior_instances);
  if (!pri.ok()) return pri.status();
  run.read = part.Lap();

  auto registered = parallax::inference::Register(*cur, *pri, options);
  if (!registered.ok()) return registered.status();
  run.registration = part.Lap();
  run.as_triage = whole.Lap();
  run.whole = {run.analyse.first + run.compare.first + run.read.first + run.registration.first,
               run.analyse.second + run.compare.second + run.read.second + run.registration.second};

  run.haemorrhage = ChangeOf(*changes, kHaemorrhage);
  run.subtype = ChangeOf(*changes, subtype_label);
  run.current_to_prior = registered->current_to_prior;
  run.residual = registered->residual;
  run.iterations = registered->iterations;
  run.current = *std::move(cur);
  return run;
}

[[noreturn]] void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "prior bench: %s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::printf(
          "usage: parallax-prior-bench [--kind head_ct|brain_mri|chest_xray] [--seeds 11,12,13] [--threads 2]\n"
          "         [--repeats 5] [--levels 3] [--finest-mm 3] [--iterations 60] [--goal-s 2]\n"
          "         [--changes new,larger,stable,smaller,resolved] [--models DIR]\n");
      return 0;
    }
  }
  const std::string kind = Arg(argc, argv, "--kind", "head_ct");
  const std::string seeds_text = Arg(argc, argv, "--seeds", "11,12,13");
  const std::string changes_text = Arg(argc, argv, "--changes", "new,larger,stable,smaller,resolved");
  const std::string models_dir = Arg(argc, argv, "--models", PARALLAX_MODELS_DIR);
  const int threads = std::atoi(Arg(argc, argv, "--threads", "2"));
  const int repeats = std::max(1, std::atoi(Arg(argc, argv, "--repeats", "5")));
  const double goal_s = std::atof(Arg(argc, argv, "--goal-s", "2"));
  RegistrationOptions base;
  base.levels = std::atoi(Arg(argc, argv, "--levels", "3"));
  base.finest_spacing_mm = std::atof(Arg(argc, argv, "--finest-mm", "3"));
  base.max_iterations = std::atoi(Arg(argc, argv, "--iterations", "60"));
  base.threads = threads;

  std::vector<uint64_t> seeds;
  for (const char* p = seeds_text.c_str(); *p != '\0';) {
    char* end = nullptr;
    seeds.push_back(std::strtoull(p, &end, 10));
    if (end == p) {
      std::fprintf(stderr, "prior bench: --seeds wants numbers separated by commas\n");
      return 2;
    }
    p = *end == ',' ? end + 1 : end;
  }
  // The pairs' change classes, cycled over the seeds.
  std::vector<phantom::Change> classes;
  for (size_t from = 0; from <= changes_text.size();) {
    const size_t to = std::min(changes_text.find(',', from), changes_text.size());
    phantom::Change c;
    if (!phantom::ParseChange(changes_text.substr(from, to - from), &c)) {
      std::fprintf(stderr, "prior bench: --changes wants new, larger, stable, smaller or resolved, comma-separated\n");
      return 2;
    }
    classes.push_back(c);
    from = to + 1;
  }

  // The comparison rows: head CT, with the reference model loaded as the
  // inference service loads it (frozen, optimised, warmed up).
  const bool compare = kind == "head_ct";
  std::vector<svc::LoadedModel> models;
  const svc::LoadedModel* head_ct = nullptr;
  std::vector<xpl::ExplainableModel> explainable;  // as the explainability service loads them (not frozen)
  if (compare) {
    svc::ModelLoadOptions mo;
    mo.intra_op_threads = threads;
    auto loaded = svc::LoadModels(models_dir, mo);
    if (!loaded.ok()) Die(loaded.status(), "loading the models");
    models = *std::move(loaded);
    for (const svc::LoadedModel& m : models) {
      if (m.model->manifest().id == "parallax.headct") head_ct = &m;
    }
    if (head_ct == nullptr) {
      std::fprintf(stderr, "prior bench: no parallax.headct model in %s\n", models_dir.c_str());
      return 1;
    }
    auto for_cam = xpl::LoadExplainableModels(models_dir, "cpu", threads);
    if (!for_cam.ok()) Die(for_cam.status(), "loading the models for Grad-CAM");
    explainable = *std::move(for_cam);
    g_work = fs::temp_directory_path() / ("parallax-prior-bench-" + std::to_string(::getpid()));
    std::atexit(RemoveWork);
  }

  Row full{"register+resample (rigid)"}, anchor{"anchor: resample only (identity)"},
      translation{"translation only + resample"}, affine{"rigid+affine + resample"};
  Row whole{"comparison: whole (analyse+compare+register)"}, analyse{"  prior analysis (head CT model)"},
      compare_row{"  CompareFindings"}, read_row{"  read both series (VolumeFromInstances)"},
      registration{"  Register (rigid, no resample)"}, explain{"  explain prior positives (not in whole)"},
      as_triage{"comparison + explain, as PriorComparer runs"},
      stored{"comparison, prior analysed: read+register+compare"};
  const Matrix4 identity{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};
  int nx = 0, ny = 0, nz = 0, right = 0, compared = 0;
  std::vector<std::string> pair_lines;
  for (size_t si = 0; si < seeds.size(); ++si) {
    const uint64_t seed = seeds[si];
    phantom::FollowUpOptions fo;
    fo.kind = kind;
    fo.seed = seed;
    fo.changes = {classes[si % classes.size()]};
    auto pair = phantom::MakeFollowUpPair(fo);
    if (!pair.ok()) Die(pair.status(), "phantom pair");
    const Volume current = VolumeOf(pair->current), prior = VolumeOf(pair->prior);
    nx = current.nx, ny = current.ny, nz = current.nz;
    const auto measure = [&](Row& row, const RegistrationOptions* options) {
      for (int r = 0; r < repeats; ++r) {
        Stopwatch watch;
        Matrix4 m = identity;
        double residual = 0;
        if (options != nullptr) {
          auto result = parallax::inference::Register(current, prior, *options);
          if (!result.ok()) Die(result.status(), "Register");
          m = result->current_to_prior;
          residual = result->residual;
          row.iterations = result->iterations;
        }
        auto moved = parallax::inference::Resample(prior, m, current, 0, threads);
        if (!moved.ok()) Die(moved.status(), "Resample");
        row.Add(watch.Lap());
        if (r == 0) {
          const auto [mean, max] = ErrorMm(current, pair->shift, m);
          row.mean_error.push_back(mean);
          row.max_error.push_back(max);
          row.residual.push_back(residual);
        }
      }
    };
    RegistrationOptions t = base, a = base;
    t.transform = TransformKind::kTranslation;
    a.transform = TransformKind::kRigidThenAffine;
    if (si == 0) {  // untimed: LibTorch's first calls set up its thread pool and allocator
      auto warm = parallax::inference::Register(current, prior, base);
      if (warm.ok()) (void)parallax::inference::Resample(prior, warm->current_to_prior, current, 0, threads);
    }
    measure(anchor, nullptr);
    measure(full, &base);
    measure(translation, &t);
    measure(affine, &a);
    if (!compare) continue;

    // Untimed: both studies as DICOM bytes, and the current study's own
    // analysis (triage has it before it compares).
    const phantom::FindingChange& truth = pair->changes.at(0);
    const std::string prior_date = "20250301", current_date = phantom::AddDays(prior_date, pair->interval_days);
    const fs::path dir = g_work / ("seed-" + std::to_string(seed));
    auto prior_bytes = WriteStudy(pair->prior, seed * 2, prior_date, dir / "prior");
    if (!prior_bytes.ok()) Die(prior_bytes.status(), "writing the prior");
    auto current_bytes = WriteStudy(pair->current, seed * 2 + 1, current_date, dir / "current");
    if (!current_bytes.ok()) Die(current_bytes.status(), "writing the current study");
    auto current_result = AnalyzeAsInference(*head_ct, *current_bytes);
    if (!current_result.ok()) Die(current_result.status(), "analysing the current study");
    const std::vector<Finding> now(current_result->findings().begin(), current_result->findings().end());
    // The explainability service over both studies' files; the current
    // study's positives explained untimed (its own analysis; also the
    // first Grad-CAM's warm-up).
    std::vector<std::string> files = prior_bytes->files;
    files.insert(files.end(), current_bytes->files.begin(), current_bytes->files.end());
    parallax::ingest_client::testing::FileStudySource source(files);
    xpl::ExplainabilityService explainer(explainable, source, xpl::ExplainabilityServiceOptions{}, nullptr);
    (void)ExplainPositives(explainer, current_bytes->study_uid, now);

    Row pair_whole{""}, pair_analyse{""}, pair_compare{""}, pair_read{""}, pair_register{""}, pair_explain{""};
    std::optional<ComparisonRun> first;
    bool steady = true;
    for (int r = 0; r < repeats; ++r) {
      auto run = CompareOnce(*head_ct, explainer, *prior_bytes, *current_bytes, now, prior_date, current_date, truth.label, base);
      if (!run.ok()) Die(run.status(), "comparison");
      for (Row* row : {&whole, &pair_whole}) row->Add(run->whole);
      for (Row* row : {&analyse, &pair_analyse}) row->Add(run->analyse);
      for (Row* row : {&compare_row, &pair_compare}) row->Add(run->compare);
      for (Row* row : {&read_row, &pair_read}) row->Add(run->read);
      for (Row* row : {&registration, &pair_register}) row->Add(run->registration);
      for (Row* row : {&explain, &pair_explain}) row->Add(run->explain);
      as_triage.Add(run->as_triage);
      stored.Add({run->read.first + run->registration.first + run->compare.first,
                  run->read.second + run->registration.second + run->compare.second});
      if (!first) {
        first = *std::move(run);
        const auto [mean, max] = ErrorMm(first->current, pair->shift, first->current_to_prior);
        for (Row* row : {&whole, &registration, &as_triage, &stored}) {
          row->mean_error.push_back(mean);
          row->max_error.push_back(max);
          row->residual.push_back(first->residual);
        }
      } else {
        steady = steady && run->haemorrhage == first->haemorrhage && run->subtype == first->subtype;
      }
    }
    const std::string truth_class = phantom::ChangeName(truth.change);
    const bool ok = first->haemorrhage.change == truth_class;
    right += ok ? 1 : 0;
    ++compared;
    char line[768];
    std::snprintf(line, sizeof line,
                  "seed %-4llu %-16s truth %-8s %6.2f -> %6.2f mL | ICH got %-8s %6s -> %6s mL %-7s | %s got %-8s |"
                  " %6.3f s = analyse %.3f + compare %.4f + read %.3f + register %.3f (%d iterations; %d on the"
                  " phantom volumes); explain %.3f (%d call(s)%s)%s",
                  static_cast<unsigned long long>(seed), truth.label.c_str(), truth_class.c_str(), truth.prior_size,
                  truth.current_size, first->haemorrhage.change.c_str(), SizeText(first->haemorrhage.prior_size).c_str(),
                  SizeText(first->haemorrhage.current_size).c_str(), ok ? "right" : "WRONG", truth.label.c_str(),
                  first->subtype.change.c_str(), Median(pair_whole.seconds), Median(pair_analyse.seconds),
                  Median(pair_compare.seconds), Median(pair_read.seconds), Median(pair_register.seconds),
                  first->iterations, full.iterations, Median(pair_explain.seconds), first->explain_calls,
                  first->explain_failures > 0 ? ", some failed" : "",
                  steady ? "" : " (classes differed between runs)");
    pair_lines.push_back(line);
  }

  const double anchor_s = Median(anchor.seconds);
  std::printf(
      "\nPrior-study registration and comparison: %s %dx%dx%d, %zu pair(s) (seeds %s), %d thread(s), %d run(s) each; "
      "levels %d, finest %.1f mm, %d iterations\n",
      kind.c_str(), nx, ny, nz, seeds.size(), seeds_text.c_str(), threads, repeats, base.levels,
      base.finest_spacing_mm, base.max_iterations);
  if (compare) {
    std::printf("\nPer pair (comparison medians over %d run(s); ICH = the '%s' finding, which carries the volume):\n",
                repeats, kHaemorrhage);
    for (const std::string& l : pair_lines) std::printf("  %s\n", l.c_str());
    std::printf("ICH change class right for %d of %d pair(s)\n", right, compared);
  }
  std::printf("\n%-50s %9s %9s %9s %9s %11s %11s %9s  %s\n", "measure", "median s", "min s", "max s", "cpu s",
              "err mean mm", "err max mm", "residual", "vs goal / anchor");
  std::vector<const Row*> rows = {&full, &anchor, &translation, &affine};
  if (compare) rows.insert(rows.end(), {&whole, &analyse, &compare_row, &read_row, &registration, &explain, &as_triage, &stored});
  for (const Row* row : rows) {
    const double med = Median(row->seconds);
    const double lo = *std::min_element(row->seconds.begin(), row->seconds.end());
    const double hi = *std::max_element(row->seconds.begin(), row->seconds.end());
    char err_mean[32] = "-", err_max[32] = "-", residual_text[32] = "-";
    if (!row->mean_error.empty()) {
      double residual = 0;
      for (double r : row->residual) residual += r / static_cast<double>(row->residual.size());
      std::snprintf(err_mean, sizeof err_mean, "%.2f", Median(row->mean_error));
      std::snprintf(err_max, sizeof err_max, "%.2f", *std::max_element(row->max_error.begin(), row->max_error.end()));
      std::snprintf(residual_text, sizeof residual_text, "%.4f", residual);
    }
    char note[160];
    std::snprintf(note, sizeof note, "%.2f x goal (%.1f s), %.1f x anchor", med / goal_s, goal_s, med / anchor_s);
    std::printf("%-50s %9.3f %9.3f %9.3f %9.3f %11s %11s %9s  %s\n", row->name.c_str(), med, lo, hi,
                Median(row->cpu_seconds), err_mean, err_max, residual_text, note);
  }
  std::printf(
      "median/min/max s: wall time per pair and run; cpu s: median CPU time (all threads) per run, "
      "wall x threads when the cores were free.\n");
  std::printf(
      "err: distance between where the true shift and the estimate map the current study's foreground "
      "points (median over pairs of the mean; max over pairs of the max). Anchor err = no registration.\n");
  if (compare) {
    std::printf(
        "comparison rows: from the pair's DICOM bytes in memory; the prior analysed by the head CT model as "
        "inference does; no gRPC, no ingest transfer. Explain: the explainability service's code on the prior's "
        "positive findings, one after the other (PriorComparer: 2 at once), its files read from disk. The "
        "registration rows above use the phantom volumes directly.\n");
  } else {
    std::printf("comparison rows: head CT only (MR and film sizes need explainability, which this driver does not run).\n");
  }
  return 0;
}
