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
//   a Communication update (the alert resolved or withdrawn): the alert's
//     Communication again with the status its state now has and `sent`
//     kept at its last notification; skipped when the alert never had a
//     Communication (the EHR never saw it). No page, no notification count.
// Every Communication carries its status (CommunicationStatusFor).
// Each step is idempotent and recorded as done on the item, so a failed item
// is retried from the failed step with exponential backoff and jitter; a
// study's later items wait behind its failing one. The facade, Escalation
// and webhooks see no patient names or ids: the Communication's text and the
// webhook body carry the finding, the study UID and the alert id only.
//
// Parallel delivery: `workers` threads each claim one item at a time from
// the database (AlertStore::ClaimNext: FOR UPDATE SKIP LOCKED plus a lease
// with a token unique to the claim). Only the oldest undelivered item of a
// study can be claimed, so different studies go out in parallel while a
// study's items go out one after the other, in order; an item under an
// unexpired lease is claimed by no one else. Every write of progress renews
// the lease and is fenced by the token. Several replicas (dispatchers) on
// one database therefore share the work and deliver each item once. If a
// worker stalls for longer than the lease (or its process dies), the item
// is taken over after the lease ends; the stalled worker's next write fails
// (ABORTED) and it stops, but a call it had in flight may then be made a
// second time by the new owner: OpenReport and PublishCommunication are
// idempotent, a webhook may see a page twice (same notification_id).
//
// Wake-ups: Poke() (the service calls it after each commit), NOTIFY on
// "alerting_outbox" when a listen URL is given (commits by other replicas),
// the earliest retry or lease end, and `poll` as a fallback. A worker that
// claims an item wakes an idle peer, so a burst fans out over the workers.
// Thread-safe: Start/Stop from the owner, Poke and DeliverDue from anywhere.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alert_metrics.h"
#include "alert_policy.h"
#include "alert_store.h"
#include "parallax/escalation/v1/escalation.grpc.pb.h"
#include "parallax/fhir/v1/fhir_facade.grpc.pb.h"

namespace parallax::alerting {

// The finding's change since the prior study in words, for the alert text:
// "new since prior of 2026-06-01 (92 days)", "stable since prior of
// 2026-06-01 (92 days): 12.1 mL -> 11.8 mL", "no prior available"; "" when
// the finding carries no comparison (prior_comparison unset or UNSPECIFIED).
// Holds dates and sizes only, no patient data.
std::string ChangeText(const common::v1::Finding& finding);

// The one-line alert text of a Communication and a page, without patient
// names or ids, e.g. "Critical: intracranial haemorrhage (subdural), left,
// 45.8 mL, new since prior of 2026-06-01 (92 days), probability 0.94 — head
// CT; quality: none" (the change part, ChangeText, only when the finding
// carries a comparison). `prefix` (e.g. "Reminder") is put in front when not
// empty. `manifest` gives the examination (body part and modality of the
// finding's series) when known.
std::string AlertText(const StoredAlert& alert, const common::v1::StudyManifest* manifest,
                      const std::string& prefix = "");

// The FHIR Communication.status of an alert in `state`: OPEN, ESCALATED and
// ACKNOWLEDGED in-progress (acknowledged is a receipt; the alert's loop stays
// open until its finding is reviewed), RESOLVED completed, WITHDRAWN
// entered-in-error (a newer analysis no longer supports what it said, so its
// content must not be acted on; "stopped" would leave the content standing).
fhir::v1::CommunicationStatus CommunicationStatusFor(v1::AlertState state);

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
    int workers = 4;                          // delivery threads (< 1 is taken as 1)
    // How long a claimed item stays its worker's without a renewal; raised
    // to at least 3 x timeout (each step between renewals is one call).
    std::chrono::milliseconds lease{30000};
  };
  using Decorate = std::function<void(grpc::ClientContext*)>;

  // Everything must outlive the dispatcher; `metrics` may be null.
  // `decorate` adds the service's credentials to each outgoing call.
  AlertDispatcher(AlertStore* store, const AlertPolicy* policy, escalation::v1::Escalation::StubInterface* escalation,
                  fhir::v1::FhirFacade::StubInterface* facade, Decorate decorate, Options options,
                  AlertMetrics* metrics = nullptr, WebhookPoster webhook = HttpWebhookPoster(std::chrono::seconds(5)));
  ~AlertDispatcher();  // Stop()

  // Starts the delivery workers (and the NOTIFY listener with a listen URL).
  // A second Start without Stop does nothing.
  void Start();
  // Lets each worker finish the item it holds, then joins them. Idempotent.
  void Stop();
  // Wakes an idle worker to look for work now.
  void Poke();
  // Delivers on the calling thread and workers - 1 helpers until nothing is
  // claimable (due items, each study's in order; failures are scheduled for
  // retry). Returns how many items were delivered by this call.
  int DeliverDue();

 private:
  void WorkerLoop();
  // Claims and delivers items until none is claimable. Returns how many
  // were delivered.
  int Drain();
  // Delivers a claimed item and marks it delivered (true) or for retry.
  bool Process(OutboxItem& item);
  // How long an idle worker sleeps: until the next retry or lease end, at
  // most `poll`.
  std::chrono::milliseconds UntilNextClaimable();
  // The outbox-pending gauge, at most every 500 ms.
  void RefreshPendingGauge();
  bool Stopping();
  absl::Status Deliver(OutboxItem& item);
  absl::Status DeliverRoute(OutboxItem& item);
  absl::Status DeliverNotify(OutboxItem& item);
  absl::Status DeliverCommunicationUpdate(OutboxItem& item);
  // PublishCommunication for the alert (status from its state), then the
  // alert's Communication id and, when `notification`, its notification
  // count and a NOTIFIED event. `sent` is the Communication's sent time.
  absl::Status Communicate(const StoredAlert& alert, const std::string& group, const std::string& prefix,
                           const OutboxItem& item, const common::v1::StudyManifest* manifest,
                           bool notification = true, std::optional<TimePoint> sent = std::nullopt);
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
  std::string instance_;               // random; claim tokens are "<instance>-<n>"
  std::atomic<uint64_t> next_claim_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                  // guarded by mu_
  uint64_t wake_seq_ = 0;              // guarded by mu_; bumped by Poke
  std::atomic<int64_t> gauge_refreshed_ms_{0};
  std::vector<std::thread> workers_;
  std::thread listener_;
  std::atomic<bool> listening_{false};
};

}  // namespace parallax::alerting
