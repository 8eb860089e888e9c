#pragma once
// Shared by the quality tests: phantom studies as PixelImages, and tallies of
// how often each issue is flagged.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "parallax/dicom/pixel_reader.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/quality/image_quality.h"
#include "parallax/testing/temp_dir.h"
#include "phantom_pixels.h"

namespace pq = parallax::quality;
namespace pp = parallax::phantom;
namespace pd = parallax::dicom;
using pq::Issue;

namespace quality_test {

// The thresholds were set on seeds 1..40 (tools/quality_calibrate.cc); these
// tests judge them on seeds the calibration never saw.
constexpr int kFirstTestSeed = 1001;

inline const std::vector<Issue> kAllIssues = {Issue::kRotated,       Issue::kMotionArtefact,   Issue::kUnderexposed,
                                       Issue::kOverexposed,   Issue::kNoisy,            Issue::kMissingSlices,
                                       Issue::kIncompleteSeries, Issue::kAnatomyTruncated, Issue::kThickSlices,
                                       Issue::kLowResolution};

// How often each issue was flagged for one kind of study.
struct Tally {
  int studies = 0;
  int any = 0;
  std::map<Issue, int> flagged;

  void Add(const pq::Assessment& a) {
    ++studies;
    const auto issues = a.FlaggedIssues();
    any += issues.empty() ? 0 : 1;
    for (Issue i : issues) ++flagged[i];
  }
  double Rate(Issue i) const { return studies == 0 ? 0 : double(flagged.count(i) ? flagged.at(i) : 0) / studies; }
  double AnyRate() const { return studies == 0 ? 0 : double(any) / studies; }
};

inline const char* Short(Issue i) {
  switch (i) {
    case Issue::kRotated: return "rotated";
    case Issue::kMotionArtefact: return "motion";
    case Issue::kUnderexposed: return "under";
    case Issue::kOverexposed: return "over";
    case Issue::kNoisy: return "noisy";
    case Issue::kMissingSlices: return "gap";
    case Issue::kIncompleteSeries: return "incompl";
    case Issue::kAnatomyTruncated: return "trunc";
    case Issue::kThickSlices: return "thick";
    case Issue::kLowResolution: return "lowres";
  }
  return "?";
}

// A table: one row per condition, the share of studies flagged with each issue.
inline std::string Table(const std::string& title, const std::vector<std::pair<std::string, Tally>>& rows,
                  const std::vector<Issue>& columns) {
  std::string out = title + "\n" + std::string(14, ' ') + "   n";
  char buf[64];
  for (Issue i : columns) {
    std::snprintf(buf, sizeof buf, " %7s", Short(i));
    out += buf;
  }
  out += "   any\n";
  for (const auto& [name, t] : rows) {
    std::snprintf(buf, sizeof buf, "%-14s %3d", name.c_str(), t.studies);
    out += buf;
    for (Issue i : columns) {
      std::snprintf(buf, sizeof buf, " %6.0f%%", 100 * t.Rate(i));
      out += buf;
    }
    std::snprintf(buf, sizeof buf, " %4.0f%%\n", 100 * t.AnyRate());
    out += buf;
  }
  return out;
}

inline pp::Study ChestStudy(int seed, double difficulty, const std::string& defect, int size = 512,
                            const std::vector<std::string>& findings = {}) {
  pp::ChestXrayOptions o;
  o.findings = findings;
  o.seed = static_cast<uint64_t>(seed);
  o.size = size;
  o.difficulty = difficulty;
  if (defect != "none") o.defects = {defect};
  return pp::MakeChestXray(o);
}

inline pq::Assessment AssessChest(const pp::Study& st) {
  const auto im = pq::ToPixelImage(st.series[0].images[0], st.series[0].info);
  auto a = pq::AssessRadiograph(im);
  REQUIRE(a.ok());
  return *a;
}

inline pq::VolumeOptions HeadOptions() {
  pq::VolumeOptions o;
  o.organ_must_end = pq::OrganEnd::kHighestPosition;  // the vertex: LPS axial, z grows upwards
  return o;
}

// "truncated": the clean study with its top fifth dropped (the vertex cut off).
inline pq::PhantomVolume HeadVolume(int seed, double difficulty, const std::string& defect, int size = 256,
                                    const std::vector<std::string>& findings = {}) {
  pp::HeadCtOptions o;
  o.findings = findings;
  o.seed = static_cast<uint64_t>(seed);
  o.size = size;
  o.difficulty = difficulty;
  if (defect != "none" && defect != "truncated") o.defects = {defect};
  auto v = pq::ToVolume(pp::MakeHeadCt(o));
  if (defect == "truncated") {
    const size_t keep = v.slices.size() * 4 / 5;
    v.slices.resize(keep);
    v.positions_mm.resize(keep);
  }
  return v;
}

inline pq::Assessment AssessHead(const pq::PhantomVolume& v) {
  auto a = pq::AssessVolume(v.slices, v.positions_mm, v.thickness_mm, HeadOptions());
  REQUIRE(a.ok());
  return *a;
}

}  // namespace quality_test

