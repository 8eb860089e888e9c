#pragma once
// Turns decoded DICOM frames (modality units: HU for CT) into a model's input
// tensor, as its manifest says: resize each frame to the input's height and
// width (bilinear, pixel centres aligned), then per channel either apply the
// channel's window (CT: e.g. brain, subdural and bone windows stacked as
// channels; each maps to [0, 1]) or the normalisation (v - mean) / std,
// replicated to every channel. With a {"mode": "volume_zscore"}
// normalisation the mean and std are measured (VolumeZScore) over what is
// given: the frame for PreprocessFrame, all slices for PreprocessSlices.
// Pure functions; thread-safe.
#include <cstddef>
#include <span>
#include <vector>

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

// The z-score statistics of a volume (one series): mean and standard
// deviation of its foreground, the voxels above p1 + 10% of (p99 - p1)
// (so air and background noise do not count). INVALID_ARGUMENT on no voxels.
// The result has mode kFixed and can be used as a fixed normalisation.
absl::StatusOr<Normalisation> VolumeZScore(std::span<const dicom::PixelImage> volume);

// Multi-series (or batched) input: `volumes` holds either one volume (every
// channel from it, as PreprocessSlices) or one volume per channel (channel c
// from volumes[c], e.g. spec.series roles), all with the same slice count
// and frame size. Takes slices [first, first + count):
//   depth 1: {count, C, H, W}, one item per slice;
//   depth D: {1, C, D, H, W}, those slices resampled (nearest) to D.
// Channel c is windowed with windows[c], or normalised; for volume_zscore
// with `volume_stats[v]` of volume v when given (so a batch is normalised
// with its whole volume's statistics), else measured over volumes[v] whole.
// INVALID_ARGUMENT on a volume count other than 1 or C, differing slice
// counts or sizes, an empty or out-of-range slice range, or a wrong number of
// volume_stats.
absl::StatusOr<Tensor> PreprocessVolumes(std::span<const std::vector<dicom::PixelImage>> volumes, size_t first,
                                         size_t count, const InputSpec& spec,
                                         std::span<const Normalisation> volume_stats = {});

}  // namespace parallax::inference
