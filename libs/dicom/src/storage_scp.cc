#include "parallax/dicom/storage_scp.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scpthrd.h>
#include <dcmtk/oflog/oflog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <list>
#include <mutex>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sop_classes.h"
#include "parallax/log/log.h"
#include "parallax/status/dicom_status.h"

namespace parallax::dicom {

// State shared by the accept loop and the association threads.
struct StorageScp::Shared {
  DcmSCPConfig config;
  std::mutex mu;
  struct Running {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Running> running;
  T_ASC_Network* network = nullptr;
};

namespace {

// One association: a DcmThreadSCP whose C-STORE handling writes the data set
// straight to the handler's staging file and answers with the handler's status.
class AssociationScp : public DcmThreadSCP {
 public:
  AssociationScp(const StorageScpOptions& options, StoreHandler* handler)
      : options_(options), handler_(handler) {}

 protected:
  OFBool checkCallingAETitleAccepted(const OFString& calling_ae) override {
    if (options_.allowed_calling_aes.empty()) return OFTrue;
    const std::string ae(calling_ae.c_str());
    bool allowed = std::find(options_.allowed_calling_aes.begin(), options_.allowed_calling_aes.end(), ae) !=
                   options_.allowed_calling_aes.end();
    if (!allowed) {
      const std::string peer = getPeerIP().c_str();
      log::Warning("association refused: calling AE title not in the allow-list", {{"calling_ae", ae}, {"peer", peer}});
      handler_->OnAssociationRefused(ae, peer, "calling AE title not in allowed_calling_aes");
    }
    return allowed ? OFTrue : OFFalse;
  }

  // DCMTK checks the called AE title before the calling one.
  OFBool checkCalledAETitleAccepted(const OFString& called_ae) override {
    if (!options_.require_called_ae) return OFTrue;
    const std::string called(called_ae.c_str());
    bool ok = called == options_.ae_title;
    if (!ok) {
      const std::string calling = getPeerAETitle().c_str();
      const std::string peer = getPeerIP().c_str();
      log::Warning("association refused: called AE title is not ours",
                   {{"called_ae", called}, {"calling_ae", calling}, {"peer", peer}});
      handler_->OnAssociationRefused(calling, peer, "called AE title not recognized: " + called);
    }
    return ok ? OFTrue : OFFalse;
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& pres) override {
    if (msg->CommandField != DIMSE_C_STORE_RQ) return DcmSCP::handleIncomingCommand(msg, pres);
    T_DIMSE_C_StoreRQ& req = msg->msg.CStoreRQ;
    const T_ASC_PresentationContextID pres_id = pres.presentationContextID;
    const std::string sop_instance(req.AffectedSOPInstanceUID);
    const std::string sop_class(req.AffectedSOPClassUID);

    absl::Status early = absl::OkStatus();
    if (!IsAcceptedStorageSopClass(sop_class) || sop_class != pres.abstractSyntax.c_str()) {
      early = absl::UnimplementedError("SOP class not accepted: " + sop_class);
    } else if (!IsValidUid(sop_instance)) {
      early = status::WithDicomStatus(
          absl::InvalidArgumentError("C-STORE request has a missing or malformed Affected SOP Instance UID"),
          status::kDicomCannotUnderstand);
    } else {
      early = handler_->CheckCapacity();
    }
    if (!early.ok()) {
      // Read and discard the data set so the association stays usable.
      DcmDataset* discarded = nullptr;
      OFCondition cond = receiveSTORERequest(req, pres_id, discarded);
      delete discarded;
      if (cond.bad()) return cond;
      handler_->OnRefused(early);
      return sendSTOREResponse(pres_id, req, status::ToDicom(early));
    }

    const std::string staging = handler_->StagingPathFor(sop_instance);
    OFCondition cond = receiveSTORERequest(req, pres_id, OFString(staging.c_str()));
    if (cond.bad()) {
      ::unlink(staging.c_str());
      log::Warning("C-STORE data set not received", {{"sop_instance_uid", sop_instance}, {"error", cond.text()}});
      if (cond == DIMSE_RECEIVEFAILED || cond == DUL_PEERABORTEDASSOCIATION || cond == DUL_NETWORKCLOSED) return cond;
      // Receiving into the file failed (e.g. the disk filled): refuse as out of resources.
      absl::Status refused = absl::ResourceExhaustedError("cannot write the received data set to the store");
      handler_->OnRefused(refused);
      return sendSTOREResponse(pres_id, req, status::ToDicom(refused));
    }

    ReceivedInstance received{staging, sop_class, sop_instance, pres.acceptedTransferSyntax.c_str(),
                              getPeerAETitle().c_str()};
    absl::Status stored = handler_->OnReceived(received);
    return sendSTOREResponse(pres_id, req, status::ToDicom(stored));
  }

 private:
  const StorageScpOptions& options_;
  StoreHandler* handler_;
};

}  // namespace

StorageScp::StorageScp(StorageScpOptions options, StoreHandler* handler)
    : options_(std::move(options)), handler_(handler), shared_(std::make_unique<Shared>()) {}

StorageScp::~StorageScp() { Stop(); }

absl::Status StorageScp::Start() {
  // DCMTK leaves Nagle's algorithm on unless TCP_NODELAY is set; on loopback
  // that costs tens of milliseconds per C-STORE response.
  ::setenv("TCP_NODELAY", "1", 0);
  OFLog::configure(OFLogger::ERROR_LOG_LEVEL);

  DcmSCPConfig& cfg = shared_->config;
  cfg.setAETitle(options_.ae_title.c_str());
  cfg.setPort(static_cast<Uint16>(options_.port));
  cfg.setACSETimeout(static_cast<Uint32>(options_.acse_timeout_seconds));
  cfg.setDIMSETimeout(static_cast<Uint32>(options_.dimse_timeout_seconds));
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setMaxReceivePDULength(options_.max_pdu);
  cfg.setHostLookupEnabled(OFFalse);
  OFList<OFString> syntaxes;
  for (const std::string& ts : AcceptedTransferSyntaxes()) syntaxes.push_back(ts.c_str());
  for (const SopClass& sop : AcceptedStorageSopClasses()) {
    OFCondition c = cfg.addPresentationContext(sop.uid.c_str(), syntaxes, ASC_SC_ROLE_DEFAULT);
    if (c.bad()) return absl::InternalError(std::string("cannot configure presentation contexts: ") + c.text());
  }
  OFList<OFString> echo_syntaxes;
  echo_syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
  echo_syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
  cfg.addPresentationContext(UID_VerificationSOPClass, echo_syntaxes, ASC_SC_ROLE_DEFAULT);

  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, options_.port, options_.acse_timeout_seconds,
                                           &shared_->network);
  if (cond.bad()) {
    return absl::UnavailableError("cannot listen for DICOM on port " + std::to_string(options_.port) + ": " +
                                  cond.text());
  }
  stopping_ = false;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  log::Info("storage SCP listening", {{"ae_title", options_.ae_title}, {"port", options_.port}});
  return absl::OkStatus();
}

void StorageScp::AcceptLoop() {
  const DcmSharedSCPConfig shared_config(shared_->config);
  while (!stopping_) {
    T_ASC_Association* assoc = nullptr;
    // Non-blocking with a 1 s timeout so Stop() is noticed promptly.
    OFCondition cond = ASC_receiveAssociation(shared_->network, &assoc, options_.max_pdu, nullptr, nullptr, OFFalse,
                                              DUL_NOBLOCK, 1);
    ReapFinished(false);
    if (cond == DUL_NOASSOCIATIONREQUEST) {
      ASC_destroyAssociation(&assoc);
      continue;
    }
    if (cond.bad()) {
      if (assoc) {
        ASC_dropAssociation(assoc);
        ASC_destroyAssociation(&assoc);
      }
      log::Warning("association request not received", {{"error", cond.text()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // never spin on a persistent error
      continue;
    }
    if (open_.load() >= options_.max_associations) {
      T_ASC_RejectParameters rej{ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                                 ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
      ASC_rejectAssociation(assoc, &rej);
      ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
      log::Warning("association refused: too many open associations", {{"limit", options_.max_associations}});
      continue;
    }
    handler_->OnAssociationCountChanged(++open_);
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread worker([this, assoc, shared_config, done] {
      AssociationScp scp(options_, handler_);
      scp.setSharedConfig(shared_config);
      scp.run(assoc);  // negotiates, serves and finally drops the association
      handler_->OnAssociationCountChanged(--open_);
      done->store(true);
    });
    std::lock_guard lock(shared_->mu);
    shared_->running.push_back({std::move(worker), done});
  }
}

void StorageScp::ReapFinished(bool wait_all) {
  std::list<Shared::Running> finished;
  {
    std::lock_guard lock(shared_->mu);
    for (auto it = shared_->running.begin(); it != shared_->running.end();) {
      if (wait_all || it->done->load()) {
        finished.push_back(std::move(*it));
        it = shared_->running.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : finished) r.thread.join();
}

void StorageScp::Stop() {
  if (!accept_thread_.joinable()) return;
  stopping_ = true;
  accept_thread_.join();
  ReapFinished(true);
  ASC_dropNetwork(&shared_->network);
  shared_->network = nullptr;
}

}  // namespace parallax::dicom
