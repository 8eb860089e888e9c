#pragma once
// ModelManifest: what a model file is, what it applies to, how its input is
// prepared and what its outputs mean. Parsed from the JSON file that sits next
// to each TorchScript file in a model directory (see ARCHITECTURE.md, Models).
// A plain value; not synchronised.
//
// JSON shape (unknown keys are rejected, so a typo is an error, not a default):
//   {
//     "id": "parallax.cxr.triage", "version": "1.2.0",
//     "device_uid": "2.25.…",           // changes with every retraining
//     "applies_to": {"modality": ["DX"], "body_part": ["CHEST"],
//                    "view_position": ["PA", "AP"]},  // [] = any
//     "input": {"channels": 1, "height": 224, "width": 224, "depth": 1,
//               "normalisation": {"mean": 0.5, "std": 0.25}},
//               // or, for CT, one window per channel:
//               // "windows": [{"center": 40, "width": 400}, …]
//               // or, for MRI, a z-score per volume (per series):
//               // "normalisation": {"mode": "volume_zscore"}
//               // optional, for multi-series input (MRI): channel i comes
//               // from the series of role i, one channel per role:
//               // "series": ["T1_POST_CONTRAST", "FLAIR"]
//     "labels": [{"name": "pneumothorax",
//                 "code": {"system": "http://snomed.info/sct",
//                          "code": "36118008", "display": "Pneumothorax"},
//                 "operating_point": 0.5}],
//     "measurements": [{"name": "effusion_volume", "unit": "mL"}]  // optional
//   }
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::inference {

struct AppliesTo {
  std::vector<std::string> modality;       // DICOM Modality (0008,0060); at least one
  std::vector<std::string> body_part;      // Body Part Examined (0018,0015); empty = any
  std::vector<std::string> view_position;  // View Position (0018,5101); empty = any
};

// A CT window in Hounsfield units: values map linearly from
// [center - width/2, center + width/2] to [0, 1].
struct Window {
  double center = 0;
  double width = 1;  // > 0
};

// Intensity normalisation for non-CT input: (x - mean) / std.
//   kFixed        mean and std as given in the manifest (radiographs; the
//                 phantom MRI has fixed scales, but a scanner's MR units do
//                 not, so real MRI deployments want kVolumeZScore).
//   kVolumeZScore mean and std measured per volume (per series) over its
//                 foreground voxels (see preprocess.h); JSON
//                 {"mode": "volume_zscore"}, without mean and std. A single
//                 2-D frame is its own "volume".
enum class NormalisationMode { kFixed, kVolumeZScore };
struct Normalisation {
  double mean = 0;
  double std = 1;  // > 0
  NormalisationMode mode = NormalisationMode::kFixed;
};

// The series roles a multi-series model can ask for (InputSpec::series), as
// written in the manifest. See series_selection.h for how headers map to them.
//   "T1", "T1_POST_CONTRAST", "T2", "FLAIR", "DWI"
const std::vector<std::string>& KnownSeriesRoles();

struct InputSpec {
  int channels = 1;
  int height = 0;
  int width = 0;
  int depth = 1;                       // slices; 1 for a 2-D model
  std::vector<Window> windows;         // one per channel, or empty
  std::optional<Normalisation> normalisation;  // exactly one of windows / normalisation
  // Multi-series input: channel i is taken from the series of role series[i]
  // (so series.size() == channels). Empty: every channel from one series.
  std::vector<std::string> series;

  // The model's input shape for a batch of `batch`: {N, C, H, W} when
  // depth == 1, else {N, C, D, H, W}.
  std::vector<int64_t> Shape(int64_t batch = 1) const;
};

struct Coding {
  std::string system;   // e.g. "http://snomed.info/sct"
  std::string code;     // e.g. "36118008"
  std::string display;  // e.g. "Pneumothorax"
};

struct Label {
  std::string name;        // unique within the manifest
  Coding code;
  double operating_point;  // calibrated probability threshold in [0, 1]
};

struct Measurement {
  std::string name;
  std::string unit;  // UCUM, e.g. "mL"
};

struct ModelManifest {
  std::string id;
  std::string version;
  std::string device_uid;
  AppliesTo applies_to;
  InputSpec input;
  std::vector<Label> labels;  // at least one; output i of the model is labels[i]
  std::vector<Measurement> measurements;
};

// Returns the manifest described by `json_text`. On failure returns
// INVALID_ARGUMENT naming the offending field by its path, e.g.
// "labels[2].operating_point must be within [0,1]", "input.height is
// missing", "unknown key applies_to.modalities", or "not JSON: …".
absl::StatusOr<ModelManifest> ParseModelManifest(const std::string& json_text);

}  // namespace parallax::inference
