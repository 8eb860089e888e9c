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
                         .Add({})),
      exported_(prometheus::BuildCounter()
                    .Name("parallax_audit_exported_total")
                    .Help("Audit entries published to the FHIR facade as AuditEvent resources")
                    .Register(registry)
                    .Add({})),
      export_failures_(prometheus::BuildCounter()
                           .Name("parallax_audit_export_failures_total")
                           .Help("Failed attempts to publish an audit entry to the FHIR facade (retried)")
                           .Register(registry)
                           .Add({})),
      export_refused_(prometheus::BuildCounter()
                          .Name("parallax_audit_export_refused_total")
                          .Help("Audit entries the FHIR facade refused as malformed; skipped, see the log")
                          .Register(registry)
                          .Add({})),
      export_lag_(prometheus::BuildGauge()
                      .Name("parallax_audit_export_lag")
                      .Help("Audit entries recorded but not yet exported to the FHIR facade")
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

void AuditMetrics::Exported() { exported_.Increment(); }

void AuditMetrics::ExportFailed() { export_failures_.Increment(); }

void AuditMetrics::ExportRefused() { export_refused_.Increment(); }

void AuditMetrics::SetExportLag(int64_t entries) { export_lag_.Set(static_cast<double>(entries)); }

}  // namespace parallax::audit
