#include "report_publisher.h"

#include <random>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <absl/strings/str_join.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include "escalation_service.h"
#include "parallax/crypto/sha256.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::escalation {
namespace {

using google::protobuf::util::TimeUtil;

bool Rejected(v1::FindingOutcome o) {
  return o == v1::FINDING_OUTCOME_REJECTED || o == v1::FINDING_OUTCOME_REJECTED_BY_SENIOR;
}

std::string Describe(const common::v1::Finding& f) {
  std::vector<std::string> parts = {f.label()};
  if (!f.subtype().empty()) parts.back() += absl::StrCat(" (", f.subtype(), ")");
  switch (f.laterality()) {
    case common::v1::LATERALITY_LEFT: parts.push_back("left"); break;
    case common::v1::LATERALITY_RIGHT: parts.push_back("right"); break;
    case common::v1::LATERALITY_BILATERAL: parts.push_back("bilateral"); break;
    default: break;
  }
  if (!f.zone().empty()) parts.push_back(f.zone());
  if (f.has_volume_ml()) parts.push_back(absl::StrCat(absl::StrFormat("%.1f", f.volume_ml()), " mL"));
  if (f.has_area_cm2()) parts.push_back(absl::StrCat(absl::StrFormat("%.1f", f.area_cm2()), " cm2"));
  return absl::StrJoin(parts, ", ");
}

std::string OutcomeWords(const v1::ReportedFinding& rf) {
  switch (rf.outcome()) {
    case v1::FINDING_OUTCOME_ACCEPTED: return absl::StrCat("accepted by ", rf.reviewer_user_id());
    case v1::FINDING_OUTCOME_REJECTED: return absl::StrCat("rejected by ", rf.reviewer_user_id());
    case v1::FINDING_OUTCOME_MODIFIED: return absl::StrCat("modified by ", rf.reviewer_user_id());
    case v1::FINDING_OUTCOME_ESCALATED: return "under senior review";
    case v1::FINDING_OUTCOME_CONFIRMED_BY_SENIOR: return absl::StrCat("confirmed by ", rf.decided_by());
    case v1::FINDING_OUTCOME_REJECTED_BY_SENIOR: return absl::StrCat("rejected by ", rf.decided_by());
    case v1::FINDING_OUTCOME_MODIFIED_BY_SENIOR: return absl::StrCat("modified by ", rf.decided_by());
    default: return "not reviewed";
  }
}

fhir::v1::ReportStatus FhirStatus(v1::ReportStatus s) {
  switch (s) {
    case v1::REPORT_STATUS_FINAL: return fhir::v1::REPORT_STATUS_FINAL;
    case v1::REPORT_STATUS_AMENDED: return fhir::v1::REPORT_STATUS_AMENDED;
    default: return fhir::v1::REPORT_STATUS_PRELIMINARY;
  }
}

}  // namespace

fhir::v1::PublishReportRequest ToPublishReport(const v1::Report& report, const StoredReport& stored) {
  fhir::v1::PublishReportRequest out;
  out.set_report_id(report.report_id());
  out.set_report_version(report.version());
  out.set_status(FhirStatus(report.status()));
  *out.mutable_study() = report.study();
  if (stored.has_manifest) *out.mutable_manifest() = stored.manifest;
  std::set<std::string> interpreters;
  std::vector<std::string> positives;
  for (const v1::ReportedFinding& rf : report.findings()) {
    fhir::v1::ObservationInput* obs = out.add_observations();
    *obs->mutable_finding() = rf.finding();
    const bool rejected = Rejected(rf.outcome());
    if (rejected) obs->mutable_finding()->set_positive(false);
    for (const std::string& who : {rf.reviewer_user_id(), rf.decided_by()}) {
      if (!who.empty()) {
        obs->add_performer_user_ids(who);
        interpreters.insert(who);
      }
    }
    if (rf.finding().positive()) {
      obs->set_note(absl::StrCat("AI finding (probability ", absl::StrFormat("%.2f", rf.finding().probability()),
                                 ", operating point ", absl::StrFormat("%.2f", rf.finding().operating_point()),
                                 "): ", OutcomeWords(rf)));
      if (!rejected) positives.push_back(Describe(rf.finding()));
    }
  }
  const std::string head = report.status() == v1::REPORT_STATUS_PRELIMINARY
                               ? "Parallax AI second opinion, preliminary (not yet reviewed by a radiologist). "
                               : "Parallax AI second opinion, reviewed by a radiologist. ";
  out.set_conclusion(positives.empty() ? absl::StrCat(head, "No AI finding above its operating point.")
                                       : absl::StrCat(head, "Findings: ", absl::StrJoin(positives, "; "), "."));
  for (const std::string& who : interpreters) out.add_results_interpreter_user_ids(who);
  *out.mutable_issued() = TimeUtil::GetCurrentTime();
  out.set_sr_sop_instance_uid(stored.sr_sop_instance_uid);
  return out;
}

ReportPublisher::ReportPublisher(EscalationStore* store, fhir::v1::FhirFacade::StubInterface* facade, SrSender* sr,
                                 AuditTrail* audit, std::function<void(grpc::ClientContext*)> decorate,
                                 Options options, alerting::v1::AlertRouting::StubInterface* alert_routing)
    : store_(store),
      facade_(facade),
      sr_(sr),
      audit_(audit),
      alert_routing_(alert_routing),
      decorate_(std::move(decorate)),
      options_(options) {}

ReportPublisher::~ReportPublisher() { Stop(); }

void ReportPublisher::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      DeliverDue();
      lock.lock();
      cv_.wait_for(lock, options_.poll, [this] { return stop_ || poked_; });
      poked_ = false;
    }
  });
}

void ReportPublisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReportPublisher::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

int ReportPublisher::DeliverDue() {
  std::lock_guard<std::mutex> pass(pass_mu_);
  auto items = store_->DueItems(50);
  if (!items.ok()) {
    log::Warning("escalation outbox unreadable", {{"error", std::string(items.status().message())}});
    return 0;
  }
  int delivered = 0;
  static thread_local std::mt19937 rng{std::random_device{}()};
  for (const OutboxItem& item : *items) {
    const absl::Status s = Deliver(item);
    if (s.ok()) {
      if (store_->MarkDelivered(item.id).ok()) ++delivered;
      continue;
    }
    const int attempts = item.attempts + 1;
    auto delay = options_.backoff_base * (1LL << std::min(attempts - 1, 16));
    delay = std::min<std::chrono::milliseconds>(delay, options_.backoff_max);
    delay += std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, delay.count() / 4)(rng));
    log::Warning("escalation outbox item not delivered, will retry",
                 {{"item", item.id}, {"kind", static_cast<int>(item.kind)}, {"attempts", attempts},
                  {"retry_in_ms", static_cast<int64_t>(delay.count())}, {"error", std::string(s.message())}});
    (void)store_->MarkRetry(item.id, attempts, delay, std::string(s.message()).substr(0, 500));
  }
  return delivered;
}

absl::Status ReportPublisher::Deliver(const OutboxItem& item) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  decorate_(&ctx);
  if (item.kind == OutboxKind::kResolveAlerts) {
    alerting::v1::ResolveAlertsRequest request;
    if (!request.ParseFromString(item.payload)) return absl::InternalError("stored ResolveAlerts request does not parse");
    if (alert_routing_ == nullptr) return absl::FailedPreconditionError("no alert routing configured");
    alerting::v1::ResolveAlertsResponse response;
    absl::Status s = status::FromGrpc(alert_routing_->ResolveAlerts(&ctx, request, &response));
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("AlertRouting.ResolveAlerts: ", s.message()));
    return absl::OkStatus();
  }
  if (item.kind == OutboxKind::kFhirTask) {
    fhir::v1::PublishTaskRequest request;
    if (!request.ParseFromString(item.payload)) return absl::InternalError("stored task request does not parse");
    fhir::v1::PublishTaskResponse response;
    return status::FromGrpc(facade_->PublishTask(&ctx, request, &response));
  }
  auto stored = store_->Report(item.study_uid);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::InternalError("outbox item for a study without a report");
  if (item.version < (*stored)->version) return absl::OkStatus();  // a newer version carries the newer state
  auto report = EscalationService::BuildReport(store_, nullptr, item.study_uid);
  if (!report.ok()) return report.status();
  if (item.kind == OutboxKind::kDicomSr) {
    if (sr_ == nullptr) return absl::FailedPreconditionError("no PACS configured for the SR");
    auto uid = sr_->Send(*report, **stored);
    if (!uid.ok()) return uid.status();
    return store_->SetSrUid(item.study_uid, *uid);
  }
  fhir::v1::PublishReportRequest request = ToPublishReport(*report, **stored);
  fhir::v1::PublishReportResponse response;
  if (absl::Status s = status::FromGrpc(facade_->PublishReport(&ctx, request, &response)); !s.ok()) return s;
  if (report->status() != v1::REPORT_STATUS_PRELIMINARY) {
    audit::v1::AuditEvent e;
    e.set_event_id(absl::StrCat("evt-", crypto::Sha256Hex(absl::StrCat("report|", report->report_id(), "|",
                                                                       report->version()))
                                            .substr(0, 32)));
    e.set_type(audit::v1::EVENT_TYPE_REPORT_SENT);
    *e.mutable_occurred_at() = TimeUtil::GetCurrentTime();
    e.set_service("escalation");
    e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_SERVICE);
    e.mutable_actor()->set_system_id("escalation");
    e.mutable_subject()->set_study_instance_uid(item.study_uid);
    e.mutable_subject()->set_generation(report->study().generation());
    e.mutable_subject()->set_report_id(report->report_id());
    audit::v1::Attribute* a = e.add_attributes();
    a->set_key("status");
    a->set_value(v1::ReportStatus_Name(report->status()));
    (void)audit_->Record(e);  // durable in the audit client's outbox
  }
  return absl::OkStatus();
}

}  // namespace parallax::escalation
