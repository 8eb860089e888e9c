#pragma once
// The Explainability gRPC service (proto/parallax/explainability/v1):
// Grad-CAM of one label of one model on the slices a finding came from, the
// region above a threshold with its centroid, the patient's side, the
// anatomical zone and the size (libs/evidence), PNG heatmaps and overlays
// for the UI, and a DICOM Secondary Capture of the overlay for the PACS.
//
// Pixels are read from ingest and prepared exactly as inference prepared
// them (StudyAnalyzer::Prepare), so the explained input is the analysed one.
// Models are loaded with freeze = false: Grad-CAM needs gradients through
// head(), which the frozen, optimised modules inference runs do not keep.
//
// Thread-safety: gRPC calls Explain concurrently; the service holds only
// immutable models and an atomic counter.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

#include "parallax/explainability/v1/explainability.grpc.pb.h"
#include "parallax/inference/grad_cam.h"
#include "parallax/inference/model.h"
#include "parallax/inference/study_analysis.h"
#include "parallax/ingest_client/study_source.h"
#include "parallax/rpc/concurrency_limit.h"

namespace prometheus {
class Registry;
}

namespace parallax::explainability {

struct ExplainableModel {
  std::unique_ptr<inference::Model> model;  // loaded with freeze = false
  std::unique_ptr<inference::StudyAnalyzer> analyzer;
};

// Loads every model of `dir` for Grad-CAM (freeze = false) and runs one
// Grad-CAM on a blank input per 2-D model, so a request does not pay
// LibTorch's first-call cost. Errors as inference::LoadModelDirectory,
// naming the file.
absl::StatusOr<std::vector<ExplainableModel>> LoadExplainableModels(const std::string& dir,
                                                                   const std::string& device, int intra_op_threads);

// Wall time of Run()'s stages in milliseconds, for profiling
// (tools/explain_profile.cc). Filled as far as Run() got.
struct ExplainTimings {
  double read_ms = 0;               // GetStudy + ReadInstances
  double prepare_ms = 0;            // StudyAnalyzer::Prepare (decode, select)
  double grad_cam_ms = 0;           // inputs + Grad-CAM over the explained slices
  double resample_ms = 0;           // maps to image resolution, one scale
  double describe_ms = 0;           // DescribeEvidence (region, side, zone, size)
  double png_ms = 0;                // heatmap + overlay PNGs
  double secondary_capture_ms = 0;  // overlay RGB + DICOM Secondary Capture
  double total_ms = 0;
  int slices_explained = 0;         // Grad-CAM passes
  size_t png_bytes = 0;             // all PNGs of the response
};

struct ExplainabilityServiceOptions {
  int max_concurrent = 2;
  int max_slices = 64;                       // Grad-CAM passes per request
  inference::CamMethod default_method = inference::CamMethod::kLayerCam;
  int instance_read_parallelism = 4;
  int grad_cam_batch_size = 16;             // slices per Grad-CAM backward pass (>= 1)
  int render_threads = 2;                    // threads drawing one request's PNGs (>= 1)
};

class ExplainabilityService final : public explainability::v1::Explainability::Service {
 public:
  // `models` and `source` must outlive the service; `registry` may be null.
  ExplainabilityService(const std::vector<ExplainableModel>& models, ingest_client::StudySource& source,
                        ExplainabilityServiceOptions options, prometheus::Registry* registry);
  ~ExplainabilityService() override;

  grpc::Status Explain(grpc::ServerContext* context, const explainability::v1::ExplainRequest* request,
                       explainability::v1::ExplainResponse* response) override;

  // The logic of Explain without gRPC. Errors as the proto documents, plus
  // FAILED_PRECONDITION when the model does not apply to the series (reason
  // given) and UNIMPLEMENTED for Grad-CAM++.
  // `timings`, when not null, receives the stages' wall times.
  absl::StatusOr<explainability::v1::ExplainResponse> Run(const explainability::v1::ExplainRequest& request,
                                                          ingest_client::Deadline deadline,
                                                          ExplainTimings* timings = nullptr);

 private:
  struct Metrics;
  const ExplainableModel* Find(const std::string& model_id) const;

  const std::vector<ExplainableModel>& models_;
  ingest_client::StudySource& source_;
  ExplainabilityServiceOptions options_;
  rpc::ConcurrencyLimit limit_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace parallax::explainability
