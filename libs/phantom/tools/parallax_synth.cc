// parallax-synth: writes labelled phantom studies as DICOM with a truth.json
// each, plus a manifest.csv of the set, deterministic from the seed.
//
//   parallax-synth --kind chest_xray|head_ct|brain_mri|bone_xray --out DIR [--seed S] [--count N]
//                  [--findings A,B] [--difficulty D] [--defects a,b]
//                  [--normal-fraction F]
//
// With --findings the listed findings are drawn in every study; without, each
// study is normal with probability F (default 0.5) and otherwise has one or
// two findings drawn at random from the kind's labels, at a random
// difficulty unless --difficulty is given. Study k uses seed S+k.
//
// Follow-up pairs (prior-study comparison, libs/phantom follow_up.h):
//
//   parallax-synth --kind head_ct|brain_mri|chest_xray --out DIR --follow-up CLASS[,CLASS...]|mixed
//                  [--seed S] [--count N] [--findings A,B] [--difficulty D] [--interval-days D]
//
// writes N pairs, pair k from seed S+k, each as DIR/<kind>-fu-<seed>/ with
// prior/ and current/ (DICOM + truth.json each, same patient, new study UIDs
// and dates, the current months later) and pair.json (change class and size
// at both times per finding, interval, the exact rigid shift of the current
// relative to the prior), plus a row per pair in DIR/manifest.csv.
// Not patient data: names, IDs and UIDs are synthetic.
#include <algorithm>
#include <stdexcept>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/bone_xray.h"
#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/follow_up.h"
#include "parallax/phantom/ground_truth.h"
#include "parallax/phantom/head_ct.h"

namespace {

struct Args {
  std::string kind;
  std::string out;
  uint64_t seed = 1;
  int count = 1;
  std::vector<std::string> findings;
  bool findings_given = false;
  double difficulty = -1;  // < 0: random per study
  std::vector<std::string> defects;
  double normal_fraction = 0.5;
  std::vector<std::string> follow_up;  // change classes, or {"mixed"}; empty = single studies
  int interval_days = 0;               // follow-up: 0 = from the seed
};

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int Usage(const char* error) {
  if (error) std::fprintf(stderr, "parallax-synth: %s\n", error);
  std::fputs(
      "usage: parallax-synth --kind chest_xray|head_ct|brain_mri|bone_xray --out DIR [--seed S] [--count N]\n"
      "                      [--findings A,B] [--difficulty D] [--defects a,b] [--normal-fraction F]\n"
      "       parallax-synth --kind head_ct|brain_mri|chest_xray --out DIR --follow-up CLASS[,CLASS...]|mixed\n"
      "                      [--seed S] [--count N] [--findings A,B] [--difficulty D] [--interval-days D]\n"
      "\n"
      "--follow-up writes N follow-up pairs (seed S+k) as DIR/<kind>-fu-<seed>/{prior,current}/ with a\n"
      "truth.json each, DIR/<kind>-fu-<seed>/pair.json and a manifest.csv row per pair. The same patient\n"
      "is studied twice, 60-540 days apart (or --interval-days), the current study shifted rigidly by at\n"
      "most 5 mm and 3 degrees (exact shift in pair.json). CLASS is new, larger, smaller, stable or\n"
      "resolved: one for every finding, or one per --findings entry; 'mixed' draws one to two findings\n"
      "and a class for each per pair. larger/smaller change the lesion's volume (CT, MR; area for\n"
      "chest_xray) 2-3x; the truth reads larger at current/prior >= 1.5, smaller at <= 0.67.\n"
      "Findings: head_ct Intraparenchymal, Epidural, Subdural; brain_mri 'Enhancing tumour',\n"
      "'Non-enhancing lesion'; chest_xray Nodule, Mass, 'Lung Lesion' (default: the first).\n"
      "Without --difficulty each pair draws one in 0..0.6.\n",
      stderr);
  return 2;
}

bool ParseArgs(int argc, char** argv, Args* a, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (i + 1 >= argc) {
      *error = "missing value for " + key;
      return false;
    }
    std::string value = argv[++i];
    try {
      if (key == "--kind") a->kind = value;
      else if (key == "--out") a->out = value;
      else if (key == "--seed") a->seed = std::stoull(value);
      else if (key == "--count") a->count = std::stoi(value);
      else if (key == "--findings") { a->findings = SplitCommas(value); a->findings_given = true; }
      else if (key == "--difficulty") a->difficulty = std::stod(value);
      else if (key == "--defects") a->defects = SplitCommas(value);
      else if (key == "--normal-fraction") a->normal_fraction = std::stod(value);
      else if (key == "--follow-up") a->follow_up = SplitCommas(value);
      else if (key == "--interval-days") a->interval_days = std::stoi(value);
      else {
        *error = "unknown option " + key;
        return false;
      }
    } catch (...) {
      *error = "malformed value for " + key;
      return false;
    }
  }
  if (a->kind != "chest_xray" && a->kind != "head_ct" && a->kind != "brain_mri" && a->kind != "bone_xray") {
    *error = "--kind must be chest_xray, head_ct, brain_mri or bone_xray";
    return false;
  }
  if (a->out.empty()) {
    *error = "--out is required";
    return false;
  }
  if (a->count < 1) {
    *error = "--count must be at least 1";
    return false;
  }
  if (!a->follow_up.empty()) {
    if (a->kind == "bone_xray") {
      *error = "--follow-up supports head_ct, brain_mri and chest_xray";
      return false;
    }
    for (const auto& c : a->follow_up) {
      parallax::phantom::Change change;
      if (c == "mixed" ? a->follow_up.size() != 1 : !parallax::phantom::ParseChange(c, &change)) {
        *error = "--follow-up takes new, larger, smaller, stable, resolved (comma-separated) or mixed alone, not '" +
                 c + "'";
        return false;
      }
    }
    if (!a->defects.empty()) {
      *error = "--defects is not supported with --follow-up";
      return false;
    }
    if (a->interval_days < 0) {
      *error = "--interval-days must be positive";
      return false;
    }
  }
  return true;
}

uint64_t Mix64(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t KindSalt(const std::string& kind) {
  return kind == "chest_xray" ? 0xC4E57ULL : kind == "head_ct" ? 0x4EADULL : kind == "brain_mri" ? 0xB4A1ULL : 0xB0E5ULL;
}

// Writes one study of a pair with its truth.json; the UID on success.
bool WritePairStudy(const parallax::phantom::Study& study, const parallax::dicom::StudyIdentity& id,
                    const std::filesystem::path& dir, std::string* uid) {
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.string());
  if (!written.ok()) {
    std::fprintf(stderr, "parallax-synth: %s\n", std::string(written.status().message()).c_str());
    return false;
  }
  *uid = written->study_instance_uid;
  return true;
}

int RunFollowUp(const Args& args) {
  namespace ph = parallax::phantom;
  const std::vector<std::string> known = ph::FollowUpLabels(args.kind);
  for (const auto& f : args.findings) {
    if (std::find(known.begin(), known.end(), f) == known.end()) {
      return Usage(("finding '" + f + "' cannot be followed up for " + args.kind).c_str());
    }
  }
  const bool mixed = args.follow_up.size() == 1 && args.follow_up[0] == "mixed";
  std::vector<ph::Change> classes;
  for (const auto& c : args.follow_up) {
    ph::Change change;
    if (ph::ParseChange(c, &change)) classes.push_back(change);
  }
  if (!mixed && classes.size() != 1 && classes.size() != std::max<size_t>(1, args.findings.size())) {
    return Usage("--follow-up needs one class, or one per --findings entry");
  }
  std::filesystem::create_directories(args.out);
  const auto manifest_path = std::filesystem::path(args.out) / "manifest.csv";
  const std::string header = "pair_dir,prior_study_instance_uid,current_study_instance_uid,interval_days,changes";
  if (std::filesystem::exists(manifest_path)) {
    std::ifstream in(manifest_path);
    std::string first;
    std::getline(in, first);
    if (first != header) return Usage("--out already holds a manifest.csv of single studies; use another folder");
  }
  const bool new_manifest = !std::filesystem::exists(manifest_path);
  std::ofstream manifest(manifest_path, std::ios::app);
  if (new_manifest) manifest << header << "\n";

  for (int k = 0; k < args.count; ++k) {
    const uint64_t seed = args.seed + static_cast<uint64_t>(k);
    std::mt19937_64 rng(Mix64(seed, 0xF0110));
    ph::FollowUpOptions o;
    o.kind = args.kind;
    o.seed = seed;
    o.findings = args.findings;
    o.interval_days = args.interval_days;
    o.difficulty = args.difficulty >= 0 ? args.difficulty : std::uniform_real_distribution<double>(0, 0.6)(rng);
    if (mixed) {
      if (o.findings.empty()) {
        std::vector<std::string> pool = known;
        std::shuffle(pool.begin(), pool.end(), rng);
        o.findings.assign(pool.begin(), pool.begin() + std::uniform_int_distribution<int>(1, 2)(rng));
      }
      o.changes.clear();
      for (size_t i = 0; i < o.findings.size(); ++i) {
        o.changes.push_back(static_cast<ph::Change>(std::uniform_int_distribution<int>(0, 4)(rng)));
      }
    } else {
      o.changes = classes;
    }
    // A lesion too small to measure its change at this difficulty is tried
    // again more obvious (larger), so every pair written reads as its class.
    absl::StatusOr<ph::FollowUpPair> pair = absl::UnknownError("not run");
    for (int attempt = 0; attempt < 3; ++attempt) {
      pair = ph::MakeFollowUpPair(o);
      if (pair.ok() || pair.status().code() != absl::StatusCode::kInternal) break;
      o.difficulty = std::max(0.0, o.difficulty - 0.25);
    }
    if (!pair.ok()) {
      std::fprintf(stderr, "parallax-synth: %s\n", std::string(pair.status().message()).c_str());
      return pair.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }

    ph::FollowUpTruth truth = ph::FollowUpTruthOf(*pair);
    truth.patient_id = "PHANTOM-FU-" + std::to_string(seed);
    truth.prior_study_date = ph::AddDays("20240102", static_cast<int>(seed % 365));
    truth.current_study_date = ph::AddDays(truth.prior_study_date, pair->interval_days);
    truth.prior_dir = "prior";
    truth.current_dir = "current";
    const std::string name = args.kind + "-fu-" + std::to_string(seed);
    const std::filesystem::path pair_dir = std::filesystem::path(args.out) / name;

    parallax::dicom::StudyIdentity id;
    id.patient_id = truth.patient_id;
    id.patient_name = "PHANTOM^FU" + std::to_string(seed);
    id.patient_birth_date = ph::AddDays("19400101", static_cast<int>(Mix64(seed, 0xB1127) % 18000));
    const uint64_t base = seed ^ (KindSalt(args.kind) << 40);
    id.uid_seed = Mix64(base, 0xF1);
    id.study_date = truth.prior_study_date;
    id.study_time = "091500";
    id.accession_number = "PXF" + std::to_string(seed) + "A";
    if (!WritePairStudy(pair->prior, id, pair_dir / "prior", &truth.prior_study_uid)) return 1;
    id.uid_seed = Mix64(base, 0xF2);
    id.study_date = truth.current_study_date;
    id.study_time = "143000";
    id.accession_number = "PXF" + std::to_string(seed) + "B";
    if (!WritePairStudy(pair->current, id, pair_dir / "current", &truth.current_study_uid)) return 1;

    truth.role = "prior";
    std::ofstream(pair_dir / "prior" / "truth.json") << ph::GroundTruthJson(pair->prior, truth.prior_study_uid, truth);
    truth.role = "current";
    std::ofstream(pair_dir / "current" / "truth.json")
        << ph::GroundTruthJson(pair->current, truth.current_study_uid, truth);
    truth.role.clear();
    std::ofstream(pair_dir / "pair.json") << ph::PairTruthJson(truth) << "\n";

    std::string changes;
    for (const auto& c : pair->changes) {
      changes += (changes.empty() ? "" : ";") + c.label + ":" + ph::ChangeName(c.change);
    }
    manifest << name << "," << truth.prior_study_uid << "," << truth.current_study_uid << "," << pair->interval_days
             << "," << changes << "\n";
    std::printf("%s %s %s %s\n", name.c_str(), truth.prior_study_uid.c_str(), truth.current_study_uid.c_str(),
                changes.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!ParseArgs(argc, argv, &args, &error)) return Usage(error.c_str());
  if (!args.follow_up.empty()) return RunFollowUp(args);
  const std::vector<std::string> known = args.kind == "chest_xray"  ? parallax::phantom::ChestXrayLabels()
                                         : args.kind == "head_ct"   ? parallax::phantom::HeadCtLabels()
                                         : args.kind == "brain_mri" ? parallax::phantom::BrainMriLabels()
                                                                    : parallax::phantom::BoneXrayLabels();
  for (const auto& f : args.findings) {
    const std::string label = f.substr(0, f.find(':'));  // "Effusion:left" forces the patient side
    if (std::find(known.begin(), known.end(), label) == known.end()) {
      return Usage(("unknown finding '" + f + "' for " + args.kind).c_str());
    }
  }
  std::filesystem::create_directories(args.out);
  // The set's manifest; a later run into the same folder adds its studies.
  const auto manifest_path = std::filesystem::path(args.out) / "manifest.csv";
  const bool new_manifest = !std::filesystem::exists(manifest_path);
  std::ofstream manifest(manifest_path, std::ios::app);
  if (new_manifest) manifest << "study_dir,study_instance_uid,labels\n";

  for (int k = 0; k < args.count; ++k) {
    const uint64_t seed = args.seed + static_cast<uint64_t>(k);
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 17);
    std::vector<std::string> findings = args.findings;
    if (!args.findings_given && std::uniform_real_distribution<double>(0, 1)(rng) >= args.normal_fraction) {
      std::vector<std::string> pool = known;
      std::shuffle(pool.begin(), pool.end(), rng);
      const int n = std::uniform_int_distribution<int>(1, 2)(rng);
      findings.assign(pool.begin(), pool.begin() + std::min<size_t>(n, pool.size()));
    }
    const double difficulty =
        args.difficulty >= 0 ? args.difficulty : std::uniform_real_distribution<double>(0, 1)(rng);

    parallax::phantom::Study study;
    try {
    if (args.kind == "chest_xray") {
      parallax::phantom::ChestXrayOptions o;
      o.seed = seed;
      o.findings = findings;
      o.difficulty = difficulty;
      o.defects = args.defects;
      o.view = (seed % 3 == 0) ? "AP" : "PA";
      study = parallax::phantom::MakeChestXray(o);
    } else if (args.kind == "head_ct") {
      parallax::phantom::HeadCtOptions o;
      o.seed = seed;
      o.findings = findings;
      o.difficulty = difficulty;
      o.defects = args.defects;
      study = parallax::phantom::MakeHeadCt(o);
    } else if (args.kind == "brain_mri") {
      parallax::phantom::BrainMriOptions o;
      o.seed = seed;
      o.findings = findings;
      o.difficulty = difficulty;
      o.defects = args.defects;
      study = parallax::phantom::MakeBrainMri(o);
    } else {
      parallax::phantom::BoneXrayOptions o;
      o.seed = seed;
      o.findings = findings;
      o.difficulty = difficulty;
      o.defects = args.defects;
      o.view = (seed % 2 == 0) ? "LAT" : "AP";
      study = parallax::phantom::MakeBoneXray(o);
    }
    } catch (const std::invalid_argument& e) {
      return Usage(e.what());
    }

    parallax::dicom::StudyIdentity id;
    // Each kind has its own UID space, so seed 7 of two kinds never collide.
    const uint64_t kind_salt = args.kind == "chest_xray" ? 0xC4E57ULL : args.kind == "head_ct" ? 0x4EADULL
                               : args.kind == "brain_mri" ? 0xB4A1ULL : 0xB0E5ULL;
    id.uid_seed = seed ^ (kind_salt << 40);
    id.patient_id = "PHANTOM-" + std::to_string(seed);
    id.patient_name = "PHANTOM^" + std::to_string(seed);
    id.accession_number = "PX" + std::to_string(seed);
    const std::string name = args.kind + "-" + std::to_string(seed);
    const std::string dir = (std::filesystem::path(args.out) / name).string();
    auto written = parallax::dicom::WritePhantomStudy(study, id, dir);
    if (!written.ok()) {
      std::fprintf(stderr, "parallax-synth: %s\n", std::string(written.status().message()).c_str());
      return 1;
    }
    std::ofstream(std::filesystem::path(dir) / "truth.json")
        << parallax::phantom::GroundTruthJson(study, written->study_instance_uid);
    std::string labels;
    for (const auto& f : study.findings) {
      if (labels.find(f.label) == std::string::npos) labels += (labels.empty() ? "" : ";") + f.label;
    }
    manifest << name << "," << written->study_instance_uid << "," << labels << "\n";
    std::printf("%s %s %s\n", name.c_str(), written->study_instance_uid.c_str(),
                labels.empty() ? "normal" : labels.c_str());
  }
  return 0;
}
