#pragma once
// The Inference gRPC service (proto/parallax/inference/v1/inference.proto):
// reads the selected series' instances from a StudySource (ingest), runs
// each selected model's StudyAnalyzer, and answers per-label findings, the
// study decision and the measurements; RegisterPrior co-registers a prior
// study's series onto the current one (prior_registration.h). Stateless:
// any replica answers any call the same way.
//
// At most Options::max_concurrent analyses and registrations run at once
// (one limit for both: each is CPU-bound work); a call beyond that
// is refused at once with RESOURCE_EXHAUSTED (the caller retries, possibly on
// another replica) rather than queued behind work it cannot see.
//
// Thread-safety: gRPC calls Analyze/ListModels/RegisterPrior concurrently; the service
// holds only immutable models and atomics.
#include <atomic>
#include <string>
#include <vector>

#include "loaded_models.h"
#include "parallax/inference/v1/inference.grpc.pb.h"
#include "parallax/ingest_client/study_source.h"
#include "parallax/rpc/concurrency_limit.h"

namespace prometheus {
class Registry;
}

namespace parallax::inference_service {

class InferenceMetrics;

struct InferenceServiceOptions {
  int max_concurrent = 2;           // analyses at once
  int instance_read_parallelism = 4;
  std::string replica;              // reported in AnalyzeResponse.replica and RegisterPriorResponse.replica
  int registration_threads = 0;     // LibTorch intra-op threads for RegisterPrior (process-wide); 0 = as set
};

class InferenceService final : public inference::v1::Inference::Service {
 public:
  // `models` and `source` must outlive the service; `registry` may be null
  // (no metrics).
  InferenceService(const std::vector<LoadedModel>& models, ingest_client::StudySource& source,
                   InferenceServiceOptions options, prometheus::Registry* registry);
  ~InferenceService() override;

  grpc::Status Analyze(grpc::ServerContext* context, const inference::v1::AnalyzeRequest* request,
                       inference::v1::AnalyzeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const inference::v1::ListModelsRequest* request,
                          inference::v1::ListModelsResponse* response) override;
  grpc::Status RegisterPrior(grpc::ServerContext* context, const inference::v1::RegisterPriorRequest* request,
                             inference::v1::RegisterPriorResponse* response) override;

  // The logic of Analyze without gRPC, for tests and in-process callers.
  // `deadline` bounds the reads and is checked between models; `cancelled`
  // (may be null) is polled between stages. Errors as the proto documents.
  absl::StatusOr<inference::v1::AnalyzeResponse> Run(const inference::v1::AnalyzeRequest& request,
                                                     ingest_client::Deadline deadline,
                                                     const std::function<bool()>& cancelled = nullptr);

  // The logic of RegisterPrior without gRPC: validates, takes a concurrency
  // slot (RESOURCE_EXHAUSTED when none is free), then RegisterPrior() of
  // prior_registration.h with this service's source and options. Errors as
  // the proto documents.
  absl::StatusOr<inference::v1::RegisterPriorResponse> RunRegisterPrior(
      const inference::v1::RegisterPriorRequest& request, ingest_client::Deadline deadline,
      const std::function<bool()>& cancelled = nullptr);

 private:
  const LoadedModel* Find(const std::string& model_id) const;

  const std::vector<LoadedModel>& models_;
  ingest_client::StudySource& source_;
  InferenceServiceOptions options_;
  rpc::ConcurrencyLimit limit_;
  std::unique_ptr<InferenceMetrics> metrics_;
};

}  // namespace parallax::inference_service
