#include "parallax/inference/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace parallax::inference {
namespace {

// Bilinear resize with pixel centres aligned (align_corners = false).
void Resize(const dicom::PixelImage& in, int height, int width, std::vector<float>* out) {
  out->resize(static_cast<size_t>(height) * width);
  const double sy = static_cast<double>(in.rows) / height;
  const double sx = static_cast<double>(in.columns) / width;
  for (int y = 0; y < height; ++y) {
    const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, static_cast<double>(in.rows - 1));
    const int y0 = static_cast<int>(fy);
    const int y1 = std::min(y0 + 1, in.rows - 1);
    const double wy = fy - y0;
    for (int x = 0; x < width; ++x) {
      const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, static_cast<double>(in.columns - 1));
      const int x0 = static_cast<int>(fx);
      const int x1 = std::min(x0 + 1, in.columns - 1);
      const double wx = fx - x0;
      auto at = [&](int r, int c) { return static_cast<double>(in.values[static_cast<size_t>(r) * in.columns + c]); };
      const double top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
      const double bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
      (*out)[static_cast<size_t>(y) * width + x] = static_cast<float>(top * (1 - wy) + bottom * wy);
    }
  }
}

absl::Status CheckSpec(const InputSpec& spec) {
  if (spec.channels < 1 || spec.height < 1 || spec.width < 1 || spec.depth < 1) {
    return absl::InvalidArgumentError("the manifest's input has a non-positive dimension");
  }
  if (!spec.windows.empty() && static_cast<int>(spec.windows.size()) != spec.channels) {
    return absl::InvalidArgumentError("the manifest has " + std::to_string(spec.windows.size()) +
                                      " windows for " + std::to_string(spec.channels) + " channels");
  }
  if (spec.windows.empty() && !spec.normalisation) {
    return absl::InvalidArgumentError("the manifest's input has neither windows nor a normalisation");
  }
  return absl::OkStatus();
}

absl::Status CheckFrame(const dicom::PixelImage& frame) {
  if (frame.rows < 1 || frame.columns < 1 ||
      frame.values.size() != static_cast<size_t>(frame.rows) * frame.columns) {
    return absl::InvalidArgumentError("an empty or inconsistent frame cannot be preprocessed");
  }
  return absl::OkStatus();
}

// Writes channel c of one resized frame at `dst`: window c, or (v - mean) / std
// with `norm` (the manifest's fixed normalisation or a measured one).
void ChannelPlane(const std::vector<float>& resized, const InputSpec& spec, int c, const Normalisation& norm,
                  float* dst) {
  const size_t plane = resized.size();
  if (!spec.windows.empty()) {
    const double lo = spec.windows[static_cast<size_t>(c)].center - spec.windows[static_cast<size_t>(c)].width / 2;
    const double width = spec.windows[static_cast<size_t>(c)].width;
    for (size_t i = 0; i < plane; ++i) dst[i] = static_cast<float>(std::clamp((resized[i] - lo) / width, 0.0, 1.0));
  } else {
    const double mean = norm.mean;
    const double sd = norm.std;
    for (size_t i = 0; i < plane; ++i) dst[i] = static_cast<float>((resized[i] - mean) / sd);
  }
}

// Writes the C channel planes of one resized frame at `out`.
void Channels(const std::vector<float>& resized, const InputSpec& spec, const Normalisation& norm, float* out) {
  const size_t plane = resized.size();
  for (int c = 0; c < spec.channels; ++c) ChannelPlane(resized, spec, c, norm, out + static_cast<size_t>(c) * plane);
}

bool NeedsVolumeStats(const InputSpec& spec) {
  return spec.windows.empty() && spec.normalisation && spec.normalisation->mode == NormalisationMode::kVolumeZScore;
}

// The normalisation to apply to `slices`: the manifest's, or measured.
absl::StatusOr<Normalisation> Resolve(const InputSpec& spec, std::span<const dicom::PixelImage> slices) {
  if (!spec.windows.empty()) return Normalisation{};
  if (NeedsVolumeStats(spec)) return VolumeZScore(slices);
  return *spec.normalisation;
}

}  // namespace

absl::StatusOr<Tensor> PreprocessFrame(const dicom::PixelImage& frame, const InputSpec& spec) {
  if (absl::Status s = CheckSpec(spec); !s.ok()) return s;
  if (spec.depth != 1) return absl::InvalidArgumentError("PreprocessFrame needs a 2-D model (depth 1)");
  if (absl::Status s = CheckFrame(frame); !s.ok()) return s;
  Tensor t;
  t.shape = spec.Shape(1);
  t.data.resize(static_cast<size_t>(NumElements(t.shape)));
  auto norm = Resolve(spec, std::span<const dicom::PixelImage>(&frame, 1));
  if (!norm.ok()) return norm.status();
  std::vector<float> resized;
  Resize(frame, spec.height, spec.width, &resized);
  Channels(resized, spec, *norm, t.data.data());
  return t;
}

absl::StatusOr<Tensor> PreprocessSlices(std::span<const dicom::PixelImage> slices, const InputSpec& spec) {
  if (absl::Status s = CheckSpec(spec); !s.ok()) return s;
  if (slices.empty()) return absl::InvalidArgumentError("no slices to preprocess");
  for (const auto& s : slices) {
    if (absl::Status st = CheckFrame(s); !st.ok()) return st;
    if (s.rows != slices[0].rows || s.columns != slices[0].columns) {
      return absl::InvalidArgumentError("the slices of a series differ in size");
    }
  }
  auto norm = Resolve(spec, slices);
  if (!norm.ok()) return norm.status();
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
  std::vector<float> resized;
  Tensor t;
  if (spec.depth == 1) {
    t.shape = spec.Shape(static_cast<int64_t>(slices.size()));
    t.data.resize(static_cast<size_t>(NumElements(t.shape)));
    for (size_t n = 0; n < slices.size(); ++n) {
      Resize(slices[n], spec.height, spec.width, &resized);
      Channels(resized, spec, *norm, t.data.data() + n * spec.channels * plane);
    }
    return t;
  }
  // 3-D: {1, C, D, H, W}; slice d of the input takes the nearest source slice.
  t.shape = spec.Shape(1);
  t.data.resize(static_cast<size_t>(NumElements(t.shape)));
  std::vector<float> channels(static_cast<size_t>(spec.channels) * plane);
  for (int d = 0; d < spec.depth; ++d) {
    const size_t source = std::min(slices.size() - 1,
                                   static_cast<size_t>((d + 0.5) * slices.size() / spec.depth));
    Resize(slices[source], spec.height, spec.width, &resized);
    Channels(resized, spec, *norm, channels.data());
    for (int c = 0; c < spec.channels; ++c) {
      std::copy_n(channels.data() + static_cast<size_t>(c) * plane, plane,
                  t.data.data() + (static_cast<size_t>(c) * spec.depth + d) * plane);
    }
  }
  return t;
}

absl::StatusOr<Normalisation> VolumeZScore(std::span<const dicom::PixelImage> volume) {
  size_t total = 0;
  for (const auto& f : volume) total += f.values.size();
  if (total == 0) return absl::InvalidArgumentError("no voxels to measure a z-score over");
  // Percentiles from a strided sample of at most ~1M voxels.
  const size_t stride = std::max<size_t>(1, total / 1'000'000);
  std::vector<float> sample;
  sample.reserve(total / stride + 1);
  size_t i = 0;
  for (const auto& f : volume) {
    for (float v : f.values) {
      if (i++ % stride == 0) sample.push_back(v);
    }
  }
  auto pct = [&](double q) {
    const size_t k = std::min(sample.size() - 1, static_cast<size_t>(q * (sample.size() - 1)));
    std::nth_element(sample.begin(), sample.begin() + k, sample.end());
    return static_cast<double>(sample[k]);
  };
  const double p1 = pct(0.01), p99 = pct(0.99);
  const double threshold = p1 + 0.1 * (p99 - p1);
  double sum = 0, sum2 = 0;
  size_t n = 0;
  for (const auto& f : volume) {
    for (float v : f.values) {
      if (v > threshold || p99 <= p1) {
        sum += v;
        sum2 += static_cast<double>(v) * v;
        ++n;
      }
    }
  }
  if (n == 0) return absl::InvalidArgumentError("a volume without foreground voxels cannot be z-scored");
  const double mean = sum / n;
  const double var = std::max(0.0, sum2 / n - mean * mean);
  return Normalisation{.mean = mean, .std = std::max(std::sqrt(var), 1e-6), .mode = NormalisationMode::kFixed};
}

absl::StatusOr<Tensor> PreprocessVolumes(std::span<const std::vector<dicom::PixelImage>> volumes, size_t first,
                                         size_t count, const InputSpec& spec,
                                         std::span<const Normalisation> volume_stats) {
  if (absl::Status s = CheckSpec(spec); !s.ok()) return s;
  if (volumes.size() != 1 && static_cast<int>(volumes.size()) != spec.channels) {
    return absl::InvalidArgumentError("the input needs 1 or " + std::to_string(spec.channels) +
                                      " volumes, got " + std::to_string(volumes.size()));
  }
  const size_t slices = volumes[0].size();
  if (count == 0 || first + count > slices) {
    return absl::InvalidArgumentError("slice range [" + std::to_string(first) + ", " + std::to_string(first + count) +
                                      ") is empty or beyond the volume's " + std::to_string(slices) + " slices");
  }
  const auto& ref = volumes[0][0];
  for (size_t v = 0; v < volumes.size(); ++v) {
    if (volumes[v].size() != slices) {
      return absl::InvalidArgumentError("volume " + std::to_string(v) + " has " + std::to_string(volumes[v].size()) +
                                        " slices, volume 0 has " + std::to_string(slices));
    }
    for (const auto& f : volumes[v]) {
      if (absl::Status st = CheckFrame(f); !st.ok()) return st;
      if (f.rows != ref.rows || f.columns != ref.columns) {
        return absl::InvalidArgumentError("the slices of the input volumes differ in size");
      }
    }
  }
  if (!volume_stats.empty() && volume_stats.size() != volumes.size()) {
    return absl::InvalidArgumentError("volume_stats must have one entry per volume");
  }
  std::vector<Normalisation> norms(volumes.size());
  for (size_t v = 0; v < volumes.size(); ++v) {
    if (!volume_stats.empty() && NeedsVolumeStats(spec)) {
      norms[v] = volume_stats[v];
      continue;
    }
    auto n = Resolve(spec, volumes[v]);
    if (!n.ok()) return n.status();
    norms[v] = *n;
  }
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
  std::vector<float> resized;
  // Writes the C planes of source slice `s` at `dst`, channel stride `stride`.
  auto write_slice = [&](size_t s, float* dst, size_t stride) {
    if (volumes.size() == 1) {
      Resize(volumes[0][s], spec.height, spec.width, &resized);
      for (int c = 0; c < spec.channels; ++c) ChannelPlane(resized, spec, c, norms[0], dst + c * stride);
      return;
    }
    for (int c = 0; c < spec.channels; ++c) {
      Resize(volumes[static_cast<size_t>(c)][s], spec.height, spec.width, &resized);
      ChannelPlane(resized, spec, c, norms[static_cast<size_t>(c)], dst + c * stride);
    }
  };
  Tensor t;
  if (spec.depth == 1) {
    t.shape = spec.Shape(static_cast<int64_t>(count));
    t.data.resize(static_cast<size_t>(NumElements(t.shape)));
    for (size_t n = 0; n < count; ++n) write_slice(first + n, t.data.data() + n * spec.channels * plane, plane);
    return t;
  }
  t.shape = spec.Shape(1);
  t.data.resize(static_cast<size_t>(NumElements(t.shape)));
  for (int d = 0; d < spec.depth; ++d) {
    const size_t source = first + std::min(count - 1, static_cast<size_t>((d + 0.5) * count / spec.depth));
    write_slice(source, t.data.data() + static_cast<size_t>(d) * plane, static_cast<size_t>(spec.depth) * plane);
  }
  return t;
}

}  // namespace parallax::inference
