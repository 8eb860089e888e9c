#include "escalation_service.h"

#include <algorithm>

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/auth/roles.h"
#include "parallax/crypto/sha256.h"
#include "parallax/fhir/v1/fhir_facade.pb.h"
#include "parallax/status/grpc_status.h"

namespace parallax::escalation {
namespace {

using google::protobuf::util::TimeUtil;

std::string Id(const char* prefix, const std::string& key) {
  return absl::StrCat(prefix, "-", crypto::Sha256Hex(key).substr(0, 32));
}

google::protobuf::Timestamp Stamp(std::chrono::system_clock::time_point t) {
  return TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

bool Terminal(v1::FindingOutcome o) {
  return o != v1::FINDING_OUTCOME_PENDING && o != v1::FINDING_OUTCOME_ESCALATED &&
         o != v1::FINDING_OUTCOME_UNSPECIFIED;
}

bool HasChange(const v1::FindingModification& m) {
  return m.has_subtype() || m.laterality() != common::v1::LATERALITY_UNSPECIFIED || m.has_zone() ||
         m.has_area_cm2() || m.has_volume_ml();
}

void Apply(const v1::FindingModification& m, common::v1::Finding* f) {
  if (m.has_subtype()) f->set_subtype(m.subtype());
  if (m.laterality() != common::v1::LATERALITY_UNSPECIFIED) f->set_laterality(m.laterality());
  if (m.has_zone()) f->set_zone(m.zone());
  if (m.has_area_cm2()) f->set_area_cm2(m.area_cm2());
  if (m.has_volume_ml()) f->set_volume_ml(m.volume_ml());
}

std::string ActionName(v1::ReviewAction a) {
  switch (a) {
    case v1::REVIEW_ACTION_ACCEPT: return "accept";
    case v1::REVIEW_ACTION_REJECT: return "reject";
    case v1::REVIEW_ACTION_MODIFY: return "modify";
    default: return "unspecified";
  }
}

void Attr(audit::v1::AuditEvent* e, const std::string& key, const std::string& value) {
  audit::v1::Attribute* a = e->add_attributes();
  a->set_key(key);
  a->set_value(value);
}

audit::v1::Subject FindingSubject(const StoredFinding& f) {
  audit::v1::Subject s;
  s.set_study_instance_uid(f.study_uid);
  s.set_generation(f.generation);
  s.set_finding_id(f.finding_id);
  s.set_alert_id(f.alert_id);
  s.set_label(f.label);
  s.set_model_id(f.original.model().model_id());
  s.set_model_version(f.original.model().model_version());
  return s;
}

// Statuses the store returns that a client should retry.
absl::Status Retryable(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kAborted || s.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(absl::StrCat("escalation store: ", s.message()));
  }
  return s;
}

alerting::v1::ResolutionOutcome ResolutionOf(v1::FindingOutcome o) {
  switch (o) {
    case v1::FINDING_OUTCOME_ACCEPTED: return alerting::v1::RESOLUTION_OUTCOME_ACCEPTED;
    case v1::FINDING_OUTCOME_REJECTED: return alerting::v1::RESOLUTION_OUTCOME_REJECTED;
    case v1::FINDING_OUTCOME_MODIFIED: return alerting::v1::RESOLUTION_OUTCOME_MODIFIED;
    case v1::FINDING_OUTCOME_ESCALATED: return alerting::v1::RESOLUTION_OUTCOME_ESCALATED;
    case v1::FINDING_OUTCOME_CONFIRMED_BY_SENIOR: return alerting::v1::RESOLUTION_OUTCOME_CONFIRMED_BY_SENIOR;
    case v1::FINDING_OUTCOME_REJECTED_BY_SENIOR: return alerting::v1::RESOLUTION_OUTCOME_REJECTED_BY_SENIOR;
    case v1::FINDING_OUTCOME_MODIFIED_BY_SENIOR: return alerting::v1::RESOLUTION_OUTCOME_MODIFIED_BY_SENIOR;
    default: return alerting::v1::RESOLUTION_OUTCOME_UNSPECIFIED;
  }
}

// Enqueues AlertRouting.ResolveAlerts for a reviewed finding that alerted
// (nothing for one without an alert). `reviewer` is the user who settled it,
// `review_id` the review (or case) that did.
absl::Status EnqueueResolve(EscalationStore* store, store::Transaction& txn, const StoredFinding& f,
                            const std::string& reviewer, const std::string& review_id, bool* enqueued) {
  if (f.alert_id.empty()) return absl::OkStatus();
  alerting::v1::ResolveAlertsRequest resolve;
  resolve.set_study_instance_uid(f.study_uid);
  resolve.add_finding_ids(f.finding_id);
  resolve.add_alert_ids(f.alert_id);
  resolve.set_outcome(ResolutionOf(f.outcome));
  resolve.set_reviewer_user_id(reviewer);
  resolve.set_review_id(review_id);
  if (absl::Status s = store->Enqueue(txn, OutboxKind::kResolveAlerts, f.study_uid, 0, resolve.SerializeAsString());
      !s.ok()) {
    return s;
  }
  *enqueued = true;
  return absl::OkStatus();
}

}  // namespace

EscalationService::EscalationService(EscalationStore* store, AuditTrail* audit, Authenticate authenticate,
                                     EscalationOptions options, std::function<void()> on_outbox, Clock clock,
                                     std::function<void()> publish_now)
    : store_(store),
      audit_(audit),
      authenticate_(std::move(authenticate)),
      options_(std::move(options)),
      on_outbox_(std::move(on_outbox)),
      clock_(std::move(clock)),
      publish_now_(std::move(publish_now)) {}

audit::v1::AuditEvent EscalationService::Event(audit::v1::EventType type, const Caller& caller) const {
  audit::v1::AuditEvent e;
  e.set_type(type);
  *e.mutable_occurred_at() = Stamp(clock_());
  e.set_service("escalation");
  audit::v1::Actor* actor = e.mutable_actor();
  actor->set_kind(caller.Has(v1::ROLE_INTEGRATION) ? audit::v1::ACTOR_KIND_SERVICE : audit::v1::ACTOR_KIND_USER);
  actor->set_user_id(caller.user_id);
  if (caller.Has(v1::ROLE_INTEGRATION)) actor->set_system_id(caller.user_id);
  for (v1::Role r : caller.roles) actor->add_roles(auth::RoleName(r));
  e.set_outcome(audit::v1::OUTCOME_SUCCESS);
  return e;
}

absl::StatusOr<Caller> EscalationService::Resolve(const TokenIdentity& who, const std::string& actor_user_id) {
  Caller caller;
  caller.user_id = who.user_id;
  caller.roles.insert(who.roles.begin(), who.roles.end());
  caller.groups.insert(who.groups.begin(), who.groups.end());
  auto user = store_->GetUser(who.user_id);
  if (!user.ok()) return Retryable(user.status());
  if (user->has_value()) {
    const v1::User& u = **user;
    for (int r : u.roles()) caller.roles.insert(static_cast<v1::Role>(r));
    caller.groups.insert(u.groups().begin(), u.groups().end());
    caller.override_labels.insert(u.override_labels().begin(), u.override_labels().end());
    caller.active = u.active();
  }
  if (!actor_user_id.empty() && actor_user_id != who.user_id) {
    return Refuse(caller, "act_as_other_user", {},
                  absl::PermissionDeniedError(absl::StrCat("caller ", who.user_id, " may not act as ", actor_user_id)));
  }
  return caller;
}

absl::Status EscalationService::Refuse(const Caller& caller, const std::string& action,
                                       const audit::v1::Subject& subject, const absl::Status& refusal) {
  audit::v1::AuditEvent e = Event(audit::v1::EVENT_TYPE_ACCESS_REFUSED, caller);
  e.set_outcome(audit::v1::OUTCOME_DENIED);
  *e.mutable_subject() = subject;
  Attr(&e, "action", action);
  Attr(&e, "reason", std::string(refusal.message()));
  if (absl::Status s = audit_->Record(e); !s.ok()) {
    // The refusal stands either way; the caller sees it.
    return absl::Status(refusal.code(), absl::StrCat(refusal.message(), " (not audited: ", s.message(), ")"));
  }
  return refusal;
}

absl::StatusOr<v1::Report> EscalationService::BuildReport(EscalationStore* store, store::Transaction* txn,
                                                          const std::string& study_uid) {
  absl::StatusOr<std::optional<StoredReport>> stored =
      txn ? store->ReportForUpdate(*txn, study_uid) : store->Report(study_uid);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError(absl::StrCat("no report for study ", study_uid));
  const StoredReport& r = **stored;
  v1::Report out;
  out.set_report_id(r.report_id);
  out.mutable_study()->set_study_instance_uid(r.study_uid);
  out.mutable_study()->set_generation(r.generation);
  out.set_status(r.status);
  out.set_version(r.version);
  out.set_sr_sop_instance_uid(r.sr_sop_instance_uid);
  auto findings = store->CurrentFindings(txn, study_uid);
  if (!findings.ok()) return findings.status();
  for (const StoredFinding& f : *findings) {
    v1::ReportedFinding* rf = out.add_findings();
    *rf->mutable_finding() = f.current;
    rf->set_outcome(f.outcome);
    rf->set_reviewer_user_id(f.reviewer);
    rf->set_decided_by(f.decided_by);
  }
  return out;
}

absl::StatusOr<bool> EscalationService::SettleReport(store::Transaction& txn, const std::string& study_uid) {
  auto report = store_->ReportForUpdate(txn, study_uid);
  if (!report.ok()) return report.status();
  if (!report->has_value()) return false;
  auto findings = store_->CurrentFindings(&txn, study_uid);
  if (!findings.ok()) return findings.status();
  bool any_reviewed = false;
  for (const StoredFinding& f : *findings) {
    if (f.original.positive() && !Terminal(f.outcome)) return false;  // still to review, or under a case
    any_reviewed = any_reviewed || Terminal(f.outcome);
  }
  if (!any_reviewed) return false;
  StoredReport r = **report;
  r.status = r.status == v1::REPORT_STATUS_PRELIMINARY ? v1::REPORT_STATUS_FINAL : v1::REPORT_STATUS_AMENDED;
  r.version += 1;
  if (absl::Status s = store_->SaveReport(txn, r, false); !s.ok()) return s;
  // The SR first, so the FHIR report can name it when the PACS is up; a
  // PACS outage never holds back the report to the EHR.
  if (absl::Status s = store_->Enqueue(txn, OutboxKind::kDicomSr, study_uid, r.version); !s.ok()) return s;
  if (absl::Status s = store_->Enqueue(txn, OutboxKind::kFhirReport, study_uid, r.version); !s.ok()) return s;
  return true;
}

absl::StatusOr<v1::OpenReportResponse> EscalationService::Open(const TokenIdentity& who,
                                                                const v1::OpenReportRequest& request) {
  auto caller = Resolve(who, "");
  if (!caller.ok()) return caller.status();
  const std::string& study_uid = request.study().study_instance_uid();
  if (absl::Status s = AuthorizeReportOpening(*caller); !s.ok()) {
    audit::v1::Subject subject;
    subject.set_study_instance_uid(study_uid);
    return Refuse(*caller, "open_report", subject, s);
  }
  if (study_uid.empty()) return absl::InvalidArgumentError("OpenReport needs a study UID");
  for (const common::v1::Finding& f : request.findings()) {
    if (f.finding_id().empty() || f.label().empty()) {
      return absl::InvalidArgumentError("OpenReport: every finding needs an id and a label");
    }
  }
  const int64_t generation = std::max<int64_t>(1, request.study().generation());
  std::set<std::string> critical(request.critical_finding_ids().begin(), request.critical_finding_ids().end());
  v1::OpenReportResponse response;
  bool enqueued = false;
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    enqueued = false;
    response.Clear();
    auto existing = store_->ReportForUpdate(txn, study_uid);
    if (!existing.ok()) return existing.status();
    StoredReport r;
    bool insert = false;
    if (!existing->has_value()) {
      insert = true;
      r.report_id = Id("rpt", study_uid);
      r.study_uid = study_uid;
      r.generation = generation;
      r.version = 1;
      r.status = v1::REPORT_STATUS_PRELIMINARY;
    } else {
      r = **existing;
      if (generation < r.generation) {
        return absl::FailedPreconditionError(
            absl::StrCat("generation ", generation, " is older than the report's ", r.generation));
      }
      if (generation == r.generation) {
        response.set_newly_opened(false);
        return absl::OkStatus();
      }
      // A newer analysis: its findings replace the older ones, whose open
      // cases are cancelled.
      if (absl::Status st = store_->SupersedeFindings(txn, study_uid, generation); !st.ok()) return st;
      auto cases = store_->OpenCasesOfStudy(txn, study_uid);
      if (!cases.ok()) return cases.status();
      for (v1::Case c : *cases) {
        c.set_state(v1::CASE_STATE_CANCELLED);
        if (absl::Status st = store_->SaveCase(txn, c); !st.ok()) return st;
        fhir::v1::PublishTaskRequest task;
        task.set_case_id(c.case_id());
        task.set_status(fhir::v1::TASK_STATUS_CANCELLED);
        *task.mutable_study() = c.study();
        task.set_owner_group(c.assigned_group());
        task.set_description("escalation cancelled: superseded by a newer analysis of the study");
        if (absl::Status st = store_->Enqueue(txn, OutboxKind::kFhirTask, study_uid, 0, task.SerializeAsString());
            !st.ok()) {
          return st;
        }
      }
      r.generation = generation;
      r.version += 1;
      // A final report stays final until the new findings are reviewed,
      // which then amends it; a preliminary one is reissued at once.
    }
    if (request.has_manifest()) {
      r.manifest = request.manifest();
      r.has_manifest = true;
    }
    if (absl::Status st = store_->SaveReport(txn, r, insert); !st.ok()) return st;
    for (const common::v1::Finding& f : request.findings()) {
      StoredFinding sf;
      sf.finding_id = f.finding_id();
      sf.study_uid = study_uid;
      sf.generation = generation;
      sf.label = f.label();
      sf.critical = f.positive() && critical.count(f.finding_id()) > 0;
      auto alert = request.alert_ids().find(f.finding_id());
      if (alert != request.alert_ids().end()) sf.alert_id = alert->second;
      sf.original = f;
      sf.current = f;
      if (absl::Status st = store_->InsertFinding(txn, sf); !st.ok()) return st;
    }
    if (r.status == v1::REPORT_STATUS_PRELIMINARY) {
      if (absl::Status st = store_->Enqueue(txn, OutboxKind::kFhirReport, study_uid, r.version); !st.ok()) return st;
      enqueued = true;
    }
    response.set_newly_opened(true);
    return absl::OkStatus();
  });
  if (!s.ok()) return Retryable(s);
  auto report = BuildReport(store_, nullptr, study_uid);
  if (!report.ok()) return Retryable(report.status());
  *response.mutable_report() = *std::move(report);
  if (enqueued) {
    if (publish_now_) publish_now_();  // best effort: what fails stays in the outbox for the thread
    else on_outbox_();
  }
  return response;
}

absl::StatusOr<v1::ReviewFindingResponse> EscalationService::Review(const TokenIdentity& who,
                                                                    const v1::ReviewFindingRequest& request) {
  auto caller = Resolve(who, request.actor_user_id());
  if (!caller.ok()) return caller.status();
  if (request.request_id().empty()) return absl::InvalidArgumentError("ReviewFinding needs a request_id");
  if (request.finding().finding_id().empty()) return absl::InvalidArgumentError("ReviewFinding needs a finding");
  if (request.action() == v1::REVIEW_ACTION_UNSPECIFIED) {
    return absl::InvalidArgumentError("ReviewFinding needs an action (accept, reject or modify)");
  }
  if (request.action() == v1::REVIEW_ACTION_REJECT && request.reject_reason() == v1::REJECT_REASON_UNSPECIFIED) {
    return absl::InvalidArgumentError("a rejection needs a reason");
  }
  if (request.action() == v1::REVIEW_ACTION_REJECT && request.reject_reason() == v1::REJECT_REASON_OTHER &&
      request.reason_text().empty()) {
    return absl::InvalidArgumentError("a rejection for another reason needs the reason in words");
  }
  if (request.action() == v1::REVIEW_ACTION_MODIFY && !HasChange(request.modification())) {
    return absl::InvalidArgumentError("a modification needs at least one change");
  }
  auto rights = store_->LoadOverrideRights();
  if (!rights.ok()) return Retryable(rights.status());

  v1::ReviewFindingResponse response;
  absl::Status refusal;
  audit::v1::Subject refused_subject;
  bool enqueued = false;
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    response.Clear();
    refusal = absl::OkStatus();
    enqueued = false;
    auto previous = store_->ReviewByRequest(txn, request.request_id());
    if (!previous.ok()) return previous.status();
    if (previous->has_value()) {
      response = **previous;
      return absl::OkStatus();
    }
    auto found = store_->FindingForUpdate(txn, request.finding().finding_id());
    if (!found.ok()) return found.status();
    if (!found->has_value() || (*found)->superseded) {
      return absl::NotFoundError(
          absl::StrCat("finding ", request.finding().finding_id(), " is not part of a current report"));
    }
    StoredFinding f = **found;
    if (absl::Status a = AuthorizeReview(*caller, request.action(), f.label, f.critical, *rights); !a.ok()) {
      refusal = a;
      refused_subject = FindingSubject(f);
      return absl::OkStatus();  // nothing written; refused below
    }
    if (f.outcome == v1::FINDING_OUTCOME_ESCALATED) {
      return absl::FailedPreconditionError(absl::StrCat("finding ", f.finding_id, " is under an open escalation case"));
    }
    v1::Review* review = response.mutable_review();
    review->set_review_id(Id("rev", request.request_id()));
    review->set_finding_id(f.finding_id);
    review->mutable_study()->set_study_instance_uid(f.study_uid);
    review->mutable_study()->set_generation(f.generation);
    review->set_actor_user_id(caller->user_id);
    review->set_action(request.action());
    review->set_reject_reason(request.reject_reason());
    review->set_reason_text(request.reason_text());
    *review->mutable_modification() = request.modification();
    *review->mutable_reviewed_at() = Stamp(clock_());
    f.reviewer = caller->user_id;
    audit::v1::EventType type = audit::v1::EVENT_TYPE_FINDING_ACCEPTED;
    switch (request.action()) {
      case v1::REVIEW_ACTION_ACCEPT:
        f.outcome = v1::FINDING_OUTCOME_ACCEPTED;
        break;
      case v1::REVIEW_ACTION_MODIFY:
        Apply(request.modification(), &f.current);
        f.outcome = v1::FINDING_OUTCOME_MODIFIED;
        type = audit::v1::EVENT_TYPE_FINDING_MODIFIED;
        break;
      default:
        f.outcome = v1::FINDING_OUTCOME_REJECTED;
        type = audit::v1::EVENT_TYPE_FINDING_REJECTED;
        break;
    }
    *review->mutable_resulting_finding() = f.current;
    audit::v1::AuditEvent event = Event(type, *caller);
    event.set_event_id(Id("evt", absl::StrCat("review|", request.request_id())));
    *event.mutable_subject() = FindingSubject(f);
    event.mutable_subject()->set_review_id(review->review_id());
    Attr(&event, "critical", f.critical ? "true" : "false");
    if (request.action() == v1::REVIEW_ACTION_REJECT) {
      Attr(&event, "reject_reason", v1::RejectReason_Name(request.reject_reason()));
    }
    if (absl::Status st = audit_->Enqueue(txn, event); !st.ok()) return st;

    if (request.action() == v1::REVIEW_ACTION_REJECT && f.critical && f.original.positive()) {
      v1::Case* c = response.mutable_opened_case();
      c->set_case_id(Id("case", absl::StrCat(f.finding_id, "|", review->review_id())));
      c->mutable_study()->set_study_instance_uid(f.study_uid);
      c->mutable_study()->set_generation(f.generation);
      *c->mutable_finding() = f.current;
      *c->mutable_triggering_review() = *review;
      c->set_state(v1::CASE_STATE_OPEN);
      c->set_assigned_group(options_.case_group);
      *c->mutable_created_at() = Stamp(clock_());
      *c->mutable_due_at() = Stamp(clock_() + options_.case_due);
      f.outcome = v1::FINDING_OUTCOME_ESCALATED;
      if (absl::Status st = store_->InsertCase(txn, *c); !st.ok()) return st;
      audit::v1::AuditEvent escalated = Event(audit::v1::EVENT_TYPE_CASE_ESCALATED, *caller);
      escalated.set_event_id(Id("evt", absl::StrCat("escalate|", c->case_id())));
      *escalated.mutable_subject() = FindingSubject(f);
      escalated.mutable_subject()->set_case_id(c->case_id());
      escalated.mutable_subject()->set_review_id(review->review_id());
      Attr(&escalated, "assigned_group", c->assigned_group());
      if (absl::Status st = audit_->Enqueue(txn, escalated); !st.ok()) return st;
      fhir::v1::PublishTaskRequest task;
      task.set_case_id(c->case_id());
      task.set_status(fhir::v1::TASK_STATUS_REQUESTED);
      *task.mutable_study() = c->study();
      task.set_requester_user_id(caller->user_id);
      task.set_owner_group(c->assigned_group());
      task.set_priority(fhir::v1::COMMUNICATION_PRIORITY_URGENT);
      task.set_description(absl::StrCat("Second read: a critical ", f.label, " finding was rejected (",
                                        v1::RejectReason_Name(request.reject_reason()), ")"));
      *task.mutable_authored_on() = c->created_at();
      *task.mutable_due() = c->due_at();
      if (absl::Status st = store_->Enqueue(txn, OutboxKind::kFhirTask, f.study_uid, 0, task.SerializeAsString());
          !st.ok()) {
        return st;
      }
      enqueued = true;
    }
    if (absl::Status st = store_->SaveFinding(txn, f); !st.ok()) return st;
    // The review settles the alert, an escalated rejection included: a
    // radiologist acted on it, and the senior's second read goes on as the
    // case's Task.
    if (absl::Status st = EnqueueResolve(store_, txn, f, caller->user_id, review->review_id(), &enqueued); !st.ok()) {
      return st;
    }
    auto triggered = SettleReport(txn, f.study_uid);
    if (!triggered.ok()) return triggered.status();
    response.set_report_triggered(*triggered);
    enqueued = enqueued || *triggered;
    return store_->InsertReview(txn, request.request_id(), response);
  });
  if (!s.ok()) return Retryable(s);
  if (!refusal.ok()) return Refuse(*caller, ActionName(request.action()), refused_subject, refusal);
  if (enqueued) on_outbox_();
  return response;
}

absl::StatusOr<v1::DecideCaseResponse> EscalationService::Decide(const TokenIdentity& who,
                                                                 const v1::DecideCaseRequest& request) {
  auto caller = Resolve(who, request.actor_user_id());
  if (!caller.ok()) return caller.status();
  if (request.request_id().empty()) return absl::InvalidArgumentError("DecideCase needs a request_id");
  if (request.decision() == v1::CASE_DECISION_UNSPECIFIED) return absl::InvalidArgumentError("DecideCase needs a decision");
  if (request.decision() == v1::CASE_DECISION_MODIFY && !HasChange(request.modification())) {
    return absl::InvalidArgumentError("a MODIFY decision needs at least one change");
  }
  v1::DecideCaseResponse response;
  absl::Status refusal;
  audit::v1::Subject refused_subject;
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    response.Clear();
    refusal = absl::OkStatus();
    auto previous = store_->DecisionByRequest(txn, request.request_id());
    if (!previous.ok()) return previous.status();
    if (previous->has_value()) {
      response = **previous;
      return absl::OkStatus();
    }
    auto found = store_->CaseForUpdate(txn, request.case_id());
    if (!found.ok()) return found.status();
    if (!found->has_value()) return absl::NotFoundError(absl::StrCat("no case ", request.case_id()));
    v1::Case c = **found;
    if (absl::Status a = AuthorizeDecision(*caller, c.triggering_review().actor_user_id()); !a.ok()) {
      refusal = a;
      refused_subject.set_case_id(c.case_id());
      refused_subject.set_finding_id(c.finding().finding_id());
      refused_subject.set_study_instance_uid(c.study().study_instance_uid());
      refused_subject.set_label(c.finding().label());
      return absl::OkStatus();
    }
    if (c.state() != v1::CASE_STATE_OPEN) {
      return absl::FailedPreconditionError(absl::StrCat("case ", c.case_id(), " is already ",
                                                        c.state() == v1::CASE_STATE_DECIDED ? "decided" : "cancelled"));
    }
    auto finding = store_->FindingForUpdate(txn, c.finding().finding_id());
    if (!finding.ok()) return finding.status();
    if (!finding->has_value()) return absl::InternalError(absl::StrCat("case ", c.case_id(), " lost its finding"));
    StoredFinding f = **finding;
    switch (request.decision()) {
      case v1::CASE_DECISION_CONFIRM_FINDING:
        f.current = f.original;
        f.outcome = v1::FINDING_OUTCOME_CONFIRMED_BY_SENIOR;
        break;
      case v1::CASE_DECISION_UPHOLD_REJECTION:
        f.outcome = v1::FINDING_OUTCOME_REJECTED_BY_SENIOR;
        break;
      default:
        f.current = f.original;
        Apply(request.modification(), &f.current);
        f.outcome = v1::FINDING_OUTCOME_MODIFIED_BY_SENIOR;
        break;
    }
    f.decided_by = caller->user_id;
    c.set_state(v1::CASE_STATE_DECIDED);
    c.set_decision(request.decision());
    *c.mutable_decision_modification() = request.modification();
    c.set_decided_by(caller->user_id);
    c.set_rationale(request.rationale());
    *c.mutable_decided_at() = Stamp(clock_());
    *c.mutable_finding() = f.current;
    if (absl::Status st = store_->SaveCase(txn, c); !st.ok()) return st;
    if (absl::Status st = store_->SaveFinding(txn, f); !st.ok()) return st;
    audit::v1::AuditEvent event = Event(audit::v1::EVENT_TYPE_CASE_DECIDED, *caller);
    event.set_event_id(Id("evt", absl::StrCat("decide|", request.request_id())));
    *event.mutable_subject() = FindingSubject(f);
    event.mutable_subject()->set_case_id(c.case_id());
    const std::string decision = v1::CaseDecision_Name(request.decision());
    Attr(&event, "decision", decision.substr(std::string("CASE_DECISION_").size()));
    Attr(&event, "critical", f.critical ? "true" : "false");
    if (absl::Status st = audit_->Enqueue(txn, event); !st.ok()) return st;
    fhir::v1::PublishTaskRequest task;
    task.set_case_id(c.case_id());
    task.set_status(fhir::v1::TASK_STATUS_COMPLETED);
    *task.mutable_study() = c.study();
    task.set_requester_user_id(c.triggering_review().actor_user_id());
    task.set_owner_group(c.assigned_group());
    task.set_owner_user_id(caller->user_id);
    task.set_priority(fhir::v1::COMMUNICATION_PRIORITY_URGENT);
    task.set_description(absl::StrCat("Second read of a rejected critical ", f.label, " finding"));
    *task.mutable_authored_on() = c.created_at();
    *task.mutable_due() = c.due_at();
    task.set_outcome_text(absl::StrCat(decision, request.rationale().empty() ? "" : ": ", request.rationale()));
    if (absl::Status st = store_->Enqueue(txn, OutboxKind::kFhirTask, f.study_uid, 0, task.SerializeAsString());
        !st.ok()) {
      return st;
    }
    if (auto triggered = SettleReport(txn, f.study_uid); !triggered.ok()) return triggered.status();
    *response.mutable_decided_case() = c;
    auto report = BuildReport(store_, &txn, f.study_uid);
    if (!report.ok()) return report.status();
    *response.mutable_report() = *std::move(report);
    return store_->InsertDecision(txn, request.request_id(), response);
  });
  if (!s.ok()) return Retryable(s);
  if (!refusal.ok()) return Refuse(*caller, "decide_case", refused_subject, refusal);
  on_outbox_();
  return response;
}

namespace {
// Page tokens are offsets, printed in decimal.
absl::StatusOr<int64_t> Offset(const std::string& token) {
  if (token.empty()) return 0;
  int64_t offset = 0;
  for (char ch : token) {
    if (ch < '0' || ch > '9' || offset > (int64_t{1} << 40)) return absl::InvalidArgumentError("bad page token");
    offset = offset * 10 + (ch - '0');
  }
  return offset;
}
int PageSize(int requested) { return requested <= 0 ? 50 : std::min(requested, 500); }
}  // namespace

absl::StatusOr<v1::ListCasesResponse> EscalationService::Cases(const TokenIdentity& who,
                                                               const v1::ListCasesRequest& request) {
  auto caller = Resolve(who, "");
  if (!caller.ok()) return caller.status();
  if (absl::Status a = AuthorizeCaseListing(*caller); !a.ok()) return Refuse(*caller, "list_cases", {}, a);
  auto offset = Offset(request.page_token());
  if (!offset.ok()) return offset.status();
  const int size = PageSize(request.page_size());
  auto cases = store_->ListCases(request, *offset, size + 1);
  if (!cases.ok()) return Retryable(cases.status());
  v1::ListCasesResponse out;
  for (int i = 0; i < static_cast<int>(cases->size()) && i < size; ++i) *out.add_cases() = (*cases)[i];
  if (static_cast<int>(cases->size()) > size) out.set_next_page_token(std::to_string(*offset + size));
  return out;
}

absl::StatusOr<v1::GetReportResponse> EscalationService::Report(const std::string& study_uid) {
  if (study_uid.empty()) return absl::InvalidArgumentError("GetReport needs a study UID");
  auto report = BuildReport(store_, nullptr, study_uid);
  if (!report.ok()) return Retryable(report.status());
  v1::GetReportResponse out;
  *out.mutable_report() = *std::move(report);
  return out;
}

absl::StatusOr<v1::UpsertUserResponse> EscalationService::Upsert(const TokenIdentity& who,
                                                                 const v1::UpsertUserRequest& request) {
  auto caller = Resolve(who, request.actor_user_id());
  if (!caller.ok()) return caller.status();
  if (absl::Status a = AuthorizeUserAdministration(*caller); !a.ok()) return Refuse(*caller, "upsert_user", {}, a);
  const v1::User& user = request.user();
  if (user.user_id().empty()) return absl::InvalidArgumentError("a user needs a user_id");
  if (user.roles().empty()) return absl::InvalidArgumentError("a user needs at least one role");
  for (int r : user.roles()) {
    if (r == v1::ROLE_UNSPECIFIED) return absl::InvalidArgumentError("ROLE_UNSPECIFIED is not a role");
  }
  v1::UpsertUserResponse response;
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    const bool stays_admin =
        user.active() && std::find(user.roles().begin(), user.roles().end(), v1::ROLE_ADMIN) != user.roles().end();
    if (!stays_admin) {
      auto others = store_->CountActiveAdmins(txn, user.user_id());
      if (!others.ok()) return others.status();
      if (*others == 0) {
        auto existing = txn.Exec(
            "SELECT 1 FROM escalation.users WHERE user_id = $1 AND active AND "
            "'admin' = ANY(string_to_array(roles, ','))",
            {user.user_id()});
        if (!existing.ok()) return existing.status();
        if (!existing->empty()) return absl::FailedPreconditionError("this would remove the last active admin");
      }
    }
    auto stored = store_->UpsertUser(txn, user);
    if (!stored.ok()) return stored.status();
    *response.mutable_user() = stored->first;
    response.set_created(stored->second);
    audit::v1::AuditEvent event = Event(audit::v1::EVENT_TYPE_USER_CHANGED, *caller);
    event.set_event_id(Id("evt", absl::StrCat("user|", user.user_id(), "|", clock_().time_since_epoch().count())));
    Attr(&event, "user_id", user.user_id());
    Attr(&event, "change", stored->second ? "created" : "updated");
    return audit_->Enqueue(txn, event);
  });
  if (!s.ok()) return Retryable(s);
  return response;
}

absl::StatusOr<v1::ListUsersResponse> EscalationService::Users(const TokenIdentity& who,
                                                               const v1::ListUsersRequest& request) {
  auto caller = Resolve(who, "");
  if (!caller.ok()) return caller.status();
  if (absl::Status a = AuthorizeCaseListing(*caller); !a.ok()) return Refuse(*caller, "list_users", {}, a);
  auto offset = Offset(request.page_token());
  if (!offset.ok()) return offset.status();
  const int size = PageSize(request.page_size());
  auto users = store_->ListUsers(request, *offset, size + 1);
  if (!users.ok()) return Retryable(users.status());
  v1::ListUsersResponse out;
  for (int i = 0; i < static_cast<int>(users->size()) && i < size; ++i) *out.add_users() = (*users)[i];
  if (static_cast<int>(users->size()) > size) out.set_next_page_token(std::to_string(*offset + size));
  return out;
}

// gRPC wrappers: authenticate, call, map the status.
grpc::Status EscalationService::ReviewFinding(grpc::ServerContext* ctx, const v1::ReviewFindingRequest* request,
                                              v1::ReviewFindingResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Review(*who, *request), response);
}
grpc::Status EscalationService::OpenReport(grpc::ServerContext* ctx, const v1::OpenReportRequest* request,
                                           v1::OpenReportResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Open(*who, *request), response);
}
grpc::Status EscalationService::ListCases(grpc::ServerContext* ctx, const v1::ListCasesRequest* request,
                                          v1::ListCasesResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Cases(*who, *request), response);
}
grpc::Status EscalationService::DecideCase(grpc::ServerContext* ctx, const v1::DecideCaseRequest* request,
                                           v1::DecideCaseResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Decide(*who, *request), response);
}
grpc::Status EscalationService::GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* request,
                                          v1::GetReportResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Report(request->study_instance_uid()), response);
}
grpc::Status EscalationService::UpsertUser(grpc::ServerContext* ctx, const v1::UpsertUserRequest* request,
                                           v1::UpsertUserResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Upsert(*who, *request), response);
}
grpc::Status EscalationService::ListUsers(grpc::ServerContext* ctx, const v1::ListUsersRequest* request,
                                          v1::ListUsersResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Users(*who, *request), response);
}

}  // namespace parallax::escalation
