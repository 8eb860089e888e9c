#pragma once
// The audit service's Prometheus metrics: entries appended by event type,
// chain verifications that found a break, and the head sequence. Labels are
// event type names only. Thread-safe (prometheus-cpp metrics are).
#include <cstdint>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "parallax/audit/v1/audit.pb.h"

namespace parallax::audit {

class AuditMetrics {
 public:
  // Registers the families on `registry`, which must outlive this object.
  explicit AuditMetrics(prometheus::Registry& registry);

  // One entry of `type` was appended (not a duplicate).
  void Recorded(audit::v1::EventType type);
  // A Verify found the chain broken.
  void VerifyFailed();
  // The log's head is now at `sequence`.
  void SetHead(int64_t sequence);

 private:
  prometheus::Family<prometheus::Counter>& recorded_;
  prometheus::Counter& verify_failures_;
  prometheus::Gauge& head_sequence_;
};

}  // namespace parallax::audit
