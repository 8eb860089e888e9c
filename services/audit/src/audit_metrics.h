#pragma once
// The audit service's Prometheus metrics: entries appended by event type,
// chain verifications that found a break, the head sequence, and the FHIR
// export (entries exported, failed attempts, entries the facade refused as
// malformed, and the lag behind the head). Labels are event type names only. Thread-safe (prometheus-cpp metrics are).
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
  // One entry was accepted by the FHIR facade.
  void Exported();
  // A publish attempt failed and will be retried.
  void ExportFailed();
  // The facade refused an entry as malformed; it was skipped.
  void ExportRefused();
  // Entries recorded but not yet exported (head sequence - export cursor).
  void SetExportLag(int64_t entries);

 private:
  prometheus::Family<prometheus::Counter>& recorded_;
  prometheus::Counter& verify_failures_;
  prometheus::Gauge& head_sequence_;
  prometheus::Counter& exported_;
  prometheus::Counter& export_failures_;
  prometheus::Counter& export_refused_;
  prometheus::Gauge& export_lag_;
};

}  // namespace parallax::audit
