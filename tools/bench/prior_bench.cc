// parallax-prior-bench (scripts/bench/prior): times the co-registration of
// a prior study to the current one (inference::Register + Resample) on
// phantom follow-up pairs whose true shift is known, and prints the
// registration error beside the time. A benchmark: it prints figures and
// never asserts; it exits non-zero only when it cannot run at all.
//
// Rows, all in the same process and on the same pair(s):
//   register+resample  Register (rigid, the default options) then Resample
//                      of the whole prior onto the current grid: what
//                      prior-study comparison pays per pair (the issue's
//                      goal: <= 2 s on 2 cores for a head CT pair)
//   anchor: resample   one Resample pass at full resolution with the
//                      identity: the floor any registered side-by-side view
//                      pays, however the transform is found
//   translation only   Register with TransformKind::kTranslation + Resample:
//                      the plainest search, to show what rotations cost and
//                      what they buy in accuracy
//   rigid+affine       the rigid then affine option + Resample
//
// Usage: parallax-prior-bench [--kind head_ct] [--seeds 11,12,13] [--threads 2]
//          [--repeats 5] [--levels 3] [--finest-mm 3] [--iterations 60] [--goal-s 2]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "parallax/inference/registration.h"
#include "parallax/phantom/follow_up.h"
#include "phantom_volumes.h"

namespace {

using parallax::inference::Matrix4;
using parallax::inference::RegistrationOptions;
using parallax::inference::TransformKind;
using parallax::inference::Volume;
namespace phantom = parallax::phantom;

using parallax::inference::testing::VolumeOf;

// Mean and max distance, over points of the patient in the current image,
// between where the truth and the estimate send them.
std::pair<double, double> ErrorMm(const Volume& v, const phantom::RigidShift& truth, const Matrix4& m) {
  const auto e = parallax::inference::testing::ErrorAt(truth, m, parallax::inference::testing::PatientPoints(v));
  return {e.mean_mm, e.max_mm};
}

double Median(std::vector<double> v) {
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

struct Row {
  explicit Row(std::string n) : name(std::move(n)) {}
  std::string name;
  std::vector<double> seconds, cpu_seconds, mean_error, max_error, residual;
  int iterations = 0;
};

const char* Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::printf(
          "usage: parallax-prior-bench [--kind head_ct|brain_mri|chest_xray] [--seeds 11,12,13] [--threads 2]\n"
          "         [--repeats 5] [--levels 3] [--finest-mm 3] [--iterations 60] [--goal-s 2]\n");
      return 0;
    }
  }
  const std::string kind = Arg(argc, argv, "--kind", "head_ct");
  const std::string seeds_text = Arg(argc, argv, "--seeds", "11,12,13");
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

  Row full{"register+resample (rigid)"}, anchor{"anchor: resample only (identity)"},
      translation{"translation only + resample"}, affine{"rigid+affine + resample"};
  const Matrix4 identity{{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}};
  int nx = 0, ny = 0, nz = 0;
  for (uint64_t seed : seeds) {
    phantom::FollowUpOptions fo;
    fo.kind = kind;
    fo.seed = seed;
    fo.changes = {phantom::Change::kNew};
    auto pair = phantom::MakeFollowUpPair(fo);
    if (!pair.ok()) {
      std::fprintf(stderr, "prior bench: %s\n", std::string(pair.status().message()).c_str());
      return 1;
    }
    const Volume current = VolumeOf(pair->current), prior = VolumeOf(pair->prior);
    nx = current.nx, ny = current.ny, nz = current.nz;
    const auto measure = [&](Row& row, const RegistrationOptions* options) {
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = CpuSeconds();
        Matrix4 m = identity;
        double residual = 0;
        if (options != nullptr) {
          auto result = parallax::inference::Register(current, prior, *options);
          if (!result.ok()) {
            std::fprintf(stderr, "prior bench: %s\n", std::string(result.status().message()).c_str());
            std::exit(1);
          }
          m = result->current_to_prior;
          residual = result->residual;
          row.iterations = result->iterations;
        }
        auto moved = parallax::inference::Resample(prior, m, current, 0, threads);
        if (!moved.ok()) {
          std::fprintf(stderr, "prior bench: %s\n", std::string(moved.status().message()).c_str());
          std::exit(1);
        }
        row.seconds.push_back(Seconds(t0));
        row.cpu_seconds.push_back(CpuSeconds() - c0);
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
    if (seed == seeds.front()) {  // untimed: LibTorch's first calls set up its thread pool and allocator
      auto warm = parallax::inference::Register(current, prior, base);
      if (warm.ok()) (void)parallax::inference::Resample(prior, warm->current_to_prior, current, 0, threads);
    }
    measure(anchor, nullptr);
    measure(full, &base);
    measure(translation, &t);
    measure(affine, &a);
  }

  const double anchor_s = Median(anchor.seconds);
  std::printf(
      "\nPrior-study registration: %s %dx%dx%d, %zu pair(s) (seeds %s), %d thread(s), %d run(s) each; "
      "levels %d, finest %.1f mm\n",
      kind.c_str(), nx, ny, nz, seeds.size(), seeds_text.c_str(), threads, repeats, base.levels,
      base.finest_spacing_mm);
  std::printf("%-36s %9s %9s %9s %9s %11s %11s %9s  %s\n", "measure", "median s", "min s", "max s", "cpu s",
              "err mean mm", "err max mm", "residual", "vs goal / anchor");
  for (const Row* row : {&full, &anchor, &translation, &affine}) {
    const double med = Median(row->seconds);
    const double lo = *std::min_element(row->seconds.begin(), row->seconds.end());
    const double hi = *std::max_element(row->seconds.begin(), row->seconds.end());
    const double err_mean = Median(row->mean_error);
    const double err_max = *std::max_element(row->max_error.begin(), row->max_error.end());
    double residual = 0;
    for (double r : row->residual) residual += r / static_cast<double>(row->residual.size());
    char note[160];
    std::snprintf(note, sizeof note, "%.2f x goal (%.1f s), %.1f x anchor", med / goal_s, goal_s, med / anchor_s);
    std::printf("%-36s %9.3f %9.3f %9.3f %9.3f %11.2f %11.2f %9.4f  %s\n", row->name.c_str(), med, lo, hi,
                Median(row->cpu_seconds), err_mean, err_max, residual, note);
  }
  std::printf(
      "median/min/max s: wall time per pair and run; cpu s: median CPU time (all threads) per run, "
      "wall x threads when the cores were free.\n");
  std::printf(
      "err: distance between where the true shift and the estimate map the current study's foreground "
      "points (median over pairs of the mean; max over pairs of the max). Anchor err = no registration.\n");
  return 0;
}
