#pragma once
// Model: one loaded TorchScript model plus its manifest, checked against the
// Parallax model contract at load time (ARCHITECTURE.md, Models):
//   forward(x)  -> logits [N, labels]
//   features(x) -> the activations Grad-CAM explains
//   head(f)     -> logits, with forward(x) == head(features(x))
//
// Thread-safety: a Model is immutable after Load(); Logits(), Probabilities()
// and Features() may be called concurrently from any number of threads on
// the same Model. Each call runs with gradients off (inference mode) and uses
// up to LoadOptions::intra_op_threads threads for its own operators.
//
// LibTorch stays behind this header: callers see Parallax types only, and
// every LibTorch exception is turned into an absl::Status here.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/inference/model_manifest.h"
#include "parallax/inference/tensor.h"

namespace parallax::inference {

struct LoadOptions {
  // Threads one inference call may use for its operators (LibTorch's
  // intra-op pool). Process-wide in LibTorch: the last Load() wins. 1 is
  // best when many calls run in parallel; 0 keeps LibTorch's default.
  int intra_op_threads = 1;
  // Freeze the module (torch::jit::freeze: inline parameters, fold
  // constants) after the contract check. Results stay within 1e-4.
  bool freeze = true;
  // With freeze: also torch::jit::optimize_for_inference (MKL-DNN layouts,
  // fused ops), measured 2.2-2.7x faster on the reference models. Outputs
  // stay within 1e-4 (checked at load). A caller that needs gradients through
  // head() (Grad-CAM) should load with freeze = false.
  bool optimize_for_inference = true;
  // Where the model runs: "cpu", or "cuda" / "cuda:N" when LibTorch was
  // built with CUDA and a device is present. The same code path serves both:
  // inputs are moved to the device and results back to the host.
  // optimize_for_inference applies to "cpu" only (its rewrites are MKL-DNN's).
  std::string device = "cpu";
};

// The features activation for an input, with the logits head() gives for it.
struct FeatureResult {
  Tensor features;            // as returned by features(x), e.g. [N, K, h, w]
  std::vector<float> logits;  // head(features), row-major [N, labels]
};

// The gradient of one logit with respect to the features activation, for
// Grad-CAM (grad_cam.h).
struct FeatureGradient {
  Tensor features;   // features(x) for one item, [1, K, h, w] (or [1, K, d, h, w])
  Tensor gradient;   // d head(features)[0, label] / d features, same shape
  float logit = 0;   // head(features)[0, label]
};

// The same for a batch of items, from one backward pass.
struct FeatureGradients {
  Tensor features;            // features(x), [N, K, h, w] (or [N, K, d, h, w])
  Tensor gradient;            // item n's d head(features)[n, label] / d features[n], same shape
  std::vector<float> logits;  // head(features)[n, label], one per item
};

class Model {
 public:
  // Loads `torchscript_path` and checks it against `manifest`. Returns:
  //   NOT_FOUND         the file does not exist;
  //   FAILED_PRECONDITION  opts.device is "cuda..." and no CUDA device is
  //                     usable (the message says which);
  //   INVALID_ARGUMENT  opts.device is not "cpu", "cuda" or "cuda:N";
  //   INVALID_ARGUMENT  it is not a TorchScript archive; the module lacks
  //                     forward, features or head; it fails on a probe input
  //                     of the manifest's shape; forward(x) differs from
  //                     head(features(x)) by more than 1e-4; or its output
  //                     count differs from the manifest's number of labels.
  // Every message names the file.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& torchscript_path,
                                                     ModelManifest manifest,
                                                     const LoadOptions& opts = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelManifest& manifest() const { return manifest_; }
  const std::string& path() const { return path_; }
  // The device the model runs on, e.g. "cpu" or "cuda:0".
  const std::string& device() const { return device_; }

  // Returns forward(input) as N x labels values, row-major. `input` must have
  // shape manifest().input.Shape(N) for some N >= 1 and be preprocessed
  // (windowed or normalised) already. INVALID_ARGUMENT when the shape or
  // data size is wrong, INTERNAL when LibTorch fails while running.
  absl::StatusOr<std::vector<float>> Logits(const Tensor& input) const;

  // As Logits(), passed through the logistic sigmoid (one independent
  // probability per label).
  absl::StatusOr<std::vector<float>> Probabilities(const Tensor& input) const;

  // Returns features(input) and head() of it. Errors as Logits().
  absl::StatusOr<FeatureResult> Features(const Tensor& input) const;

  // Runs features(input) without gradients, then head() on it with autograd
  // and returns d logit[label_index] / d features (Grad-CAM's ingredient).
  // `input` must hold exactly one item (N == 1). Errors: INVALID_ARGUMENT for
  // a wrong shape, N != 1 or a label index out of range; FAILED_PRECONDITION
  // when the loaded module cannot run head() with autograd. Measured on the
  // four reference models: loaded with the defaults (freeze +
  // optimize_for_inference) head()'s output does not require grad (MKL-DNN
  // ops), so this fails; with freeze = false it works (in Python 1.13,
  // freezing without optimize_for_inference keeps autograd too). Load a
  // Grad-CAM model with freeze = false. INTERNAL when LibTorch fails
  // otherwise. Thread-safe like Logits(): each call builds its own graph.
  absl::StatusOr<FeatureGradient> LogitGradientWrtFeatures(const Tensor& input, int label_index) const;

  // LogitGradientWrtFeatures for N >= 1 items in one features() call and one
  // backward pass: the gradient of the sum of the items' target logits, which
  // is each item's own gradient because head() treats items independently
  // (the reference models: convolutions, BatchNorm in eval mode, pooling per
  // item, a linear layer). Same errors, without the N == 1 rule.
  absl::StatusOr<FeatureGradients> LogitGradientsWrtFeatures(const Tensor& input, int label_index) const;

 private:
  struct Impl;  // holds the torch::jit::Module (src/model.cc)
  Model(std::string path, std::string device, ModelManifest manifest, std::unique_ptr<Impl> impl);

  std::string path_;
  std::string device_;
  ModelManifest manifest_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parallax::inference
