// One of the two translation units of Parallax that include LibTorch (with
// registration.cc): keep it that way (compile time), and keep torch types out
// of every header.
#include "parallax/inference/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>

#include <ATen/Parallel.h>
#include <absl/strings/str_cat.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>
#include <torch/script.h>

namespace parallax::inference {
namespace {

constexpr double kContractTolerance = 1e-4;
constexpr const char* kContractMethods[] = {"forward", "features", "head"};

// LibTorch error text without its C++ backtrace. A TorchScript error carries
// a long TorchScript traceback before the error itself: keep the error (its
// last line), which is what a person can act on.
std::string TorchMessage(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  if (text.find("Traceback of TorchScript") == std::string::npos) return text;
  size_t end = text.find_last_not_of(" \n");
  if (end == std::string::npos) return text;
  size_t begin = text.rfind('\n', end);
  return text.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin == std::string::npos ? 0 : begin + 1));
}

// A deterministic input in [0, 1) of `shape` (a fixed linear congruential
// sequence, independent of LibTorch's global generator).
torch::Tensor ProbeInput(const std::vector<int64_t>& shape) {
  torch::Tensor t = torch::empty(shape, torch::kFloat);
  float* p = t.data_ptr<float>();
  uint32_t state = 0x9E3779B9u;
  for (int64_t i = 0; i < t.numel(); ++i) {
    state = state * 1664525u + 1013904223u;
    p[i] = static_cast<float>(state >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}

Tensor ToParallax(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU).to(torch::kFloat).contiguous();
  Tensor out;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  const float* p = c.data_ptr<float>();
  out.data.assign(p, p + c.numel());
  return out;
}

}  // namespace

struct Model::Impl {
  torch::jit::Module module;
  torch::Device device = torch::kCPU;

  // forward(x), features(x) or head(f) on a tensor that already has the
  // right shape. Throws what LibTorch throws.
  torch::Tensor Call(const char* method, const torch::Tensor& x) const {
    // Method lookup and invocation only read the module; the JIT guards its
    // lazily compiled execution plans with its own mutex.
    auto m = module.get_method(method);
    c10::IValue out = m({x.device() == device ? x : x.to(device)});
    if (!out.isTensor()) {
      throw std::runtime_error(absl::StrCat(method, "() returned a ", out.tagKind(), ", not a Tensor"));
    }
    return out.toTensor();
  }
};

Model::Model(std::string path, std::string device, ModelManifest manifest, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), device_(std::move(device)), manifest_(std::move(manifest)), impl_(std::move(impl)) {}

namespace {

// "cpu", "cuda" or "cuda:N" as a torch::Device, checked against what this
// LibTorch build and machine offer.
absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  if (name == "cpu" || name.empty()) return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("device \"", name, "\" is not one of cpu, cuda, cuda:N"));
  }
  int index = 0;
  if (name.size() > 4) {
    if (name[4] != ':' || name.size() == 5 ||
        name.find_first_not_of("0123456789", 5) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("device \"", name, "\" is not one of cpu, cuda, cuda:N"));
    }
    index = std::stoi(name.substr(5));
  }
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", name, " was asked for but this LibTorch build or machine has no usable CUDA device"));
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(absl::StrCat("device ", name, " was asked for but only ",
                                                      torch::cuda::device_count(), " CUDA device(s) exist"));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace

Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& torchscript_path,
                                                   ModelManifest manifest, const LoadOptions& opts) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(torchscript_path, ec)) {
    return absl::NotFoundError(absl::StrCat("model file ", torchscript_path, " does not exist"));
  }
  absl::StatusOr<torch::Device> device = ParseDevice(opts.device);
  if (!device.ok()) return device.status();
  if (opts.intra_op_threads > 0) at::set_num_threads(opts.intra_op_threads);

  auto impl = std::make_unique<Impl>();
  impl->device = *device;
  try {
    impl->module = torch::jit::load(torchscript_path, *device);
  } catch (const std::exception& e) {
    std::string why = TorchMessage(e);
    why = why.substr(0, why.find('\n'));
    return absl::InvalidArgumentError(absl::StrCat(
        "model file ", torchscript_path, " is not a TorchScript archive (save it with torch.jit.save): ", why));
  }
  for (const char* method : kContractMethods) {
    if (!impl->module.find_method(method)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file ", torchscript_path, " lacks method ", method,
          "(); the Parallax model contract needs forward(x), features(x) and head(f) "
          "(mark features and head with @torch.jit.export)"));
    }
  }
  impl->module.eval();

  const std::vector<int64_t> probe_shape = manifest.input.Shape(1);
  const int64_t labels = static_cast<int64_t>(manifest.labels.size());
  auto check_contract = [&](const Impl& candidate, const char* stage) -> absl::Status {
    torch::Tensor x = ProbeInput(probe_shape);
    torch::Tensor direct, composed;
    try {
      c10::InferenceMode guard;
      direct = candidate.Call("forward", x);
      composed = candidate.Call("head", candidate.Call("features", x));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("model file ", torchscript_path, " fails", stage,
                                                     " on an input of the manifest's shape ",
                                                     ShapeToString(probe_shape), ": ", TorchMessage(e)));
    }
    if (direct.numel() != labels) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file ", torchscript_path, " gives ", direct.numel(), " outputs (shape ",
          ShapeToString(std::vector<int64_t>(direct.sizes().begin(), direct.sizes().end())),
          ") for one input but manifest ", manifest.id, " lists ", labels, " labels"));
    }
    if (!direct.sizes().equals(composed.sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model file ", torchscript_path, " breaks the contract forward(x) == head(features(x))", stage,
          ": shapes differ"));
    }
    double diff = (direct.to(torch::kDouble) - composed.to(torch::kDouble)).abs().max().item<double>();
    if (!(diff <= kContractTolerance)) {
      return absl::InvalidArgumentError(
          absl::StrCat("model file ", torchscript_path, " breaks the contract forward(x) == head(features(x))",
                       stage, ": max |difference| ", diff, " exceeds ", kContractTolerance));
    }
    return absl::OkStatus();
  };

  if (absl::Status s = check_contract(*impl, ""); !s.ok()) return s;
  if (opts.freeze) {
    auto frozen = std::make_unique<Impl>();
    frozen->device = impl->device;
    try {
      frozen->module = torch::jit::freeze(impl->module, std::vector<std::string>{"features", "head"});
      if (opts.optimize_for_inference && device->is_cpu()) {
        // Measured (scripts/bench/inference): 2.2-2.7x faster than freezing
        // alone on the reference CNNs, mostly from MKL-DNN pooling and fewer
        // layout conversions; the contract check below still guards it.
        frozen->module = torch::jit::optimize_for_inference(frozen->module, {"features", "head"});
      }
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("model file ", torchscript_path,
                                                     " cannot be frozen (load it with freeze = false): ",
                                                     TorchMessage(e)));
    }
    // Freezing folds constants; check the frozen module still honours the
    // contract (this also warms up its execution plan).
    if (absl::Status s = check_contract(*frozen, " after freezing"); !s.ok()) return s;
    impl = std::move(frozen);
  }
  return std::unique_ptr<Model>(
      new Model(torchscript_path, device->str(), std::move(manifest), std::move(impl)));
}

namespace {

absl::Status CheckInput(const Tensor& input, const ModelManifest& manifest) {
  if (absl::Status s = ValidateTensor(input); !s.ok()) return s;
  std::vector<int64_t> expected = manifest.input.Shape(input.shape.empty() ? 1 : input.shape[0]);
  if (input.shape != expected) {
    std::string wanted = ShapeToString(manifest.input.Shape(1));
    wanted.replace(1, 1, "N");
    return absl::InvalidArgumentError(absl::StrCat("input shape ", ShapeToString(input.shape),
                                                   " does not match model ", manifest.id, "'s input ",
                                                   wanted));
  }
  return absl::OkStatus();
}

torch::Tensor Wrap(const Tensor& input) {
  // No copy: the model only reads its input.
  return torch::from_blob(const_cast<float*>(input.data.data()), input.shape, torch::kFloat);
}

}  // namespace

absl::StatusOr<std::vector<float>> Model::Logits(const Tensor& input) const {
  if (absl::Status s = CheckInput(input, manifest_); !s.ok()) return s;
  const int64_t expected = input.shape[0] * static_cast<int64_t>(manifest_.labels.size());
  try {
    c10::InferenceMode guard;
    torch::Tensor out = impl_->Call("forward", Wrap(input));
    if (out.numel() != expected) {
      return absl::InternalError(absl::StrCat("model ", manifest_.id, " gave ", out.numel(),
                                              " outputs, expected ", expected));
    }
    return ToParallax(out).data;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("model ", manifest_.id, " (", path_, ") failed: ", TorchMessage(e)));
  }
}

absl::StatusOr<std::vector<float>> Model::Probabilities(const Tensor& input) const {
  absl::StatusOr<std::vector<float>> logits = Logits(input);
  if (!logits.ok()) return logits.status();
  for (float& v : *logits) v = 1.0f / (1.0f + std::exp(-v));
  return logits;
}

absl::StatusOr<FeatureResult> Model::Features(const Tensor& input) const {
  if (absl::Status s = CheckInput(input, manifest_); !s.ok()) return s;
  try {
    c10::InferenceMode guard;
    torch::Tensor features = impl_->Call("features", Wrap(input));
    torch::Tensor logits = impl_->Call("head", features);
    FeatureResult result;
    result.features = ToParallax(features);
    result.logits = ToParallax(logits).data;
    return result;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("model ", manifest_.id, " (", path_, ") failed: ", TorchMessage(e)));
  }
}

absl::StatusOr<FeatureGradient> Model::LogitGradientWrtFeatures(const Tensor& input, int label_index) const {
  if (absl::Status s = CheckInput(input, manifest_); !s.ok()) return s;
  if (input.shape[0] != 1) {
    return absl::InvalidArgumentError(absl::StrCat("a feature gradient is computed for one item; input shape ",
                                                   ShapeToString(input.shape), " holds ", input.shape[0]));
  }
  // One item: the batched gradient of a one-element sum is the item's own.
  absl::StatusOr<FeatureGradients> batch = LogitGradientsWrtFeatures(input, label_index);
  if (!batch.ok()) return batch.status();
  FeatureGradient out;
  out.features = std::move(batch->features);
  out.gradient = std::move(batch->gradient);
  out.logit = batch->logits.at(0);
  return out;
}

absl::StatusOr<FeatureGradients> Model::LogitGradientsWrtFeatures(const Tensor& input, int label_index) const {
  if (absl::Status s = CheckInput(input, manifest_); !s.ok()) return s;
  const int labels = static_cast<int>(manifest_.labels.size());
  if (label_index < 0 || label_index >= labels) {
    return absl::InvalidArgumentError(absl::StrCat("label index ", label_index, " is out of range: model ",
                                                   manifest_.id, " has ", labels, " labels"));
  }
  const int64_t items = input.shape[0];
  torch::Tensor features;
  try {
    torch::NoGradGuard no_grad;
    features = impl_->Call("features", Wrap(input));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("model ", manifest_.id, " (", path_, ") failed in features(): ", TorchMessage(e)));
  }
  try {
    torch::AutoGradMode grad_on(true);
    torch::Tensor f = features.to(torch::kFloat).contiguous().clone().detach().requires_grad_(true);
    torch::Tensor logits = impl_->Call("head", f);
    if (logits.numel() != items * labels) {
      return absl::InternalError(absl::StrCat("model ", manifest_.id, " gave ", logits.numel(), " outputs for ",
                                              items, " items, expected ", items * labels));
    }
    torch::Tensor targets = logits.reshape({items, labels}).select(1, label_index);
    if (!targets.requires_grad()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model ", manifest_.id, " (", path_, ") does not track gradients through head() as loaded "
          "(load it with freeze = false for Grad-CAM)"));
    }
    std::vector<torch::Tensor> grads = torch::autograd::grad({targets.sum()}, {f});
    FeatureGradients out;
    out.features = ToParallax(f.detach());
    out.gradient = ToParallax(grads.at(0));
    torch::Tensor t = targets.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
    out.logits.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    return out;
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("model ", manifest_.id, " (", path_,
                                                      ") cannot back-propagate through head() as loaded "
                                                      "(load it with freeze = false for Grad-CAM): ",
                                                      TorchMessage(e)));
  }
}

}  // namespace parallax::inference
