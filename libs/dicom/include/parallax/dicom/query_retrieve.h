#pragma once
// A DICOM Query/Retrieve SCU built on DCMTK dcmnet: finds a patient's studies
// on a PACS (C-FIND, Study Root information model), lists a study's series,
// and fetches a study either to us (C-GET) or to another AE (C-MOVE). Used
// for prior-study comparison: find the patient's earlier studies of the same
// modality and body part, then retrieve the most relevant one.
//
// The PACS is named by the StoreDestination of store_scu.h (name, called AE
// title, host, port); our side by QueryRetrieveOptions.
//
// Errors, the same for every call (a caller treats UNAVAILABLE and
// DEADLINE_EXCEEDED alike: the PACS cannot be used now, fall back to local
// priors):
//   INVALID_ARGUMENT   before any connection: a malformed query, UID, AE
//                      title, host or port; the message names the field,
//                      never its value when the value is patient data.
//   UNAVAILABLE        naming the PACS (name, AE title, host and port): the
//                      TCP connection was refused or failed, the PACS
//                      rejected the association (wrong called AE title, or
//                      our calling AE title unknown to it), accepted none of
//                      the presentation contexts needed, or the association
//                      broke or was aborted before the final response.
//   DEADLINE_EXCEEDED  naming the PACS and which timeout: no TCP connection
//                      within connect_timeout_seconds, no association answer
//                      within acse_timeout_seconds, or no next message within
//                      dimse_timeout_seconds once associated.
//   FAILED_PRECONDITION naming the PACS and the final DICOM status in hex
//                      (e.g. "C-MOVE status A801"): the PACS answered the
//                      request with a failure (A7xx out of resources, A801
//                      move destination unknown, A900 identifier does not
//                      match SOP class, Cxxx unable to process, or any other
//                      non-success, non-warning, non-pending status).
//   CANCELLED          the PACS answered Cancel (FE00) to a request we did
//                      not cancel.
//   INTERNAL           DCMTK could not build a message (a bug, not the PACS).
// No message or log line carries patient data (patient id, name, accession
// number, study description); UIDs and AE titles only.
//
// Thread-safe: each call opens its own association and releases it before
// returning; calls may run concurrently. The sink of RetrieveStudy is called
// on the caller's thread, one instance at a time.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/dicom/store_scu.h"

namespace parallax::dicom {

struct QueryRetrieveOptions {
  std::string calling_ae_title = "PARALLAX";  // our AE title, 1..16 characters; the PACS must know it
  int connect_timeout_seconds = 5;            // TCP connect
  int acse_timeout_seconds = 10;              // association negotiation
  int dimse_timeout_seconds = 60;             // each response (C-FIND match, C-GET/C-MOVE progress, C-STORE)
  unsigned max_pdu = 65536;                   // maximum receive PDU length
};

// A study-level query. Every set field narrows the match.
struct StudyQuery {
  // Required: exact Patient ID (1..64 printable ASCII characters, no
  // wildcards '*' '?' and no backslash).
  std::string patient_id;
  // Modalities In Study, e.g. {"CT"}; a study matches when it has any of
  // them. Empty: any modality. Each 1..16 of A-Z 0-9 space underscore.
  std::vector<std::string> modalities;
  // Study Date range, YYYYMMDD, inclusive; either may be empty (open end).
  std::string study_date_from;
  std::string study_date_to;
  // Body Part Examined (a series-level attribute, e.g. "HEAD"): when set,
  // each matching study is also asked at series level, on the same
  // association, and kept only when one of its series has that body part.
  // Same characters as a modality. Empty: any body part.
  std::string body_part;
  // Study Description matching, DICOM wildcard rules ('*', '?'), e.g.
  // "*HEAD*". Up to 64 characters, no backslash. Empty: any description.
  std::string study_description;
  // At most this many studies are returned (1..10000); when the PACS has
  // more, the C-FIND is cancelled and `truncated` is set.
  int max_results = 200;
};

struct StudyMatch {
  std::string study_instance_uid;
  std::string study_date;            // YYYYMMDD; empty when the PACS did not say
  std::string study_time;            // HHMMSS[.FFFFFF]; may be empty
  std::vector<std::string> modalities_in_study;
  std::string study_description;     // patient data: never log it
  std::string accession_number;      // patient data: never log it
  int number_of_instances = -1;      // Number of Study Related Instances; -1 when the PACS did not say
};

struct StudyFindResult {
  std::vector<StudyMatch> studies;  // in the PACS's order
  bool truncated = false;           // more than max_results matched; the rest were not read
};

// Finds the studies of `query.patient_id` on `pacs` by C-FIND at STUDY level
// (Study Root Query/Retrieve Information Model - FIND), with Patient ID,
// Study Date range, Modalities In Study and Study Description as matching
// keys. A patient with no matching study gives an empty list (OK).
// As a safeguard against a PACS that matches loosely, answers whose Patient
// ID differs from the query, whose Study Date is outside the range, or whose
// Modalities In Study (when given) share none of the query's modalities are
// dropped; answers without a valid Study Instance UID are dropped too.
// Errors: see the top of this file.
absl::StatusOr<StudyFindResult> FindStudies(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                            const StudyQuery& query);

struct SeriesMatch {
  std::string series_instance_uid;
  std::string modality;
  std::string body_part_examined;
  std::string series_description;    // may be empty
  int series_number = -1;            // -1 when absent
  int number_of_instances = -1;      // Number of Series Related Instances; -1 when the PACS did not say
};

// Lists the series of one study by C-FIND at SERIES level (Study Root).
// A study the PACS does not have gives an empty list (OK).
// INVALID_ARGUMENT when `study_instance_uid` is not a valid UID; other
// errors: see the top of this file.
absl::StatusOr<std::vector<SeriesMatch>> FindSeries(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                                    const std::string& study_instance_uid);

// Sub-operation counts of a C-GET or C-MOVE, from the PACS's final response.
struct RetrieveCounts {
  int completed = 0;  // instances the receiver stored with success
  int failed = 0;     // instances not stored (the receiver refused them, or could not be reached)
  int warning = 0;    // instances stored with a warning status
  // The final status of the C-GET/C-MOVE: 0x0000 success, 0xB000 some
  // sub-operations failed or gave warnings (still OK: see the counts).
  uint16_t status = 0;
};

// One instance received by C-GET.
struct RetrievedInstance {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;  // as sent by the PACS (kept, not transcoded)
  std::string part10;               // the complete Part-10 file (preamble, meta information, data set)
};

// Receives one instance. OK: the instance is ours (answered Success).
// RESOURCE_EXHAUSTED: answered A700 (out of resources); any other error:
// answered C000 (cannot understand). Either way the retrieve goes on with
// the next instance and the instance counts as failed.
using RetrievedInstanceSink = std::function<absl::Status(const RetrievedInstance& instance)>;

struct RetrieveResult {
  RetrieveCounts counts;
  // Instances handed to the sink with OK, in arrival order.
  std::vector<std::string> received_sop_instance_uids;
  // The first error a sink returned (or a received data set that could not
  // be encoded), for the caller's diagnosis; OK when there was none.
  absl::Status first_instance_error;
};

// Retrieves every instance of `study_instance_uid` from `pacs` by C-GET
// (Study Root Query/Retrieve Information Model - GET), on one association,
// handing each to `sink`. We offer the SCP role for every storage SOP class
// of sop_classes.h (CT, MR, CR, DX, MG, enhanced CT/MR, PET, NM, US, XA,
// secondary captures, SR, segmentation, ...): every class in explicit and
// implicit VR little endian; CT, MR, CR, DX, MG and secondary capture also
// in one context per compressed syntax of sop_classes.h (JPEG, JPEG-LS,
// JPEG 2000, RLE), so the PACS sends such an instance in its own encoding;
// the other classes in one more context listing those syntaxes (the PACS
// picks one). An instance the PACS can neither send as it is nor transcode
// counts as failed.
// OK with the counts when the final status is success or warning (B000):
// check counts.failed. A study the PACS does not have gives zero counts or
// FAILED_PRECONDITION, depending on the PACS (Orthanc 1.10 answers C000:
// FAILED_PRECONDITION "... C-GET status C000 ...").
// INVALID_ARGUMENT when the UID is invalid or `sink` is empty; other errors:
// see the top of this file.
absl::StatusOr<RetrieveResult> RetrieveStudy(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                             const std::string& study_instance_uid,
                                             const RetrievedInstanceSink& sink);

// RetrieveStudy writing each instance as <directory>/<SOP Instance UID>.dcm
// (the directory is created when missing; an existing file of that name is
// replaced). A file that cannot be written is answered A700 and counted as
// failed. INVALID_ARGUMENT when `directory` is empty, otherwise as
// RetrieveStudy.
absl::StatusOr<RetrieveResult> RetrieveStudyToDirectory(const StoreDestination& pacs,
                                                        const QueryRetrieveOptions& options,
                                                        const std::string& study_instance_uid,
                                                        const std::string& directory);

// Asks `pacs` by C-MOVE (Study Root Query/Retrieve Information Model - MOVE)
// to send every instance of `study_instance_uid` to the AE titled
// `destination_ae_title` (e.g. Parallax's own ingest Storage SCP), and waits
// for the final response. The PACS must know that AE title (its address is
// in the PACS's configuration, not in the request). OK with the counts when
// the final status is success or warning (B000): check counts.failed.
// FAILED_PRECONDITION "... C-MOVE to '<AE>' status XXXX ..." when the PACS
// does not know the destination (A801 per the standard; Orthanc 1.10
// answers C000). INVALID_ARGUMENT when the UID or the destination AE
// title is malformed; other errors: see the top of this file.
absl::StatusOr<RetrieveCounts> MoveStudy(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                         const std::string& study_instance_uid,
                                         const std::string& destination_ae_title);

}  // namespace parallax::dicom
