#pragma once
// A DICOM Storage SCP (C-STORE and C-ECHO) built on DCMTK dcmnet: accepts
// associations on a port, negotiates the accepted storage SOP classes and
// transfer syntaxes, refuses callers outside the allow-list, serves several
// associations at once (one thread each, up to max_associations), and hands
// every received instance to a StoreHandler. The data set is written to the
// handler's staging path exactly as received (no transcoding); the C-STORE
// response carries the DICOM status of the handler's Status, so Success is
// sent only after the handler returned OK.
//
// Thread-safe: handler methods are called concurrently from association threads.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/status.h>

namespace parallax::dicom {

struct StorageScpOptions {
  std::string ae_title = "PARALLAX";          // our AE title
  int port = 11112;                           // TCP port (0 is not supported by DCMTK)
  std::vector<std::string> allowed_calling_aes;  // empty = accept any caller
  bool require_called_ae = true;              // refuse associations addressed to another AE title
  int max_associations = 16;                  // concurrent associations; more are rejected (local limit exceeded)
  int acse_timeout_seconds = 30;              // association negotiation timeout
  int dimse_timeout_seconds = 60;             // per-message timeout once associated
  unsigned max_pdu = 131072;                  // maximum receive PDU length in bytes (DCMTK allows up to 131072)
};

// What the SCP knows of one received instance before the handler looks at it.
struct ReceivedInstance {
  std::string staging_path;            // the data set as received, with file meta information
  std::string affected_sop_class_uid;  // from the C-STORE request
  std::string affected_sop_instance_uid;
  std::string transfer_syntax_uid;     // negotiated for the presentation context
  std::string calling_ae;
};

class StoreHandler {
 public:
  virtual ~StoreHandler() = default;
  // OK when there is room to receive an instance now; RESOURCE_EXHAUSTED
  // (answered A700 after the data set is read and discarded) otherwise.
  virtual absl::Status CheckCapacity() = 0;
  // Where the SCP should write the data set of `sop_instance_uid` (a valid UID).
  virtual std::string StagingPathFor(const std::string& sop_instance_uid) = 0;
  // Makes the instance durable and indexed; OK means the SCP answers Success.
  // The handler owns the staging file afterwards (moves or removes it).
  virtual absl::Status OnReceived(const ReceivedInstance& instance) = 0;
  // Called when an instance was refused before OnReceived (invalid UID, SOP
  // class not accepted, no capacity), with the status answered.
  virtual void OnRefused(const absl::Status& status) = 0;
  // Open association count changed (for metrics).
  virtual void OnAssociationCountChanged(int open_associations) = 0;
  // Called when an association request is refused for who is calling:
  // the calling AE title is not in allowed_calling_aes, or (with
  // require_called_ae) the called AE title is not ours. `calling_ae` is the
  // caller's AE title as sent, `peer_address` its IP address, `reason` a
  // short fixed text (plus the called AE title, for the second case). Called
  // on the association's thread before the A-ASSOCIATE-RJ is sent, so keep
  // it short and never throw. Not called for refusals for capacity (too
  // many open associations). Default: nothing.
  virtual void OnAssociationRefused(const std::string& calling_ae, const std::string& peer_address,
                                    const std::string& reason) {}
};

class StorageScp {
 public:
  StorageScp(StorageScpOptions options, StoreHandler* handler);
  ~StorageScp();  // Stops.
  StorageScp(const StorageScp&) = delete;
  StorageScp& operator=(const StorageScp&) = delete;

  // Opens the listening socket and starts accepting associations.
  // UNAVAILABLE naming the port when it cannot listen.
  absl::Status Start();

  // Stops accepting, waits for open associations to finish (each ends when
  // its peer releases it or its DIMSE timeout passes), and returns.
  void Stop();

  int open_associations() const { return open_.load(); }

 private:
  struct Shared;
  void AcceptLoop();
  void ReapFinished(bool wait_all);

  StorageScpOptions options_;
  StoreHandler* handler_;
  std::unique_ptr<Shared> shared_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
};

}  // namespace parallax::dicom
