#pragma once
// Triage's Prometheus metrics: queue depth per state (dead letters
// included), jobs processed by outcome, time per stage. Labels carry states,
// outcomes and stage names only. Thread-safe.
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "job_queue.h"

namespace parallax::triage {

class TriageMetrics {
 public:
  explicit TriageMetrics(prometheus::Registry& registry);

  void SetQueue(const QueueCounts& counts);
  // A job ended: analysed, not_applicable, retry, dead, failed, lease_lost, superseded.
  void JobEnded(const std::string& outcome);
  // Seconds spent in a stage: queue_wait, inference, explain, prior, store, total.
  void Stage(const std::string& stage, double seconds);
  void ExplainFailed();
  // A prior-study comparison ended: compared, no_prior or not_compared.
  void PriorCompared(const std::string& outcome);

 private:
  prometheus::Family<prometheus::Gauge>& queue_;
  prometheus::Gauge& oldest_queued_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Histogram>& stages_;
  prometheus::Counter& explain_failures_;
  prometheus::Family<prometheus::Counter>& prior_comparisons_;
};

}  // namespace parallax::triage
