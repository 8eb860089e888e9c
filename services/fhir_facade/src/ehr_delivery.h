#pragma once
// Delivers the outbox (ehr_outbox.h) to the EHR's FHIR R4 REST endpoint.
//
// How a resource goes: a FHIR R4 conditional update,
//   PUT {base}/{Type}?identifier={system}|{value}
// with the resource (its logical id in the body) as application/fhir+json.
// The EHR creates it when no resource has that identifier and updates the
// one that has it otherwise. Why conditional update rather than a
// conditional create (POST with If-None-Exist) for the first version:
//   - one request shape for every version: a retry after a lost response,
//     or a re-delivery after a worker died mid-request, is the same PUT
//     again, which leaves exactly one resource (no duplicate, whatever
//     happened to the earlier attempt);
//   - the body's logical id is kept (update-as-create), so the references
//     between our resources ("Observation/<id>" in a DiagnosticReport)
//     resolve at the EHR; a POST lets the server assign its own id and
//     breaks them;
//   - a conditional create would still need this PUT for every later
//     version (preliminary -> final -> amended).
// A resource type without a business identifier (AuditEvent has no
// `identifier` element in R4) goes as a plain update by id,
// PUT {base}/{Type}/{id}, idempotent for the same reasons.
//
// Outcomes: 2xx delivered. 5xx, 408, 429, timeouts and connection failures
// are retried with backoff (up to max_attempts, then dead). Any other 4xx
// goes dead at once with the HTTP status and the OperationOutcome issue
// codes (never its diagnostics text, which may quote the resource).
//
// Threads: Start() runs `workers` delivery threads and, when listen_url is
// set, one thread LISTENing for the outbox's NOTIFY so an enqueue wakes a
// worker at once; workers also poll every poll_interval (NOTIFY can race,
// and retries become due by time). Stop() wakes and joins them all; an
// HTTP call in flight finishes first (bounded by request_timeout).
//
// Thread-safety: Start/Stop from the owning thread; DeliverOne from any.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "ehr_outbox.h"
#include "outbox_metrics.h"

namespace parallax::fhir_facade {

struct DeliveryOptions {
  // The EHR's FHIR base URL, e.g. "http://127.0.0.1:8091/fhir" (no trailing
  // slash needed). Must be set: without it the service does not start a
  // DeliveryWorker at all and entries stay pending.
  std::string ehr_base_url;
  // Longest one HTTP call to the EHR may take.
  std::chrono::milliseconds request_timeout{10000};
  // Fallback poll when no NOTIFY arrives.
  std::chrono::milliseconds poll_interval{1000};
  // Delivery threads.
  int workers = 1;
  // Lease owner prefix (host:pid); each thread appends "#n".
  std::string worker_name = "fhir-facade";
  // libpq URL for LISTEN; empty = poll only.
  std::string listen_url;
};

class DeliveryWorker {
 public:
  // outbox must outlive the worker; metrics may be null. The gauges are
  // OutboxGaugeRefresher's (outbox_metrics.h); the worker counts deliveries,
  // retries, dead entries and latencies.
  DeliveryWorker(EhrOutbox* outbox, OutboxMetrics* metrics, DeliveryOptions options);
  ~DeliveryWorker();  // Stop()
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  // Starts the threads. FAILED_PRECONDITION when already started or the
  // base URL is empty; INVALID_ARGUMENT when it is not an http:// URL.
  absl::Status Start();

  // Stops and joins the threads. Idempotent.
  void Stop();

  // Wakes the workers now (also done by NOTIFY).
  void Wake();

  // Claims and delivers one due entry on the calling thread. Returns true
  // when an entry was handled (whatever the EHR answered), false when
  // nothing was due; UNAVAILABLE when the database is down.
  absl::StatusOr<bool> DeliverOne(const std::string& worker_id);

 private:
  void WorkerLoop(int index);
  void ListenLoop();

  EhrOutbox* outbox_;
  OutboxMetrics* metrics_;
  DeliveryOptions options_;
  std::string base_url_;  // without trailing '/'

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t epoch_ = 0;  // guarded by mu_; bumped by Wake
  bool stopping_ = false;  // guarded by mu_
  std::atomic<bool> stop_flag_{false};
  bool started_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace parallax::fhir_facade
