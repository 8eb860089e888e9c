#pragma once
// Prometheus metrics of alert routing. Labels carry model labels, priorities,
// change kinds and delivery steps only, never patient data. Thread-safe
// (prometheus-cpp metrics are). The service and dispatcher take an
// AlertMetrics* that may be null (tests).
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace parallax::alerting {

class AlertMetrics {
 public:
  explicit AlertMetrics(prometheus::Registry& registry);

  // change: "created", "updated", "withdrawn"; priority: "routine", "urgent", "critical".
  void AlertChanged(const std::string& change, const std::string& label, const std::string& priority);
  void Acknowledged(const std::string& priority, double seconds_since_created);
  // kind: "renotified", "escalated".
  void TimerFired(const std::string& kind);
  // Route commit -> Communication accepted by the facade.
  void Dispatched(double seconds);
  // step: "open_report", "communication", "webhook".
  void DeliveryFailed(const std::string& step);
  void SetOutboxPending(double n);

 private:
  prometheus::Family<prometheus::Counter>& changes_;
  prometheus::Family<prometheus::Counter>& acknowledgements_;
  prometheus::Histogram& time_to_ack_;
  prometheus::Family<prometheus::Counter>& timers_;
  prometheus::Histogram& dispatch_;
  prometheus::Family<prometheus::Counter>& failures_;
  prometheus::Gauge& pending_;
};

}  // namespace parallax::alerting
