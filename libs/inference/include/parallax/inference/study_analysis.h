#pragma once
// StudyAnalyzer: the one code path from a study's DICOM instances to a
// model's per-label results, shared by the inference service (instances as
// bytes received over gRPC) and the evaluation CLI (instances as files):
//
//   headers (dicom::ReadInstanceHeader*) -> SelectSeries (series_selection.h)
//   -> pixels of the selected instances only (dicom::ReadPixels*, modality
//   units, HU for CT) -> PreprocessVolumes in batches -> Model::Probabilities
//   -> study-level probability and decision per label -> measurements.
//
// Study-level probability: a 2-D image model gives one probability per label;
// a per-slice model (depth 1 on CT/MR) is run on every slice of the selected
// volume and the study-level probability of a label is the MAX over its
// slices (a finding on any slice makes the study positive); a 3-D model
// (depth > 1) is run once on the whole volume.
// Decision: positive when probability >= operating_point (the rule
// scripts/models/train.py calibrates the operating point with).
// Measurements: "ich_volume" (unit mL or cm3) is EstimateIchVolume on the
// slices that carry the haemorrhage: when the study is positive for the "any"
// label (a label named "any..." or "...haemorrhage"/"...hemorrhage"; without
// one, for any label), the slices whose own probability of that label is
// >= AnalyzerOptions::ich_slice_probability; a 3-D model counts every slice
// when a label is positive. A study without a positive label is not measured
// (available = false, "not measured: no haemorrhage found"). Other
// measurement names are reported as unavailable.
//
// Errors never carry patient data: an instance is named by its SOP Instance
// UID (or, before its header is read, by its position in the request).
//
// Thread-safety: a StudyAnalyzer is immutable; Analyze() may run concurrently
// from many threads (Model is thread-safe). The Model must outlive it.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/inference/ich_volume.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/model.h"
#include "parallax/inference/preprocess.h"
#include "parallax/inference/series_selection.h"

namespace parallax::inference {

// One instance of the study: a Part-10 file on disk (`path`), or the whole
// Part-10 file in memory (`bytes`, not owned: it must stay valid during
// Analyze; used when non-empty). Only the selected series' pixels are decoded.
struct StudyInstance {
  std::string path;
  std::string_view bytes;
};

struct AnalyzerOptions {
  int batch_size = 16;                 // slices per Model call for per-slice models (>= 1)
  SelectionCriteria selection;         // which series qualify
  IchVolumeOptions ich_volume;         // thresholds of the ich_volume measurement
  // A slice counts for ich_volume when the study is positive and the slice's
  // own probability of that label is at least this.
  double ich_slice_probability = 0.5;
};

struct LabelResult {
  std::string name;                    // the manifest's label name
  double operating_point = 0;
  double probability = 0;              // study level (see above)
  bool positive = false;               // probability >= operating_point
  // One per model input item, in AnalysedSeries order: per slice for a
  // per-slice model, one for a 2-D image; empty for a 3-D model. Kept for
  // Grad-CAM, which explains the slices that carry the finding.
  std::vector<float> item_probabilities;
  int max_item = -1;                   // index of the highest item probability; -1 when none
};

struct MeasurementResult {
  std::string name;
  std::string unit;
  bool available = false;
  double value = 0;                    // in `unit`, when available
  std::string note;                    // how it was measured, or why it is unavailable
};

struct AnalysedSeries {
  std::string role;                    // input.series role; "" for a single-series model
  std::string series_instance_uid;
  std::string series_description;
  std::string modality;
  std::vector<std::string> sop_instance_uids;  // in the order the model saw them
  std::vector<double> positions_mm;    // along the slice normal; empty for a radiograph
  double slice_spacing_mm = 0;
  double slice_thickness_mm = 0;       // from the headers; 0 when absent
};

struct StudyAnalysis {
  std::string model_id;
  std::string model_version;
  bool applies = false;
  std::string reason;                  // why the model does not apply (never empty then)
  std::string body_part_source;        // see SeriesSelection
  std::vector<AnalysedSeries> series;  // the series used (one per role)
  std::vector<LabelResult> labels;     // manifest order; empty when !applies
  std::vector<MeasurementResult> measurements;  // manifest order; empty when !applies
};

// True for a label that summarises its model's other labels as "any
// haemorrhage" ("any", "any ...", "ICH", "... haemorrhage"/"... hemorrhage",
// case- and underscore-insensitive); the model's other labels are then its
// subtypes. Used for ich_volume here and for Finding.subtype by the service.
bool IsAnyHaemorrhageLabel(const std::string& name);

// A study read and selected for one model, before the model runs: what
// Grad-CAM (explainability) needs to rebuild any item's input and to map the
// heatmap back to the source image.
struct PreparedStudy {
  StudyAnalysis analysis;              // applies/reason/series filled; no labels yet
  // Decoded frames of the selected series (modality units), one volume per
  // series role, each in analysed order; empty when !analysis.applies.
  std::vector<std::vector<dicom::PixelImage>> volumes;
  // Headers of those frames, parallel to `volumes`.
  std::vector<std::vector<dicom::InstanceHeader>> headers;
  std::vector<Normalisation> volume_stats;  // per volume, for volume_zscore models

  // The model input of items [first, first + count) (per-slice models; a
  // radiograph has one item), preprocessed exactly as Analyze does.
  // Errors: those of PreprocessVolumes.
  absl::StatusOr<Tensor> Input(size_t first, size_t count, const InputSpec& spec) const;
};

class StudyAnalyzer {
 public:
  explicit StudyAnalyzer(const Model& model, AnalyzerOptions options = {});

  // Analyses one study. Returns a StudyAnalysis with applies == false and a
  // reason when the model does not apply (that is a result, not an error).
  // Errors: INVALID_ARGUMENT when an instance is not readable DICOM (named by
  // its position in `instances`), when a selected instance's pixels cannot
  // be decoded, it has other than one frame, or its size differs from its
  // header or from its series (named by SOP Instance UID), or when `instances`
  // is empty; NOT_FOUND when a file is missing; INTERNAL when the model fails.
  absl::StatusOr<StudyAnalysis> Analyze(std::span<const StudyInstance> instances) const;

  // Steps 1-3 of Analyze (headers, selection, pixels) plus the volume
  // statistics, without running the model. Errors as Analyze, except INTERNAL.
  absl::StatusOr<PreparedStudy> Prepare(std::span<const StudyInstance> instances) const;

  // Steps 4-6 of Analyze on a study Prepare() returned (so a caller can look
  // at the pixels, e.g. a quality gate, without decoding them twice).
  absl::StatusOr<StudyAnalysis> AnalyzePrepared(PreparedStudy prepared) const;

  const AnalyzerOptions& options() const { return options_; }

 private:
  const Model& model_;
  AnalyzerOptions options_;
};

}  // namespace parallax::inference
