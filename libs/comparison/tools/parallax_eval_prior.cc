// parallax-eval-prior: how often Parallax gets the change class of a finding
// right on phantom follow-up pairs (libs/phantom follow_up.h) whose change
// is known.
//
// For each kind (head_ct, brain_mri, chest_xray), each change class (new,
// larger, stable, smaller, resolved) and --pairs seeds (the kind's
// FollowUpLabels cycled over the seeds): render the pair, write both studies
// as DICOM, run the kind's reference model in-process on each
// (StudyAnalyzer, as the inference service does), turn its labels into
// parallax.common.v1.Finding protos with the size Parallax measures, and
// classify with comparison::CompareFindings. Sizes:
//   head CT   the study's ICH volume (StudyAnalyzer "ich_volume", mL), which
//             the inference service puts on the "Intracranial haemorrhage"
//             Finding; a pair has one haemorrhage, so it is that lesion's
//             volume; as the service, only on a positive summary Finding.
//             Findings carry subtype as the service sets them
//             (finding_mapping.cc). Scored twice: as the truth's subtype
//             label (present = that subtype's Finding positive, or with
//             --subtypes-through-summary the summary naming that subtype:
//             ChangeRule::subtypes_through_summary) and as the summary label
//             "Intracranial haemorrhage" (present = summary positive).
//   MR, film  the explainability service's measurement: LayerCAM of the
//             label on the slices at or above its operating point (else the
//             most probable one), the region >= 0.5 x peak
//             (evidence::DescribeEvidence), and at its peak the lesion
//             itself (evidence::MeasureLesionAtPeak, on the series that
//             shows the label: T1 post for an enhancing tumour, FLAIR for a
//             non-enhancing lesion), volume mL (MR) / area cm2 (film); not
//             measurable = no size. --region-size: the Grad-CAM region's
//             size instead (the service before lesion_size.h).
//             PARALLAX_EVAL_DEBUG=1 prints each measurement and the truth
//             mask's centroid.
// With --same-region: the prior is registered to the current study
// (inference::Register, rigid) and both are measured in the same region.
// Head CT: the ICH volume of each study on corresponding slices (those
// either study's model calls positive, mapped through the registration), so
// slice selection differences do not count as change. MR and films: the
// bright abnormal signal (above median + 3 x 1.4826 MAD of the surrounding
// shell) within 25 mm (MR; 40 mm films) of the same point, the evidence
// region's centroid, in the current image and in the prior resampled onto
// it (the label's sequence: T1 post for an enhancing tumour, FLAIR for a
// non-enhancing lesion). Presence still comes from each study's own model
// result.
//
// With --normal-pairs N, also N pairs per kind in which neither study has a
// finding (follow_up.h FollowUpOptions::normal): any finding Parallax calls
// present at either time, with whatever change class, is a false call.
// They are scored apart from the change classes.
//
// Prints one line per pair, a confusion matrix per kind (truth rows,
// Parallax columns; "none" = negative at both times), the accuracy per kind,
// per class and overall, the rule applied to the truth sizes (must be 100%),
// and the time per pair. Not clinical data; not a clinical validation.
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <absl/status/statusor.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <absl/strings/str_split.h>

#include "parallax/common/v1/finding.pb.h"
#include "parallax/comparison/change.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/evidence/evidence.h"
#include "parallax/evidence/lesion_size.h"
#include "parallax/inference/grad_cam.h"
#include "parallax/inference/ich_volume.h"
#include "parallax/inference/model.h"
#include "parallax/inference/model_directory.h"
#include "parallax/inference/registration.h"
#include "parallax/inference/registration_input.h"
#include "parallax/inference/study_analysis.h"
#include "parallax/phantom/follow_up.h"

namespace {

namespace fs = std::filesystem;
namespace cmp = parallax::comparison;
namespace inf = parallax::inference;
namespace ev = parallax::evidence;
namespace ph = parallax::phantom;
using parallax::common::v1::Finding;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

struct Args {
  std::string models = PARALLAX_MODELS_DIR;
  int pairs = 4;  // per kind and class
  int normal_pairs = 0;  // per kind: pairs without a finding at either time
  std::vector<std::string> kinds = {"head_ct", "brain_mri", "chest_xray"};
  double difficulty = -1;  // < 0: the generator's default
  uint64_t seed0 = 500001;
  bool same_region = false;
  double persistence = 1.0;  // ChangeRule::persistence_probability; 1 = off
  bool subtypes = false;     // ChangeRule::subtypes_through_summary
  std::string families;      // ChangeRule::label_families (ParseLabelFamilies text); "" = none
  bool region_size = false;  // MR / films: the Grad-CAM region's size (before lesion_size.h), not the lesion's
  int threads = 2;
  std::string work_dir;
  std::vector<std::string> classes;  // empty = all five
  std::vector<std::string> labels;   // empty = the kind's labels
};

void Usage() {
  std::fprintf(stderr,
               "usage: parallax-eval-prior [--models DIR] [--pairs N per kind and class] [--kinds head_ct,...]\n"
               "                           [--difficulty D] [--seed S] [--same-region] [--persistence P]\n"
               "                           [--threads T] [--work DIR] [--classes new,larger,...] [--labels L1,L2]\n"
               "                           [--subtypes-through-summary] [--region-size] [--normal-pairs N per kind]\n"
               "                           [--label-families 'Nodule,Mass,Lung Lesion']\n");
}

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--same-region") {
      a->same_region = true;
      continue;
    }
    if (k == "--subtypes-through-summary") {
      a->subtypes = true;
      continue;
    }
    if (k == "--region-size") {
      a->region_size = true;
      continue;
    }
    if ((v = next()) == nullptr) return false;
    if (k == "--models") a->models = v;
    else if (k == "--pairs") a->pairs = std::stoi(v);
    else if (k == "--normal-pairs") a->normal_pairs = std::stoi(v);
    else if (k == "--kinds") a->kinds = absl::StrSplit(v, ',');
    else if (k == "--difficulty") a->difficulty = std::stod(v);
    else if (k == "--seed") a->seed0 = std::stoull(v);
    else if (k == "--threads") a->threads = std::stoi(v);
    else if (k == "--persistence") a->persistence = std::stod(v);
    else if (k == "--classes") a->classes = absl::StrSplit(v, ',');
    else if (k == "--labels") a->labels = absl::StrSplit(v, ',');
    else if (k == "--work") a->work_dir = v;
    else if (k == "--label-families") a->families = v;
    else return false;
  }
  return a->pairs > 0 && a->normal_pairs >= 0;
}

std::string ModelIdOf(const std::string& kind) {
  if (kind == "head_ct") return "parallax.headct";
  if (kind == "brain_mri") return "parallax.brainmri";
  return "parallax.cxr";
}

ev::BodyRegion RegionOf(const std::string& kind) {
  if (kind == "head_ct") return ev::BodyRegion::kHeadCt;
  if (kind == "brain_mri") return ev::BodyRegion::kBrainMr;
  return ev::BodyRegion::kChestFilm;
}

// The geometry of the analysed (first-role) volume, as the explainability
// service builds it.
ev::ImageGeometry GeometryOf(const std::vector<parallax::dicom::InstanceHeader>& headers,
                             const inf::AnalysedSeries& series, int rows, int columns) {
  ev::ImageGeometry g;
  g.rows = rows;
  g.columns = columns;
  g.slices = static_cast<int>(headers.size());
  const auto& first = headers.front();
  if (first.pixel_spacing.size() == 2 && first.pixel_spacing[0] > 0 && first.pixel_spacing[1] > 0) {
    g.pixel_spacing_mm = std::array<double, 2>{first.pixel_spacing[0], first.pixel_spacing[1]};
  }
  if (first.image_orientation_patient.size() == 6) {
    std::array<double, 6> o{};
    std::copy(first.image_orientation_patient.begin(), first.image_orientation_patient.end(), o.begin());
    g.orientation = o;
  }
  bool all = true;
  for (const auto& h : headers) all = all && h.image_position_patient.size() == 3;
  if (all) {
    for (const auto& h : headers) {
      g.positions.push_back({h.image_position_patient[0], h.image_position_patient[1], h.image_position_patient[2]});
    }
  }
  if (!first.patient_orientation.empty()) g.patient_orientation = absl::StrSplit(first.patient_orientation, '\\');
  if (series.slice_spacing_mm > 0) g.slice_spacing_mm = series.slice_spacing_mm;
  g.laterality_attribute = first.laterality;
  return g;
}

// The slices the triage worker asks explainability for: those at or above
// the label's operating point, else the most probable one.
std::vector<size_t> ExplainedItems(const inf::LabelResult& label) {
  std::vector<size_t> items;
  for (size_t k = 0; k < label.item_probabilities.size(); ++k) {
    if (label.item_probabilities[k] >= label.operating_point) items.push_back(k);
  }
  if (items.empty() && label.max_item >= 0) items.push_back(static_cast<size_t>(label.max_item));
  return items;
}

// The explainability service's size of one label (Explain: LayerCAM, region
// at 0.5 x peak): volume mL for volumes, area cm2 for films; nullopt when
// there is no positive evidence.
struct EvidenceMeasure {
  std::optional<double> size;                    // mL (volumes) or cm2 (films)
  std::optional<std::array<double, 3>> centroid;  // region centroid: column, row, slice (voxel index)
};

absl::StatusOr<EvidenceMeasure> EvidenceSize(const inf::Model& model, const inf::PreparedStudy& prepared,
                                                   const inf::LabelResult& label, int label_index,
                                                   const std::string& kind, bool region_size) {
  const auto& manifest = model.manifest();
  const inf::AnalysedSeries& analysed = prepared.analysis.series.front();
  const auto& volume = prepared.volumes.front();
  const size_t slices = volume.size();
  const int rows = volume.front().rows, columns = volume.front().columns;
  const size_t plane = static_cast<size_t>(rows) * columns;
  const std::vector<size_t> items = ExplainedItems(label);
  std::vector<float> heat(slices * plane, 0.0f), raw_max(slices, 0.0f);
  float global_max = 0;
  constexpr size_t kBatch = 16;
  for (size_t first = 0; first < items.size(); first += kBatch) {
    const size_t count = std::min(kBatch, items.size() - first);
    inf::Tensor x;
    for (size_t i = first; i < first + count; ++i) {
      auto one = prepared.Input(items[i], 1, manifest.input);
      if (!one.ok()) return one.status();
      if (x.shape.empty()) {
        x.shape = one->shape;
      } else {
        ++x.shape[0];
      }
      x.data.insert(x.data.end(), one->data.begin(), one->data.end());
    }
    auto maps = inf::GradCamBatch(model, x, label_index, inf::CamMethod::kLayerCam);
    if (!maps.ok()) return maps.status();
    for (size_t i = 0; i < count; ++i) {
      const inf::Heatmap& h = (*maps)[i];
      if (h.empty) continue;
      auto up = ev::ResampleHeatmapToImage(h.values, h.height, h.width, rows, columns);
      if (!up.ok()) return up.status();
      const size_t k = items[first + i];
      std::copy(up->begin(), up->end(), heat.begin() + static_cast<std::ptrdiff_t>(k * plane));
      raw_max[k] = h.raw_max;
      global_max = std::max(global_max, h.raw_max);
    }
  }
  if (global_max <= 0) return EvidenceMeasure{};
  for (size_t k = 0; k < slices; ++k) {
    const float scale = raw_max[k] / global_max;
    for (size_t i = 0; i < plane; ++i) heat[k * plane + i] *= scale;
  }
  ev::EvidenceInput input;
  input.body_region = RegionOf(kind);
  input.geometry = GeometryOf(prepared.headers.front(), analysed, rows, columns);
  input.heatmap = std::move(heat);
  for (const auto& f : volume) input.image.insert(input.image.end(), f.values.begin(), f.values.end());
  auto described = ev::DescribeEvidence(input, {.threshold = 0.5});
  if (!described.ok()) return described.status();
  EvidenceMeasure m;
  if (region_size) {
    if (described->volume_ml) {
      m.size = *described->volume_ml;
    } else if (described->area_cm2) {
      m.size = *described->area_cm2;
    }
  } else {
    // As the explainability service: the lesion at the evidence's peak, on
    // the series that shows the finding (same grid as the analysed one).
    std::vector<std::string> roles;
    for (const auto& s : prepared.analysis.series) roles.push_back(s.role);
    size_t role = ev::MeasuringSeries(label.name, roles);
    const auto& measured = prepared.volumes.at(role);
    if (measured.size() != slices || measured.front().rows != rows || measured.front().columns != columns) role = 0;
    std::vector<float> image;
    image.reserve(slices * plane);
    for (const auto& f : prepared.volumes.at(role)) image.insert(image.end(), f.values.begin(), f.values.end());
    const ev::Region& peak = described->region;
    auto lesion = ev::MeasureLesionAtPeak(input.body_region, input.geometry, std::move(image), peak.peak_slice,
                                          peak.peak_row, peak.peak_column);
    if (!lesion.ok()) return lesion.status();
    if (lesion->measurable) m.size = lesion->volume_ml ? *lesion->volume_ml : *lesion->area_cm2;
    if (std::getenv("PARALLAX_EVAL_DEBUG") != nullptr) {
      std::printf("    lesion %s: role %zu peak (%d %d %d) seed (%d %d %d) level %.0f median %.0f sd %.0f thr %.0f "
                  "contrast %.1f voxels %lld %s\n",
                  label.name.c_str(), role, peak.peak_slice, peak.peak_row, peak.peak_column, lesion->seed_slice,
                  lesion->seed_row, lesion->seed_column, lesion->level, lesion->normal_median, lesion->normal_sd,
                  lesion->threshold, lesion->contrast_sd, static_cast<long long>(lesion->voxels),
                  lesion->reason.c_str());
    }
  }
  const ev::Region& r = described->region;
  m.centroid = std::array<double, 3>{r.centroid_column, r.centroid_row, r.centroid_slice};
  return m;
}

// One study, analysed.
struct Analysed {
  inf::PreparedStudy prepared;
  inf::StudyAnalysis analysis;
  double analyse_ms = 0;
};

absl::StatusOr<Analysed> AnalyseStudy(const inf::StudyAnalyzer& analyzer, const ph::Study& study, uint64_t uid_seed,
                                      const std::string& date, const fs::path& dir) {
  parallax::dicom::StudyIdentity id;
  id.uid_seed = uid_seed;
  id.patient_id = "PHANTOM-FU";
  id.study_date = date;
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.string());
  if (!written.ok()) return written.status();
  std::vector<inf::StudyInstance> instances;
  for (const auto& f : written->files) instances.push_back({f, {}});
  const auto t0 = Clock::now();
  auto prepared = analyzer.Prepare(instances);
  if (!prepared.ok()) return prepared.status();
  if (!prepared->analysis.applies) return absl::FailedPreconditionError("model does not apply: " + prepared->analysis.reason);
  inf::PreparedStudy copy = *prepared;
  auto analysis = analyzer.AnalyzePrepared(std::move(copy));
  if (!analysis.ok()) return analysis.status();
  Analysed a{std::move(*prepared), std::move(*analysis), Ms(t0, Clock::now())};
  return a;
}

// Both studies of a pair, analysed (UIDs from the pair's seed); an error is
// printed with the seed.
absl::StatusOr<std::pair<Analysed, Analysed>> AnalysePair(const inf::StudyAnalyzer& analyzer,
                                                          const ph::FollowUpPair& pair, uint64_t seed,
                                                          const std::string& prior_date,
                                                          const std::string& current_date, const fs::path& dir) {
  auto prior = AnalyseStudy(analyzer, pair.prior, seed * 2, prior_date, dir / "prior");
  auto current = AnalyseStudy(analyzer, pair.current, seed * 2 + 1, current_date, dir / "current");
  if (!prior.ok() || !current.ok()) {
    const absl::Status status = !prior.ok() ? prior.status() : current.status();
    std::fprintf(stderr, "seed %llu: %s\n", static_cast<unsigned long long>(seed), status.ToString().c_str());
    return status;
  }
  return std::make_pair(std::move(*prior), std::move(*current));
}

int LabelIndex(const inf::StudyAnalysis& a, const std::string& name) {
  for (size_t i = 0; i < a.labels.size(); ++i) {
    if (a.labels[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::optional<double> IchVolume(const inf::StudyAnalysis& a) {
  for (const auto& m : a.measurements) {
    if (m.name == "ich_volume" && m.available) return m.value;
  }
  return std::nullopt;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The Finding of one label as the inference service maps it
// (services/inference finding_mapping.cc): with an "any haemorrhage"
// summary label, each other label's subtype is its lower-cased name and a
// positive summary's subtype is the most probable other label.
Finding MakeFinding(const inf::StudyAnalysis& a, size_t index) {
  const inf::LabelResult& l = a.labels[index];
  Finding f;
  f.set_finding_id("f-" + l.name);
  f.set_label(l.name);
  f.set_probability(l.probability);
  f.set_operating_point(l.operating_point);
  f.set_positive(l.positive);
  f.mutable_model()->set_model_id(a.model_id);
  int summary = -1;
  for (size_t i = 0; i < a.labels.size(); ++i) {
    if (inf::IsAnyHaemorrhageLabel(a.labels[i].name)) summary = static_cast<int>(i);
  }
  if (summary >= 0 && static_cast<int>(index) != summary) {
    f.set_subtype(Lower(l.name));
  } else if (summary >= 0 && l.positive) {
    int best = -1;
    for (size_t i = 0; i < a.labels.size(); ++i) {
      if (static_cast<int>(i) == summary) continue;
      if (best < 0 || a.labels[i].probability > a.labels[static_cast<size_t>(best)].probability) best = static_cast<int>(i);
    }
    if (best >= 0) f.set_subtype(Lower(a.labels[static_cast<size_t>(best)].name));
  }
  return f;
}

// The volume of a prepared study's series `role` in patient mm (a film in
// detector mm) for Register: inference::VolumeFromSeries. Throws
// absl::BadStatusOrAccess, naming the problem, if it is not a regular grid.
inf::Volume VolumeOf(const inf::PreparedStudy& p, size_t role = 0) {
  return inf::VolumeFromSeries(p.headers.at(role), p.volumes.at(role)).value();
}

// --same-region: the ICH volume of both studies on the same slices of the
// current grid, the prior resampled onto it through the registration.
struct SameRegion {
  double prior_ml = 0, current_ml = 0;
  double register_ms = 0;
  double residual = 0;
};

absl::StatusOr<SameRegion> MeasureSameRegion(const Analysed& prior, const Analysed& current,
                                             const inf::AnalyzerOptions& options) {
  SameRegion out;
  const auto t0 = Clock::now();
  const inf::Volume cur = VolumeOf(current.prepared), pri = VolumeOf(prior.prepared);
  auto reg = inf::Register(cur, pri);
  if (!reg.ok()) return reg.status();
  out.register_ms = Ms(t0, Clock::now());
  out.residual = reg->residual;
  // Slices either model calls positive for the "any" label, in both frames:
  // each current slice's centre is mapped into the prior (nearest slice
  // along the prior's normal), and the positive slices of either study are
  // counted in both. Each study is measured on its own pixels (no
  // resampling: trilinear interpolation across 5 mm slices blurs a thin
  // subdural below the blood threshold).
  const int any_c = LabelIndex(current.analysis, "Intracranial haemorrhage");
  const int any_p = LabelIndex(prior.analysis, "Intracranial haemorrhage");
  if (any_c < 0 || any_p < 0) return absl::InternalError("no Intracranial haemorrhage label");
  const size_t nz = static_cast<size_t>(cur.nz), npz = static_cast<size_t>(pri.nz);
  const auto& lc = current.analysis.labels[any_c];
  const auto& lp = prior.analysis.labels[any_p];
  std::vector<uint8_t> cur_pos(nz, 0), pri_pos(npz, 0);
  for (size_t k = 0; k < nz && lc.positive; ++k) cur_pos[k] = lc.item_probabilities[k] >= options.ich_slice_probability;
  for (size_t j = 0; j < npz && lp.positive; ++j) pri_pos[j] = lp.item_probabilities[j] >= options.ich_slice_probability;
  std::vector<uint8_t> counted_cur = cur_pos, counted_pri = pri_pos;
  for (size_t k = 0; k < nz; ++k) {
    const auto p = inf::TransformPoint(reg->current_to_prior, cur.PointOf(cur.nx / 2.0, cur.ny / 2.0, double(k)));
    double best = 1e9;
    size_t kp = 0;
    for (size_t j = 0; j < npz; ++j) {
      const auto q = pri.PointOf(pri.nx / 2.0, pri.ny / 2.0, double(j));
      const double d = std::abs((p[0] - q[0]) * pri.direction[0][2] + (p[1] - q[1]) * pri.direction[1][2] +
                                (p[2] - q[2]) * pri.direction[2][2]);
      if (d < best) best = d, kp = j;
    }
    if (best > pri.spacing_mm[2]) continue;  // beyond the prior's coverage
    if (pri_pos[kp]) counted_cur[k] = 1;
    if (cur_pos[k]) counted_pri[kp] = 1;
  }
  auto c = inf::EstimateIchVolume(current.prepared.volumes.front(), current.analysis.series.front().positions_mm,
                                  counted_cur, options.ich_volume);
  if (!c.ok()) return c.status();
  auto p = inf::EstimateIchVolume(prior.prepared.volumes.front(), prior.analysis.series.front().positions_mm,
                                  counted_pri, options.ich_volume);
  if (!p.ok()) return p.status();
  out.current_ml = c->volume_ml;
  out.prior_ml = p->volume_ml;
  return out;
}

// The inverse of an affine 4 x 4 matrix (last row 0 0 0 1).
inf::Matrix4 InverseAffine(const inf::Matrix4& m) {
  const double a = m[0][0], b = m[0][1], c = m[0][2], d = m[1][0], e = m[1][1], f = m[1][2], g = m[2][0],
               h = m[2][1], k = m[2][2];
  const double det = a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g);
  inf::Matrix4 r{};
  const double inv[3][3] = {{(e * k - f * h) / det, (c * h - b * k) / det, (b * f - c * e) / det},
                            {(f * g - d * k) / det, (a * k - c * g) / det, (c * d - a * f) / det},
                            {(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det}};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) r[i][j] = inv[i][j];
    r[i][3] = -(inv[i][0] * m[0][3] + inv[i][1] * m[1][3] + inv[i][2] * m[2][3]);
  }
  r[3] = {0, 0, 0, 1};
  return r;
}

constexpr float kOutside = -1e30f;

// Bright abnormal signal near `centre` (mm): voxels within `radius_mm` whose
// value exceeds median + k x 1.4826 MAD of the shell radius..1.6 radius
// around it (the local normal tissue), in mL (volumes) or cm2 (films).
double AbnormalSize(const inf::Volume& v, const std::array<double, 3>& centre, double radius_mm, double k) {
  std::vector<float> shell;
  std::vector<std::pair<size_t, double>> inner;  // index, distance
  const double r2 = radius_mm * radius_mm, s2 = 2.56 * r2;
  for (int z = 0; z < v.nz; ++z) {
    for (int y = 0; y < v.ny; ++y) {
      for (int x = 0; x < v.nx; ++x) {
        const auto p = v.PointOf(x, y, z);
        const double d2 = (p[0] - centre[0]) * (p[0] - centre[0]) + (p[1] - centre[1]) * (p[1] - centre[1]) +
                          (p[2] - centre[2]) * (p[2] - centre[2]);
        if (d2 > s2) continue;
        const size_t i = (static_cast<size_t>(z) * v.ny + y) * v.nx + x;
        if (v.voxels[i] <= kOutside / 2) continue;
        if (d2 <= r2) {
          inner.push_back({i, d2});
        } else {
          shell.push_back(v.voxels[i]);
        }
      }
    }
  }
  if (shell.size() < 10) return 0;
  const auto median = [](std::vector<float> x) {
    std::nth_element(x.begin(), x.begin() + x.size() / 2, x.end());
    return x[x.size() / 2];
  };
  const float m = median(shell);
  std::vector<float> dev(shell.size());
  for (size_t i = 0; i < shell.size(); ++i) dev[i] = std::abs(shell[i] - m);
  const float mad = median(dev);
  const double threshold = m + k * 1.4826 * std::max(mad, 1e-3f);
  size_t count = 0;
  for (const auto& [i, d2] : inner) count += v.voxels[i] > threshold ? 1 : 0;
  const double voxel = v.spacing_mm[0] * v.spacing_mm[1] * (v.IsFilm() ? 1.0 : v.spacing_mm[2]);
  return static_cast<double>(count) * voxel / (v.IsFilm() ? 100.0 : 1000.0);
}

// --same-region for MR and films: register the label's sequence (T1 post for
// an enhancing tumour, FLAIR for a non-enhancing lesion; the film itself),
// resample the prior onto the current grid, and measure AbnormalSize in
// both around the same point: the current study's evidence-region centroid
// when it has one, else the prior's mapped into the current frame.
absl::StatusOr<SameRegion> MeasureAbnormalSameRegion(const Analysed& prior, const Analysed& current,
                                                     const std::string& kind, const std::string& label,
                                                     const std::optional<EvidenceMeasure>& prior_evidence,
                                                     const std::optional<EvidenceMeasure>& current_evidence) {
  size_t role = 0;
  if (kind == "brain_mri") {
    const bool want_flair = label == "Non-enhancing lesion";
    for (size_t r = 0; r < current.analysis.series.size(); ++r) {
      const std::string& d = current.analysis.series[r].series_description;
      if ((d.find("FLAIR") != std::string::npos) == want_flair) role = r;
    }
  }
  SameRegion out;
  const auto t0 = Clock::now();
  const inf::Volume cur = VolumeOf(current.prepared, role), pri = VolumeOf(prior.prepared, role);
  auto reg = inf::Register(cur, pri);
  if (!reg.ok()) return reg.status();
  auto moved = inf::Resample(pri, reg->current_to_prior, cur, kOutside);
  if (!moved.ok()) return moved.status();
  out.register_ms = Ms(t0, Clock::now());
  out.residual = reg->residual;
  std::array<double, 3> centre{};
  if (current_evidence && current_evidence->centroid) {
    const auto& c = *current_evidence->centroid;
    centre = cur.PointOf(c[0], c[1], c[2]);
  } else if (prior_evidence && prior_evidence->centroid) {
    const auto& c = *prior_evidence->centroid;
    centre = inf::TransformPoint(InverseAffine(reg->current_to_prior), pri.PointOf(c[0], c[1], c[2]));
  } else {
    return absl::FailedPreconditionError("no evidence region at either time");
  }
  const double radius = kind == "brain_mri" ? 25.0 : 40.0, k = 3.0;
  out.current_ml = AbnormalSize(cur, centre, radius, k);
  out.prior_ml = AbnormalSize(*moved, centre, radius, k);
  return out;
}

// Confusion counts: truth class x Parallax class ("none" = negative at both).
struct Confusion {
  std::map<std::string, std::map<std::string, int>> counts;
  int right = 0, total = 0;
  std::map<std::string, std::pair<int, int>> per_class;  // truth class -> (right, total)

  void Add(const std::string& truth, const std::string& got) {
    ++counts[truth][got];
    ++total;
    auto& pc = per_class[truth];
    ++pc.second;
    if (truth == got) {
      ++right;
      ++pc.first;
    }
  }
  void Print(const std::string& title) const {
    static const char* kCols[] = {"new", "larger", "stable", "smaller", "resolved", "none", "wrongsub"};
    std::printf("\n%s: %d / %d right (%.1f%%)\n", title.c_str(), right, total, total ? 100.0 * right / total : 0.0);
    std::printf("  %-10s", "truth\\got");
    for (const char* c : kCols) std::printf(" %8s", c);
    std::printf("   right\n");
    for (const char* r : {"new", "larger", "stable", "smaller", "resolved"}) {
      auto it = counts.find(r);
      if (it == counts.end()) continue;
      std::printf("  %-10s", r);
      for (const char* c : kCols) {
        auto jt = it->second.find(c);
        std::printf(" %8d", jt == it->second.end() ? 0 : jt->second);
      }
      const auto& pc = per_class.at(r);
      std::printf("   %d/%d\n", pc.first, pc.second);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    Usage();
    return 2;
  }
  inf::LoadOptions lo;
  lo.freeze = false;  // Grad-CAM needs gradients through head(), as the explainability service loads them
  lo.optimize_for_inference = false;
  lo.intra_op_threads = args.threads;
  auto models = inf::LoadModelDirectory(args.models, lo);
  if (!models.ok()) {
    std::fprintf(stderr, "models: %s\n", models.status().ToString().c_str());
    return 1;
  }
  const fs::path work = args.work_dir.empty() ? fs::temp_directory_path() / ("parallax-eval-prior-" +
                                                                            std::to_string(::getpid()))
                                              : fs::path(args.work_dir);
  fs::create_directories(work);
  std::printf("parallax-eval-prior: %d pairs per kind and class, difficulty %s, seeds from %llu, sizes: %s\n",
              args.pairs, args.difficulty < 0 ? "default (0.3)" : std::to_string(args.difficulty).c_str(),
              static_cast<unsigned long long>(args.seed0),
              args.same_region ? "the same registered region in both studies" : "each study's own measurement");

  cmp::ChangeRule rule;
  rule.persistence_probability = args.persistence;
  rule.subtypes_through_summary = args.subtypes;
  if (auto families = cmp::ParseLabelFamilies(args.families); families.ok()) {
    rule.label_families = *families;
  } else {
    std::fprintf(stderr, "--label-families: %s\n", std::string(families.status().message()).c_str());
    return 2;
  }
  if (!args.families.empty()) std::printf("label families: %s\n", args.families.c_str());
  std::printf("rule: larger >= %.2f, smaller <= %.2f, minimum %.2f mL / %.2f cm2, persistence %s, subtypes %s; "
              "MR / film sizes: %s\n",
              rule.larger_ratio, rule.smaller_ratio, rule.min_volume_ml, rule.min_area_cm2,
              rule.persistence_probability < 1 ? std::to_string(rule.persistence_probability).c_str() : "off",
              rule.subtypes_through_summary ? "through the summary" : "by their own findings",
              args.region_size ? "Grad-CAM region" : "lesion at the evidence peak (lesion_size.h)");
  const ph::Change kClasses[] = {ph::Change::kNew, ph::Change::kLarger, ph::Change::kStable, ph::Change::kSmaller,
                                 ph::Change::kResolved};
  Confusion overall, overall_any, overall_any_subtype, truth_rule;
  std::map<std::string, Confusion> per_kind, per_label;
  std::map<std::string, std::pair<int, int>> normal_right;  // kind -> (no finding called, pairs)
  std::map<std::string, int> normal_calls;                  // "kind: label class" -> count
  double total_ms = 0;
  int timed = 0, skipped = 0;
  uint64_t seed = args.seed0;
  for (const std::string& kind : args.kinds) {
    const inf::Model* model = nullptr;
    for (const auto& m : *models) {
      if (m->manifest().id == ModelIdOf(kind)) model = m.get();
    }
    if (model == nullptr) {
      std::fprintf(stderr, "no model %s in %s\n", ModelIdOf(kind).c_str(), args.models.c_str());
      return 1;
    }
    const inf::StudyAnalyzer analyzer(*model);
    const std::vector<std::string> labels = ph::FollowUpLabels(kind);
    std::vector<std::string> use_labels = kind == "chest_xray" ? std::vector<std::string>{"Nodule", "Mass"} : labels;
    if (!args.labels.empty()) {
      std::vector<std::string> kept;
      for (const auto& l : use_labels) {
        if (std::find(args.labels.begin(), args.labels.end(), l) != args.labels.end()) kept.push_back(l);
      }
      if (kept.empty()) continue;
      use_labels = kept;
    }
    double kind_ms = 0;
    int kind_pairs = 0;
    for (ph::Change truth_change : kClasses) {
      if (!args.classes.empty() &&
          std::find(args.classes.begin(), args.classes.end(), ph::ChangeName(truth_change)) == args.classes.end()) {
        continue;
      }
      for (int i = 0; i < args.pairs; ++i) {
        const std::string label = use_labels[static_cast<size_t>(i) % use_labels.size()];
        ph::FollowUpOptions fo;
        fo.kind = kind;
        fo.findings = {label};
        fo.changes = {truth_change};
        if (args.difficulty >= 0) fo.difficulty = args.difficulty;
        absl::StatusOr<ph::FollowUpPair> pair;
        for (int attempt = 0; attempt < 5; ++attempt) {
          fo.seed = seed++;
          pair = ph::MakeFollowUpPair(fo);
          if (pair.ok()) break;
          ++skipped;
          std::printf("  skipped seed %llu: %s\n", static_cast<unsigned long long>(fo.seed),
                      pair.status().ToString().c_str());
        }
        if (!pair.ok()) return 1;
        const ph::FindingChange& tc = pair->changes.at(0);
        const std::string prior_date = "20250301", current_date = ph::AddDays(prior_date, pair->interval_days);

        // The rule on the truth's own sizes (0 = absent).
        {
          std::vector<Finding> p, c;
          Finding f;
          f.set_label(label);
          f.set_positive(true);
          if (tc.prior_size > 0) {
            Finding g = f;
            pair->size_unit == "mL" ? g.set_volume_ml(tc.prior_size) : g.set_area_cm2(tc.prior_size);
            p.push_back(g);
          }
          if (tc.current_size > 0) {
            Finding g = f;
            pair->size_unit == "mL" ? g.set_volume_ml(tc.current_size) : g.set_area_cm2(tc.current_size);
            c.push_back(g);
          }
          auto r = cmp::CompareFindings(p, c, prior_date, current_date);
          truth_rule.Add(ph::ChangeName(tc.change), r.ok() && !r->empty() ? cmp::ChangeClassName(r->front().change)
                                                                           : "none");
        }

        if (std::getenv("PARALLAX_EVAL_DEBUG") != nullptr) {
          for (const ph::Study* st : {&pair->prior, &pair->current}) {
            for (const auto& f : st->findings) {
              if (f.label != label) continue;
              double cz = 0, cy = 0, cx = 0, n = 0;
              const size_t plane = static_cast<size_t>(f.mask.rows) * f.mask.columns;
              for (size_t i = 0; i < f.mask.bits.size(); ++i) {
                if (!f.mask.bits[i]) continue;
                cz += double(i / plane), cy += double((i % plane) / f.mask.columns), cx += double(i % f.mask.columns);
                ++n;
              }
              std::printf("    truth %s centroid (%.0f %.0f %.0f)\n", st == &pair->prior ? "prior" : "current",
                          cz / n, cy / n, cx / n);
            }
          }
        }
        const auto t0 = Clock::now();
        const fs::path dir = work / absl::StrCat(kind, "-", fo.seed);
        auto both = AnalysePair(analyzer, *pair, fo.seed, prior_date, current_date, dir);
        if (!both.ok()) return 1;
        const Analysed* prior = &both->first;
        const Analysed* current = &both->second;
        const auto t1 = Clock::now();
        // Findings as the inference + explainability services would carry them.
        std::vector<Finding> findings[2];
        std::optional<EvidenceMeasure> evidence[2];
        // Sizes where the comparison may need them: the truth's label, and
        // its family's (a sibling may stand in for it at one time).
        std::set<std::string> measured_labels;
        for (const std::string& l : cmp::WithFamilies({label}, rule)) measured_labels.insert(l);
        double register_ms = 0, residual = 0;
        std::optional<SameRegion> same;
        if (kind == "head_ct" && args.same_region) {
          auto s = MeasureSameRegion(*prior, *current, analyzer.options());
          if (!s.ok()) {
            std::fprintf(stderr, "seed %llu: same region: %s\n", static_cast<unsigned long long>(fo.seed),
                         s.status().ToString().c_str());
            return 1;
          }
          same = *s;
          register_ms = s->register_ms;
          residual = s->residual;
        }
        int t = 0;
        for (const Analysed* a : {&*prior, &*current}) {
          const std::optional<double> ich = IchVolume(a->analysis);
          for (size_t li = 0; li < a->analysis.labels.size(); ++li) {
            const inf::LabelResult& l = a->analysis.labels[li];
            Finding f = MakeFinding(a->analysis, li);
            if (kind == "head_ct") {
              // As the inference service (finding_mapping.cc): the ICH
              // volume on the summary Finding, only when it is positive.
              if (inf::IsAnyHaemorrhageLabel(l.name) && l.positive) {
                if (same) {
                  f.set_volume_ml(t == 0 ? same->prior_ml : same->current_ml);
                } else if (ich) {
                  f.set_volume_ml(*ich);
                }
              }
            } else if (measured_labels.count(l.name) != 0 &&
                       (l.positive || l.probability >= rule.persistence_probability)) {
              auto size = EvidenceSize(*model, a->prepared, l, static_cast<int>(li), kind, args.region_size);
              if (!size.ok()) {
                std::fprintf(stderr, "seed %llu: evidence: %s\n", static_cast<unsigned long long>(fo.seed),
                             size.status().ToString().c_str());
                return 1;
              }
              if (l.name == label) evidence[t] = *size;
              if (size->size) kind == "brain_mri" ? f.set_volume_ml(*size->size) : f.set_area_cm2(*size->size);
            }
            findings[t].push_back(std::move(f));
          }
          ++t;
        }
        if (kind != "head_ct" && args.same_region && (evidence[0] || evidence[1])) {
          auto s = MeasureAbnormalSameRegion(*prior, *current, kind, label, evidence[0], evidence[1]);
          if (!s.ok()) {
            std::fprintf(stderr, "seed %llu: same region: %s\n", static_cast<unsigned long long>(fo.seed),
                         s.status().ToString().c_str());
            return 1;
          }
          register_ms = s->register_ms;
          residual = s->residual;
          same = *s;
          for (int w = 0; w < 2; ++w) {
            for (Finding& f : findings[w]) {
              if (f.label() != label) continue;
              const double v = w == 0 ? s->prior_ml : s->current_ml;
              kind == "brain_mri" ? f.set_volume_ml(v) : f.set_area_cm2(v);
            }
          }
        }
        auto result = cmp::CompareFindings(findings[0], findings[1], prior_date, current_date, rule);
        if (!result.ok()) {
          std::fprintf(stderr, "compare: %s\n", result.status().ToString().c_str());
          return 1;
        }
        const auto t2 = Clock::now();
        const auto find = [&](const std::string& name) -> const cmp::FindingChange* {
          for (const auto& c : *result) {
            if (c.label == name) return &c;
          }
          return nullptr;
        };
        const cmp::FindingChange* got = find(label);
        const std::string truth = ph::ChangeName(tc.change);
        const std::string got_name = got ? cmp::ChangeClassName(got->change) : "none";
        overall.Add(truth, got_name);
        per_kind[kind].Add(truth, got_name);
        per_label[kind + ": " + label].Add(truth, got_name);
        std::string any_name;
        if (kind == "head_ct") {
          const cmp::FindingChange* any = find("Intracranial haemorrhage");
          any_name = any ? cmp::ChangeClassName(any->change) : "none";
          if (any && any->prior_size && any->current_size) {
            any_name += absl::StrCat(" ", std::round(*any->prior_size * 100) / 100, " -> ",
                                     std::round(*any->current_size * 100) / 100);
          }
          const std::string any_class = any ? cmp::ChangeClassName(any->change) : "none";
          overall_any.Add(truth, any_class);
          // The summary Finding's subtype (the inference service: the most
          // probable subtype) where the haemorrhage is present: current, else prior.
          const inf::StudyAnalysis& where =
              any && any->present_current ? current->analysis : prior->analysis;
          std::string subtype;
          double best = -1;
          for (const auto& l : where.labels) {
            if (inf::IsAnyHaemorrhageLabel(l.name) || l.probability <= best) continue;
            best = l.probability;
            subtype = l.name;
          }
          overall_any_subtype.Add(truth, subtype == label ? any_class : "wrongsub");
          any_name += " (" + subtype + ")";
        }
        const double pair_ms = Ms(t0, t2);
        kind_ms += pair_ms;
        ++kind_pairs;
        total_ms += pair_ms;
        ++timed;
        const int li = LabelIndex(prior->analysis, label);
        const auto size_text = [](const std::optional<double>& s) {
          return s ? absl::StrCat(std::round(*s * 100) / 100) : std::string("-");
        };
        std::printf(
            "%-10s seed %6llu %-22s truth %-8s %6.2f -> %6.2f %-3s | p %.3f -> %.3f (op %.3f) | got %-8s %6s -> %6s%s%s"
            " | %.0f ms (analyse %.0f + %.0f, measure %.0f%s)\n",
            kind.c_str(), static_cast<unsigned long long>(fo.seed), label.c_str(), truth.c_str(), tc.prior_size,
            tc.current_size, pair->size_unit.c_str(), prior->analysis.labels[li].probability,
            current->analysis.labels[li].probability, prior->analysis.labels[li].operating_point, got_name.c_str(),
            got ? size_text(got->prior_size).c_str() : "-", got ? size_text(got->current_size).c_str() : "-",
            kind == "head_ct" ? absl::StrCat(" | any: ", any_name).c_str() : "", truth == got_name ? "" : "  <-- wrong",
            pair_ms, prior->analyse_ms, current->analyse_ms, Ms(t1, t2) - register_ms,
            same ? absl::StrCat(", register+resample ", static_cast<int>(register_ms), " residual ",
                                std::round(residual * 1000) / 1000)
                       .c_str()
                 : "");
        if (kind == "chest_xray" && std::getenv("PARALLAX_EVAL_DEBUG") != nullptr) {
          // The lung lesion labels at both times (probability, + when positive).
          std::string family;
          for (const std::string& name : ph::FollowUpLabels(kind)) {
            const int fi = LabelIndex(prior->analysis, name);
            if (fi < 0) continue;
            const auto& a = prior->analysis.labels[fi];
            const auto& b = current->analysis.labels[fi];
            absl::StrAppend(&family, " ", name, " ", absl::StrFormat("%.3f%s", a.probability, a.positive ? "+" : ""),
                            " -> ", absl::StrFormat("%.3f%s", b.probability, b.positive ? "+" : ""), ";");
          }
          std::printf("    family:%s\n", family.c_str());
        }
        std::fflush(stdout);
        std::error_code ec;
        fs::remove_all(dir, ec);
      }
    }
    std::printf("%s: %d pairs, %.0f ms per pair (writing DICOM excluded)\n", kind.c_str(), kind_pairs,
                kind_pairs ? kind_ms / kind_pairs : 0.0);

    // Normal pairs: every label Parallax calls present at either time is false.
    for (int i = 0; i < args.normal_pairs; ++i) {
      ph::FollowUpOptions fo;
      fo.kind = kind;
      fo.normal = true;
      fo.seed = seed++;
      if (args.difficulty >= 0) fo.difficulty = args.difficulty;
      absl::StatusOr<ph::FollowUpPair> pair = ph::MakeFollowUpPair(fo);
      if (!pair.ok()) {
        std::fprintf(stderr, "normal pair, seed %llu: %s\n", static_cast<unsigned long long>(fo.seed),
                     pair.status().ToString().c_str());
        return 1;
      }
      const std::string prior_date = "20250301", current_date = ph::AddDays(prior_date, pair->interval_days);
      const fs::path dir = work / absl::StrCat(kind, "-normal-", fo.seed);
      auto both = AnalysePair(analyzer, *pair, fo.seed, prior_date, current_date, dir);
      if (!both.ok()) return 1;
      const Analysed* prior = &both->first;
      const Analysed* current = &both->second;
      std::vector<Finding> findings[2];
      int t = 0;
      for (const Analysed* a : {&*prior, &*current}) {
        for (size_t li = 0; li < a->analysis.labels.size(); ++li) findings[t].push_back(MakeFinding(a->analysis, li));
        ++t;
      }
      auto result = cmp::CompareFindings(findings[0], findings[1], prior_date, current_date, rule);
      if (!result.ok()) {
        std::fprintf(stderr, "compare: %s\n", result.status().ToString().c_str());
        return 1;
      }
      std::string calls;
      for (const cmp::FindingChange& c : *result) {
        const std::string call = absl::StrCat(c.label, " ", cmp::ChangeClassName(c.change));
        ++normal_calls[absl::StrCat(kind, ": ", call)];
        calls += absl::StrCat(calls.empty() ? "" : ", ", call);
      }
      auto& [right, total] = normal_right[kind];
      ++total;
      if (result->empty()) ++right;
      std::printf("%-10s seed %6llu normal pair                    | got %s%s\n", kind.c_str(),
                  static_cast<unsigned long long>(fo.seed), calls.empty() ? "nothing" : calls.c_str(),
                  calls.empty() ? "" : "  <-- false");
      std::fflush(stdout);
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  for (const auto& [k, c] : per_label) c.Print(k);
  for (const auto& [k, c] : per_kind) c.Print(absl::StrCat(k, " (truth label)"));
  if (overall_any.total > 0) {
    overall_any.Print("head_ct scored on 'Intracranial haemorrhage' (any)");
    overall_any_subtype.Print("head_ct scored on 'Intracranial haemorrhage' with its most probable subtype = the truth label");
  }
  overall.Print("overall (truth label)");
  truth_rule.Print("the rule on the truth's own sizes (must be 100%)");
  if (!normal_right.empty()) {
    int right = 0, total = 0;
    for (const auto& [k, rt] : normal_right) {
      std::printf("\n%s normal pairs: %d / %d with no finding called", k.c_str(), rt.first, rt.second);
      right += rt.first;
      total += rt.second;
    }
    std::printf("\nnormal pairs overall: %d / %d with no finding called\n", right, total);
    for (const auto& [call, n] : normal_calls) std::printf("  false call %s: %d\n", call.c_str(), n);
  }
  std::printf("\n%d pairs, %.0f ms per pair on average; %d seeds skipped by the generator\n", timed,
              timed ? total_ms / timed : 0.0, skipped);
  std::error_code ec;
  if (args.work_dir.empty()) fs::remove_all(work, ec);
  return 0;
}
