#include "alert_dispatcher.h"

#include <algorithm>
#include <cctype>
#include <random>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <absl/strings/str_join.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "parallax/comparison/change_words.h"
#include "parallax/http/client.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "parallax/store/listener.h"

namespace parallax::alerting {
namespace {

using Json = nlohmann::json;

google::protobuf::Timestamp Stamp(TimePoint t) {
  const int64_t us = ToMicros(t);
  google::protobuf::Timestamp ts;
  ts.set_seconds(us / 1000000);
  ts.set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  return ts;
}

std::string LowerWord(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "Intracranial haemorrhage" -> "intracranial haemorrhage"; "ICH" stays.
std::string LabelInText(std::string label) {
  if (label.size() >= 2 && std::isupper(static_cast<unsigned char>(label[0])) &&
      std::islower(static_cast<unsigned char>(label[1]))) {
    label[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(label[0])));
  }
  std::replace(label.begin(), label.end(), '_', ' ');
  return label;
}

std::string PriorityWord(v1::AlertPriority p, bool critical) {
  if (critical) return "Critical";
  switch (p) {
    case v1::ALERT_PRIORITY_CRITICAL: return "Critical";
    case v1::ALERT_PRIORITY_URGENT: return "Urgent";
    default: return "Routine";
  }
}

std::string PriorityName(v1::AlertPriority p) {
  switch (p) {
    case v1::ALERT_PRIORITY_CRITICAL: return "critical";
    case v1::ALERT_PRIORITY_URGENT: return "urgent";
    default: return "routine";
  }
}

std::string QualityName(int q) {
  std::string name = common::v1::QualityFlag_Name(static_cast<common::v1::QualityFlag>(q));
  const std::string prefix = "QUALITY_FLAG_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  std::replace(name.begin(), name.end(), '_', ' ');
  return LowerWord(name);
}

// "head CT" from the series the finding was read on, or the study's first.
std::string Examination(const common::v1::StudyManifest& m, const std::string& series_uid) {
  const common::v1::SeriesManifest* chosen = nullptr;
  for (const common::v1::SeriesManifest& s : m.series()) {
    if (s.series_instance_uid() == series_uid) chosen = &s;
  }
  if (chosen == nullptr && m.series_size() > 0) chosen = &m.series(0);
  if (chosen == nullptr) return "";
  std::vector<std::string> parts;
  if (!chosen->body_part_examined().empty()) parts.push_back(LowerWord(chosen->body_part_examined()));
  if (!chosen->modality().empty()) parts.push_back(chosen->modality());
  return absl::StrJoin(parts, " ");
}

fhir::v1::CommunicationPriority ToCommunicationPriority(FhirPriority p) {
  switch (p) {
    case FhirPriority::kStat: return fhir::v1::COMMUNICATION_PRIORITY_STAT;
    case FhirPriority::kAsap: return fhir::v1::COMMUNICATION_PRIORITY_ASAP;
    case FhirPriority::kUrgent: return fhir::v1::COMMUNICATION_PRIORITY_URGENT;
    default: return fhir::v1::COMMUNICATION_PRIORITY_ROUTINE;
  }
}

bool Unacknowledged(const StoredAlert& a) {
  return a.alert.state() == v1::ALERT_STATE_OPEN || a.alert.state() == v1::ALERT_STATE_ESCALATED;
}

std::string ResolutionWords(v1::ResolutionOutcome o) {
  switch (o) {
    case v1::RESOLUTION_OUTCOME_ACCEPTED: return "finding accepted";
    case v1::RESOLUTION_OUTCOME_REJECTED: return "finding rejected";
    case v1::RESOLUTION_OUTCOME_MODIFIED: return "finding modified";
    case v1::RESOLUTION_OUTCOME_ESCALATED: return "finding rejected, sent for senior review";
    case v1::RESOLUTION_OUTCOME_CONFIRMED_BY_SENIOR: return "finding confirmed by a senior";
    case v1::RESOLUTION_OUTCOME_REJECTED_BY_SENIOR: return "finding rejected by a senior";
    case v1::RESOLUTION_OUTCOME_MODIFIED_BY_SENIOR: return "finding modified by a senior";
    default: return "finding reviewed";
  }
}

}  // namespace

std::string ChangeText(const common::v1::Finding& f) {
  return f.has_prior_comparison() ? comparison::ChangeSincePriorText(f.prior_comparison()) : "";
}

fhir::v1::CommunicationStatus CommunicationStatusFor(v1::AlertState state) {
  switch (state) {
    case v1::ALERT_STATE_RESOLVED: return fhir::v1::COMMUNICATION_STATUS_COMPLETED;
    case v1::ALERT_STATE_WITHDRAWN: return fhir::v1::COMMUNICATION_STATUS_ENTERED_IN_ERROR;
    default: return fhir::v1::COMMUNICATION_STATUS_IN_PROGRESS;
  }
}

std::string AlertText(const StoredAlert& a, const common::v1::StudyManifest* manifest, const std::string& prefix) {
  const common::v1::Finding& f = a.alert.finding();
  std::string what = LabelInText(f.label());
  if (!f.subtype().empty()) absl::StrAppend(&what, " (", f.subtype(), ")");
  std::vector<std::string> parts = {what};
  switch (f.laterality()) {
    case common::v1::LATERALITY_LEFT: parts.push_back("left"); break;
    case common::v1::LATERALITY_RIGHT: parts.push_back("right"); break;
    case common::v1::LATERALITY_BILATERAL: parts.push_back("bilateral"); break;
    case common::v1::LATERALITY_MIDLINE: parts.push_back("midline"); break;
    default: break;
  }
  if (!f.zone().empty()) parts.push_back(f.zone());
  if (f.has_volume_ml()) parts.push_back(absl::StrFormat("%.1f mL", f.volume_ml()));
  if (f.has_area_cm2()) parts.push_back(absl::StrFormat("%.1f cm2", f.area_cm2()));
  if (std::string change = ChangeText(f); !change.empty()) parts.push_back(std::move(change));
  parts.push_back(absl::StrFormat("probability %.2f", f.probability()));
  std::string text = absl::StrCat(prefix.empty() ? "" : absl::StrCat(prefix, ": "),
                                  PriorityWord(a.alert.priority(), a.critical), ": ", absl::StrJoin(parts, ", "));
  if (manifest != nullptr) {
    const std::string exam = Examination(*manifest, f.series_instance_uid());
    if (!exam.empty()) absl::StrAppend(&text, " \xE2\x80\x94 ", exam);  // em dash
  }
  std::vector<std::string> quality;
  for (int q : a.alert.quality_flags()) quality.push_back(QualityName(q));
  absl::StrAppend(&text, "; quality: ", quality.empty() ? "none" : absl::StrJoin(quality, ", "));
  return text;
}

WebhookPoster HttpWebhookPoster(std::chrono::milliseconds timeout) {
  return [timeout](const std::string& url, const std::string& body) -> absl::Status {
    auto response = http::Fetch("POST", url, {{"Content-Type", "application/json"}}, body, timeout);
    if (!response.ok()) {
      if (response.status().code() == absl::StatusCode::kInvalidArgument) return response.status();
      return absl::UnavailableError(absl::StrCat("webhook: ", response.status().message()));
    }
    if (response->status < 200 || response->status > 299) {
      return absl::UnavailableError(absl::StrCat("webhook answered HTTP ", response->status));
    }
    return absl::OkStatus();
  };
}

AlertDispatcher::AlertDispatcher(AlertStore* store, const AlertPolicy* policy,
                                 escalation::v1::Escalation::StubInterface* escalation,
                                 fhir::v1::FhirFacade::StubInterface* facade, Decorate decorate, Options options,
                                 AlertMetrics* metrics, WebhookPoster webhook)
    : store_(store),
      policy_(policy),
      escalation_(escalation),
      facade_(facade),
      decorate_(std::move(decorate)),
      options_(std::move(options)),
      metrics_(metrics),
      webhook_(std::move(webhook)) {
  options_.workers = std::max(1, options_.workers);
  // Each step between two lease renewals is one call of at most `timeout`.
  options_.lease = std::max(options_.lease, 3 * options_.timeout);
  std::random_device rd;
  instance_ = absl::StrFormat("%08x%08x", rd(), rd());
}

AlertDispatcher::~AlertDispatcher() { Stop(); }

void AlertDispatcher::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!workers_.empty()) return;
    stop_ = false;
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  if (!options_.listen_url.empty()) listener_ = std::thread([this] { Listen(); });
}

void AlertDispatcher::WorkerLoop() {
  while (true) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      seen = wake_seq_;
    }
    Drain();
    RefreshPendingGauge();
    // Every idle worker sleeps until the next retry or lease end (at most
    // `poll`), or until poked.
    const std::chrono::milliseconds wait = UntilNextClaimable();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] { return stop_ || wake_seq_ != seen; });
  }
}

void AlertDispatcher::RefreshPendingGauge() {
  if (metrics_ == nullptr) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = gauge_refreshed_ms_.load();
  if (now - last < 500 || !gauge_refreshed_ms_.compare_exchange_strong(last, now)) return;
  if (auto n = store_->PendingCount(); n.ok()) metrics_->SetOutboxPending(static_cast<double>(*n));
}

std::chrono::milliseconds AlertDispatcher::UntilNextClaimable() {
  auto next = store_->NextClaimableAt();
  if (!next.ok() || !next->has_value()) return options_.poll;
  const auto until =
      std::chrono::duration_cast<std::chrono::milliseconds>(**next - std::chrono::system_clock::now());
  // In the past: another worker is claiming it right now (SKIP LOCKED passed
  // it over); look again shortly rather than spin.
  if (until <= std::chrono::milliseconds(0)) return std::min(options_.poll, std::chrono::milliseconds(20));
  return std::clamp(until + std::chrono::milliseconds(1), std::chrono::milliseconds(1), options_.poll);
}

void AlertDispatcher::Listen() {
  std::unique_ptr<store::Listener> listener;
  bool warned = false;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    if (!listener) {
      auto opened = store::Listener::Open(options_.listen_url, kOutboxChannel);
      if (!opened.ok()) {
        if (!warned) {
          log::Warning("alert outbox listener cannot connect; polling instead",
                       {{"error", std::string(opened.status().message())}});
          warned = true;
        }
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stop_; });
        continue;
      }
      listener = std::move(*opened);
      listening_ = true;
    }
    auto got = listener->Wait(std::chrono::milliseconds(500));
    if (got.ok() && *got) Poke();
  }
}

void AlertDispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  if (listener_.joinable()) listener_.join();
}

void AlertDispatcher::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_seq_;
  }
  cv_.notify_one();
}

bool AlertDispatcher::Stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

int AlertDispatcher::Drain() {
  int delivered = 0;
  while (!Stopping()) {
    const std::string token = absl::StrCat(instance_, "-", next_claim_.fetch_add(1));
    auto claimed = store_->ClaimNext(token, options_.lease);
    if (!claimed.ok()) {
      log::Warning("alert outbox unreadable", {{"error", std::string(claimed.status().message())}});
      return delivered;
    }
    if (!claimed->has_value()) return delivered;
    // There may be more: let an idle peer look too (it claims another
    // study's item, or finds none and sleeps again).
    Poke();
    if (Process(**claimed)) ++delivered;
  }
  return delivered;
}

bool AlertDispatcher::Process(OutboxItem& item) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const absl::Status s = Deliver(item);
  if (s.ok()) {
    const absl::Status marked = store_->MarkDelivered(item);
    if (!marked.ok()) {
      log::Warning("alert outbox item delivered but not marked", {{"item", static_cast<long long>(item.id)},
                                                                  {"error", std::string(marked.message())}});
    }
    return marked.ok();
  }
  const int attempts = item.attempts + 1;
  auto delay = options_.backoff_base * (1LL << std::min(attempts - 1, 16));
  delay = std::min<std::chrono::milliseconds>(delay, options_.backoff_max);
  delay += std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, delay.count() / 4)(rng));
  if (attempts == 1 || attempts % 10 == 0) {
    log::Warning("alert delivery failed, will retry",
                 {{"item", static_cast<long long>(item.id)}, {"kind", static_cast<int>(item.kind)},
                  {"study", item.study_uid}, {"attempts", attempts},
                  {"retry_in_ms", static_cast<long long>(delay.count())}, {"error", std::string(s.message())}});
  }
  // Fenced by the lease: after a takeover it changes nothing.
  (void)store_->MarkRetry(item, attempts, delay, std::string(s.message()).substr(0, 500));
  return false;
}

int AlertDispatcher::DeliverDue() {
  std::atomic<int> delivered{0};
  std::vector<std::thread> helpers;
  for (int i = 1; i < options_.workers; ++i) helpers.emplace_back([&] { delivered += Drain(); });
  delivered += Drain();
  for (std::thread& t : helpers) t.join();
  if (metrics_ != nullptr) {
    if (auto n = store_->PendingCount(); n.ok()) metrics_->SetOutboxPending(static_cast<double>(*n));
  }
  return delivered;
}

absl::Status AlertDispatcher::Deliver(OutboxItem& item) {
  switch (item.kind) {
    case OutboxKind::kRoute: return DeliverRoute(item);
    case OutboxKind::kCommunicationUpdate: return DeliverCommunicationUpdate(item);
    default: return DeliverNotify(item);
  }
}

absl::Status AlertDispatcher::DeliverCommunicationUpdate(OutboxItem& item) {
  Json payload = Json::parse(item.payload, nullptr, false);
  if (payload.is_discarded() || !payload.contains("alert_id")) {
    log::Error("alert outbox item does not parse; dropped", {{"item", static_cast<long long>(item.id)}});
    return absl::OkStatus();
  }
  auto found = store_->GetAlert(payload.value("alert_id", ""));
  if (!found.ok()) return found.status();
  if (!found->has_value()) return absl::OkStatus();
  const StoredAlert& a = **found;
  // Never published (e.g. withdrawn before its first delivery): the EHR has
  // nothing to update.
  if (a.alert.fhir_communication_id().empty()) return absl::OkStatus();
  if (item.done.count("comm") > 0) return absl::OkStatus();
  auto request = store_->RoutedRequest(a.alert.study().study_instance_uid(), a.alert.study().generation());
  if (!request.ok()) return request.status();
  const common::v1::StudyManifest* manifest =
      request->has_value() && (*request)->has_manifest() ? &(*request)->manifest() : nullptr;
  std::string prefix;
  if (a.alert.state() == v1::ALERT_STATE_RESOLVED) {
    prefix = absl::StrCat("Resolved (", ResolutionWords(a.alert.resolution()), ")");
  } else if (a.alert.state() == v1::ALERT_STATE_WITHDRAWN) {
    prefix = "Withdrawn (a newer analysis does not support it)";
  }
  std::optional<TimePoint> sent;
  if (a.alert.has_last_notified_at()) {
    sent = FromMicros(static_cast<int64_t>(a.alert.last_notified_at().seconds()) * 1000000 +
                      a.alert.last_notified_at().nanos() / 1000);
  }
  if (absl::Status s = Communicate(a, a.CurrentGroup(), prefix, item, manifest, /*notification=*/false, sent);
      !s.ok()) {
    return s;
  }
  item.done.insert("comm");
  return store_->SaveProgress(item, options_.lease);
}

absl::Status AlertDispatcher::DeliverRoute(OutboxItem& item) {
  Json payload = Json::parse(item.payload, nullptr, false);
  if (payload.is_discarded() || !payload.contains("alerts")) {
    log::Error("alert outbox item does not parse; dropped", {{"item", static_cast<long long>(item.id)}});
    return absl::OkStatus();
  }
  auto request = store_->RoutedRequest(item.study_uid, item.generation);
  if (!request.ok()) return request.status();
  if (!request->has_value()) {
    log::Error("alert outbox item without its routed analysis; dropped", {{"item", static_cast<long long>(item.id)}});
    return absl::OkStatus();
  }
  const v1::RouteRequest& routed = **request;
  const common::v1::StudyManifest* manifest = routed.has_manifest() ? &routed.manifest() : nullptr;

  std::vector<StoredAlert> alerts;
  for (const Json& entry : payload["alerts"]) {
    auto a = store_->GetAlert(entry.value("id", ""));
    if (!a.ok()) return a.status();
    if (a->has_value()) alerts.push_back(**a);
  }
  if (item.done.count("report") == 0) {
    escalation::v1::OpenReportRequest open;
    *open.mutable_study() = routed.study();
    if (manifest != nullptr) *open.mutable_manifest() = *manifest;
    *open.mutable_findings() = routed.findings();
    std::vector<std::string> ids;
    for (const StoredAlert& a : alerts) {
      if (a.alert.study().generation() != item.generation || a.alert.state() == v1::ALERT_STATE_WITHDRAWN) continue;
      if (a.critical) open.add_critical_finding_ids(a.alert.finding().finding_id());
      (*open.mutable_alert_ids())[a.alert.finding().finding_id()] = a.alert.alert_id();
      ids.push_back(a.alert.alert_id());
    }
    if (routed.has_analysed_at()) *open.mutable_analysed_at() = routed.analysed_at();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    decorate_(&ctx);
    escalation::v1::OpenReportResponse opened;
    const grpc::Status g = escalation_->OpenReport(&ctx, open, &opened);
    if (g.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      log::Info("report already holds a newer generation; this analysis's delivery is done",
                {{"study", item.study_uid}, {"generation", static_cast<long long>(item.generation)}});
      return absl::OkStatus();
    }
    if (!g.ok()) {
      if (metrics_ != nullptr) metrics_->DeliveryFailed("open_report");
      return absl::Status(status::FromGrpc(g).code(), absl::StrCat("Escalation.OpenReport: ", g.error_message()));
    }
    item.report_id = opened.report().report_id();
    item.done.insert("report");
    if (absl::Status s = store_->SetReportId(ids, item.report_id); !s.ok()) return s;
    if (absl::Status s = store_->SaveProgress(item, options_.lease); !s.ok()) return s;
    for (StoredAlert& a : alerts) {
      if (std::find(ids.begin(), ids.end(), a.alert.alert_id()) != ids.end()) a.report_id = item.report_id;
    }
  }
  for (const Json& entry : payload["alerts"]) {
    const std::string id = entry.value("id", "");
    auto it = std::find_if(alerts.begin(), alerts.end(),
                           [&](const StoredAlert& a) { return a.alert.alert_id() == id; });
    if (it == alerts.end()) continue;
    const StoredAlert& a = *it;
    // Superseded by a newer analysis, or no longer supported: nothing to send.
    if (a.alert.study().generation() != item.generation || a.alert.state() == v1::ALERT_STATE_WITHDRAWN ||
        a.alert.state() == v1::ALERT_STATE_RESOLVED) {
      continue;
    }
    const std::string comm_key = absl::StrCat("comm:", id);
    if (item.done.count(comm_key) == 0) {
      StoredAlert with_report = a;
      if (with_report.report_id.empty()) with_report.report_id = item.report_id;
      if (absl::Status s = Communicate(with_report, a.groups.front(), "", item, manifest); !s.ok()) return s;
      item.done.insert(comm_key);
      if (absl::Status s = store_->SaveProgress(item, options_.lease); !s.ok()) return s;
    }
    if (!entry.value("page", true) || !Unacknowledged(a)) continue;
    for (const std::string& group : a.groups) {
      if (absl::Status s = Page(a, group, entry.value("change", "alert"), item, manifest); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status AlertDispatcher::DeliverNotify(OutboxItem& item) {
  Json payload = Json::parse(item.payload, nullptr, false);
  if (payload.is_discarded() || !payload.contains("alert_id")) {
    log::Error("alert outbox item does not parse; dropped", {{"item", static_cast<long long>(item.id)}});
    return absl::OkStatus();
  }
  auto found = store_->GetAlert(payload.value("alert_id", ""));
  if (!found.ok()) return found.status();
  if (!found->has_value() || !Unacknowledged(**found)) return absl::OkStatus();  // acknowledged meanwhile
  const StoredAlert& a = **found;
  const std::string action = payload.value("action", "renotify");
  const std::string group = payload.value("group", a.CurrentGroup());
  auto request = store_->RoutedRequest(a.alert.study().study_instance_uid(), a.alert.study().generation());
  if (!request.ok()) return request.status();
  const common::v1::StudyManifest* manifest =
      request->has_value() && (*request)->has_manifest() ? &(*request)->manifest() : nullptr;
  const std::string prefix =
      action == "escalate" ? absl::StrCat("Escalated to ", group, " (unacknowledged)") : "Reminder (unacknowledged)";
  if (item.done.count("comm") == 0) {
    if (absl::Status s = Communicate(a, group, prefix, item, manifest); !s.ok()) return s;
    item.done.insert("comm");
    if (absl::Status s = store_->SaveProgress(item, options_.lease); !s.ok()) return s;
  }
  std::vector<std::string> groups = action == "escalate" ? std::vector<std::string>{group} : a.GroupsSoFar();
  for (const std::string& g : groups) {
    if (absl::Status s = Page(a, g, action, item, manifest); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status AlertDispatcher::Communicate(const StoredAlert& a, const std::string& group, const std::string& prefix,
                                          const OutboxItem& item, const common::v1::StudyManifest* manifest,
                                          bool notification, std::optional<TimePoint> sent) {
  fhir::v1::PublishCommunicationRequest request;
  request.set_alert_id(a.alert.alert_id());
  *request.mutable_study() = a.alert.study();
  if (manifest != nullptr) *request.mutable_manifest() = *manifest;
  *request.mutable_finding() = a.alert.finding();
  request.set_priority(ToCommunicationPriority(a.fhir_priority));
  request.set_recipient_group(group);
  request.set_payload_text(AlertText(a, manifest, prefix));
  request.set_diagnostic_report_id(a.report_id);
  *request.mutable_sent() = Stamp(sent.value_or(item.created_at));
  request.set_status(CommunicationStatusFor(a.alert.state()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  decorate_(&ctx);
  fhir::v1::PublishCommunicationResponse response;
  const grpc::Status g = facade_->PublishCommunication(&ctx, request, &response);
  if (!g.ok()) {
    if (metrics_ != nullptr) metrics_->DeliveryFailed("communication");
    return absl::Status(status::FromGrpc(g).code(), absl::StrCat("FhirFacade.PublishCommunication: ", g.error_message()));
  }
  const TimePoint now = std::chrono::system_clock::now();
  if (metrics_ != nullptr && notification && item.kind == OutboxKind::kRoute) {
    metrics_->Dispatched(std::chrono::duration<double>(now - item.created_at).count());
  }
  const std::string comm_id = response.communication().resource_id();
  return store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    auto locked = store_->AlertForUpdate(txn, a.alert.alert_id());
    if (!locked.ok()) return locked.status();
    if (!locked->has_value()) return absl::OkStatus();
    StoredAlert s = **locked;
    if (!comm_id.empty()) s.alert.set_fhir_communication_id(comm_id);
    if (!notification) return store_->SaveAlert(txn, s, false);
    s.alert.set_notification_count(s.alert.notification_count() + 1);
    *s.alert.mutable_last_notified_at() = Stamp(now);
    if (absl::Status st = store_->SaveAlert(txn, s, false); !st.ok()) return st;
    v1::AlertEvent e;
    e.set_kind(v1::ALERT_EVENT_KIND_NOTIFIED);
    *e.mutable_at() = Stamp(now);
    e.set_target_group(group);
    e.set_detail(absl::StrCat("Communication ", comm_id, " accepted by the FHIR facade",
                              response.communication().duplicate() ? " (unchanged)" : ""));
    return store_->AddEvent(txn, s.alert.alert_id(), e);
  });
}

absl::Status AlertDispatcher::Page(const StoredAlert& a, const std::string& group, const std::string& event,
                                   OutboxItem& item, const common::v1::StudyManifest* manifest) {
  const AlertGroup* g = policy_->FindGroup(group);
  if (g == nullptr || g->webhook_url.empty()) return absl::OkStatus();
  OutboxItem& progress = item;
  const std::string key = absl::StrCat("hook:", a.alert.alert_id(), ":", group);
  if (progress.done.count(key) > 0) return absl::OkStatus();
  Json body{{"alert_id", a.alert.alert_id()},
            {"label", a.alert.finding().label()},
            {"subtype", a.alert.finding().subtype()},
            {"priority", PriorityName(a.alert.priority())},
            {"critical", a.critical},
            {"groups", a.GroupsSoFar()},
            {"recipient_group", group},
            {"event", event},
            {"text", AlertText(a, manifest, "")},
            {"study_instance_uid", a.alert.study().study_instance_uid()},
            {"notification_id", absl::StrCat(item.id, ":", a.alert.alert_id(), ":", group)}};
  absl::Status s = webhook_(g->webhook_url, body.dump());
  if (s.code() == absl::StatusCode::kInvalidArgument) {
    log::Error("webhook URL unusable; page skipped", {{"group", group}, {"error", std::string(s.message())}});
  } else if (!s.ok()) {
    if (metrics_ != nullptr) metrics_->DeliveryFailed("webhook");
    return absl::UnavailableError(absl::StrCat("webhook of ", group, ": ", s.message()));
  }
  progress.done.insert(key);
  return store_->SaveProgress(progress, options_.lease);
}

}  // namespace parallax::alerting
