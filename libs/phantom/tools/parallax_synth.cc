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
      "                      [--findings A,B] [--difficulty D] [--defects a,b] [--normal-fraction F]\n",
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
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!ParseArgs(argc, argv, &args, &error)) return Usage(error.c_str());
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
