#pragma once
// Hands stable studies to triage. One background thread, every sweep
// interval: marks studies with no new instance for the quiet period as
// stable (which enqueues them in the PostgreSQL outbox in the same
// statement), then delivers due outbox entries with `submit`, retrying with
// backoff while triage is unreachable. A triage outage delays a study and
// never loses it: the outbox row stays until triage accepts it.
// Studies ingest retrieved itself as priors (origin prior_retrieval, see
// study_index.h) are marked stable but never handed to triage.
//
// Thread-safe: Start/Stop from the owning thread; Wake from any.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <absl/status/status.h>

#include "ingest_metrics.h"
#include "parallax/common/v1/study.pb.h"
#include "study_index.h"

namespace parallax::ingest {

struct TriageHandoffOptions {
  std::chrono::milliseconds stable_after{10000};
  std::chrono::milliseconds sweep_interval{1000};
  std::chrono::milliseconds max_backoff{60000};
};

// Delivers one study; OK once triage has accepted it.
using SubmitStudyFn = std::function<absl::Status(const common::v1::StudyManifest&, const std::string& submission_id)>;

class TriageHandoff {
 public:
  TriageHandoff(TriageHandoffOptions options, StudyIndex* index, IngestMetrics* metrics, SubmitStudyFn submit);
  ~TriageHandoff();

  void Start();
  void Stop();

  // One sweep and one delivery round, synchronously (also what the thread runs).
  void RunOnce();

 private:
  void Loop();

  TriageHandoffOptions options_;
  StudyIndex* index_;
  IngestMetrics* metrics_;
  SubmitStudyFn submit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace parallax::ingest
