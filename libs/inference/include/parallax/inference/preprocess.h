#pragma once
// Turns decoded DICOM frames (modality units: HU for CT) into a model's input
// tensor, as its manifest says: resize each frame to the input's height and
// width (bilinear, pixel centres aligned), then per channel either apply the
// channel's window (CT: e.g. brain, subdural and bone windows stacked as
// channels; each maps to [0, 1]) or the normalisation (v - mean) / std,
// replicated to every channel. Pure functions; thread-safe.
#include <span>

#include <absl/status/statusor.h>

#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/model_manifest.h"
#include "parallax/inference/tensor.h"

namespace parallax::inference {

// One frame for a 2-D model: shape {1, C, H, W}. INVALID_ARGUMENT when the
// spec is 3-D, has no channels, or the frame is empty.
absl::StatusOr<Tensor> PreprocessFrame(const dicom::PixelImage& frame, const InputSpec& spec);

// Slices of a volume, in patient order. For a 2-D model (depth 1) each slice
// becomes one batch item: {N, C, H, W} (how a per-slice CT model is run). For
// a 3-D model the slices are resampled (nearest) to `depth`: {1, C, D, H, W}.
// INVALID_ARGUMENT on no slices or slices of different sizes.
absl::StatusOr<Tensor> PreprocessSlices(std::span<const dicom::PixelImage> slices, const InputSpec& spec);

}  // namespace parallax::inference
