#include "parallax/inference/study_analysis.h"

#include <algorithm>
#include <cctype>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/preprocess.h"

namespace parallax::inference {
namespace {

std::string Canonical(std::string s) {
  for (char& c : s) c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool IsAnyHaemorrhageLabel(const std::string& name) {
  const std::string c = Canonical(name);
  return c == "any" || c.rfind("any ", 0) == 0 || c == "ich" ||
         (c.size() >= 11 && (c.compare(c.size() - 11, 11, "haemorrhage") == 0)) ||
         (c.size() >= 10 && (c.compare(c.size() - 10, 10, "hemorrhage") == 0));
}

namespace {

absl::Status WithInstance(const absl::Status& s, const std::string& who) {
  return absl::Status(s.code(), who + ": " + std::string(s.message()));
}

// Decodes the one frame of `instance`, checked against its header.
absl::StatusOr<dicom::PixelImage> ReadFrame(const StudyInstance& instance, const dicom::InstanceHeader& header) {
  const std::string who = "instance " + header.sop_instance_uid;
  auto frames = instance.bytes.empty() ? dicom::ReadPixels(instance.path)
                                       : dicom::ReadPixelsFromBuffer(instance.bytes.data(), instance.bytes.size());
  if (!frames.ok()) {
    return WithInstance(absl::InvalidArgumentError("pixel data cannot be decoded: " +
                                                   std::string(frames.status().message())),
                        who);
  }
  if (frames->size() != 1) {
    return absl::InvalidArgumentError(who + ": has " + std::to_string(frames->size()) + " frames, expected 1");
  }
  dicom::PixelImage& f = frames->front();
  if (f.rows != header.rows || f.columns != header.columns ||
      f.values.size() != static_cast<size_t>(f.rows) * f.columns || f.rows < 1 || f.columns < 1) {
    return absl::InvalidArgumentError(who + ": decoded " + std::to_string(f.rows) + "x" + std::to_string(f.columns) +
                                      " pixels, header says " + std::to_string(header.rows) + "x" +
                                      std::to_string(header.columns));
  }
  return std::move(f);
}

}  // namespace

StudyAnalyzer::StudyAnalyzer(const Model& model, AnalyzerOptions options)
    : model_(model), options_(std::move(options)) {
  options_.batch_size = std::max(1, options_.batch_size);
}

absl::StatusOr<PreparedStudy> StudyAnalyzer::Prepare(std::span<const StudyInstance> instances) const {
  const ModelManifest& manifest = model_.manifest();
  PreparedStudy prepared;
  StudyAnalysis& out = prepared.analysis;
  out.model_id = manifest.id;
  out.model_version = manifest.version;
  if (instances.empty()) return absl::InvalidArgumentError("the study has no instances");

  // 1. Headers of every instance.
  std::vector<dicom::InstanceHeader> headers;
  headers.reserve(instances.size());
  for (size_t i = 0; i < instances.size(); ++i) {
    const StudyInstance& in = instances[i];
    auto h = in.bytes.empty() ? dicom::ReadInstanceHeaderFromFile(in.path)
                              : dicom::ReadInstanceHeaderFromBuffer(in.bytes.data(), in.bytes.size());
    if (!h.ok()) {
      return WithInstance(h.status(), "instance " + std::to_string(i + 1) + " of " + std::to_string(instances.size()));
    }
    headers.push_back(std::move(*h));
  }

  // 2. Series selection.
  const SeriesSelection selection = SelectSeries(headers, manifest, options_.selection);
  out.body_part_source = selection.body_part_source;
  if (!selection.applies) {
    out.reason = selection.reason;
    return prepared;
  }
  out.applies = true;

  // 3. Pixels of the selected instances.
  std::vector<std::vector<dicom::PixelImage>> volumes;
  for (const SelectedSeries& s : selection.series) {
    AnalysedSeries a;
    a.role = s.role;
    a.series_instance_uid = s.series_instance_uid;
    a.series_description = s.series_description;
    a.modality = s.modality;
    a.positions_mm = s.positions_mm;
    a.slice_spacing_mm = s.slice_spacing_mm;
    a.slice_thickness_mm = s.slice_thickness_mm;
    std::vector<dicom::PixelImage> frames;
    std::vector<dicom::InstanceHeader> frame_headers;
    frames.reserve(s.instances.size());
    for (size_t idx : s.instances) {
      a.sop_instance_uids.push_back(headers[idx].sop_instance_uid);
      frame_headers.push_back(headers[idx]);
      auto f = ReadFrame(instances[idx], headers[idx]);
      if (!f.ok()) return f.status();
      if (!frames.empty() && (f->rows != frames[0].rows || f->columns != frames[0].columns)) {
        return absl::InvalidArgumentError("instance " + headers[idx].sop_instance_uid + ": " +
                                          std::to_string(f->rows) + "x" + std::to_string(f->columns) +
                                          " pixels differ from its series' " + std::to_string(frames[0].rows) + "x" +
                                          std::to_string(frames[0].columns));
      }
      frames.push_back(std::move(*f));
    }
    out.series.push_back(std::move(a));
    volumes.push_back(std::move(frames));
    prepared.headers.push_back(std::move(frame_headers));
  }
  for (size_t v = 1; v < volumes.size(); ++v) {
    if (volumes[v].front().rows != volumes[0].front().rows || volumes[v].front().columns != volumes[0].front().columns) {
      return absl::InvalidArgumentError("the " + out.series[v].role + " series (" + out.series[v].series_instance_uid +
                                        ") differs in matrix size from the " + out.series[0].role + " series");
    }
  }

  // Volume statistics for a volume_zscore normalisation, over whole volumes.
  const InputSpec& spec = manifest.input;
  std::vector<Normalisation>& stats = prepared.volume_stats;
  if (spec.windows.empty() && spec.normalisation && spec.normalisation->mode == NormalisationMode::kVolumeZScore) {
    for (size_t v = 0; v < volumes.size(); ++v) {
      auto z = VolumeZScore(volumes[v]);
      if (!z.ok()) return WithInstance(z.status(), "series " + out.series[v].series_instance_uid);
      stats.push_back(*z);
    }
  }
  prepared.volumes = std::move(volumes);
  return prepared;
}

absl::StatusOr<Tensor> PreparedStudy::Input(size_t first, size_t count, const InputSpec& spec) const {
  return PreprocessVolumes(volumes, first, count, spec, volume_stats);
}

absl::StatusOr<StudyAnalysis> StudyAnalyzer::Analyze(std::span<const StudyInstance> instances) const {
  absl::StatusOr<PreparedStudy> prepared = Prepare(instances);
  if (!prepared.ok()) return prepared.status();
  return AnalyzePrepared(*std::move(prepared));
}

absl::StatusOr<StudyAnalysis> StudyAnalyzer::AnalyzePrepared(PreparedStudy prepared_study) const {
  PreparedStudy* prepared = &prepared_study;
  StudyAnalysis& out = prepared->analysis;
  if (!out.applies) return std::move(out);
  const ModelManifest& manifest = model_.manifest();
  const InputSpec& spec = manifest.input;
  const std::vector<std::vector<dicom::PixelImage>>& volumes = prepared->volumes;
  const std::vector<Normalisation>& stats = prepared->volume_stats;
  const size_t slices = volumes.front().size();

  // 4. The model, in batches for per-slice models.
  const size_t num_labels = manifest.labels.size();
  std::vector<float> probs;  // items x labels
  size_t items = 0;
  if (spec.depth == 1) {
    items = slices;
    probs.reserve(items * num_labels);
    for (size_t first = 0; first < slices; first += static_cast<size_t>(options_.batch_size)) {
      const size_t count = std::min(static_cast<size_t>(options_.batch_size), slices - first);
      auto x = PreprocessVolumes(volumes, first, count, spec, stats);
      if (!x.ok()) return WithInstance(x.status(), "preprocessing series " + out.series[0].series_instance_uid);
      auto p = model_.Probabilities(*x);
      if (!p.ok()) return p.status();
      probs.insert(probs.end(), p->begin(), p->end());
    }
  } else {
    auto x = PreprocessVolumes(volumes, 0, slices, spec, stats);
    if (!x.ok()) return WithInstance(x.status(), "preprocessing series " + out.series[0].series_instance_uid);
    auto p = model_.Probabilities(*x);
    if (!p.ok()) return p.status();
    probs = std::move(*p);
  }
  if (probs.size() != std::max<size_t>(items, 1) * num_labels) {
    return absl::InternalError("the model returned " + std::to_string(probs.size()) + " probabilities, expected " +
                               std::to_string(std::max<size_t>(items, 1) * num_labels));
  }

  // 5. Labels: study level = max over items; positive when p >= operating point.
  for (size_t l = 0; l < num_labels; ++l) {
    LabelResult r;
    r.name = manifest.labels[l].name;
    r.operating_point = manifest.labels[l].operating_point;
    if (items == 0) {
      r.probability = probs[l];
    } else {
      for (size_t k = 0; k < items; ++k) {
        const float p = probs[k * num_labels + l];
        r.item_probabilities.push_back(p);
        if (r.max_item < 0 || p > r.item_probabilities[static_cast<size_t>(r.max_item)]) r.max_item = static_cast<int>(k);
      }
      r.probability = r.item_probabilities[static_cast<size_t>(r.max_item)];
    }
    r.positive = r.probability >= r.operating_point;
    out.labels.push_back(std::move(r));
  }

  // 6. Measurements.
  for (const Measurement& m : manifest.measurements) {
    MeasurementResult r;
    r.name = m.name;
    r.unit = m.unit;
    const std::string name = Canonical(m.name);
    const bool ich = name == "ich volume" || name == "haemorrhage volume" || name == "hemorrhage volume";
    if (!ich) {
      r.note = "no estimator for " + m.name + " in this version";
    } else if (m.unit != "mL" && m.unit != "ml" && m.unit != "cm3") {
      r.note = "unit " + m.unit + " is not supported for " + m.name + " (mL or cm3)";
    } else if (out.series.front().modality != "CT") {
      r.note = m.name + " needs a CT series in HU";
    } else {
      std::vector<uint8_t> counted(slices, 0);
      std::string rule;
      if (items == 0) {
        const bool any = std::any_of(out.labels.begin(), out.labels.end(), [](const LabelResult& x) { return x.positive; });
        std::fill(counted.begin(), counted.end(), any ? 1 : 0);
        rule = "every slice, the study being positive";
      } else {
        int any_label = -1;
        for (size_t l = 0; l < num_labels; ++l) {
          if (IsAnyHaemorrhageLabel(out.labels[l].name)) any_label = static_cast<int>(l);
        }
        // The study-level decision says whether there is haemorrhage; once it
        // is positive, the slices that carry it are those whose own
        // probability reaches ich_slice_probability (lower than the study
        // operating point, which is set for false alerts per study and would
        // drop the edges of a bleed).
        for (size_t l = 0; l < num_labels; ++l) {
          if (any_label >= 0 && static_cast<int>(l) != any_label) continue;
          if (!out.labels[l].positive) continue;
          for (size_t k = 0; k < slices; ++k) {
            if (probs[k * num_labels + l] >= options_.ich_slice_probability) counted[k] = 1;
          }
        }
        rule = std::string("slices with p >= ") + std::to_string(options_.ich_slice_probability).substr(0, 4) +
               " for " + (any_label >= 0 ? out.labels[static_cast<size_t>(any_label)].name : "a positive label");
      }
      if (std::none_of(counted.begin(), counted.end(), [](uint8_t c) { return c != 0; })) {
        r.note = "not measured: no haemorrhage found";
        out.measurements.push_back(std::move(r));
        continue;
      }
      auto v = EstimateIchVolume(volumes.front(), out.series.front().positions_mm, counted, options_.ich_volume,
                                 out.series.front().slice_thickness_mm);
      if (!v.ok()) {
        r.note = std::string(v.status().message());
      } else {
        r.available = true;
        r.value = v->volume_ml;
        r.note = "voxels " + std::to_string(options_.ich_volume.min_hu).substr(0, 4) + "-" +
                 std::to_string(options_.ich_volume.max_hu).substr(0, 4) + " HU inside the skull on " +
                 std::to_string(v->slices_counted) + " " + rule;
      }
    }
    out.measurements.push_back(std::move(r));
  }
  return std::move(out);
}

}  // namespace parallax::inference
