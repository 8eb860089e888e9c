#pragma once
// The escalation service's audit trail over libs/audit_client: events go to
// the durable outbox in the `escalation` schema (inside the action's own
// transaction when there is one) and from there to the audit service.
#include "audit_trail.h"
#include "parallax/audit_client/audit_recorder.h"

namespace parallax::escalation {

class RecorderAuditTrail final : public AuditTrail {
 public:
  explicit RecorderAuditTrail(audit_client::AuditRecorder* recorder) : recorder_(recorder) {}
  absl::Status Enqueue(store::Transaction& txn, const audit::v1::AuditEvent& event) override {
    return recorder_->Enqueue(txn, event).status();
  }
  absl::Status Record(const audit::v1::AuditEvent& event) override { return recorder_->Record(event).status(); }

 private:
  audit_client::AuditRecorder* recorder_;
};

}  // namespace parallax::escalation
