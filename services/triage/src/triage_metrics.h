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
  // Seconds spent in a stage: queue_wait, inference, explain, store, total.
  void Stage(const std::string& stage, double seconds);
  void ExplainFailed();

 private:
  prometheus::Family<prometheus::Gauge>& queue_;
  prometheus::Gauge& oldest_queued_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Histogram>& stages_;
  prometheus::Counter& explain_failures_;
};

}  // namespace parallax::triage
