#include "explainability_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>
#include <thread>
#include <unordered_set>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "parallax/dicom/evidence_writer.h"
#include "parallax/evidence/evidence.h"
#include "parallax/evidence/lesion_size.h"
#include "parallax/evidence/overlay.h"
#include "parallax/evidence/png.h"
#include "parallax/inference/model_directory.h"
#include "parallax/ingest_client/manifest_headers.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::explainability {
namespace {

namespace ev = parallax::evidence;
namespace pb = parallax::explainability::v1;
using Clock = std::chrono::steady_clock;

bool HasAny(const std::vector<std::string>& values, std::initializer_list<const char*> wanted) {
  for (const std::string& v : values) {
    for (const char* w : wanted) {
      if (v == w) return true;
    }
  }
  return false;
}

ev::BodyRegion RegionOf(const inference::ModelManifest& m) {
  const auto& mod = m.applies_to.modality;
  const auto& part = m.applies_to.body_part;
  const bool head = HasAny(part, {"HEAD", "BRAIN", "SKULL"});
  if (HasAny(mod, {"CT"}) && head) return ev::BodyRegion::kHeadCt;
  if (HasAny(mod, {"MR"}) && head) return ev::BodyRegion::kBrainMr;
  if (HasAny(part, {"CHEST", "THORAX", "LUNG"})) return ev::BodyRegion::kChestFilm;
  if (HasAny(mod, {"DX", "CR"})) return ev::BodyRegion::kBoneFilm;
  return ev::BodyRegion::kOther;
}

common::v1::Laterality ToProto(ev::Side side) {
  switch (side) {
    case ev::Side::kLeft: return common::v1::LATERALITY_LEFT;
    case ev::Side::kRight: return common::v1::LATERALITY_RIGHT;
    case ev::Side::kBilateral: return common::v1::LATERALITY_BILATERAL;
    case ev::Side::kMidline: return common::v1::LATERALITY_MIDLINE;
    default: return common::v1::LATERALITY_UNSPECIFIED;
  }
}


// The geometry of the analysed (first-role) volume, from its headers.
ev::ImageGeometry GeometryOf(const std::vector<dicom::InstanceHeader>& headers,
                             const inference::AnalysedSeries& series, int rows, int columns) {
  ev::ImageGeometry g;
  g.rows = rows;
  g.columns = columns;
  g.slices = static_cast<int>(headers.size());
  const dicom::InstanceHeader& first = headers.front();
  if (first.pixel_spacing.size() == 2 && first.pixel_spacing[0] > 0 && first.pixel_spacing[1] > 0) {
    g.pixel_spacing_mm = std::array<double, 2>{first.pixel_spacing[0], first.pixel_spacing[1]};
  }
  if (first.image_orientation_patient.size() == 6) {
    std::array<double, 6> o{};
    std::copy(first.image_orientation_patient.begin(), first.image_orientation_patient.end(), o.begin());
    g.orientation = o;
  }
  bool all_positions = true;
  for (const dicom::InstanceHeader& h : headers) all_positions = all_positions && h.image_position_patient.size() == 3;
  if (all_positions) {
    for (const dicom::InstanceHeader& h : headers) {
      g.positions.push_back({h.image_position_patient[0], h.image_position_patient[1], h.image_position_patient[2]});
    }
  }
  if (!first.patient_orientation.empty()) {
    g.patient_orientation = absl::StrSplit(first.patient_orientation, '\\');
  }
  if (series.slice_spacing_mm > 0) g.slice_spacing_mm = series.slice_spacing_mm;
  g.laterality_attribute = first.laterality;
  return g;
}

// Whether the size reported is the lesion's own (MeasureLesionAtPeak)
// rather than the Grad-CAM region's: every brain MR finding (focal lesions
// that stand out by their signal) and the focal chest film findings.
bool MeasuresLesion(ev::BodyRegion region, const std::string& label) {
  if (region == ev::BodyRegion::kBrainMr) return true;
  if (region == ev::BodyRegion::kChestFilm) return label == "Nodule" || label == "Mass" || label == "Lung Lesion";
  return false;
}

// Adds the time since the last lap to a stage of ExplainTimings; sets the
// total when it goes out of scope (every return of Run()).
class StageTimer {
 public:
  explicit StageTimer(ExplainTimings& t) : t_(t), started_(Clock::now()), lap_(started_) {}
  ~StageTimer() { t_.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count(); }
  void Lap(double& stage_ms) {
    const auto now = Clock::now();
    stage_ms += std::chrono::duration<double, std::milli>(now - lap_).count();
    lap_ = now;
  }

 private:
  ExplainTimings& t_;
  Clock::time_point started_, lap_;
};

// Runs fn(0) .. fn(n - 1) on up to `threads` threads (the caller's among
// them); each index once.
template <typename Fn>
void ParallelFor(size_t n, int threads, const Fn& fn) {
  const size_t workers = std::min(n, static_cast<size_t>(std::max(1, threads)));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (std::thread& th : pool) th.join();
}

}  // namespace

struct ExplainabilityService::Metrics {
  prometheus::Family<prometheus::Counter>& calls;
  prometheus::Family<prometheus::Histogram>& seconds;
  explicit Metrics(prometheus::Registry& r)
      : calls(prometheus::BuildCounter()
                  .Name("parallax_explainability_explain_calls_total")
                  .Help("Explain calls by model and result code")
                  .Register(r)),
        seconds(prometheus::BuildHistogram()
                    .Name("parallax_explainability_explain_seconds")
                    .Help("Time of one Explain call, by model")
                    .Register(r)) {}
};

// The batch the warm-up runs besides one item: ExplainabilityServiceOptions'
// default grad_cam_batch_size (the triage worker asks for at most 16 slices).
constexpr int kWarmUpBatch = 16;

absl::StatusOr<std::vector<ExplainableModel>> LoadExplainableModels(const std::string& dir,
                                                                   const std::string& device, int intra_op_threads) {
  inference::LoadOptions opts;
  opts.freeze = false;
  opts.optimize_for_inference = false;
  opts.device = device;
  opts.intra_op_threads = intra_op_threads;
  auto models = inference::LoadModelDirectory(dir, opts);
  if (!models.ok()) return models.status();
  std::vector<ExplainableModel> out;
  for (auto& m : *models) {
    // Warm-up: the unfrozen module's first autograd call through head()
    // compiles its execution plan. A failure here would fail the request the
    // same way, with the same message, so it is only logged.
    // One item and a full batch: the JIT specialises its plan per shape.
    const inference::InputSpec& spec = m->manifest().input;
    for (int64_t n : {int64_t{1}, int64_t{kWarmUpBatch}}) {
      if (spec.depth != 1) break;
      inference::Tensor blank;
      blank.shape = spec.Shape(n);
      blank.data.assign(static_cast<size_t>(inference::NumElements(blank.shape)), 0.0f);
      absl::StatusOr<std::vector<inference::Heatmap>> h = inference::GradCamBatch(*m, blank, 0);
      if (!h.ok()) {
        log::Warning("Grad-CAM warm-up failed", {{"model", m->manifest().id}, {"error", std::string(h.status().message())}});
        break;
      }
    }
    ExplainableModel e;
    e.analyzer = std::make_unique<inference::StudyAnalyzer>(*m);
    e.model = std::move(m);
    out.push_back(std::move(e));
  }
  return out;
}

ExplainabilityService::ExplainabilityService(const std::vector<ExplainableModel>& models,
                                             ingest_client::StudySource& source,
                                             ExplainabilityServiceOptions options, prometheus::Registry* registry)
    : models_(models),
      source_(source),
      options_(options),
      limit_(options_.max_concurrent),
      metrics_(registry != nullptr ? std::make_unique<Metrics>(*registry) : nullptr) {}

ExplainabilityService::~ExplainabilityService() = default;

const ExplainableModel* ExplainabilityService::Find(const std::string& model_id) const {
  for (const ExplainableModel& m : models_) {
    if (m.model->manifest().id == model_id) return &m;
  }
  return nullptr;
}

absl::StatusOr<pb::ExplainResponse> ExplainabilityService::Run(const pb::ExplainRequest& request,
                                                               ingest_client::Deadline deadline,
                                                               ExplainTimings* timings) {
  ExplainTimings unused;
  ExplainTimings& t = timings != nullptr ? *timings : unused;
  t = {};
  StageTimer timer(t);
  const std::string& study_uid = request.study().study_instance_uid();
  if (study_uid.empty()) return absl::InvalidArgumentError("ExplainRequest.study.study_instance_uid is empty");
  if (request.series_instance_uid().empty()) return absl::InvalidArgumentError("ExplainRequest names no series");
  if (request.model().model_id().empty()) return absl::InvalidArgumentError("ExplainRequest names no model");
  if (request.finding_label().empty()) return absl::InvalidArgumentError("ExplainRequest names no finding label");
  const double threshold = request.region_threshold() == 0 ? 0.5 : request.region_threshold();
  if (!(threshold > 0 && threshold < 1)) {
    return absl::InvalidArgumentError("region_threshold must lie in (0, 1) (0 means the default 0.5)");
  }
  inference::CamMethod method = options_.default_method;
  switch (request.method()) {
    case pb::EXPLANATION_METHOD_UNSPECIFIED: break;
    case pb::EXPLANATION_METHOD_GRAD_CAM: method = inference::CamMethod::kGradCam; break;
    case pb::EXPLANATION_METHOD_HIRES_CAM: method = inference::CamMethod::kHiResCam; break;
    case pb::EXPLANATION_METHOD_LAYER_CAM: method = inference::CamMethod::kLayerCam; break;
    default: return absl::UnimplementedError("Grad-CAM++ is not implemented; ask for Grad-CAM, HiResCAM or LayerCAM");
  }
  const ExplainableModel* m = Find(request.model().model_id());
  if (m == nullptr) return absl::NotFoundError(absl::StrCat("model ", request.model().model_id(), " is not loaded"));
  const inference::ModelManifest& manifest = m->model->manifest();
  if (!request.model().model_version().empty() && request.model().model_version() != manifest.version) {
    return absl::FailedPreconditionError(absl::StrCat("model ", manifest.id, " version ", request.model().model_version(),
                                                      " was asked for but ", manifest.version, " is loaded"));
  }
  if (!request.model().device_uid().empty() && request.model().device_uid() != manifest.device_uid) {
    return absl::FailedPreconditionError(absl::StrCat("model ", manifest.id, " device UID ", request.model().device_uid(),
                                                      " differs from the loaded ", manifest.device_uid,
                                                      ": the finding came from another model"));
  }
  int label_index = -1;
  for (size_t i = 0; i < manifest.labels.size(); ++i) {
    if (manifest.labels[i].name == request.finding_label()) label_index = static_cast<int>(i);
  }
  if (label_index < 0) {
    return absl::NotFoundError(absl::StrCat("label \"", request.finding_label(), "\" is not one of model ",
                                            manifest.id, "'s labels"));
  }

  rpc::ConcurrencyLimit::Slot slot(limit_);
  if (!slot.acquired()) {
    return absl::ResourceExhaustedError(absl::StrCat("replica at capacity (", options_.max_concurrent,
                                                     " explanations running); retry"));
  }

  // Every image of the series (and of the model's other series): the model
  // sees the volume as inference did; only the requested slices are explained.
  absl::StatusOr<common::v1::StudyManifest> study = source_.GetStudy(study_uid, deadline);
  if (!study.ok()) return study.status();
  std::vector<std::string> uids;
  std::vector<std::string> series_uids = {request.series_instance_uid()};
  series_uids.insert(series_uids.end(), request.additional_series_instance_uids().begin(),
                     request.additional_series_instance_uids().end());
  for (const std::string& s : series_uids) {
    const common::v1::SeriesManifest* series = ingest_client::FindSeries(*study, s);
    if (series == nullptr) return absl::NotFoundError(absl::StrCat("series ", s, " is not part of study ", study_uid));
    for (const common::v1::InstanceManifest& i : series->instances()) {
      if (i.rows() > 0) uids.push_back(i.sop_instance_uid());
    }
  }
  absl::StatusOr<std::vector<std::string>> bytes =
      source_.ReadInstances(uids, deadline, options_.instance_read_parallelism);
  if (!bytes.ok()) return bytes.status();
  timer.Lap(t.read_ms);
  std::vector<inference::StudyInstance> instances(bytes->size());
  for (size_t i = 0; i < bytes->size(); ++i) instances[i].bytes = (*bytes)[i];
  absl::StatusOr<inference::PreparedStudy> prepared = m->analyzer->Prepare(instances);
  if (!prepared.ok()) return prepared.status();
  if (!prepared->analysis.applies) {
    return absl::FailedPreconditionError(absl::StrCat("model ", manifest.id, " does not apply to series ",
                                                      request.series_instance_uid(), ": ",
                                                      prepared->analysis.reason));
  }
  timer.Lap(t.prepare_ms);
  const inference::AnalysedSeries& analysed = prepared->analysis.series.front();
  const std::vector<dicom::PixelImage>& volume = prepared->volumes.front();
  const size_t slices = volume.size();
  const int rows = volume.front().rows, columns = volume.front().columns;

  // The slices to explain, in analysed order.
  std::vector<size_t> items;
  if (request.sop_instance_uids().empty()) {
    for (size_t k = 0; k < slices; ++k) items.push_back(k);
  } else {
    std::unordered_set<std::string> wanted(request.sop_instance_uids().begin(), request.sop_instance_uids().end());
    for (size_t k = 0; k < slices; ++k) {
      if (wanted.erase(analysed.sop_instance_uids[k])) items.push_back(k);
    }
    if (!wanted.empty()) {
      return absl::NotFoundError(absl::StrCat("instance ", *wanted.begin(), " is not an image of series ",
                                              request.series_instance_uid(), " as the model reads it"));
    }
  }
  if (static_cast<int>(items.size()) > options_.max_slices) {
    return absl::InvalidArgumentError(absl::StrCat(items.size(), " slices asked for; at most ", options_.max_slices,
                                                   " per request"));
  }

  // Grad-CAM per slice, each mapped back to the image; slices are put on one
  // scale (each map times its raw maximum) so the volume's peak is the
  // strongest evidence, not the last slice normalised.
  const size_t plane = static_cast<size_t>(rows) * columns;
  std::vector<float> heat(slices * plane, 0.0f);
  std::vector<float> raw_max(slices, 0.0f);
  std::vector<inference::Heatmap> maps(slices);
  float global_max = 0;
  // Up to grad_cam_batch_size slices per backward pass: the models treat
  // items independently, so each map is the one-slice map within rounding.
  const size_t batch = static_cast<size_t>(std::max(1, options_.grad_cam_batch_size));
  for (size_t first = 0; first < items.size(); first += batch) {
    if (std::chrono::system_clock::now() > deadline) {
      return absl::DeadlineExceededError("deadline passed during Grad-CAM");
    }
    const size_t count = std::min(batch, items.size() - first);
    inference::Tensor x;
    for (size_t i = first; i < first + count; ++i) {
      absl::StatusOr<inference::Tensor> one = prepared->Input(items[i], 1, manifest.input);
      if (!one.ok()) return one.status();
      if (x.shape.empty()) {
        x.shape = one->shape;
        x.data.reserve(one->data.size() * count);
      } else {
        ++x.shape[0];
      }
      x.data.insert(x.data.end(), one->data.begin(), one->data.end());
    }
    absl::StatusOr<std::vector<inference::Heatmap>> hs = inference::GradCamBatch(*m->model, x, label_index, method);
    if (!hs.ok()) return hs.status();
    for (size_t i = 0; i < count; ++i) maps[items[first + i]] = std::move((*hs)[i]);
    t.slices_explained += static_cast<int>(count);
  }
  timer.Lap(t.grad_cam_ms);
  for (size_t k : items) {
    const inference::Heatmap& h = maps[k];
    if (h.empty) continue;
    absl::StatusOr<std::vector<float>> up = ev::ResampleHeatmapToImage(h.values, h.height, h.width, rows, columns);
    if (!up.ok()) return up.status();
    std::copy(up->begin(), up->end(), heat.begin() + static_cast<std::ptrdiff_t>(k * plane));
    raw_max[k] = h.raw_max;
    global_max = std::max(global_max, h.raw_max);
  }

  pb::ExplainResponse response;
  response.mutable_model()->set_model_id(manifest.id);
  response.mutable_model()->set_model_version(manifest.version);
  response.mutable_model()->set_device_uid(manifest.device_uid);
  response.set_finding_label(request.finding_label());
  response.set_finding_id(request.finding_id());
  response.set_peak_activation(global_max);
  response.set_laterality(common::v1::LATERALITY_UNSPECIFIED);
  if (global_max <= 0) return response;  // no positive evidence on any explained slice
  for (size_t k = 0; k < slices; ++k) {
    const float scale = raw_max[k] / global_max;
    for (size_t i = 0; i < plane; ++i) heat[k * plane + i] *= scale;
  }
  timer.Lap(t.resample_ms);

  ev::EvidenceInput input;
  input.body_region = RegionOf(manifest);
  input.geometry = GeometryOf(prepared->headers.front(), analysed, rows, columns);
  input.heatmap = std::move(heat);
  input.image.reserve(slices * plane);
  for (const dicom::PixelImage& f : volume) input.image.insert(input.image.end(), f.values.begin(), f.values.end());
  absl::StatusOr<ev::Evidence> described = ev::DescribeEvidence(input, {.threshold = threshold});
  if (!described.ok()) return described.status();
  input.image = {};
  const std::vector<float>& heat_at_image = input.heatmap;  // the scaled maps, slices x rows x columns
  timer.Lap(t.describe_ms);
  const ev::Region& region = described->region;
  const size_t peak = static_cast<size_t>(region.peak_slice);

  pb::Region* r = response.mutable_region();
  r->set_source_sop_instance_uid(analysed.sop_instance_uids[peak]);
  r->set_x(region.min_column);
  r->set_y(region.min_row);
  r->set_width(region.max_column - region.min_column + 1);
  r->set_height(region.max_row - region.min_row + 1);
  r->set_first_slice(region.first_slice);
  r->set_last_slice(region.last_slice);
  pb::Centroid* c = response.mutable_centroid();
  c->set_column(region.centroid_column);
  c->set_row(region.centroid_row);
  c->set_source_sop_instance_uid(
      analysed.sop_instance_uids[static_cast<size_t>(std::lround(region.centroid_slice))]);
  if (region.centroid_patient_mm) {
    c->set_x_mm((*region.centroid_patient_mm)[0]);
    c->set_y_mm((*region.centroid_patient_mm)[1]);
    c->set_z_mm((*region.centroid_patient_mm)[2]);
  }
  response.set_laterality(ToProto(described->laterality));
  response.set_zone(described->zone);
  // Size. Where the finding is a focal lesion that stands out by its signal
  // (every brain MR label; a nodule, mass or lung lesion on a chest film),
  // the lesion itself is measured at the evidence's peak on the series that
  // shows it (evidence::MeasureLesionAtPeak): the Grad-CAM region is where
  // the model looked, not the lesion's outline. Not measurable -> no size.
  // Elsewhere (head CT, whose haemorrhage volume the inference service
  // measures; diffuse film findings) the region's size as before.
  if (MeasuresLesion(input.body_region, request.finding_label())) {
    std::vector<std::string> roles;
    for (const inference::AnalysedSeries& s : prepared->analysis.series) roles.push_back(s.role);
    size_t role = ev::MeasuringSeries(request.finding_label(), roles);
    // Another series is used only on the same grid as the heatmap's.
    if (role >= prepared->volumes.size() || prepared->volumes[role].size() != slices ||
        prepared->volumes[role].front().rows != rows || prepared->volumes[role].front().columns != columns) {
      role = 0;
    }
    std::vector<float> image;
    image.reserve(slices * plane);
    for (const dicom::PixelImage& f : prepared->volumes[role]) image.insert(image.end(), f.values.begin(), f.values.end());
    absl::StatusOr<ev::LesionSize> lesion = ev::MeasureLesionAtPeak(
        input.body_region, input.geometry, std::move(image), region.peak_slice, region.peak_row, region.peak_column);
    if (!lesion.ok()) return lesion.status();
    if (lesion->measurable) {
      if (lesion->volume_ml) {
        response.set_volume_ml(*lesion->volume_ml);
      } else if (lesion->area_cm2) {
        response.set_area_cm2(*lesion->area_cm2);
      }
    }
  } else {
    if (described->area_cm2) response.set_area_cm2(*described->area_cm2);
    if (described->volume_ml) response.set_volume_ml(*described->volume_ml);
  }
  timer.Lap(t.describe_ms);

  ev::OverlayOptions overlay;
  overlay.threshold = threshold;
  overlay.peak = 1.0f;
  if (input.body_region == ev::BodyRegion::kHeadCt) overlay.window = ev::Window{40, 80};
  const auto slice_of = [&](const std::vector<float>& all, size_t k) {
    return std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(k * plane),
                              all.begin() + static_cast<std::ptrdiff_t>((k + 1) * plane));
  };
  // The peak slice's overlay pixels, when the PNGs drew them: the Secondary
  // Capture carries the same blend.
  std::optional<std::vector<uint8_t>> peak_rgb;
  if (request.include_png()) {
    std::vector<size_t> drawn;
    for (size_t k : items) {
      if (raw_max[k] <= 0) continue;
      const auto first = heat_at_image.begin() + static_cast<std::ptrdiff_t>(k * plane);
      if (*std::max_element(first, first + static_cast<std::ptrdiff_t>(plane)) < threshold) continue;  // nothing above the region threshold
      drawn.push_back(k);
    }
    // At most max_png_slices of them: the strongest, in slice order (the
    // peak slice always among them).
    if (request.max_png_slices() > 0 && static_cast<int>(drawn.size()) > request.max_png_slices()) {
      std::stable_sort(drawn.begin(), drawn.end(), [&](size_t a, size_t b) { return raw_max[a] > raw_max[b]; });
      drawn.resize(static_cast<size_t>(request.max_png_slices()));
      std::sort(drawn.begin(), drawn.end());
    }
    // Two pictures per slice (heatmap, overlay), rendered on up to
    // render_threads threads; each job writes only its own result.
    std::vector<absl::StatusOr<std::string>> pngs(2 * drawn.size(), absl::UnknownError("not rendered"));
    ParallelFor(pngs.size(), options_.render_threads, [&](size_t job) {
      const size_t k = drawn[job / 2];
      const std::vector<float> h = slice_of(heat_at_image, k);
      if (job % 2 == 0) {
        pngs[job] = ev::HeatmapPng(h, rows, columns, overlay);
        return;
      }
      absl::StatusOr<std::vector<uint8_t>> rgb = ev::OverlayRgb(volume[k].values, h, rows, columns, overlay);
      if (!rgb.ok()) {
        pngs[job] = rgb.status();
        return;
      }
      pngs[job] = ev::EncodePngRgb(columns, rows, *rgb);
      if (k == peak) peak_rgb = *std::move(rgb);
    });
    for (size_t i = 0; i < drawn.size(); ++i) {
      if (!pngs[2 * i].ok()) return pngs[2 * i].status();
      if (!pngs[2 * i + 1].ok()) return pngs[2 * i + 1].status();
      pb::Heatmap* out = response.add_heatmaps();
      out->set_source_sop_instance_uid(analysed.sop_instance_uids[drawn[i]]);
      out->set_frame_number(1);
      out->set_width(columns);
      out->set_height(rows);
      out->set_png(*std::move(pngs[2 * i]));
      out->set_overlay_png(*std::move(pngs[2 * i + 1]));
      t.png_bytes += out->png().size() + out->overlay_png().size();
    }
  }
  timer.Lap(t.png_ms);
  if (request.include_raw_grid()) {
    // The maps at the model's input resolution (before mapping to the image).
    pb::RawGrid* grid = response.mutable_raw_grid();
    grid->set_columns(manifest.input.width);
    grid->set_rows(manifest.input.height);
    grid->set_slices(static_cast<int>(items.size()));
    for (size_t k : items) {
      const float scale = raw_max[k] / global_max;
      if (maps[k].values.empty()) {
        for (int i = 0; i < manifest.input.width * manifest.input.height; ++i) grid->add_values(0);
      } else {
        for (float v : maps[k].values) grid->add_values(v * scale);
      }
    }
  }
  if (request.dicom_evidence() == pb::DICOM_EVIDENCE_TYPE_SEGMENTATION) {
    return absl::UnimplementedError("DICOM Segmentation evidence is not implemented; ask for a Secondary Capture");
  }
  if (request.dicom_evidence() == pb::DICOM_EVIDENCE_TYPE_SECONDARY_CAPTURE) {
    absl::StatusOr<std::vector<uint8_t>> rgb =
        peak_rgb ? *std::move(peak_rgb)
                 : ev::OverlayRgb(volume[peak].values, slice_of(heat_at_image, peak), rows, columns, overlay);
    if (!rgb.ok()) return rgb.status();
    // The source bytes of the peak slice (first-role series come first in `uids`
    // only by series; find it by UID).
    const std::string& source_uid = analysed.sop_instance_uids[peak];
    const auto at = std::find(uids.begin(), uids.end(), source_uid);
    dicom::EvidenceImageRequest sc;
    sc.source_part10 = (*bytes)[static_cast<size_t>(at - uids.begin())];
    sc.rgb_pixels = *rgb;
    sc.rows = rows;
    sc.columns = columns;
    sc.finding_label = request.finding_label();
    sc.method = method == inference::CamMethod::kHiResCam   ? "HiResCAM"
                : method == inference::CamMethod::kLayerCam ? "LayerCAM"
                                                            : "Grad-CAM";
    sc.model_name = manifest.id;
    sc.model_version = manifest.version;
    sc.model_device_uid = manifest.device_uid;
    absl::StatusOr<dicom::EvidenceImage> image = dicom::WriteSecondaryCaptureEvidence(sc);
    if (!image.ok()) return image.status();
    pb::DicomEvidence* d = response.mutable_dicom_evidence();
    d->set_kind(common::v1::EVIDENCE_KIND_SECONDARY_CAPTURE);
    d->set_part10(image->part10);
    d->set_sop_class_uid(image->sop_class_uid);
    d->set_sop_instance_uid(image->sop_instance_uid);
    d->set_series_instance_uid(image->series_instance_uid);
    for (const std::string& ref : image->referenced_sop_instance_uids) d->add_referenced_sop_instance_uids(ref);
  }
  timer.Lap(t.secondary_capture_ms);
  return response;
}

grpc::Status ExplainabilityService::Explain(grpc::ServerContext* context, const pb::ExplainRequest* request,
                                            pb::ExplainResponse* response) {
  const auto started = Clock::now();
  absl::StatusOr<pb::ExplainResponse> out = Run(*request, context->deadline());
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (metrics_) {
    const std::string model = Find(request->model().model_id()) != nullptr ? request->model().model_id() : "unknown";
    metrics_->calls.Add({{"model", model}, {"code", absl::StatusCodeToString(out.status().code())}}).Increment();
    metrics_->seconds.Add({{"model", model}}, prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8})
        .Observe(seconds);
  }
  if (!out.ok()) {
    log::Warning("explain refused", {{"study", request->study().study_instance_uid()},
                                     {"code", absl::StatusCodeToString(out.status().code())},
                                     {"error", std::string(out.status().message())}});
    return status::ToGrpc(out.status());
  }
  log::Info("explained", {{"study", request->study().study_instance_uid()},
                          {"model", request->model().model_id()},
                          {"slices", request->sop_instance_uids_size()},
                          {"ms", static_cast<long long>(seconds * 1000)}});
  *response = *std::move(out);
  return grpc::Status::OK;
}

}  // namespace parallax::explainability
