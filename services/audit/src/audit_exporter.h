#pragma once
// AuditExporter: mirrors the audit log into the EHR as FHIR AuditEvent
// resources. It hands every recorded entry, in sequence order, to
// FhirFacade.PublishAuditEvent (the facade builds the resource with the
// DICOM / IHE audit codes and delivers it through its own durable outbox),
// and remembers how far it has come in audit.export_cursor (created by
// AuditLog::Migrate), advancing it after each entry the facade accepted.
//
// Durability and order: entries are read with sequence > cursor, ascending,
// at most batch_size per pass, decoded from the stored (hashed) content with
// sequence and hash set. A failed publish (facade down, timeout, refused
// credentials, ...) or an entry that cannot be read (missing or undecodable:
// the chain is damaged, run Verify) stops the pass and leaves the cursor
// before that entry; the next pass retries it after an exponential backoff
// with jitter (backoff_initial doubling up to backoff_max). No entry is
// skipped, with one exception: an entry the facade answers INVALID_ARGUMENT
// for can never succeed, so it is logged (sequence, type and the facade's
// message; no patient data), counted in parallax_audit_export_refused_total,
// and passed over. The facade is idempotent per sequence, so a crash between
// a publish and the cursor update only republishes that entry.
//
// Several replicas of the audit service may each run an exporter: the cursor
// only moves forward, and an entry two of them publish at once is stored
// once by the facade.
//
// Wake-ups: Poke() (AuditServiceDeps.recorded calls it after each new
// entry commits), and a look every `poll` in case another replica recorded.
//
// Thread-safety: thread-safe. Start and Stop from the owner; Poke from any
// thread; ExportPending must not run on two threads of the same exporter at
// once (the sender thread runs it while started). Destroying the exporter
// stops it.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "audit_metrics.h"
#include "parallax/audit/v1/audit.pb.h"
#include "parallax/store/database.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace parallax::audit {

struct AuditExporterOptions {
  // host:port of the FhirFacade gRPC service. Empty (and no channel): no
  // export; Start() refuses and the cursor stays where it is.
  std::string facade_address;
  // Used instead of a channel to facade_address when set (TLS, tests).
  std::shared_ptr<grpc::Channel> channel;
  // The exporter looks for new entries at least this often.
  std::chrono::milliseconds poll{1000};
  // Deadline of one PublishAuditEvent call.
  std::chrono::milliseconds rpc_timeout{10000};
  // Wait after the first failed pass; doubles per further failure up to
  // backoff_max, and resets after a successful pass. Each wait is drawn
  // uniformly from [half, all] of the current backoff (jitter).
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  // Entries one pass reads and publishes at most.
  int batch_size = 100;
};

// Attaches this service's credentials to an outgoing call
// (main passes ServiceAuth::Decorate).
using DecorateCall = std::function<void(grpc::ClientContext*)>;

class AuditExporter {
 public:
  // db must hold the migrated audit schema and outlive the exporter;
  // metrics (optional) too.
  AuditExporter(store::Database* db, AuditExporterOptions options, DecorateCall decorate = {},
                AuditMetrics* metrics = nullptr);
  ~AuditExporter();
  AuditExporter(const AuditExporter&) = delete;
  AuditExporter& operator=(const AuditExporter&) = delete;

  // Starts the exporting thread. FAILED_PRECONDITION without a facade
  // address or channel, or when already started.
  absl::Status Start();

  // Stops and joins the thread; a publish in flight is cancelled (its entry
  // is exported again after the next Start). Idempotent.
  void Stop();

  // Wakes the thread now (a new entry has committed). During a backoff
  // after a failure it only takes effect when the backoff ends.
  void Poke();

  struct Pass {
    int exported = 0;  // entries the facade accepted
    int refused = 0;   // entries it refused as malformed (skipped)
    bool more = false; // the batch was full: more entries may be waiting
  };
  // One pass on the calling thread: publishes up to batch_size entries after
  // the cursor and advances it. OK with what was done. When the pass stopped
  // at an entry: the facade's status code with a message naming the
  // sequence (UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, ...; CANCELLED
  // during Stop), DATA_LOSS when the entry is missing or does not decode,
  // store errors as parallax/store/database.h. The cursor then stays before
  // that entry. FAILED_PRECONDITION without a facade.
  absl::StatusOr<Pass> ExportPending();

  // The last exported (or skipped) sequence, 0 before any. Store errors as
  // parallax/store/database.h; FAILED_PRECONDITION before AuditLog::Migrate.
  absl::StatusOr<int64_t> Cursor();

  // Head sequence minus cursor (also sets the lag gauge). Errors as Cursor.
  absl::StatusOr<int64_t> Lag();

 private:
  struct Facade;
  void Run();
  // Publishes one decoded entry; the facade's answer as an absl::Status.
  absl::Status Publish(const audit::v1::AuditEvent& event);

  store::Database* db_;
  AuditExporterOptions options_;
  DecorateCall decorate_;
  AuditMetrics* metrics_;
  std::unique_ptr<Facade> facade_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = false;
  bool started_ = false;
  grpc::ClientContext* in_flight_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

}  // namespace parallax::audit
