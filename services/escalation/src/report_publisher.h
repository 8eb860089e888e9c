#pragma once
// Delivers the escalation outbox: each report version to the FHIR facade
// (PublishReport), each case's Task (PublishTask), and, for final and
// amended reports, the DICOM SR with its heatmap objects to the PACS
// (through an SrSender), and each reviewed alerted finding to alert routing
// (AlertRouting.ResolveAlerts, which is idempotent). Items are retried with exponential backoff and
// jitter until they go through, so a facade or PACS outage delays and never
// loses them; an item for a report version that a newer one superseded is
// dropped. Runs on its own thread; Poke() wakes it after a commit.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "audit_trail.h"
#include "escalation_store.h"
#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/fhir/v1/fhir_facade.grpc.pb.h"

namespace parallax::escalation {

// Makes the study's SR for a report version and sends it, with the heatmap
// objects, to the PACS. Returns the SR's SOP Instance UID; UNAVAILABLE when
// the PACS (or ingest) cannot be reached, to be retried.
class SrSender {
 public:
  virtual ~SrSender() = default;
  virtual absl::StatusOr<std::string> Send(const v1::Report& report, const StoredReport& stored) = 0;
};

// The FHIR facade's request for one report version: an Observation per
// current finding (a rejected one as absent, with who rejected it), the
// reviewers as performers and interpreters, and a conclusion in words.
fhir::v1::PublishReportRequest ToPublishReport(const v1::Report& report, const StoredReport& stored);

class ReportPublisher {
 public:
  struct Options {
    std::chrono::milliseconds poll{1000};
    std::chrono::milliseconds timeout{5000};        // per call
    std::chrono::milliseconds backoff_base{1000};
    std::chrono::milliseconds backoff_max{300000};
  };
  // `decorate` adds the service's credentials to each outgoing call. A null
  // `sr` leaves SR items pending, a null `alert_routing` the ResolveAlerts
  // items (each retried with backoff and logged).
  ReportPublisher(EscalationStore* store, fhir::v1::FhirFacade::StubInterface* facade, SrSender* sr,
                  AuditTrail* audit, std::function<void(grpc::ClientContext*)> decorate, Options options,
                  alerting::v1::AlertRouting::StubInterface* alert_routing = nullptr);
  ~ReportPublisher();  // Stop()

  void Start();
  void Stop();
  void Poke();
  // One pass over the due items; returns how many were delivered. Passes
  // never overlap (the thread's and a caller's wait for each other).
  int DeliverDue();

 private:
  absl::Status Deliver(const OutboxItem& item);

  EscalationStore* store_;
  fhir::v1::FhirFacade::StubInterface* facade_;
  SrSender* sr_;
  AuditTrail* audit_;
  alerting::v1::AlertRouting::StubInterface* alert_routing_;
  std::function<void(grpc::ClientContext*)> decorate_;
  Options options_;
  std::mutex mu_;
  std::mutex pass_mu_;  // one delivery pass at a time
  std::condition_variable cv_;
  bool stop_ = false, poked_ = false;
  std::thread thread_;
};

}  // namespace parallax::escalation
