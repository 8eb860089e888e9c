// parallax-bench-inference: batch-1 latency and batched throughput of every
// model of a model directory, loaded through the service's own code path
// (ParseModelManifest + Model::Load, frozen by default) and run through
// Model::Logits. The C++ half of scripts/bench/inference; its Python
// counterpart is scripts/bench/inference_python.py, which prints the same
// JSON lines for the same files, inputs and thread counts.
//
//   parallax-bench-inference [--models DIR] [--only ID] [--threads N]
//       [--repeats R] [--latency-repeats R] [--warmup W] [--batch B]
//       [--no-freeze] [--no-optimize] [--concurrent K] [--caller load|worker]
//
//   --threads N      LoadOptions::intra_op_threads (0 = LibTorch's default)
//   --batch B        items per throughput call (e.g. the 32 slices of a study)
//   --concurrent K   K threads each make the throughput calls at once (the
//                    service serving K studies); reports aggregate items/s
//   --caller worker  make the timed calls from a thread other than the one
//                    that ran Model::Load, as a service's RPC threads do
//                    (default: the loading thread)
//
// One JSON line per (model, mode) on stdout:
//   {"side":"cpp","variant":"frozen"|"plain","model":ID,"mode":"latency"|"throughput",
//    "batch":B,"threads":N,"concurrent":K,"caller":..., "repeats":R,"warmup":W,"load_ms":..,
//    "median_ms":..,"min_ms":..,"max_ms":..,"p10_ms":..,"p90_ms":..,
//    "items_per_s":..,"cpu_per_wall":..,"logits_sum":..,"logits_head":[..]}
// Times are per call; items_per_s = batch / median call time (with
// --concurrent K: all items of all threads / wall time of the whole run).
// cpu_per_wall is process CPU time / wall time over the timed calls: about
// the number of cores the calls kept busy.
//
// The input is the deterministic sequence Model::Load probes with (32-bit LCG
// from 0x9E3779B9), generated here and in the Python script alike.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include "parallax/inference/model.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/inference/tensor.h"

namespace fs = std::filesystem;
namespace inf = parallax::inference;

namespace {

struct Options {
  std::string models = "/work/main/models";
  std::string only;
  int threads = 1;
  int repeats = 10;
  int latency_repeats = 30;
  int warmup = 3;
  int batch = 32;
  bool freeze = true;
  bool optimize = true;  // LoadOptions::optimize_for_inference
  int concurrent = 1;
  bool worker_caller = false;
};

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "parallax-bench-inference: %s\n", error.c_str());
  std::fputs(
      "usage: parallax-bench-inference [--models DIR] [--only ID] [--threads N] [--repeats R]\n"
      "         [--latency-repeats R] [--warmup W] [--batch B] [--no-freeze] [--no-optimize] [--concurrent K]\n"
      "         [--caller load|worker]\n",
      stderr);
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "parallax-bench-inference: %s\n", message.c_str());
  return 1;
}

// The LCG of Model::Load's probe input: values in [0, 1).
inf::Tensor LcgInput(std::vector<int64_t> shape) {
  inf::Tensor t;
  t.shape = std::move(shape);
  t.data.resize(static_cast<size_t>(inf::NumElements(t.shape)));
  uint32_t state = 0x9E3779B9u;
  for (float& v : t.data) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.size() == 1) return sorted[0];
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

// `v` rounded to `digits` decimals (for readable JSON).
double Round(double v, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

// One row: `warmup` untimed calls, then `repeats` timed calls per thread, on
// `concurrent` threads at once. Returns the JSON line (without identity keys),
// or an error.
absl::StatusOr<nlohmann::json> Measure(const inf::Model& model, const inf::Tensor& input, int warmup,
                                       int repeats, int concurrent) {
  std::vector<std::vector<double>> times(static_cast<size_t>(concurrent));
  std::vector<absl::Status> errors(static_cast<size_t>(concurrent));
  std::vector<float> last;
  auto worker = [&](int index, bool warm) {
    for (int i = 0; warm && i < warmup; ++i) {
      absl::StatusOr<std::vector<float>> out = model.Logits(input);
      if (!out.ok()) { errors[static_cast<size_t>(index)] = out.status(); return; }
    }
    for (int i = 0; i < repeats; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      absl::StatusOr<std::vector<float>> out = model.Logits(input);
      auto t1 = std::chrono::steady_clock::now();
      if (!out.ok()) { errors[static_cast<size_t>(index)] = out.status(); return; }
      times[static_cast<size_t>(index)].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (index == 0) last = *std::move(out);
    }
  };
  double wall_ms = 0, cpu_s = 0;
  if (concurrent == 1) {
    // Warm up outside the CPU/wall window.
    for (int i = 0; i < warmup; ++i) {
      absl::StatusOr<std::vector<float>> out = model.Logits(input);
      if (!out.ok()) return out.status();
    }
    double c0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    worker(0, false);
    wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    cpu_s = CpuSeconds() - c0;
  } else {
    // Every thread warms up, then all start timing together.
    double c0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int k = 0; k < concurrent; ++k) pool.emplace_back(worker, k, true);
    for (std::thread& t : pool) t.join();
    wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    cpu_s = CpuSeconds() - c0;
  }
  for (const absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  std::vector<double> all;
  for (const auto& v : times) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  const double batch = static_cast<double>(input.shape[0]);
  double median = Percentile(all, 0.5);
  double items_per_s = batch * 1000.0 / median;
  if (concurrent > 1) {
    // Aggregate over the whole run (warm-up included: the threads overlap).
    items_per_s = batch * static_cast<double>(all.size() + static_cast<size_t>(warmup * concurrent)) *
                  1000.0 / wall_ms;
  }
  double sum = 0;
  for (float v : last) sum += v;
  nlohmann::json head = nlohmann::json::array();
  for (size_t i = 0; i < std::min<size_t>(4, last.size()); ++i) head.push_back(last[i]);
  return nlohmann::json{
      {"repeats", repeats},
      {"warmup", warmup},
      {"median_ms", Round(median, 3)},
      {"min_ms", Round(all.front(), 3)},
      {"max_ms", Round(all.back(), 3)},
      {"p10_ms", Round(Percentile(all, 0.1), 3)},
      {"p90_ms", Round(Percentile(all, 0.9), 3)},
      {"items_per_s", Round(items_per_s, 2)},
      {"cpu_per_wall", Round(cpu_s * 1000.0 / wall_ms, 2)},
      {"logits_sum", sum},
      {"logits_head", head},
  };
}

absl::StatusOr<std::string> ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return absl::NotFoundError("cannot read " + path.string());
  return ss.str();
}

bool ParseInt(const std::string& text, int min, int* out) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min || v > 1 << 20) return false;
  *out = static_cast<int>(v);
  return true;
}

// Runs `fn` on the calling thread, or on a fresh thread when `worker`.
void RunOn(bool worker, const std::function<void()>& fn) {
  if (!worker) {
    fn();
    return;
  }
  std::thread t(fn);
  t.join();
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--no-optimize") {
      opt.optimize = false;
      continue;
    }
    if (arg == "--no-freeze") {
      opt.freeze = false;
    } else if (arg == "--models") {
      if (!value(&opt.models)) return Usage("--models needs a directory");
    } else if (arg == "--only") {
      if (!value(&opt.only)) return Usage("--only needs a model id");
    } else if (arg == "--caller") {
      if (!value(&v) || (v != "load" && v != "worker")) return Usage("--caller is load or worker");
      opt.worker_caller = v == "worker";
    } else if (arg == "--threads" || arg == "--repeats" || arg == "--latency-repeats" || arg == "--warmup" ||
               arg == "--batch" || arg == "--concurrent") {
      int* target = arg == "--threads"           ? &opt.threads
                    : arg == "--repeats"         ? &opt.repeats
                    : arg == "--latency-repeats" ? &opt.latency_repeats
                    : arg == "--warmup"          ? &opt.warmup
                    : arg == "--batch"           ? &opt.batch
                                                 : &opt.concurrent;
      int min = (arg == "--threads" || arg == "--warmup") ? 0 : 1;
      if (!value(&v) || !ParseInt(v, min, target)) {
        return Usage(arg + " needs an integer >= " + std::to_string(min));
      }
    } else {
      return Usage("unknown argument " + arg);
    }
  }

  std::error_code ec;
  if (!fs::is_directory(opt.models, ec)) return Fail("model directory " + opt.models + " does not exist");
  std::vector<fs::path> manifests;
  for (const fs::directory_entry& e : fs::directory_iterator(opt.models, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") manifests.push_back(e.path());
  }
  std::sort(manifests.begin(), manifests.end());

  int ran = 0;
  for (const fs::path& json_path : manifests) {
    fs::path pt_path = json_path;
    pt_path.replace_extension(".pt");
    if (!fs::is_regular_file(pt_path, ec)) continue;  // not a model manifest pair
    absl::StatusOr<std::string> text = ReadText(json_path);
    if (!text.ok()) return Fail(std::string(text.status().message()));
    absl::StatusOr<inf::ModelManifest> manifest = inf::ParseModelManifest(*text);
    if (!manifest.ok()) return Fail("manifest " + json_path.string() + ": " + std::string(manifest.status().message()));
    if (!opt.only.empty() && manifest->id != opt.only) continue;
    ++ran;

    // Model::Load runs on the main thread (it sets the intra-op thread
    // count there); --caller chooses where the calls run.
    std::unique_ptr<inf::Model> model;
    auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<inf::Model>> loaded =
        inf::Model::Load(pt_path.string(), *manifest, inf::LoadOptions{opt.threads, opt.freeze, opt.optimize});
    double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
    model = *std::move(loaded);

    struct Row {
      const char* mode;
      int batch;
      int repeats;
      int concurrent;
    };
    const Row rows[] = {{"latency", 1, opt.latency_repeats, 1},
                        {"throughput", opt.batch, opt.repeats, opt.concurrent}};
    for (const Row& row : rows) {
      inf::Tensor input = LcgInput(manifest->input.Shape(row.batch));
      absl::StatusOr<nlohmann::json> line = absl::InternalError("not run");
      RunOn(opt.worker_caller, [&] { line = Measure(*model, input, opt.warmup, row.repeats, row.concurrent); });
      if (!line.ok()) return Fail(std::string(line.status().message()));
      nlohmann::json out{
          {"side", "cpp"},
          {"variant", !opt.freeze ? "plain" : opt.optimize ? "optimized" : "frozen"},
          {"model", manifest->id},
          {"mode", row.mode},
          {"batch", row.batch},
          {"input_shape", input.shape},
          {"threads", opt.threads},
          {"concurrent", row.concurrent},
          {"caller", opt.worker_caller ? "worker" : "load"},
          {"load_ms", Round(load_ms, 1)},
      };
      out.update(*line);
      std::printf("%s\n", out.dump().c_str());
      std::fflush(stdout);
    }
  }
  if (ran == 0) {
    return Fail("no model" + (opt.only.empty() ? std::string() : " " + opt.only) +
                " (<name>.json with <name>.pt) in " + opt.models);
  }
  return 0;
}
