#pragma once
// Prometheus metrics of the outbox to the EHR. Labels carry resource types,
// states and outcome codes only. Thread-safe (prometheus-cpp metrics are).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "ehr_outbox.h"

namespace parallax::fhir_facade {

class OutboxMetrics {
 public:
  // Registers:
  //   parallax_fhir_outbox_delivered_total{type}        resources the EHR accepted
  //   parallax_fhir_outbox_retries_total{reason}         failed attempts to be retried
  //   parallax_fhir_outbox_dead_total{reason}            entries that went dead
  //   parallax_fhir_outbox_entries{state}                entries per state (pending, retrying,
  //                                                      delivering, dead) at the last refresh
  //   parallax_fhir_outbox_pending                       pending + retrying + delivering
  //   parallax_fhir_outbox_dead                          dead entries (need an operator)
  //   parallax_fhir_outbox_delivery_seconds              enqueue to delivery
  //   parallax_fhir_outbox_request_seconds               one HTTP call to the EHR
  explicit OutboxMetrics(prometheus::Registry& registry);

  void Delivered(const std::string& type, double seconds_since_enqueue);
  // reason: "http_5xx", "http_429", "http_408", "timeout", "unreachable".
  void Retry(const std::string& reason);
  // reason: "http_4xx", "attempts_exhausted".
  void Dead(const std::string& reason);
  void Request(double seconds);
  void SetCounts(const OutboxCounts& counts);

 private:
  prometheus::Family<prometheus::Counter>& delivered_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& dead_total_;
  prometheus::Family<prometheus::Gauge>& entries_;
  prometheus::Gauge& pending_;
  prometheus::Gauge& dead_;
  prometheus::Histogram& delivery_seconds_;
  prometheus::Histogram& request_seconds_;
};

// Keeps the outbox gauges current: one thread reading EhrOutbox::Counts
// (open and dead entries only) every `interval`, whether or not delivery
// runs. Start/Stop from the owning thread; the destructor stops it.
class OutboxGaugeRefresher {
 public:
  // outbox and metrics must outlive the refresher.
  OutboxGaugeRefresher(EhrOutbox* outbox, OutboxMetrics* metrics, std::chrono::milliseconds interval);
  ~OutboxGaugeRefresher();
  OutboxGaugeRefresher(const OutboxGaugeRefresher&) = delete;
  OutboxGaugeRefresher& operator=(const OutboxGaugeRefresher&) = delete;

  void Start();
  void Stop();
  // One refresh now; false when the database could not be read.
  bool RefreshOnce();

 private:
  EhrOutbox* outbox_;
  OutboxMetrics* metrics_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace parallax::fhir_facade
