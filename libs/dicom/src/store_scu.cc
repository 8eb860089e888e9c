#include "parallax/dicom/store_scu.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/cond.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <charconv>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <utility>

#include "parallax/dicom/instance_header.h"

namespace parallax::dicom {
namespace {

constexpr Uint16 kSopClassNotSupported = 0x0122;

// One object to send, parsed.
struct Parsed {
  std::unique_ptr<DcmFileFormat> file;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
};

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).good()) return std::string(value.c_str());
  return {};
}

absl::StatusOr<Parsed> ParseObject(std::string_view bytes, size_t index) {
  const std::string which = "object " + std::to_string(index + 1);
  if (bytes.size() < 132 || bytes.substr(128, 4) != "DICM") {
    return absl::InvalidArgumentError(which + " is not a DICOM Part-10 file (no DICM preamble)");
  }
  Parsed p;
  p.file = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  p.file->transferInit();
  const OFCondition cond = p.file->read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  p.file->transferEnd();
  if (cond.bad()) return absl::InvalidArgumentError(which + " is unparseable DICOM: " + cond.text());
  DcmDataset& ds = *p.file->getDataset();
  p.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  p.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  if (!IsValidUid(p.sop_class_uid)) return absl::InvalidArgumentError(which + " has no valid SOP Class UID");
  if (!IsValidUid(p.sop_instance_uid)) return absl::InvalidArgumentError(which + " has no valid SOP Instance UID");
  // Load everything now: the stream's buffer is the caller's.
  ds.loadAllDataIntoMemory();
  DcmXfer xfer(ds.getOriginalXfer());
  p.transfer_syntax_uid = xfer.getXferID();
  if (p.transfer_syntax_uid.empty()) p.transfer_syntax_uid = UID_LittleEndianExplicitTransferSyntax;
  return p;
}

bool ValidAeTitle(const std::string& ae) {
  if (ae.empty() || ae.size() > 16) return false;
  for (char c : ae) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) return false;
  }
  return ae.find_first_not_of(' ') != std::string::npos;
}

std::string Describe(const StoreDestination& d) {
  return "PACS '" + d.name + "' (" + d.ae_title + "@" + d.host + ":" + std::to_string(d.port) + ")";
}

// DcmSCU logs every association and C-STORE at INFO; Parallax logs its own
// outcome (and never patient data), so DCMTK logs errors only.
void QuietDcmtkOnce() {
  static const bool quiet = [] {
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
    return true;
  }();
  (void)quiet;
}

// Keeps DcmSCU from logging progress for every PDU.
class QuietScu : public DcmSCU {
 public:
  void notifySENDProgress(const unsigned long) override {}
  void notifyRECEIVEProgress(const unsigned long) override {}
};

absl::StatusOr<std::vector<StoreResult>> Store(const StoreDestination& destination, const StoreScuOptions& options,
                                               const std::vector<std::string_view>& objects) {
  if (objects.empty()) return absl::InvalidArgumentError("there is nothing to send");
  if (!ValidAeTitle(destination.ae_title)) {
    return absl::InvalidArgumentError("the AE title of PACS '" + destination.name + "' must be 1 to 16 characters");
  }
  if (destination.host.empty()) return absl::InvalidArgumentError("PACS '" + destination.name + "' has no host");
  if (destination.port < 1 || destination.port > 65535) {
    return absl::InvalidArgumentError("the port of PACS '" + destination.name + "' must be 1..65535");
  }
  if (!ValidAeTitle(options.calling_ae_title)) {
    return absl::InvalidArgumentError("the calling AE title must be 1 to 16 characters");
  }

  // Parse everything before connecting: a bad object fails the whole call.
  std::vector<Parsed> parsed;
  parsed.reserve(objects.size());
  for (size_t i = 0; i < objects.size(); ++i) {
    absl::StatusOr<Parsed> p = ParseObject(objects[i], i);
    if (!p.ok()) return p.status();
    parsed.push_back(*std::move(p));
  }

  // Presentation contexts: per SOP class, each object's own transfer syntax,
  // and one context with the uncompressed little endian syntaxes.
  std::map<std::string, std::set<std::string>> own_syntaxes;
  for (const Parsed& p : parsed) {
    if (p.transfer_syntax_uid != UID_LittleEndianExplicitTransferSyntax) {
      own_syntaxes[p.sop_class_uid].insert(p.transfer_syntax_uid);
    } else {
      own_syntaxes[p.sop_class_uid];
    }
  }
  size_t contexts = 0;
  for (const auto& [sop_class, syntaxes] : own_syntaxes) contexts += 1 + syntaxes.size();
  if (contexts > 128) {
    return absl::InvalidArgumentError("the objects need " + std::to_string(contexts) +
                                      " presentation contexts; one association carries at most 128");
  }

  QuietDcmtkOnce();
  QuietScu scu;
  scu.setAETitle(options.calling_ae_title.c_str());
  scu.setPeerAETitle(destination.ae_title.c_str());
  scu.setPeerHostName(destination.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(destination.port));
  scu.setMaxReceivePDULength(options.max_pdu);
  scu.setConnectionTimeout(options.connect_timeout_seconds);
  scu.setACSETimeout(static_cast<Uint32>(options.acse_timeout_seconds));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(static_cast<Uint32>(options.dimse_timeout_seconds));
  scu.setDatasetConversionMode(OFTrue);
  scu.setProgressNotificationMode(OFFalse);
  for (const auto& [sop_class, syntaxes] : own_syntaxes) {
    for (const std::string& ts : syntaxes) {
      OFList<OFString> one;
      one.push_back(ts.c_str());
      if (OFCondition c = scu.addPresentationContext(sop_class.c_str(), one); c.bad()) {
        return absl::InternalError(std::string("cannot propose a presentation context: ") + c.text());
      }
    }
    OFList<OFString> uncompressed;
    uncompressed.push_back(UID_LittleEndianExplicitTransferSyntax);
    uncompressed.push_back(UID_LittleEndianImplicitTransferSyntax);
    if (OFCondition c = scu.addPresentationContext(sop_class.c_str(), uncompressed); c.bad()) {
      return absl::InternalError(std::string("cannot propose a presentation context: ") + c.text());
    }
  }

  if (OFCondition c = scu.initNetwork(); c.bad()) {
    return absl::UnavailableError("cannot set up the network to send to " + Describe(destination) + ": " + c.text());
  }
  if (OFCondition c = scu.negotiateAssociation(); c.bad()) {
    if (c == NET_EC_NoAcceptablePresentationContexts) {
      // The PACS is there but takes none of these objects: not retryable, an
      // answer per object.
      std::vector<StoreResult> refused;
      for (const Parsed& p : parsed) {
        refused.push_back({p.sop_class_uid, p.sop_instance_uid, kSopClassNotSupported,
                           "the PACS accepted no presentation context for SOP class " + p.sop_class_uid});
      }
      return refused;
    }
    return absl::UnavailableError("cannot open an association with " + Describe(destination) + ": " + c.text());
  }

  std::vector<StoreResult> results;
  results.reserve(parsed.size());
  for (Parsed& p : parsed) {
    StoreResult result;
    result.sop_class_uid = p.sop_class_uid;
    result.sop_instance_uid = p.sop_instance_uid;
    // The object's own syntax first, then an uncompressed one it can be
    // converted to (only when it is not compressed itself).
    T_ASC_PresentationContextID id = scu.findPresentationContextID(p.sop_class_uid.c_str(),
                                                                   p.transfer_syntax_uid.c_str());
    const bool encapsulated = DcmXfer(p.transfer_syntax_uid.c_str()).isEncapsulated();
    if (id == 0 && !encapsulated) {
      id = scu.findPresentationContextID(p.sop_class_uid.c_str(), UID_LittleEndianExplicitTransferSyntax);
      if (id == 0) id = scu.findPresentationContextID(p.sop_class_uid.c_str(), UID_LittleEndianImplicitTransferSyntax);
    }
    if (id == 0) {
      result.status = kSopClassNotSupported;
      result.error = "the PACS accepted no presentation context for SOP class " + p.sop_class_uid +
                     (encapsulated ? " in transfer syntax " + p.transfer_syntax_uid : std::string());
      results.push_back(std::move(result));
      continue;
    }
    Uint16 status = 0;
    const OFCondition c = scu.sendSTORERequest(id, OFFilename(), p.file->getDataset(), status);
    if (c.bad()) {
      if (!scu.isConnected()) {
        return absl::UnavailableError("the association with " + Describe(destination) + " broke after " +
                                      std::to_string(results.size()) + " of " + std::to_string(parsed.size()) +
                                      " objects: " + c.text());
      }
      // The association is still up: this object could not be sent (e.g. not
      // convertible to the accepted syntax).
      result.status = 0xC000;
      result.error = std::string("cannot send the object: ") + c.text();
      results.push_back(std::move(result));
      continue;
    }
    result.status = status;
    if (!result.stored()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04X", static_cast<unsigned>(status));
      result.error = std::string("the PACS answered C-STORE status ") + hex;
    }
    results.push_back(std::move(result));
  }
  scu.releaseAssociation();
  return results;
}

}  // namespace

absl::StatusOr<StoreDestination> ParseStoreDestination(std::string_view text) {
  const size_t eq = text.find('=');
  const size_t at = text.find('@');
  const size_t colon = text.rfind(':');
  if (eq == std::string_view::npos || at == std::string_view::npos || colon == std::string_view::npos || eq == 0 ||
      at < eq || colon < at) {
    return absl::InvalidArgumentError("a PACS destination must look like name=AET@host:port");
  }
  StoreDestination d;
  d.name = std::string(text.substr(0, eq));
  d.ae_title = std::string(text.substr(eq + 1, at - eq - 1));
  d.host = std::string(text.substr(at + 1, colon - at - 1));
  const std::string_view port = text.substr(colon + 1);
  if (!ValidAeTitle(d.ae_title)) {
    return absl::InvalidArgumentError("the AE title of PACS destination '" + d.name + "' must be 1 to 16 characters");
  }
  if (d.host.empty()) return absl::InvalidArgumentError("PACS destination '" + d.name + "' has no host");
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    return absl::InvalidArgumentError("the port of PACS destination '" + d.name + "' must be 1..65535");
  }
  d.port = value;
  return d;
}

absl::StatusOr<std::vector<StoreResult>> StoreInstances(const StoreDestination& destination,
                                                        const StoreScuOptions& options,
                                                        const std::vector<std::string_view>& objects) {
  try {
    return Store(destination, options, objects);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory sending to the PACS");
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("cannot send to the PACS: ") + e.what());
  }
}

}  // namespace parallax::dicom
