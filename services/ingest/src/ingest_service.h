#pragma once
// Builds and runs the whole ingest service from its config: database and
// migrations, instance store, C-STORE SCP, STOW-RS server, Ingest gRPC with
// health, metrics, the hand-off of stable studies to triage, and the audit
// recorder that delivers ingest.audit_outbox to the Audit service (started
// only when config.audit_address is set; otherwise events stay in the outbox).
// DICOM associations refused for their AE titles are recorded as
// ACCESS_REFUSED (see access_refusal_audit.h for the per-minute rate limit).
// Not thread-safe: Start and Stop from one thread.
#include <memory>

#include <absl/status/status.h>

#include "ingest_config.h"

namespace parallax::ingest {

class IngestService {
 public:
  explicit IngestService(IngestConfig config);
  ~IngestService();

  // Starts every part; an error names the part that could not start.
  absl::Status Start();
  // Stops accepting, lets open work finish, stops background work.
  void Stop();

 private:
  struct Parts;
  IngestConfig config_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace parallax::ingest
