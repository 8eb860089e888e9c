#pragma once
// The analysis worker: claims a job from the queue, calls Inference.Analyze
// with a deadline, then Explainability.Explain for each positive finding (on
// the slices that carry it), merges side, zone, size and evidence into the
// findings, scores the final urgency, and stores the analysed study together
// with its route-outbox entry in the job's Complete transaction (so a worker
// whose lease was taken over stores nothing: exactly one analysis per study
// generation). A heartbeat renews the lease while the work runs. With a
// PriorComparer, each analysed study is compared with the patient's prior
// before its urgency is scored (prior_comparison.h; bounded, never fails
// the job).
//
// Failures: inference unreachable, at capacity or past its deadline is
// retried with backoff and dead-lettered after the queue's max attempts (the
// study then shows failed with the reason); a request inference refuses
// (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION) fails the job at once.
// An explanation that fails (after retries while the explainability
// replica is at capacity or unreachable, within explain_timeout) does not
// hold the alert back: the finding is stored without evidence and the
// failure is counted and logged.
//
// Thread-safety: one AnalysisWorker per thread; the collaborators are shared.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <absl/status/status.h>

#include "job_queue.h"
#include "parallax/inference/model_manifest.h"
#include "triage_store.h"
#include "urgency.h"

namespace grpc {
class Channel;
}

namespace parallax::triage {

class PriorComparer;
class TriageMetrics;

struct AnalysisWorkerOptions {
  std::string worker_id = "worker";                       // in the job's lease_owner
  std::chrono::milliseconds analyze_timeout{30000};       // Inference.Analyze deadline
  std::chrono::milliseconds explain_timeout{30000};       // all Explain calls of one study, retries included
  std::chrono::milliseconds idle_poll{5000};              // fallback when no NOTIFY arrives
  int max_explained_slices = 16;                          // per finding: its source slices, in slice order
  // Heatmap PNGs stored per finding: the strongest slices (the UI can ask
  // Explainability for others on demand); 0 = every explained slice.
  int max_png_slices = 3;
  // Explain calls of one study in flight at once (its positive findings);
  // a replica at capacity is retried with backoff until explain_timeout.
  int parallel_explains = 2;
  bool dicom_evidence = true;                             // ask for a Secondary Capture per finding
  UrgencyOptions urgency;
};

class AnalysisWorker {
 public:
  // `waker` may be null (then the worker polls every idle_poll); `metrics` may be null;
  // `priors` may be null (then no prior-study comparison is made).
  AnalysisWorker(JobQueue* queue, JobWaker* waker, TriageStore* store,
                 const std::vector<inference::ModelManifest>* models, std::shared_ptr<grpc::Channel> inference,
                 std::shared_ptr<grpc::Channel> explainability, AnalysisWorkerOptions options,
                 TriageMetrics* metrics, const PriorComparer* priors = nullptr);
  ~AnalysisWorker();

  // Claims and processes jobs until `stop` becomes true.
  void Run(const std::atomic<bool>& stop);

  // Claims one job and processes it. Returns false when none was claimable.
  absl::StatusOr<bool> RunOnce();

 private:
  struct Clients;
  absl::Status Process(const ClaimedJob& job);

  JobQueue* queue_;
  JobWaker* waker_;
  TriageStore* store_;
  const std::vector<inference::ModelManifest>* models_;
  std::unique_ptr<Clients> clients_;
  AnalysisWorkerOptions options_;
  TriageMetrics* metrics_;
  const PriorComparer* priors_;
};

}  // namespace parallax::triage
