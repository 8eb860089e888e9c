// Prints the quality gate's raw measures on phantom studies with and
// without each defect, one line per study, to set the thresholds from data:
//   parallax-quality-calibrate chest|head FIRST_SEED LAST_SEED [DIFFICULTY] [SIZE]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "measures.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "phantom_pixels.h"

namespace pq = parallax::quality;
namespace pp = parallax::phantom;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s chest|head FIRST LAST [DIFFICULTY] [SIZE]\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  const int first = std::atoi(argv[2]), last = std::atoi(argv[3]);
  const double difficulty = argc > 4 ? std::atof(argv[4]) : 0.5;
  const int size = argc > 5 ? std::atoi(argv[5]) : (kind == "chest" ? 512 : 256);
  using Clock = std::chrono::steady_clock;
  if (kind == "chest") {
    std::printf("kind\tseed\tdiff\tdefect\trange\tclip\tnoise\tsnr\tsharp_min\tsharp_max\ttilt\ttilt_rows\tms\n");
    for (int seed = first; seed <= last; ++seed) {
      for (std::string defect : {"none", "rotation", "motion_blur", "underexposure", "noise"}) {
        pp::ChestXrayOptions o;
        o.seed = seed;
        o.size = size;
        o.difficulty = difficulty;
        if (defect != "none") o.defects = {defect};
        const pp::Study st = pp::MakeChestXray(o);
        const auto im = pq::ToPixelImage(st.series[0].images[0], st.series[0].info);
        const auto t0 = Clock::now();
        const auto m = pq::MeasureRadiograph(im, 0, true);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::printf("chest\t%d\t%.2f\t%s\t%.3f\t%.4f\t%.2f\t%.1f\t%.4f\t%.4f\t%.2f\t%d\t%.1f\n", seed, difficulty,
                    defect.c_str(), m.range_fraction, m.clipped_fraction, m.noise_sd, m.snr, m.sharpness_min,
                    m.sharpness_max, m.tilt_deg, m.tilt_rows, ms);
        std::fflush(stdout);
      }
    }
  } else {
    std::printf("kind\tseed\tdiff\tdefect\tgap\tlow_end\thigh_end\tmin_rel\tmin_rel_slice\tnoise\tms\n");
    for (int seed = first; seed <= last; ++seed) {
      for (std::string defect : {"none", "motion_blur", "noise", "missing_slices", "truncated"}) {
        pp::HeadCtOptions o;
        o.seed = seed;
        o.size = size;
        o.difficulty = difficulty;
        if (defect != "none" && defect != "truncated") o.defects = {defect};
        const pp::Study st = pp::MakeHeadCt(o);
        auto v = pq::ToVolume(st);
        if (defect == "truncated") {  // the vertex cut off: drop the top 20% of slices
          const size_t keep = v.slices.size() * 4 / 5;
          v.slices.resize(keep);
          v.positions_mm.resize(keep);
        }
        const auto t0 = Clock::now();
        const auto m = pq::MeasureVolume(v.slices, v.positions_mm, true, -300);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::printf("head\t%d\t%.2f\t%s\t%.2f\t%.3f\t%.3f\t%.3f\t%d\t%.2f\t%.1f\n", seed, difficulty, defect.c_str(),
                    m.max_gap_ratio, m.lowest_end_area_fraction, m.highest_end_area_fraction,
                    m.min_relative_sharpness, m.min_relative_sharpness_slice, m.noise_sd, ms);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
