// parallax-explain-profile: times ExplainabilityService::Run per stage on
// the two phantom studies of the Grad-CAM latency issue (a pneumothorax chest
// film and a subdural head CT), with the request the triage worker sends
// (include_png, a Secondary Capture, the CT slices at or above the operating
// point, at most 16), and prints a digest of each response so two builds can
// be compared for identical results.
//
//   parallax-explain-profile [--models DIR] [--runs N] [--threads N] [--batch N] [--render-threads N]
//
// --threads: LibTorch intra-op threads; --batch, --render-threads: the
// ExplainabilityServiceOptions of the same names.
//
// Reports the first call of the process (cold) and the median of N warm
// calls, plus the model load time. Not a test: it never fails on time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <zlib.h>

#include "explainability_service.h"
#include "file_study_source.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"

namespace {

namespace fs = std::filesystem;
namespace ph = parallax::phantom;
namespace pb = parallax::explainability::v1;
namespace xp = parallax::explainability;
using Clock = std::chrono::steady_clock;

struct Written {
  std::string study_uid;
  std::string series_uid;
  std::vector<std::string> files;
};

Written Write(const ph::Study& study, uint64_t seed, const fs::path& dir) {
  parallax::dicom::StudyIdentity id;
  id.uid_seed = seed;
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.string());
  if (!written.ok()) {
    std::fprintf(stderr, "cannot write the phantom: %s\n", std::string(written.status().message()).c_str());
    std::exit(1);
  }
  return {written->study_instance_uid, written->series_instance_uids.front(), written->files};
}

// CRC-32 of a PNG's inflated image data: equal for equal pixels whatever the
// zlib level.
uint32_t PixelCrc(const std::string& png) {
  std::string idat;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(png.data() + at);
    const uint32_t length = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    if (std::memcmp(p + 4, "IDAT", 4) == 0) idat.append(png, at + 8, length);
    at += 12 + length;
  }
  std::vector<unsigned char> raw(1 << 26);
  uLongf size = raw.size();
  if (uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK) return 0;
  return static_cast<uint32_t>(crc32(0L, raw.data(), static_cast<uInt>(size)));
}

void PrintDigest(const pb::ExplainResponse& r) {
  std::printf("  digest: peak %.9g laterality %d zone \"%s\"", r.peak_activation(), r.laterality(), r.zone().c_str());
  if (r.has_region()) {
    const pb::Region& g = r.region();
    std::printf(" region %d,%d %dx%d slices %d-%d src %s", g.x(), g.y(), g.width(), g.height(), g.first_slice(),
                g.last_slice(), g.source_sop_instance_uid().c_str());
    std::printf(" centroid %.6f,%.6f", r.centroid().column(), r.centroid().row());
  }
  if (r.has_area_cm2()) std::printf(" area %.6f cm2", r.area_cm2());
  if (r.has_volume_ml()) std::printf(" volume %.6f mL", r.volume_ml());
  std::printf("\n");
  for (const pb::Heatmap& h : r.heatmaps()) {
    std::printf("  heatmap %s png %zu B (pixels %08x) overlay %zu B (pixels %08x)\n",
                h.source_sop_instance_uid().c_str(), h.png().size(), PixelCrc(h.png()), h.overlay_png().size(),
                PixelCrc(h.overlay_png()));
  }
  if (r.has_dicom_evidence()) {
    std::printf("  secondary capture %zu B, %s\n", r.dicom_evidence().part10().size(),
                r.dicom_evidence().sop_instance_uid().c_str());
  }
}

void PrintTimings(const char* what, const xp::ExplainTimings& t) {
  std::printf("  %-6s total %7.1f | read %6.1f prepare %6.1f grad-cam %7.1f (%d slices) resample %6.1f "
              "describe %6.1f png %6.1f sc %6.1f  [ms]\n",
              what, t.total_ms, t.read_ms, t.prepare_ms, t.grad_cam_ms, t.slices_explained, t.resample_ms,
              t.describe_ms, t.png_ms, t.secondary_capture_ms);
}

void Profile(const char* name, const std::vector<xp::ExplainableModel>& models, const Written& w,
             const pb::ExplainRequest& request, int runs, int batch, int render_threads) {
  parallax::ingest_client::testing::FileStudySource source(w.files);
  xp::ExplainabilityServiceOptions options;
  options.grad_cam_batch_size = batch;
  options.render_threads = render_threads;
  xp::ExplainabilityService service(models, source, options, nullptr);
  std::printf("%s (%d slices asked for)\n", name, request.sop_instance_uids_size());
  std::vector<xp::ExplainTimings> all;
  pb::ExplainResponse first;
  for (int i = 0; i <= runs; ++i) {
    xp::ExplainTimings t;
    auto r = service.Run(request, std::chrono::system_clock::now() + std::chrono::minutes(5), &t);
    if (!r.ok()) {
      std::fprintf(stderr, "%s: Run failed: %s\n", name, std::string(r.status().message()).c_str());
      std::exit(1);
    }
    if (i == 0) {
      first = *r;
      PrintTimings("cold", t);
    } else {
      all.push_back(t);
    }
  }
  if (!all.empty()) {
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.total_ms < b.total_ms; });
    PrintTimings("warm", all[all.size() / 2]);
    std::printf("  png bytes in response: %zu\n", all.front().png_bytes);
  }
  PrintDigest(first);
}

}  // namespace

int main(int argc, char** argv) {
  std::string models_dir = "models";
  int runs = 3, threads = 1, batch = xp::ExplainabilityServiceOptions{}.grad_cam_batch_size,
      render_threads = xp::ExplainabilityServiceOptions{}.render_threads;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--models") == 0 && i + 1 < argc) models_dir = argv[++i];
    else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--render-threads") == 0 && i + 1 < argc) render_threads = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: parallax-explain-profile [--models DIR] [--runs N] [--threads N] [--batch N] [--render-threads N]\n");
      return 2;
    }
  }
  const auto load_started = Clock::now();
  auto models = xp::LoadExplainableModels(models_dir, "cpu", threads);
  if (!models.ok()) {
    std::fprintf(stderr, "models: %s\n", std::string(models.status().message()).c_str());
    return 1;
  }
  std::printf("models loaded in %.0f ms (intra-op threads %d)\n",
              std::chrono::duration<double, std::milli>(Clock::now() - load_started).count(), threads);

  std::string dir_template = (fs::temp_directory_path() / "parallax-explain-profile-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path tmp_path = dir_template;
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } remove{tmp_path};
  {
    ph::ChestXrayOptions o;
    o.seed = 900011;
    o.difficulty = 0.05;
    o.findings = {"Pneumothorax"};
    const Written w = Write(ph::MakeChestXray(o), 900011, tmp_path / "cxr");
    pb::ExplainRequest r;
    r.mutable_study()->set_study_instance_uid(w.study_uid);
    r.set_series_instance_uid(w.series_uid);
    r.mutable_model()->set_model_id("parallax.cxr");
    r.set_finding_label("Pneumothorax");
    r.set_finding_id("f-profile");
    r.set_include_png(true);
    r.set_dicom_evidence(pb::DICOM_EVIDENCE_TYPE_SECONDARY_CAPTURE);
    Profile("chest film 1024x1024, Pneumothorax", *models, w, r, runs, batch, render_threads);
  }
  {
    ph::HeadCtOptions o;
    o.seed = 900003;
    o.difficulty = 0.05;
    o.findings = {"Subdural"};
    const Written w = Write(ph::MakeHeadCt(o), 900003, tmp_path / "ct");
    const std::string label = "Intracranial haemorrhage";
    // The slices inference calls positive, as the triage worker asks for them.
    const xp::ExplainableModel* ct = nullptr;
    for (const auto& m : *models) {
      if (m.model->manifest().id == "parallax.headct") ct = &m;
    }
    if (ct == nullptr) {
      std::fprintf(stderr, "no parallax.headct model in %s\n", models_dir.c_str());
      return 1;
    }
    std::vector<parallax::inference::StudyInstance> instances(w.files.size());
    for (size_t i = 0; i < w.files.size(); ++i) instances[i].path = w.files[i];
    auto analysis = ct->analyzer->Analyze(instances);
    if (!analysis.ok() || !analysis->applies) {
      std::fprintf(stderr, "head CT analysis failed\n");
      return 1;
    }
    pb::ExplainRequest r;
    r.mutable_study()->set_study_instance_uid(w.study_uid);
    r.set_series_instance_uid(w.series_uid);
    r.mutable_model()->set_model_id("parallax.headct");
    r.set_finding_label(label);
    r.set_finding_id("f-profile");
    r.set_include_png(true);
    r.set_dicom_evidence(pb::DICOM_EVIDENCE_TYPE_SECONDARY_CAPTURE);
    for (const auto& l : analysis->labels) {
      if (l.name != label) continue;
      const auto& uids = analysis->series.front().sop_instance_uids;
      for (size_t k = 0; k < l.item_probabilities.size() && r.sop_instance_uids_size() < 16; ++k) {
        if (l.item_probabilities[k] >= l.operating_point) r.add_sop_instance_uids(uids[k]);
      }
    }
    Profile("head CT 32x512x512, Subdural", *models, w, r, runs, batch, render_threads);
  }
  return 0;
}
