#include "triage_metrics.h"

namespace parallax::triage {

TriageMetrics::TriageMetrics(prometheus::Registry& registry)
    : queue_(prometheus::BuildGauge()
                 .Name("parallax_triage_jobs")
                 .Help("Analysis jobs by state (dead = dead letters needing an operator)")
                 .Register(registry)),
      oldest_queued_(prometheus::BuildGauge()
                         .Name("parallax_triage_oldest_queued_seconds")
                         .Help("Age of the oldest queued job")
                         .Register(registry)
                         .Add({})),
      jobs_(prometheus::BuildCounter()
                .Name("parallax_triage_jobs_ended_total")
                .Help("Jobs that ended an attempt, by outcome")
                .Register(registry)),
      stages_(prometheus::BuildHistogram()
                  .Name("parallax_triage_stage_seconds")
                  .Help("Time per stage of an analysis job")
                  .Register(registry)),
      explain_failures_(prometheus::BuildCounter()
                            .Name("parallax_triage_explain_failures_total")
                            .Help("Positive findings stored without evidence because Explain failed")
                            .Register(registry)
                            .Add({})),
      prior_comparisons_(prometheus::BuildCounter()
                             .Name("parallax_triage_prior_comparisons_total")
                             .Help("Prior-study comparisons by outcome (compared, no_prior, not_compared)")
                             .Register(registry)) {}

void TriageMetrics::SetQueue(const QueueCounts& c) {
  queue_.Add({{"state", "queued"}}).Set(static_cast<double>(c.queued));
  queue_.Add({{"state", "running"}}).Set(static_cast<double>(c.running));
  queue_.Add({{"state", "failed"}}).Set(static_cast<double>(c.failed));
  queue_.Add({{"state", "dead"}}).Set(static_cast<double>(c.dead));
  oldest_queued_.Set(c.oldest_queued_age_seconds);
}

void TriageMetrics::JobEnded(const std::string& outcome) { jobs_.Add({{"outcome", outcome}}).Increment(); }

void TriageMetrics::Stage(const std::string& stage, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32};
  stages_.Add({{"stage", stage}}, kBuckets).Observe(seconds);
}

void TriageMetrics::ExplainFailed() { explain_failures_.Increment(); }

void TriageMetrics::PriorCompared(const std::string& outcome) {
  prior_comparisons_.Add({{"outcome", outcome}}).Increment();
}

}  // namespace parallax::triage
