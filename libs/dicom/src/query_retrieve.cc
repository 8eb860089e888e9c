#include "parallax/dicom/query_retrieve.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/cond.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string_view>
#include <utility>

#include "dataset_copy.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sop_classes.h"

namespace parallax::dicom {
namespace {

using Clock = std::chrono::steady_clock;

constexpr Uint16 kStatusSuccess = 0x0000;
constexpr Uint16 kStatusCancel = 0xFE00;
constexpr Uint16 kStoreOutOfResources = 0xA700;
constexpr Uint16 kStoreCannotUnderstand = 0xC000;
constexpr int kMaxSeriesPerStudy = 10000;

std::string Hex(unsigned status) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04X", status & 0xFFFFu);
  return hex;
}

std::string Describe(const StoreDestination& d) {
  return "PACS '" + d.name + "' (" + d.ae_title + "@" + d.host + ":" + std::to_string(d.port) + ")";
}

bool ValidAeTitle(const std::string& ae) {
  if (ae.empty() || ae.size() > 16) return false;
  for (char c : ae) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) return false;
  }
  return ae.find_first_not_of(' ') != std::string::npos;
}

// A Code String value as a query key: 1..16 of A-Z 0-9 space underscore.
bool ValidCodeString(const std::string& value) {
  if (value.empty() || value.size() > 16) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_';
  });
}

bool ValidDate(const std::string& date) {
  if (date.size() != 8 || !std::all_of(date.begin(), date.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int month = std::stoi(date.substr(4, 2));
  const int day = std::stoi(date.substr(6, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

bool PrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) <= 0x7E;
  });
}

std::string Trim(std::string s) {
  const size_t begin = s.find_first_not_of(' ');
  if (begin == std::string::npos) return {};
  const size_t end = s.find_last_not_of(" \0", std::string::npos, 2);
  return s.substr(begin, end - begin + 1);
}

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).good()) return Trim(std::string(value.c_str()));
  return {};
}

std::vector<std::string> SplitValues(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    const size_t end = value.find('\\', start);
    std::string one = Trim(value.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (!one.empty()) out.push_back(std::move(one));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

int GetInt(DcmItem& item, const DcmTagKey& tag) {
  const std::string value = GetString(item, tag);
  if (value.empty()) return -1;
  try {
    size_t used = 0;
    const long parsed = std::stol(value, &used);
    if (used != value.size() || parsed < 0 || parsed > 0x7FFFFFFF) return -1;
    return static_cast<int>(parsed);
  } catch (const std::exception&) {
    return -1;
  }
}

absl::Status ValidatePeer(const StoreDestination& pacs, const QueryRetrieveOptions& options) {
  if (!ValidAeTitle(pacs.ae_title)) {
    return absl::InvalidArgumentError("the AE title of PACS '" + pacs.name + "' must be 1 to 16 characters");
  }
  if (pacs.host.empty()) return absl::InvalidArgumentError("PACS '" + pacs.name + "' has no host");
  if (pacs.port < 1 || pacs.port > 65535) {
    return absl::InvalidArgumentError("the port of PACS '" + pacs.name + "' must be 1..65535");
  }
  if (!ValidAeTitle(options.calling_ae_title)) {
    return absl::InvalidArgumentError("the calling AE title must be 1 to 16 characters");
  }
  if (options.connect_timeout_seconds < 1 || options.acse_timeout_seconds < 1 || options.dimse_timeout_seconds < 1) {
    return absl::InvalidArgumentError("the connect, ACSE and DIMSE timeouts must be at least 1 second");
  }
  return absl::OkStatus();
}

absl::Status ValidateStudyUid(const std::string& uid) {
  if (!IsValidUid(uid)) return absl::InvalidArgumentError("the Study Instance UID is not a valid UID");
  return absl::OkStatus();
}

absl::Status ValidateQuery(const StudyQuery& q) {
  // Messages name the field only: these values are patient data.
  if (q.patient_id.empty()) return absl::InvalidArgumentError("the study query needs a patient id");
  if (q.patient_id.size() > 64 || !PrintableAscii(q.patient_id) ||
      q.patient_id.find_first_of("*?\\") != std::string::npos || Trim(q.patient_id).empty()) {
    return absl::InvalidArgumentError(
        "the patient id of a study query must be 1 to 64 printable ASCII characters without '*', '?' or '\\'");
  }
  for (const std::string& m : q.modalities) {
    if (!ValidCodeString(m)) {
      return absl::InvalidArgumentError("a modality of a study query must be 1 to 16 of A-Z, 0-9, space, underscore");
    }
  }
  if (!q.study_date_from.empty() && !ValidDate(q.study_date_from)) {
    return absl::InvalidArgumentError("study_date_from must be a date YYYYMMDD");
  }
  if (!q.study_date_to.empty() && !ValidDate(q.study_date_to)) {
    return absl::InvalidArgumentError("study_date_to must be a date YYYYMMDD");
  }
  if (!q.study_date_from.empty() && !q.study_date_to.empty() && q.study_date_from > q.study_date_to) {
    return absl::InvalidArgumentError("study_date_from is after study_date_to");
  }
  if (!q.body_part.empty() && !ValidCodeString(q.body_part)) {
    return absl::InvalidArgumentError("the body part of a study query must be 1 to 16 of A-Z, 0-9, space, underscore");
  }
  if (q.study_description.size() > 64 || !PrintableAscii(q.study_description) ||
      q.study_description.find('\\') != std::string::npos) {
    return absl::InvalidArgumentError(
        "the study description of a study query must be up to 64 printable ASCII characters without '\\'");
  }
  if (q.max_results < 1 || q.max_results > 10000) {
    return absl::InvalidArgumentError("max_results must be 1..10000");
  }
  return absl::OkStatus();
}

std::string DateRange(const std::string& from, const std::string& to) {
  if (from.empty() && to.empty()) return {};
  if (from == to) return from;
  return from + "-" + to;
}

// DcmSCU logs every association and message at INFO; Parallax logs its own
// outcome (never patient data), so DCMTK logs errors only.
void QuietDcmtkOnce() {
  static const bool quiet = [] {
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
    return true;
  }();
  (void)quiet;
}

bool Pending(Uint16 status) { return status == 0xFF00 || status == 0xFF01; }
bool SuccessOrWarning(Uint16 status) {
  return status == kStatusSuccess || (status & 0xF000) == 0xB000;
}

// The DcmSCU with our response handlers. One per call; not shared.
class QrScu : public DcmSCU {
 public:
  // C-FIND: called for every pending answer's identifier; false cancels the
  // C-FIND (the remaining answers are read and ignored).
  std::function<bool(DcmDataset&)> on_match;
  // C-GET: receives every instance.
  const RetrievedInstanceSink* sink = nullptr;
  RetrieveResult* get_result = nullptr;

  bool final_received = false;
  Uint16 final_status = 0;
  bool cancel_sent = false;
  RetrieveCounts counts;

  void ResetSession() {
    final_received = false;
    final_status = 0;
    cancel_sent = false;
    counts = {};
  }

  void notifySENDProgress(const unsigned long) override {}
  void notifyRECEIVEProgress(const unsigned long) override {}

  OFCondition handleFINDResponse(const T_ASC_PresentationContextID pres_id, QRResponse* response,
                                 OFBool& wait_for_next) override {
    wait_for_next = OFFalse;
    if (response == nullptr) return DIMSE_NULLKEY;
    if (Pending(response->m_status)) {
      wait_for_next = OFTrue;
      if (!cancel_sent && response->m_dataset != nullptr && on_match && !on_match(*response->m_dataset)) {
        sendCANCELRequest(pres_id);
        cancel_sent = true;
      }
      return EC_Normal;
    }
    final_received = true;
    final_status = response->m_status;
    return EC_Normal;
  }

  OFCondition handleMOVEResponse(const T_ASC_PresentationContextID, RetrieveResponse* response,
                                 OFBool& wait_for_next) override {
    return Track(response, wait_for_next);
  }

  OFCondition handleCGETResponse(const T_ASC_PresentationContextID, RetrieveResponse* response,
                                 OFBool& continue_session) override {
    return Track(response, continue_session);
  }

  // Takes ownership of `incoming`. Always returns EC_Normal so that DcmSCU
  // answers `status` and goes on with the C-GET (an error ends the session).
  OFCondition handleSTORERequest(const T_ASC_PresentationContextID pres_id, DcmDataset* incoming,
                                 OFBool& /*continue_session*/, Uint16& status) override {
    std::unique_ptr<DcmDataset> owned(incoming);
    status = Receive(pres_id, std::move(owned));
    return EC_Normal;
  }

 private:
  OFCondition Track(RetrieveResponse* response, OFBool& wait_for_next) {
    wait_for_next = OFFalse;
    if (response == nullptr) return DIMSE_NULLKEY;
    // Counts of the latest response; the final one is authoritative.
    counts.completed = response->m_numberOfCompletedSubops;
    counts.failed = response->m_numberOfFailedSubops;
    counts.warning = response->m_numberOfWarningSubops;
    if (Pending(response->m_status)) {
      wait_for_next = OFTrue;
      return EC_Normal;
    }
    final_received = true;
    final_status = response->m_status;
    counts.status = response->m_status;
    return EC_Normal;
  }

  Uint16 Receive(T_ASC_PresentationContextID pres_id, std::unique_ptr<DcmDataset> dataset) {
    auto fail = [&](absl::Status error, Uint16 status) {
      if (get_result != nullptr && get_result->first_instance_error.ok()) {
        get_result->first_instance_error = std::move(error);
      }
      return status;
    };
    if (!dataset || sink == nullptr) {
      return fail(absl::InternalError("a C-STORE arrived without a data set"), kStoreCannotUnderstand);
    }
    RetrievedInstance instance;
    instance.sop_class_uid = GetString(*dataset, DCM_SOPClassUID);
    instance.sop_instance_uid = GetString(*dataset, DCM_SOPInstanceUID);
    if (!IsValidUid(instance.sop_class_uid) || !IsValidUid(instance.sop_instance_uid)) {
      return fail(absl::InvalidArgumentError("a received instance has no valid SOP Class or SOP Instance UID"),
                  kStoreCannotUnderstand);
    }
    E_TransferSyntax xfer = dataset->getOriginalXfer();
    if (xfer == EXS_Unknown) {
      OFString abstract_syntax, transfer_syntax;
      findPresentationContext(pres_id, abstract_syntax, transfer_syntax);
      xfer = DcmXfer(transfer_syntax.c_str()).getXfer();
    }
    if (xfer == EXS_Unknown) xfer = EXS_LittleEndianImplicit;
    instance.transfer_syntax_uid = DcmXfer(xfer).getXferID();
    DcmFileFormat file(dataset.release(), /*deepCopy=*/OFFalse);
    absl::StatusOr<std::string> bytes = internal::EncodePart10(file, xfer, "received instance");
    if (!bytes.ok()) return fail(bytes.status(), kStoreCannotUnderstand);
    instance.part10 = *std::move(bytes);
    absl::Status accepted;
    try {
      accepted = (*sink)(instance);
    } catch (const std::exception& e) {
      accepted = absl::InternalError(std::string("the instance sink threw: ") + e.what());
    }
    if (!accepted.ok()) {
      const Uint16 status = accepted.code() == absl::StatusCode::kResourceExhausted ? kStoreOutOfResources
                                                                                    : kStoreCannotUnderstand;
      return fail(std::move(accepted), status);
    }
    if (get_result != nullptr) get_result->received_sop_instance_uids.push_back(instance.sop_instance_uid);
    return kStatusSuccess;
  }
};

void Configure(QrScu& scu, const StoreDestination& pacs, const QueryRetrieveOptions& options) {
  QuietDcmtkOnce();
  scu.setAETitle(options.calling_ae_title.c_str());
  scu.setPeerAETitle(pacs.ae_title.c_str());
  scu.setPeerHostName(pacs.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(pacs.port));
  scu.setMaxReceivePDULength(options.max_pdu);
  scu.setConnectionTimeout(options.connect_timeout_seconds);
  scu.setACSETimeout(static_cast<Uint32>(options.acse_timeout_seconds));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(static_cast<Uint32>(options.dimse_timeout_seconds));
  scu.setProgressNotificationMode(OFFalse);
}

absl::Status AddContext(QrScu& scu, const char* abstract_syntax, const std::vector<std::string>& syntaxes,
                        T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT) {
  OFList<OFString> list;
  for (const std::string& ts : syntaxes) list.push_back(ts.c_str());
  if (OFCondition c = scu.addPresentationContext(abstract_syntax, list, role); c.bad()) {
    return absl::InternalError(std::string("cannot propose a presentation context: ") + c.text());
  }
  return absl::OkStatus();
}

const std::vector<std::string>& UncompressedSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {UID_LittleEndianExplicitTransferSyntax,
                                                     UID_LittleEndianImplicitTransferSyntax};
  return kSyntaxes;
}

// Opens the association. `what` names the service for messages ("C-FIND").
absl::Status Associate(QrScu& scu, const StoreDestination& pacs, const QueryRetrieveOptions& options,
                       const char* abstract_syntax, const std::string& what) {
  if (OFCondition c = scu.initNetwork(); c.bad()) {
    return absl::UnavailableError("cannot set up the network for " + what + " with " + Describe(pacs) + ": " +
                                  c.text());
  }
  const Clock::time_point start = Clock::now();
  const OFCondition c = scu.negotiateAssociation();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (c.good()) {
    if (scu.findPresentationContextID(abstract_syntax, "") == 0) {
      scu.abortAssociation();
      return absl::UnavailableError(Describe(pacs) + " does not offer " + what + " (Study Root)");
    }
    return absl::OkStatus();
  }
  if (c == DUL_ASSOCIATIONREJECTED) {
    return absl::UnavailableError(Describe(pacs) + " rejected the association for " + what +
                                  ": check the called AE title '" + pacs.ae_title + "' and that the PACS knows our AE "
                                  "title '" + options.calling_ae_title + "'");
  }
  if (c == NET_EC_NoAcceptablePresentationContexts) {
    return absl::UnavailableError(Describe(pacs) + " accepted none of the presentation contexts for " + what);
  }
  if (c == DUL_READTIMEOUT || (c.code() != DULC_TCPINITERROR && elapsed + 0.25 >= options.acse_timeout_seconds)) {
    return absl::DeadlineExceededError(Describe(pacs) + " did not answer the association request for " + what +
                                       " within " + std::to_string(options.acse_timeout_seconds) + " s");
  }
  if (c.code() == DULC_TCPINITERROR && elapsed + 0.25 >= options.connect_timeout_seconds) {
    return absl::DeadlineExceededError("cannot connect to " + Describe(pacs) + " within " +
                                       std::to_string(options.connect_timeout_seconds) + " s");
  }
  return absl::UnavailableError("cannot reach " + Describe(pacs) + " for " + what + ": " + c.text());
}

// Maps the result of a DIMSE exchange that did not end with a final response.
absl::Status ExchangeFailed(QrScu& scu, const StoreDestination& pacs, const QueryRetrieveOptions& options,
                            const OFCondition& c, const std::string& what) {
  scu.abortAssociation();
  if (c == DIMSE_NODATAAVAILABLE || c == DUL_READTIMEOUT) {
    return absl::DeadlineExceededError(Describe(pacs) + " sent no " + what + " response within " +
                                       std::to_string(options.dimse_timeout_seconds) + " s");
  }
  return absl::UnavailableError("the association with " + Describe(pacs) + " broke during " + what + ": " +
                                (c.bad() ? std::string(c.text()) : std::string("no final response")));
}

// The final status of a Q/R request as a Status. `cancelled_by_us`: an FE00
// answers our own C-CANCEL.
absl::Status FinalStatus(const StoreDestination& pacs, Uint16 status, const std::string& what,
                         const char* (*describe)(Uint16), bool cancelled_by_us) {
  if (SuccessOrWarning(status)) return absl::OkStatus();
  if (status == kStatusCancel) {
    if (cancelled_by_us) return absl::OkStatus();
    return absl::CancelledError(Describe(pacs) + " cancelled the " + what + " (status FE00)");
  }
  return absl::FailedPreconditionError(Describe(pacs) + " answered " + what + " status " + Hex(status) + " (" +
                                       describe(status) + ")");
}

// Runs one C-FIND on an open association. `on_match` as QrScu::on_match.
absl::Status RunFind(QrScu& scu, const StoreDestination& pacs, const QueryRetrieveOptions& options,
                     DcmDataset& keys, std::function<bool(DcmDataset&)> on_match) {
  const T_ASC_PresentationContextID id =
      scu.findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
  scu.ResetSession();
  scu.on_match = std::move(on_match);
  const OFCondition c = scu.sendFINDRequest(id, &keys, nullptr);
  scu.on_match = nullptr;
  if (c.bad() || !scu.final_received) return ExchangeFailed(scu, pacs, options, c, "C-FIND");
  const absl::Status final = FinalStatus(pacs, scu.final_status, "C-FIND", DU_cfindStatusString, scu.cancel_sent);
  if (!final.ok()) scu.releaseAssociation();
  return final;
}

// Proposes Study Root C-FIND and opens the association.
absl::Status OpenFind(QrScu& scu, const StoreDestination& pacs, const QueryRetrieveOptions& options) {
  Configure(scu, pacs, options);
  if (absl::Status s = AddContext(scu, UID_FINDStudyRootQueryRetrieveInformationModel, UncompressedSyntaxes());
      !s.ok()) {
    return s;
  }
  return Associate(scu, pacs, options, UID_FINDStudyRootQueryRetrieveInformationModel, "C-FIND");
}

SeriesMatch ParseSeries(DcmDataset& ds) {
  SeriesMatch s;
  s.series_instance_uid = GetString(ds, DCM_SeriesInstanceUID);
  s.modality = GetString(ds, DCM_Modality);
  s.body_part_examined = GetString(ds, DCM_BodyPartExamined);
  s.series_description = GetString(ds, DCM_SeriesDescription);
  s.series_number = GetInt(ds, DCM_SeriesNumber);
  s.number_of_instances = GetInt(ds, DCM_NumberOfSeriesRelatedInstances);
  return s;
}

// The series of one study on an open association.
absl::StatusOr<std::vector<SeriesMatch>> QuerySeries(QrScu& scu, const StoreDestination& pacs,
                                                     const QueryRetrieveOptions& options,
                                                     const std::string& study_uid, const std::string& body_part) {
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "SERIES");
  keys.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  keys.putAndInsertString(DCM_SeriesInstanceUID, "");
  keys.putAndInsertString(DCM_Modality, "");
  keys.putAndInsertString(DCM_BodyPartExamined, body_part.c_str());
  keys.putAndInsertString(DCM_SeriesDescription, "");
  keys.putAndInsertString(DCM_SeriesNumber, "");
  keys.putAndInsertString(DCM_NumberOfSeriesRelatedInstances, "");
  std::vector<SeriesMatch> series;
  absl::Status s = RunFind(scu, pacs, options, keys, [&](DcmDataset& ds) {
    SeriesMatch m = ParseSeries(ds);
    if (IsValidUid(m.series_instance_uid)) series.push_back(std::move(m));
    return series.size() < static_cast<size_t>(kMaxSeriesPerStudy);
  });
  if (!s.ok()) return s;
  return series;
}

absl::StatusOr<StudyFindResult> DoFindStudies(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                              const StudyQuery& query) {
  if (absl::Status s = ValidatePeer(pacs, options); !s.ok()) return s;
  if (absl::Status s = ValidateQuery(query); !s.ok()) return s;

  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_PatientID, query.patient_id.c_str());
  keys.putAndInsertString(DCM_StudyInstanceUID, "");
  keys.putAndInsertString(DCM_StudyDate, DateRange(query.study_date_from, query.study_date_to).c_str());
  keys.putAndInsertString(DCM_StudyTime, "");
  std::string modalities;
  for (const std::string& m : query.modalities) modalities += (modalities.empty() ? "" : "\\") + m;
  keys.putAndInsertString(DCM_ModalitiesInStudy, modalities.c_str());
  keys.putAndInsertString(DCM_StudyDescription, query.study_description.c_str());
  keys.putAndInsertString(DCM_AccessionNumber, "");
  keys.putAndInsertString(DCM_NumberOfStudyRelatedInstances, "");

  QrScu scu;
  if (absl::Status open = OpenFind(scu, pacs, options); !open.ok()) return open;

  StudyFindResult result;
  const std::string wanted_patient = Trim(query.patient_id);
  absl::Status s = RunFind(scu, pacs, options, keys, [&](DcmDataset& ds) {
    if (result.studies.size() >= static_cast<size_t>(query.max_results)) {
      result.truncated = true;
      return false;
    }
    StudyMatch m;
    m.study_instance_uid = GetString(ds, DCM_StudyInstanceUID);
    m.study_date = GetString(ds, DCM_StudyDate);
    m.study_time = GetString(ds, DCM_StudyTime);
    m.modalities_in_study = SplitValues(GetString(ds, DCM_ModalitiesInStudy));
    m.study_description = GetString(ds, DCM_StudyDescription);
    m.accession_number = GetString(ds, DCM_AccessionNumber);
    m.number_of_instances = GetInt(ds, DCM_NumberOfStudyRelatedInstances);
    // Safeguards against loose matching (see the header).
    if (!IsValidUid(m.study_instance_uid)) return true;
    const std::string patient = GetString(ds, DCM_PatientID);
    if (!patient.empty() && patient != wanted_patient) return true;
    if (!m.study_date.empty()) {
      if (!query.study_date_from.empty() && m.study_date < query.study_date_from) return true;
      if (!query.study_date_to.empty() && m.study_date > query.study_date_to) return true;
    }
    if (!query.modalities.empty() && !m.modalities_in_study.empty() &&
        std::none_of(m.modalities_in_study.begin(), m.modalities_in_study.end(), [&](const std::string& have) {
          return std::find(query.modalities.begin(), query.modalities.end(), have) != query.modalities.end();
        })) {
      return true;
    }
    result.studies.push_back(std::move(m));
    return true;
  });
  if (!s.ok()) return s;

  if (!query.body_part.empty()) {
    std::vector<StudyMatch> kept;
    for (StudyMatch& study : result.studies) {
      absl::StatusOr<std::vector<SeriesMatch>> series =
          QuerySeries(scu, pacs, options, study.study_instance_uid, query.body_part);
      if (!series.ok()) return series.status();
      const bool has = std::any_of(series->begin(), series->end(), [&](const SeriesMatch& one) {
        if (one.body_part_examined != query.body_part) return false;
        return query.modalities.empty() ||
               std::find(query.modalities.begin(), query.modalities.end(), one.modality) != query.modalities.end();
      });
      if (has) kept.push_back(std::move(study));
    }
    result.studies = std::move(kept);
  }
  scu.releaseAssociation();
  return result;
}

absl::StatusOr<std::vector<SeriesMatch>> DoFindSeries(const StoreDestination& pacs,
                                                      const QueryRetrieveOptions& options,
                                                      const std::string& study_uid) {
  if (absl::Status s = ValidatePeer(pacs, options); !s.ok()) return s;
  if (absl::Status s = ValidateStudyUid(study_uid); !s.ok()) return s;
  QrScu scu;
  if (absl::Status open = OpenFind(scu, pacs, options); !open.ok()) return open;
  absl::StatusOr<std::vector<SeriesMatch>> series = QuerySeries(scu, pacs, options, study_uid, "");
  if (series.ok()) scu.releaseAssociation();
  return series;
}

void StudyIdentifier(DcmDataset& keys, const std::string& study_uid) {
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
}

// The SCP role for the storage SOP classes, for C-GET. A presentation
// context carries one transfer syntax once accepted, and an association at
// most 128 contexts, so: for the classes priors mostly are (CT, MR, CR, DX,
// MG, secondary capture) one context per compressed syntax, so that the
// PACS can send an instance in its own encoding; for every class one
// uncompressed context (explicit/implicit VR little endian, which a PACS
// can always transcode to); and for the other classes one context listing
// every other syntax (the PACS picks one). 6 x 9 + 32 + 26 = 112 contexts.
absl::Status AddStorageContexts(QrScu& scu) {
  static const std::vector<std::string> kEachSyntax = {
      UID_CTImageStorage, UID_MRImageStorage, UID_ComputedRadiographyImageStorage,
      UID_DigitalXRayImageStorageForPresentation, UID_DigitalMammographyXRayImageStorageForPresentation,
      UID_SecondaryCaptureImageStorage};
  std::vector<std::string> other_syntaxes;
  for (const std::string& ts : AcceptedTransferSyntaxes()) {
    if (ts != UID_LittleEndianExplicitTransferSyntax && ts != UID_LittleEndianImplicitTransferSyntax) {
      other_syntaxes.push_back(ts);
    }
  }
  for (const SopClass& sop : AcceptedStorageSopClasses()) {
    if (absl::Status s = AddContext(scu, sop.uid.c_str(), UncompressedSyntaxes(), ASC_SC_ROLE_SCP); !s.ok()) return s;
    if (std::find(kEachSyntax.begin(), kEachSyntax.end(), sop.uid) == kEachSyntax.end()) {
      if (absl::Status s = AddContext(scu, sop.uid.c_str(), other_syntaxes, ASC_SC_ROLE_SCP); !s.ok()) return s;
      continue;
    }
    for (const std::string& ts : other_syntaxes) {
      if (!DcmXfer(ts.c_str()).isEncapsulated()) continue;  // deflate and big endian: rare, sent uncompressed
      if (absl::Status s = AddContext(scu, sop.uid.c_str(), {ts}, ASC_SC_ROLE_SCP); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RetrieveResult> DoRetrieve(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                          const std::string& study_uid, const RetrievedInstanceSink& sink) {
  if (absl::Status s = ValidatePeer(pacs, options); !s.ok()) return s;
  if (absl::Status s = ValidateStudyUid(study_uid); !s.ok()) return s;
  if (!sink) return absl::InvalidArgumentError("RetrieveStudy needs an instance sink");

  QrScu scu;
  Configure(scu, pacs, options);
  if (absl::Status s = AddContext(scu, UID_GETStudyRootQueryRetrieveInformationModel, UncompressedSyntaxes());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = AddStorageContexts(scu); !s.ok()) return s;
  if (absl::Status s = Associate(scu, pacs, options, UID_GETStudyRootQueryRetrieveInformationModel, "C-GET");
      !s.ok()) {
    return s;
  }
  RetrieveResult result;
  scu.sink = &sink;
  scu.get_result = &result;
  scu.ResetSession();
  DcmDataset keys;
  StudyIdentifier(keys, study_uid);
  const T_ASC_PresentationContextID id =
      scu.findPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "");
  const OFCondition c = scu.sendCGETRequest(id, &keys, nullptr);
  scu.sink = nullptr;
  scu.get_result = nullptr;
  if (!scu.final_received) return ExchangeFailed(scu, pacs, options, c, "C-GET");
  scu.releaseAssociation();
  if (absl::Status s = FinalStatus(pacs, scu.final_status, "C-GET", DU_cgetStatusString, false); !s.ok()) return s;
  result.counts = scu.counts;
  return result;
}

absl::StatusOr<RetrieveCounts> DoMove(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                      const std::string& study_uid, const std::string& destination_ae) {
  if (absl::Status s = ValidatePeer(pacs, options); !s.ok()) return s;
  if (absl::Status s = ValidateStudyUid(study_uid); !s.ok()) return s;
  if (!ValidAeTitle(destination_ae)) {
    return absl::InvalidArgumentError("the C-MOVE destination AE title must be 1 to 16 characters");
  }
  QrScu scu;
  Configure(scu, pacs, options);
  if (absl::Status s = AddContext(scu, UID_MOVEStudyRootQueryRetrieveInformationModel, UncompressedSyntaxes());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Associate(scu, pacs, options, UID_MOVEStudyRootQueryRetrieveInformationModel, "C-MOVE");
      !s.ok()) {
    return s;
  }
  scu.ResetSession();
  DcmDataset keys;
  StudyIdentifier(keys, study_uid);
  const T_ASC_PresentationContextID id =
      scu.findPresentationContextID(UID_MOVEStudyRootQueryRetrieveInformationModel, "");
  const OFCondition c = scu.sendMOVERequest(id, destination_ae.c_str(), &keys, nullptr);
  if (c.bad() || !scu.final_received) return ExchangeFailed(scu, pacs, options, c, "C-MOVE");
  scu.releaseAssociation();
  if (absl::Status s = FinalStatus(pacs, scu.final_status, "C-MOVE to '" + destination_ae + "'",
                                   DU_cmoveStatusString, false);
      !s.ok()) {
    return s;
  }
  return scu.counts;
}

template <typename F>
auto Guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(std::string("out of memory during ") + what);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string(what) + " failed: " + e.what());
  }
}

}  // namespace

absl::StatusOr<StudyFindResult> FindStudies(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                            const StudyQuery& query) {
  return Guarded("the study C-FIND", [&] { return DoFindStudies(pacs, options, query); });
}

absl::StatusOr<std::vector<SeriesMatch>> FindSeries(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                                    const std::string& study_instance_uid) {
  return Guarded("the series C-FIND", [&] { return DoFindSeries(pacs, options, study_instance_uid); });
}

absl::StatusOr<RetrieveResult> RetrieveStudy(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                             const std::string& study_instance_uid,
                                             const RetrievedInstanceSink& sink) {
  return Guarded("the C-GET", [&] { return DoRetrieve(pacs, options, study_instance_uid, sink); });
}

absl::StatusOr<RetrieveResult> RetrieveStudyToDirectory(const StoreDestination& pacs,
                                                        const QueryRetrieveOptions& options,
                                                        const std::string& study_instance_uid,
                                                        const std::string& directory) {
  if (directory.empty()) return absl::InvalidArgumentError("RetrieveStudyToDirectory needs a directory");
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return absl::InternalError("cannot create " + directory + ": " + ec.message());
  const RetrievedInstanceSink sink = [&](const RetrievedInstance& instance) -> absl::Status {
    // The UID was validated (digits and dots only), so it is a safe file name.
    const std::filesystem::path path = std::filesystem::path(directory) / (instance.sop_instance_uid + ".dcm");
    const std::filesystem::path partial = path.string() + ".partial";
    {
      std::ofstream out(partial, std::ios::binary | std::ios::trunc);
      out.write(instance.part10.data(), static_cast<std::streamsize>(instance.part10.size()));
      out.close();
      if (!out) {
        std::filesystem::remove(partial, ec);
        return absl::ResourceExhaustedError("cannot write " + path.string());
      }
    }
    std::filesystem::rename(partial, path, ec);
    if (ec) {
      std::filesystem::remove(partial, ec);
      return absl::ResourceExhaustedError("cannot write " + path.string() + ": " + ec.message());
    }
    return absl::OkStatus();
  };
  return RetrieveStudy(pacs, options, study_instance_uid, sink);
}

absl::StatusOr<RetrieveCounts> MoveStudy(const StoreDestination& pacs, const QueryRetrieveOptions& options,
                                         const std::string& study_instance_uid,
                                         const std::string& destination_ae_title) {
  return Guarded("the C-MOVE",
                 [&] { return DoMove(pacs, options, study_instance_uid, destination_ae_title); });
}

}  // namespace parallax::dicom
