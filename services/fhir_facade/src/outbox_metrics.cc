#include "outbox_metrics.h"

namespace parallax::fhir_facade {

OutboxMetrics::OutboxMetrics(prometheus::Registry& registry)
    : delivered_(prometheus::BuildCounter()
                     .Name("parallax_fhir_outbox_delivered_total")
                     .Help("Resource versions the EHR accepted, by resource type")
                     .Register(registry)),
      retries_(prometheus::BuildCounter()
                   .Name("parallax_fhir_outbox_retries_total")
                   .Help("Failed deliveries that will be retried, by reason")
                   .Register(registry)),
      dead_total_(prometheus::BuildCounter()
                      .Name("parallax_fhir_outbox_dead_total")
                      .Help("Outbox entries that went dead, by reason")
                      .Register(registry)),
      entries_(prometheus::BuildGauge()
                   .Name("parallax_fhir_outbox_entries")
                   .Help("Outbox entries per state at the last refresh")
                   .Register(registry)),
      pending_(prometheus::BuildGauge()
                   .Name("parallax_fhir_outbox_pending")
                   .Help("Outbox entries not yet delivered (pending, retrying, delivering)")
                   .Register(registry)
                   .Add({})),
      dead_(prometheus::BuildGauge()
                .Name("parallax_fhir_outbox_dead")
                .Help("Dead outbox entries (refused by the EHR or out of attempts); need an operator")
                .Register(registry)
                .Add({})),
      delivery_seconds_(prometheus::BuildHistogram()
                            .Name("parallax_fhir_outbox_delivery_seconds")
                            .Help("Time from enqueue to delivery to the EHR")
                            .Register(registry)
                            .Add({}, prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30,
                                                                             60, 300, 900, 3600})),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("parallax_fhir_outbox_request_seconds")
                           .Help("Duration of one HTTP call to the EHR")
                           .Register(registry)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                                            1, 2.5, 5, 10})) {}

void OutboxMetrics::Delivered(const std::string& type, double seconds) {
  delivered_.Add({{"type", type}}).Increment();
  delivery_seconds_.Observe(seconds);
}

void OutboxMetrics::Retry(const std::string& reason) { retries_.Add({{"reason", reason}}).Increment(); }

void OutboxMetrics::Dead(const std::string& reason) { dead_total_.Add({{"reason", reason}}).Increment(); }

void OutboxMetrics::Request(double seconds) { request_seconds_.Observe(seconds); }

void OutboxMetrics::SetCounts(const OutboxCounts& c) {
  entries_.Add({{"state", "pending"}}).Set(static_cast<double>(c.pending));
  entries_.Add({{"state", "retrying"}}).Set(static_cast<double>(c.retrying));
  entries_.Add({{"state", "delivering"}}).Set(static_cast<double>(c.delivering));
  entries_.Add({{"state", "dead"}}).Set(static_cast<double>(c.dead));
  pending_.Set(static_cast<double>(c.pending + c.retrying + c.delivering));
  dead_.Set(static_cast<double>(c.dead));
}

OutboxGaugeRefresher::OutboxGaugeRefresher(EhrOutbox* outbox, OutboxMetrics* metrics,
                                           std::chrono::milliseconds interval)
    : outbox_(outbox), metrics_(metrics), interval_(interval) {}

OutboxGaugeRefresher::~OutboxGaugeRefresher() { Stop(); }

bool OutboxGaugeRefresher::RefreshOnce() {
  auto counts = outbox_->Counts(/*with_history=*/false);
  if (!counts.ok()) return false;
  metrics_->SetCounts(*counts);
  return true;
}

void OutboxGaugeRefresher::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      RefreshOnce();
      lock.lock();
      cv_.wait_for(lock, interval_, [this] { return stopping_; });
    }
  });
}

void OutboxGaugeRefresher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace parallax::fhir_facade
