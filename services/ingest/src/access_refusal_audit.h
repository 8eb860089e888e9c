#pragma once
// Records refused DICOM associations (calling AE title not allowed, called AE
// title not ours) as EVENT_TYPE_ACCESS_REFUSED audit events, rate-limited so
// that a misconfigured modality retrying every second cannot flood the audit
// log.
//
// Event: outcome DENIED; actor EXTERNAL_SYSTEM with system_id = the calling
// AE title and network_address = the peer's IP address; attributes
// "action" = "DICOM association", "reason" (from the SCP) and "refusals".
// No patient data: there is none at association time.
//
// Rate limit, per (calling AE, peer address): the first refusal is recorded
// at once and opens a window (options.window, one minute by default).
// Further refusals inside the window are only counted. The next event for
// that pair is recorded either by the first refusal after the window ended
// or, when the caller has stopped retrying, by Flush (every
// options.flush_interval on a background thread, and at Stop) once the
// window ended; each event opens a new window. So each pair gets at most one
// event per window, and "refusals" says how many refusals the event stands
// for: 1 for the first, else the suppressed repeats since the previous
// event (plus the refusal that triggered it, if one did). Summing
// "refusals" over the events gives every refusal; occurred_at is the time of
// the latest refusal counted. A pair whose window ends with nothing counted
// is forgotten. At most options.max_tracked pairs are tracked; while the
// table is full, refusals of new pairs share one overflow pair (system_id
// "*", no address, rate-limited like any other) so the table and the log
// stay bounded whatever AE titles callers send.
//
// Events are written with AuditRecorder::Record (no surrounding
// transaction). When Record fails (database down) the event is logged as a
// warning and dropped: the refusal itself has already happened.
//
// Thread-safe: OnRefused may be called from any association thread; Start
// and Stop from the owner.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/audit_client/audit_recorder.h"

namespace parallax::ingest {

struct AccessRefusalAuditOptions {
  // At most one event per (calling AE, peer) per window.
  std::chrono::milliseconds window{60000};
  // How often the background thread records the counts of ended windows.
  std::chrono::milliseconds flush_interval{5000};
  // Distinct (calling AE, peer) pairs tracked; more share one overflow pair.
  size_t max_tracked = 1024;
  // The clock the windows are measured with (tests move it by hand).
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

class AccessRefusalAuditor {
 public:
  // `audit` (schema "ingest") must outlive this object.
  AccessRefusalAuditor(audit_client::AuditRecorder* audit, AccessRefusalAuditOptions options = {});
  ~AccessRefusalAuditor();  // Stops (recording what is still counted).
  AccessRefusalAuditor(const AccessRefusalAuditor&) = delete;
  AccessRefusalAuditor& operator=(const AccessRefusalAuditor&) = delete;

  // Starts the background flush thread. Idempotent.
  void Start();
  // Stops the flush thread and records every count not yet recorded, window
  // ended or not. Idempotent.
  void Stop();

  // One refused association. Records an event now or counts it, as above.
  void OnRefused(const std::string& calling_ae, const std::string& peer_address, const std::string& reason);

  // Records the counts of pairs whose window has ended (all pairs when
  // `all`), and forgets pairs whose window ended with nothing counted.
  // Returns how many events were recorded successfully.
  int Flush(bool all = false);

  // Pairs currently tracked (for tests).
  size_t tracked() const;

 private:
  using Key = std::pair<std::string, std::string>;  // calling AE, peer address
  struct Window {
    std::chrono::steady_clock::time_point opened;
    int64_t suppressed = 0;                                  // counted, not yet recorded
    std::chrono::system_clock::time_point last_suppressed;   // time of the latest counted refusal
    std::string last_reason;
  };
  // Builds the event for `refusals` refusals of `key`, the latest at `at`.
  static audit::v1::AuditEvent MakeEvent(const Key& key, const std::string& reason, int64_t refusals,
                                         std::chrono::system_clock::time_point at);
  // Records the events; returns how many were stored.
  int RecordAll(std::vector<audit::v1::AuditEvent> events);
  void Run();

  audit_client::AuditRecorder* audit_;
  AccessRefusalAuditOptions options_;
  mutable std::mutex mu_;
  std::map<Key, Window> windows_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace parallax::ingest
