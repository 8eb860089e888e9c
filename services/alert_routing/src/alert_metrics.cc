#include "alert_metrics.h"

namespace parallax::alerting {

AlertMetrics::AlertMetrics(prometheus::Registry& registry)
    : changes_(prometheus::BuildCounter()
                   .Name("parallax_alerts_total")
                   .Help("Alert changes by change (created, updated, withdrawn), model label and priority")
                   .Register(registry)),
      acknowledgements_(prometheus::BuildCounter()
                            .Name("parallax_alert_acknowledgements_total")
                            .Help("Alerts acknowledged, by priority")
                            .Register(registry)),
      time_to_ack_(prometheus::BuildHistogram()
                       .Name("parallax_alert_time_to_acknowledge_seconds")
                       .Help("Time from an alert's creation to its acknowledgement")
                       .Register(registry)
                       .Add({}, prometheus::Histogram::BucketBoundaries{10, 30, 60, 120, 300, 600, 900, 1800, 3600,
                                                                        7200, 14400, 28800})),
      timers_(prometheus::BuildCounter()
                  .Name("parallax_alert_timer_actions_total")
                  .Help("Timer actions on unacknowledged alerts (renotified, escalated)")
                  .Register(registry)),
      dispatch_(prometheus::BuildHistogram()
                    .Name("parallax_alert_dispatch_seconds")
                    .Help("Time from the commit that routed an alert to the facade accepting its Communication")
                    .Register(registry)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2,
                                                                     5, 10, 30, 60, 300})),
      failures_(prometheus::BuildCounter()
                    .Name("parallax_alert_delivery_failures_total")
                    .Help("Failed delivery steps that will be retried (open_report, communication, webhook)")
                    .Register(registry)),
      pending_(prometheus::BuildGauge()
                   .Name("parallax_alert_outbox_pending")
                   .Help("Alert deliveries not yet done")
                   .Register(registry)
                   .Add({})) {}

void AlertMetrics::AlertChanged(const std::string& change, const std::string& label, const std::string& priority) {
  changes_.Add({{"change", change}, {"label", label}, {"priority", priority}}).Increment();
}

void AlertMetrics::Acknowledged(const std::string& priority, double seconds) {
  acknowledgements_.Add({{"priority", priority}}).Increment();
  time_to_ack_.Observe(seconds);
}

void AlertMetrics::TimerFired(const std::string& kind) { timers_.Add({{"kind", kind}}).Increment(); }

void AlertMetrics::Dispatched(double seconds) { dispatch_.Observe(seconds); }

void AlertMetrics::DeliveryFailed(const std::string& step) { failures_.Add({{"step", step}}).Increment(); }

void AlertMetrics::SetOutboxPending(double n) { pending_.Set(n); }

}  // namespace parallax::alerting
