#include "audit_metrics.h"

#include <string>

namespace parallax::audit {

AuditMetrics::AuditMetrics(prometheus::Registry& registry)
    : recorded_(prometheus::BuildCounter()
                    .Name("parallax_audit_entries_recorded_total")
                    .Help("Audit entries appended to the hash chain, by event type (retries not counted)")
                    .Register(registry)),
      verify_failures_(prometheus::BuildCounter()
                           .Name("parallax_audit_verify_failures_total")
                           .Help("Chain verifications that found an edited, deleted or reordered entry")
                           .Register(registry)
                           .Add({})),
      head_sequence_(prometheus::BuildGauge()
                         .Name("parallax_audit_head_sequence")
                         .Help("Sequence number of the last audit entry")
                         .Register(registry)
                         .Add({})) {}

void AuditMetrics::Recorded(audit::v1::EventType type) {
  std::string name = audit::v1::EventType_Name(type);
  if (name.rfind("EVENT_TYPE_", 0) == 0) name = name.substr(11);
  if (name.empty()) name = "UNKNOWN";
  recorded_.Add({{"type", name}}).Increment();
}

void AuditMetrics::VerifyFailed() { verify_failures_.Increment(); }

void AuditMetrics::SetHead(int64_t sequence) { head_sequence_.Set(static_cast<double>(sequence)); }

}  // namespace parallax::audit
