#pragma once
// Delivers alert routing's outbox (alert_store.h), in order per study:
//   a routed analysis: (a) Escalation.OpenReport with all its findings, the
//     critical finding ids and finding -> alert ids (a FAILED_PRECONDITION
//     answer means a newer generation was opened already: the item is
//     done); (b) FhirFacade.PublishCommunication for each alert it created or
//     updated, `about` the report OpenReport named, and the Communication id
//     stored on the alert; (c) a POST to the webhook of each of the alert's
//     groups that has one (policy), for alerts not acknowledged.
//   a timer notification (re-notification or escalation): the alert's
//     Communication again (new recipient group for an escalation, `sent` =
//     when the timer fired) and the webhooks of the groups concerned;
//     dropped when the alert was acknowledged or withdrawn meanwhile.
// Each step is idempotent and recorded as done on the item, so a failed item
// is retried from the failed step with exponential backoff and jitter; a
// study's later items wait behind its failing one. The facade, Escalation
// and webhooks see no patient names or ids: the Communication's text and the
// webhook body carry the finding, the study UID and the alert id only.
//
// Wake-ups: Poke() (the service calls it after each commit), NOTIFY on
// "alerting_outbox" when a listen URL is given (commits by other replicas),
// the earliest retry time, and `poll` as a fallback.
// One dispatcher per database: two would deliver the same items twice.
// Thread-safe: Start/Stop from the owner, Poke and DeliverDue from anywhere.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "alert_metrics.h"
#include "alert_policy.h"
#include "alert_store.h"
#include "parallax/escalation/v1/escalation.grpc.pb.h"
#include "parallax/fhir/v1/fhir_facade.grpc.pb.h"

namespace parallax::alerting {

// The one-line alert text of a Communication and a page, without patient
// names or ids, e.g. "Critical: intracranial haemorrhage (subdural), left,
// 45.8 mL, probability 0.94 — head CT; quality: none". `prefix` (e.g.
// "Reminder") is put in front when not empty. `manifest` gives the
// examination (body part and modality of the finding's series) when known.
std::string AlertText(const StoredAlert& alert, const common::v1::StudyManifest* manifest,
                      const std::string& prefix = "");

// Posts `json_body` to `url`. OK for a 2xx answer; UNAVAILABLE (retried) for
// another status or a network failure; INVALID_ARGUMENT for a URL the client
// cannot use (the step is then skipped and logged, never retried).
using WebhookPoster = std::function<absl::Status(const std::string& url, const std::string& json_body)>;

// A poster over libs/http (plain http:// only).
WebhookPoster HttpWebhookPoster(std::chrono::milliseconds timeout);

class AlertDispatcher {
 public:
  struct Options {
    std::chrono::milliseconds poll{1000};
    std::chrono::milliseconds timeout{5000};  // per gRPC call
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_max{300000};
    std::string listen_url;                   // database URL to LISTEN on; empty = none
  };
  using Decorate = std::function<void(grpc::ClientContext*)>;

  // Everything must outlive the dispatcher; `metrics` may be null.
  // `decorate` adds the service's credentials to each outgoing call.
  AlertDispatcher(AlertStore* store, const AlertPolicy* policy, escalation::v1::Escalation::StubInterface* escalation,
                  fhir::v1::FhirFacade::StubInterface* facade, Decorate decorate, Options options,
                  AlertMetrics* metrics = nullptr, WebhookPoster webhook = HttpWebhookPoster(std::chrono::seconds(5)));
  ~AlertDispatcher();  // Stop()

  void Start();
  void Stop();
  void Poke();
  // One pass over the pending items. Returns how many were delivered.
  int DeliverDue();

 private:
  absl::Status Deliver(OutboxItem& item);
  absl::Status DeliverRoute(OutboxItem& item);
  absl::Status DeliverNotify(OutboxItem& item);
  // PublishCommunication for the alert, then the alert's Communication id,
  // notification count and a NOTIFIED event.
  absl::Status Communicate(const StoredAlert& alert, const std::string& group, const std::string& prefix,
                           const OutboxItem& item, const common::v1::StudyManifest* manifest);
  absl::Status Page(const StoredAlert& alert, const std::string& group, const std::string& event,
                    OutboxItem& item, const common::v1::StudyManifest* manifest);
  void Listen();

  AlertStore* store_;
  const AlertPolicy* policy_;
  escalation::v1::Escalation::StubInterface* escalation_;
  fhir::v1::FhirFacade::StubInterface* facade_;
  Decorate decorate_;
  Options options_;
  AlertMetrics* metrics_;
  WebhookPoster webhook_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, poked_ = false;
  std::optional<TimePoint> next_retry_;  // guarded by mu_
  std::thread thread_, listener_;
  std::atomic<bool> listening_{false};
};

}  // namespace parallax::alerting
