#pragma once
// The one path every received instance takes, whatever protocol brought it:
// parse and check the header, make the file durable in the InstanceStore,
// commit its index row, and only then report OK (the caller answers Success).
// A resend of an indexed SOP Instance UID is OK without a second copy.
//
// Implements dicom::StoreHandler for the C-STORE SCP; STOW-RS calls StoreBytes.
// Associations the SCP refuses for their AE titles go to the
// AccessRefusalAuditor (EVENT_TYPE_ACCESS_REFUSED, rate-limited) when one is
// given.
// Thread-safe: work on the same SOP Instance UID is serialised by a striped lock.
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "access_refusal_audit.h"
#include "ingest_metrics.h"
#include "instance_store.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/storage_scp.h"
#include "study_index.h"

namespace parallax::ingest {

struct StoreOutcome {
  absl::Status status;                          // OK when durable and indexed
  std::optional<dicom::InstanceHeader> header;  // when the header could be read
  bool duplicate = false;                       // already stored before this request
};

class InstanceReceiver : public dicom::StoreHandler {
 public:
  // `refusals` may be null (refused associations are then only logged by
  // the SCP); every pointer must outlive the receiver.
  InstanceReceiver(InstanceStore* store, StudyIndex* index, IngestMetrics* metrics,
                   AccessRefusalAuditor* refusals = nullptr)
      : store_(store), index_(index), metrics_(metrics), refusals_(refusals) {}

  // STOW-RS: one complete Part-10 file, of study `expected_study_uid` when
  // that is not empty. Errors: INVALID_ARGUMENT (unparseable, C000; missing
  // UID or another study, A900), UNIMPLEMENTED (SOP class not accepted,
  // 0122), RESOURCE_EXHAUSTED (store full), UNAVAILABLE (index down).
  StoreOutcome StoreBytes(std::string_view part10, const std::string& expected_study_uid);

  // An instance ingest fetched itself from `from_ae` (the C-GET of a prior
  // study): the same durable path, source "c-get", and a new study row of
  // origin kStudyOriginPriorRetrieval (never handed to triage). A resend is
  // OK. INVALID_ARGUMENT when the data set is not of `expected_study_uid` or
  // its SOP Instance UID is not `sop_instance_uid` (what the PACS announced);
  // other errors as StoreBytes.
  absl::Status StoreRetrieved(std::string_view part10, const std::string& expected_study_uid,
                              const std::string& sop_instance_uid, const std::string& from_ae);

  // dicom::StoreHandler
  absl::Status CheckCapacity() override;
  std::string StagingPathFor(const std::string& sop_instance_uid) override;
  absl::Status OnReceived(const dicom::ReceivedInstance& instance) override;
  void OnRefused(const absl::Status& status) override;
  void OnAssociationCountChanged(int open_associations) override;
  void OnAssociationRefused(const std::string& calling_ae, const std::string& peer_address,
                            const std::string& reason) override;

 private:
  // Makes a parsed instance in `staging_path` durable and indexed, or
  // recognises it as a resend. Consumes the staging file.
  absl::Status Persist(const dicom::InstanceHeader& header, const std::string& source, const std::string& calling_ae,
                       const std::string& staging_path, int64_t size_bytes, bool* duplicate,
                       const std::string& study_origin = kStudyOriginReceived);
  std::mutex& StripeFor(const std::string& sop_instance_uid);

  InstanceStore* store_;
  StudyIndex* index_;
  IngestMetrics* metrics_;
  AccessRefusalAuditor* refusals_;
  std::array<std::mutex, 64> stripes_;
};

}  // namespace parallax::ingest
