#include "alert_service.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <nlohmann/json.hpp>

#include "parallax/audit_client/event_id.h"
#include "parallax/auth/roles.h"
#include "parallax/crypto/sha256.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "policy_evaluator.h"

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

TimePoint FromStamp(const google::protobuf::Timestamp& t) {
  return FromMicros(static_cast<int64_t>(t.seconds()) * 1000000 + t.nanos() / 1000);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string PriorityName(v1::AlertPriority p) {
  switch (p) {
    case v1::ALERT_PRIORITY_ROUTINE: return "routine";
    case v1::ALERT_PRIORITY_URGENT: return "urgent";
    case v1::ALERT_PRIORITY_CRITICAL: return "critical";
    default: return "unspecified";
  }
}

void Attr(audit::v1::AuditEvent* e, const std::string& key, const std::string& value) {
  audit::v1::Attribute* a = e->add_attributes();
  a->set_key(key);
  a->set_value(value);
}

audit::v1::Subject AlertSubject(const StoredAlert& a) {
  audit::v1::Subject s;
  s.set_study_instance_uid(a.alert.study().study_instance_uid());
  s.set_generation(a.alert.study().generation());
  s.set_finding_id(a.alert.finding().finding_id());
  s.set_alert_id(a.alert.alert_id());
  s.set_label(a.label);
  s.set_model_id(a.alert.finding().model().model_id());
  s.set_model_version(a.alert.finding().model().model_version());
  return s;
}

audit::v1::AuditEvent ServiceEvent(audit::v1::EventType type, TimePoint now) {
  audit::v1::AuditEvent e;
  e.set_type(type);
  *e.mutable_occurred_at() = Stamp(now);
  e.set_service("alert-routing");
  e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_SERVICE);
  e.mutable_actor()->set_system_id("alert-routing");
  e.set_outcome(audit::v1::OUTCOME_SUCCESS);
  return e;
}

audit::v1::AuditEvent UserEvent(audit::v1::EventType type, const auth::Principal& who, TimePoint now) {
  audit::v1::AuditEvent e;
  e.set_type(type);
  *e.mutable_occurred_at() = Stamp(now);
  e.set_service("alert-routing");
  const bool service = who.HasRole(escalation::v1::ROLE_INTEGRATION);
  e.mutable_actor()->set_kind(service ? audit::v1::ACTOR_KIND_SERVICE : audit::v1::ACTOR_KIND_USER);
  e.mutable_actor()->set_user_id(who.user_id);
  if (service) e.mutable_actor()->set_system_id(who.user_id);
  for (auth::Role r : who.roles) e.mutable_actor()->add_roles(auth::RoleName(r));
  e.set_outcome(audit::v1::OUTCOME_SUCCESS);
  return e;
}

v1::AlertEvent Event(v1::AlertEventKind kind, TimePoint at, const std::string& group, const std::string& actor,
                     std::string detail) {
  v1::AlertEvent e;
  e.set_kind(kind);
  *e.mutable_at() = Stamp(at);
  e.set_target_group(group);
  e.set_actor_user_id(actor);
  e.set_detail(std::move(detail));
  return e;
}

// Statuses the store returns that a client should retry.
absl::Status Retryable(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kAborted || s.code() == absl::StatusCode::kUnknown) {
    return absl::UnavailableError(absl::StrCat("alert store: ", s.message()));
  }
  return s;
}

// Sets the timers and the proto's next escalation from the stored state.
void Reschedule(StoredAlert& a) {
  a.next_action_at = NextDue(a.timers, a.timers_from, a.renotified_at_level, a.alert.escalation_level());
  const std::optional<TimePoint> esc = NextEscalationAt(a.timers, a.timers_from, a.alert.escalation_level());
  if (esc) {
    *a.alert.mutable_next_escalation_at() = Stamp(*esc);
  } else {
    a.alert.clear_next_escalation_at();
  }
}

// Copies what a policy decision says into the alert.
void ApplyDecision(StoredAlert& a, const AlertDecision& d, const common::v1::Finding& f,
                   const v1::RouteRequest& request) {
  *a.alert.mutable_study() = request.study();
  *a.alert.mutable_finding() = f;
  a.alert.set_priority(d.priority);
  a.alert.set_target_group(d.primary_group());
  a.alert.clear_target_groups();
  for (const std::string& g : d.target_groups) a.alert.add_target_groups(g);
  a.alert.set_policy_rule_id(d.primary_rule_id());
  a.alert.set_urgency(request.urgency());
  a.alert.clear_quality_flags();
  for (common::v1::QualityFlag q : d.quality_flags) a.alert.add_quality_flags(q);
  a.label = f.label();
  a.critical = d.critical;
  a.fhir_priority = d.fhir_priority;
  a.groups = d.target_groups;
  a.rule_id = d.primary_rule_id();
  a.timers.ack_timeout = d.ack_timeout;
  a.timers.renotify_every = d.renotify_every;
  a.timers.max_renotify = d.max_renotify;
  a.timers.escalation = d.escalation;
}

std::string ResolutionName(v1::ResolutionOutcome o) {
  std::string name = v1::ResolutionOutcome_Name(o);
  const std::string prefix = "RESOLUTION_OUTCOME_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return Lower(name);
}

absl::StatusOr<int64_t> Offset(const std::string& token) {
  if (token.empty()) return 0;
  int64_t offset = 0;
  for (char ch : token) {
    if (ch < '0' || ch > '9' || offset > (int64_t{1} << 40)) return absl::InvalidArgumentError("bad page token");
    offset = offset * 10 + (ch - '0');
  }
  return offset;
}

}  // namespace

std::string AlertIdFor(const std::string& study_uid, const std::string& label) {
  return absl::StrCat("alr-", crypto::Sha256Hex(absl::StrCat(study_uid, "|", Lower(label))).substr(0, 32));
}

AlertService::AlertService(AlertStore* store, const AlertPolicy* policy, audit_client::AuditRecorder* audit,
                           Authenticate authenticate, std::function<void()> on_outbox, AlertMetrics* metrics,
                           Clock clock)
    : store_(store),
      policy_(policy),
      audit_(audit),
      authenticate_(std::move(authenticate)),
      on_outbox_(std::move(on_outbox)),
      metrics_(metrics),
      clock_(std::move(clock)) {}

absl::Status AlertService::Refuse(const auth::Principal& who, const std::string& action,
                                  const audit::v1::Subject& subject, const absl::Status& refusal) {
  audit::v1::AuditEvent e = UserEvent(audit::v1::EVENT_TYPE_ACCESS_REFUSED, who, clock_());
  e.set_outcome(audit::v1::OUTCOME_DENIED);
  *e.mutable_subject() = subject;
  Attr(&e, "action", action);
  Attr(&e, "reason", std::string(refusal.message()));
  if (auto s = audit_->Record(e); !s.ok()) {
    return absl::Status(refusal.code(),
                        absl::StrCat(refusal.message(), " (not audited: ", s.status().message(), ")"));
  }
  return refusal;
}

absl::StatusOr<v1::RouteResponse> AlertService::RouteAnalysis(const auth::Principal& who,
                                                              const v1::RouteRequest& request) {
  const std::string& study_uid = request.study().study_instance_uid();
  if (!who.HasRole(escalation::v1::ROLE_INTEGRATION)) {
    audit::v1::Subject subject;
    subject.set_study_instance_uid(study_uid);
    return Refuse(who, "route", subject,
                  absl::PermissionDeniedError(absl::StrCat("Route is for services; caller ", who.user_id,
                                                           " has no integration role")));
  }
  if (study_uid.empty()) return absl::InvalidArgumentError("Route needs a study UID");
  for (const common::v1::Finding& f : request.findings()) {
    if (f.finding_id().empty() || f.label().empty()) {
      return absl::InvalidArgumentError("Route: every finding needs a finding_id and a label");
    }
  }
  const int64_t generation = request.study().generation();
  std::vector<common::v1::QualityFlag> study_flags;
  for (int q : request.quality_flags()) study_flags.push_back(static_cast<common::v1::QualityFlag>(q));

  struct Change {
    std::string change, label, priority;
  };
  v1::RouteResponse response;
  std::vector<Change> changes;
  std::vector<std::string> withdrawn;  // alert ids whose Communication must say so
  bool enqueued = false;
  int audited = 0;
  const TimePoint now = clock_();
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    response.Clear();
    changes.clear();
    withdrawn.clear();
    enqueued = false;
    audited = 0;
    if (absl::Status st = store_->LockStudy(txn, study_uid); !st.ok()) return st;
    auto latest = store_->LatestGeneration(txn, study_uid);
    if (!latest.ok()) return latest.status();
    if (latest->has_value() && **latest > generation) {
      return absl::FailedPreconditionError(absl::StrCat("generation ", generation,
                                                        " is older than the routed generation ", **latest));
    }
    auto existing_alerts = store_->AlertsOfStudyForUpdate(txn, study_uid);
    if (!existing_alerts.ok()) return existing_alerts.status();
    std::map<std::string, StoredAlert> existing;
    for (StoredAlert& a : *existing_alerts) existing.emplace(a.alert.alert_id(), std::move(a));

    if (latest->has_value() && **latest == generation) {
      auto stored = store_->RoutedResponse(txn, study_uid, generation);
      if (!stored.ok()) return stored.status();
      response = stored->value_or(v1::RouteResponse());
      for (v1::AlertChange& c : *response.mutable_changes()) {
        c.set_change(v1::CHANGE_KIND_UNCHANGED);
        auto it = existing.find(c.alert().alert_id());
        if (it != existing.end()) *c.mutable_alert() = it->second.alert;
      }
      return absl::OkStatus();
    }

    Json notify = Json::array();
    std::set<std::string> seen;  // alert ids decided in this analysis
    int positives = 0;
    for (const common::v1::Finding& f : request.findings()) {
      if (f.positive()) ++positives;
      std::string alert_id = AlertIdFor(study_uid, f.label());
      if (seen.count(alert_id) > 0) {
        // Two findings with one label (two models): keep them apart.
        alert_id = AlertIdFor(study_uid, absl::StrCat(f.label(), "|", f.model().model_id()));
      }
      seen.insert(alert_id);
      const AlertDecision d = Evaluate(*policy_, f, study_flags);
      auto it = existing.find(alert_id);
      if (!d.alert) {
        v1::SuppressedFinding* sf = response.add_suppressed();
        sf->set_finding_id(f.finding_id());
        sf->set_label(f.label());
        sf->set_reason(d.suppression);
        if (it != existing.end() && it->second.alert.state() != v1::ALERT_STATE_WITHDRAWN &&
            it->second.alert.state() != v1::ALERT_STATE_RESOLVED) {
          StoredAlert& a = it->second;
          a.alert.set_state(v1::ALERT_STATE_WITHDRAWN);
          *a.alert.mutable_study() = request.study();
          *a.alert.mutable_finding() = f;
          *a.alert.mutable_updated_at() = Stamp(now);
          a.alert.clear_next_escalation_at();
          a.next_action_at.reset();
          if (absl::Status st = store_->SaveAlert(txn, a, false); !st.ok()) return st;
          if (absl::Status st = store_->AddEvent(
                  txn, alert_id,
                  Event(v1::ALERT_EVENT_KIND_WITHDRAWN, now, "", "",
                        absl::StrCat("generation ", generation, ": ", SuppressionReason_Name(d.suppression))));
              !st.ok()) {
            return st;
          }
          v1::AlertChange* c = response.add_changes();
          *c->mutable_alert() = a.alert;
          c->set_change(v1::CHANGE_KIND_WITHDRAWN);
          changes.push_back({"withdrawn", a.label, PriorityName(a.alert.priority())});
          withdrawn.push_back(alert_id);
        }
        continue;
      }
      StoredAlert a;
      v1::ChangeKind kind = v1::CHANGE_KIND_CREATED;
      bool insert = true;
      bool page = true;
      if (it != existing.end()) {
        a = it->second;
        insert = false;
        kind = v1::CHANGE_KIND_UPDATED;
      }
      ApplyDecision(a, d, f, request);
      *a.alert.mutable_updated_at() = Stamp(now);
      if (insert) {
        a.alert.set_alert_id(alert_id);
        a.alert.set_state(v1::ALERT_STATE_OPEN);
        *a.alert.mutable_created_at() = Stamp(now);
        a.timers_from = now;
      } else if (a.alert.state() == v1::ALERT_STATE_WITHDRAWN || a.alert.state() == v1::ALERT_STATE_RESOLVED) {
        // Supported again by the newer analysis: a fresh start of its timers.
        a.alert.set_state(v1::ALERT_STATE_OPEN);
        a.alert.set_escalation_level(0);
        a.renotified_at_level = 0;
        a.timers_from = now;
      } else if (a.alert.state() == v1::ALERT_STATE_ACKNOWLEDGED) {
        page = false;  // acknowledged stays acknowledged: no page, no timers
      }
      if (a.alert.state() == v1::ALERT_STATE_ACKNOWLEDGED) {
        a.next_action_at.reset();
        a.alert.clear_next_escalation_at();
      } else {
        Reschedule(a);
      }
      if (absl::Status st = store_->SaveAlert(txn, a, insert); !st.ok()) return st;
      if (absl::Status st = store_->AddEvent(
              txn, alert_id,
              Event(insert ? v1::ALERT_EVENT_KIND_CREATED : v1::ALERT_EVENT_KIND_UPDATED, now, d.primary_group(), "",
                    absl::StrCat("generation ", generation, ": ", d.explanation)));
          !st.ok()) {
        return st;
      }
      audit::v1::AuditEvent e = ServiceEvent(audit::v1::EVENT_TYPE_ALERT_SENT, now);
      e.set_event_id(audit_client::EventIdFor(absl::StrCat("alert-routing/ALERT_SENT/", alert_id, "/", generation)));
      *e.mutable_subject() = AlertSubject(a);
      Attr(&e, "target_group", d.primary_group());
      Attr(&e, "groups", absl::StrJoin(d.target_groups, ","));
      Attr(&e, "priority", PriorityName(d.priority));
      Attr(&e, "critical", d.critical ? "true" : "false");
      Attr(&e, "rule", d.primary_rule_id());
      Attr(&e, "change", insert ? "created" : "updated");
      if (auto st = audit_->Enqueue(txn, e); !st.ok()) return st.status();
      ++audited;
      v1::AlertChange* c = response.add_changes();
      *c->mutable_alert() = a.alert;
      c->set_change(kind);
      changes.push_back({insert ? "created" : "updated", a.label, PriorityName(a.alert.priority())});
      notify.push_back({{"id", alert_id}, {"page", page}, {"change", insert ? "created" : "updated"}});
    }
    // Alerts whose label this analysis no longer reports at all.
    for (auto& [alert_id, a] : existing) {
      if (seen.count(alert_id) > 0) continue;
      if (a.alert.state() == v1::ALERT_STATE_WITHDRAWN || a.alert.state() == v1::ALERT_STATE_RESOLVED) continue;
      a.alert.set_state(v1::ALERT_STATE_WITHDRAWN);
      a.alert.mutable_study()->set_generation(generation);
      *a.alert.mutable_updated_at() = Stamp(now);
      a.alert.clear_next_escalation_at();
      a.next_action_at.reset();
      if (absl::Status st = store_->SaveAlert(txn, a, false); !st.ok()) return st;
      if (absl::Status st = store_->AddEvent(txn, alert_id,
                                             Event(v1::ALERT_EVENT_KIND_WITHDRAWN, now, "", "",
                                                   absl::StrCat("generation ", generation, " has no such finding")));
          !st.ok()) {
        return st;
      }
      v1::AlertChange* c = response.add_changes();
      *c->mutable_alert() = a.alert;
      c->set_change(v1::CHANGE_KIND_WITHDRAWN);
      changes.push_back({"withdrawn", a.label, PriorityName(a.alert.priority())});
      withdrawn.push_back(alert_id);
    }
    if (absl::Status st = store_->InsertRouted(txn, request, positives, response); !st.ok()) return st;
    if (absl::Status st = store_->Enqueue(txn, OutboxKind::kRoute, study_uid, generation,
                                          Json{{"alerts", notify}}.dump());
        !st.ok()) {
      return st;
    }
    // After the route item, so the study's order holds: the EHR learns the
    // withdrawal (entered-in-error) once the earlier Communication is out.
    for (const std::string& id : withdrawn) {
      if (absl::Status st = store_->Enqueue(txn, OutboxKind::kCommunicationUpdate, study_uid, generation,
                                            Json{{"alert_id", id}}.dump());
          !st.ok()) {
        return st;
      }
    }
    enqueued = true;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kFailedPrecondition || s.code() == absl::StatusCode::kInvalidArgument) {
      return s;
    }
    log::Warning("route failed", {{"study", study_uid}, {"error", std::string(s.message())}});
    return Retryable(s);
  }
  if (enqueued) on_outbox_();
  if (audited > 0) audit_->Poke();
  if (metrics_ != nullptr) {
    for (const Change& c : changes) metrics_->AlertChanged(c.change, c.label, c.priority);
  }
  log::Info("analysis routed", {{"study", study_uid},
                                {"generation", static_cast<long long>(generation)},
                                {"changes", response.changes_size()},
                                {"suppressed", response.suppressed_size()},
                                {"repeat", !enqueued}});
  return response;
}

absl::StatusOr<v1::AcknowledgeAlertResponse> AlertService::Acknowledge(const auth::Principal& who,
                                                                       const v1::AcknowledgeAlertRequest& request) {
  audit::v1::Subject subject;
  subject.set_alert_id(request.alert_id());
  if (!request.actor_user_id().empty() && request.actor_user_id() != who.user_id) {
    return Refuse(who, "acknowledge_alert", subject,
                  absl::PermissionDeniedError(
                      absl::StrCat("caller ", who.user_id, " may not act as ", request.actor_user_id())));
  }
  if (request.alert_id().empty()) return absl::InvalidArgumentError("AcknowledgeAlert needs an alert_id");
  v1::AcknowledgeAlertResponse response;
  absl::Status refusal;
  double seconds_to_ack = 0;
  const TimePoint now = clock_();
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    response.Clear();
    refusal = absl::OkStatus();
    auto found = store_->AlertForUpdate(txn, request.alert_id());
    if (!found.ok()) return found.status();
    if (!found->has_value()) return absl::NotFoundError(absl::StrCat("no alert ", request.alert_id()));
    StoredAlert a = **found;
    subject = AlertSubject(a);
    const std::vector<std::string> groups = a.GroupsSoFar();
    const bool in_group = std::any_of(groups.begin(), groups.end(), [&](const std::string& g) {
      return std::find(who.groups.begin(), who.groups.end(), g) != who.groups.end();
    });
    const bool senior =
        who.HasAnyRole({escalation::v1::ROLE_SENIOR_RADIOLOGIST, escalation::v1::ROLE_DEPARTMENT_HEAD});
    if (!in_group && !senior) {
      refusal = absl::PermissionDeniedError(absl::StrCat("user ", who.user_id, " is in none of the alert's groups (",
                                                         absl::StrJoin(groups, ", "),
                                                         ") and is not a senior radiologist or department head"));
      return absl::OkStatus();
    }
    if (a.alert.state() == v1::ALERT_STATE_ACKNOWLEDGED) {
      *response.mutable_alert() = a.alert;
      response.set_already_acknowledged(true);
      return absl::OkStatus();
    }
    if (a.alert.state() == v1::ALERT_STATE_WITHDRAWN || a.alert.state() == v1::ALERT_STATE_RESOLVED) {
      return absl::FailedPreconditionError(absl::StrCat("alert ", a.alert.alert_id(), " is ",
                                                        a.alert.state() == v1::ALERT_STATE_WITHDRAWN
                                                            ? "withdrawn: a newer analysis no longer supports it"
                                                            : "resolved: its finding was reviewed"));
    }
    a.alert.set_state(v1::ALERT_STATE_ACKNOWLEDGED);
    a.alert.set_acknowledged_by(who.user_id);
    *a.alert.mutable_acknowledged_at() = Stamp(now);
    *a.alert.mutable_updated_at() = Stamp(now);
    a.alert.clear_next_escalation_at();
    a.next_action_at.reset();
    seconds_to_ack = std::chrono::duration<double>(now - FromStamp(a.alert.created_at())).count();
    if (absl::Status st = store_->SaveAlert(txn, a, false); !st.ok()) return st;
    std::string via = senior && !in_group ? "senior role" : "group";
    if (absl::Status st = store_->AddEvent(
            txn, a.alert.alert_id(), Event(v1::ALERT_EVENT_KIND_ACKNOWLEDGED, now, a.CurrentGroup(), who.user_id,
                                           absl::StrCat("acknowledged by ", who.user_id, " (", via, ")")));
        !st.ok()) {
      return st;
    }
    audit::v1::AuditEvent e = UserEvent(audit::v1::EVENT_TYPE_ALERT_ACKNOWLEDGED, who, now);
    e.set_event_id(audit_client::EventIdFor(absl::StrCat("alert-routing/ALERT_ACKNOWLEDGED/", a.alert.alert_id())));
    *e.mutable_subject() = AlertSubject(a);
    Attr(&e, "priority", PriorityName(a.alert.priority()));
    Attr(&e, "escalation_level", std::to_string(a.alert.escalation_level()));
    Attr(&e, "seconds_to_acknowledge", std::to_string(static_cast<int64_t>(seconds_to_ack)));
    if (auto st = audit_->Enqueue(txn, e); !st.ok()) return st.status();
    *response.mutable_alert() = a.alert;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kNotFound || s.code() == absl::StatusCode::kFailedPrecondition) return s;
    return Retryable(s);
  }
  if (!refusal.ok()) return Refuse(who, "acknowledge_alert", subject, refusal);
  if (!response.already_acknowledged()) {
    audit_->Poke();
    if (metrics_ != nullptr) metrics_->Acknowledged(PriorityName(response.alert().priority()), seconds_to_ack);
    log::Info("alert acknowledged", {{"alert", response.alert().alert_id()}, {"user", who.user_id}});
  }
  return response;
}

absl::StatusOr<v1::ResolveAlertsResponse> AlertService::Resolve(const auth::Principal& who,
                                                                const v1::ResolveAlertsRequest& request) {
  const std::string& study_uid = request.study_instance_uid();
  if (!who.HasRole(escalation::v1::ROLE_INTEGRATION)) {
    audit::v1::Subject subject;
    subject.set_study_instance_uid(study_uid);
    if (request.alert_ids_size() == 1) subject.set_alert_id(request.alert_ids(0));
    return Refuse(who, "resolve_alerts", subject,
                  absl::PermissionDeniedError(absl::StrCat("ResolveAlerts is for services; caller ", who.user_id,
                                                           " has no integration role")));
  }
  if (request.finding_ids().empty() && request.alert_ids().empty()) {
    return absl::InvalidArgumentError("ResolveAlerts needs finding ids (with the study UID) or alert ids");
  }
  if (!request.finding_ids().empty() && study_uid.empty()) {
    return absl::InvalidArgumentError("ResolveAlerts: finding ids need the study UID");
  }
  if (request.outcome() == v1::RESOLUTION_OUTCOME_UNSPECIFIED) {
    return absl::InvalidArgumentError("ResolveAlerts needs the review's outcome");
  }
  const std::string outcome = ResolutionName(request.outcome());
  v1::ResolveAlertsResponse response;
  std::vector<std::string> resolved_labels;
  const TimePoint now = clock_();
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    response.Clear();
    resolved_labels.clear();
    if (!study_uid.empty()) {
      if (absl::Status st = store_->LockStudy(txn, study_uid); !st.ok()) return st;
    }
    // The selected alerts, each once, in request order.
    std::vector<StoredAlert> selected;
    std::set<std::string> ids;
    if (!request.finding_ids().empty()) {
      auto of_study = store_->AlertsOfStudyForUpdate(txn, study_uid);
      if (!of_study.ok()) return of_study.status();
      for (const std::string& finding_id : request.finding_ids()) {
        auto it = std::find_if(of_study->begin(), of_study->end(), [&](const StoredAlert& a) {
          return a.alert.finding().finding_id() == finding_id;
        });
        if (it == of_study->end()) {
          response.add_unmatched_finding_ids(finding_id);
        } else if (ids.insert(it->alert.alert_id()).second) {
          selected.push_back(*it);
        }
      }
    }
    for (const std::string& alert_id : request.alert_ids()) {
      if (ids.count(alert_id) > 0) continue;
      auto found = store_->AlertForUpdate(txn, alert_id);
      if (!found.ok()) return found.status();
      if (!found->has_value() ||
          (!study_uid.empty() && (*found)->alert.study().study_instance_uid() != study_uid)) {
        response.add_unmatched_alert_ids(alert_id);
        continue;
      }
      ids.insert(alert_id);
      selected.push_back(**found);
    }
    for (StoredAlert& a : selected) {
      const std::string& alert_id = a.alert.alert_id();
      if (a.alert.state() == v1::ALERT_STATE_RESOLVED) {
        response.add_already_resolved_alert_ids(alert_id);
        *response.add_alerts() = a.alert;
        continue;
      }
      if (a.alert.state() == v1::ALERT_STATE_WITHDRAWN) {  // nothing left to resolve
        *response.add_alerts() = a.alert;
        continue;
      }
      const v1::AlertState before = a.alert.state();
      a.alert.set_state(v1::ALERT_STATE_RESOLVED);
      a.alert.set_resolved_by(request.reviewer_user_id());
      *a.alert.mutable_resolved_at() = Stamp(now);
      a.alert.set_resolution(request.outcome());
      *a.alert.mutable_updated_at() = Stamp(now);
      a.alert.clear_next_escalation_at();
      a.next_action_at.reset();
      if (absl::Status st = store_->SaveAlert(txn, a, false); !st.ok()) return st;
      const std::string by = request.reviewer_user_id().empty() ? who.user_id : request.reviewer_user_id();
      if (absl::Status st = store_->AddEvent(
              txn, alert_id,
              Event(v1::ALERT_EVENT_KIND_RESOLVED, now, a.CurrentGroup(), request.reviewer_user_id(),
                    absl::StrCat("finding reviewed (", outcome, ") by ", by,
                                 request.review_id().empty() ? "" : absl::StrCat(", review ", request.review_id()),
                                 "; was ", Lower(v1::AlertState_Name(before).substr(12)))));
          !st.ok()) {
        return st;
      }
      audit::v1::AuditEvent e = UserEvent(audit::v1::EVENT_TYPE_ALERT_SENT, who, now);
      e.set_event_id(audit_client::EventIdFor(absl::StrCat("alert-routing/ALERT_RESOLVED/", alert_id, "/",
                                                           a.alert.study().generation())));
      *e.mutable_subject() = AlertSubject(a);
      if (!request.review_id().empty()) e.mutable_subject()->set_review_id(request.review_id());
      Attr(&e, "change", "resolved");
      Attr(&e, "resolution", outcome);
      Attr(&e, "resolved_by", request.reviewer_user_id());
      Attr(&e, "target_group", a.CurrentGroup());
      Attr(&e, "priority", PriorityName(a.alert.priority()));
      Attr(&e, "critical", a.critical ? "true" : "false");
      if (auto st = audit_->Enqueue(txn, e); !st.ok()) return st.status();
      if (absl::Status st = store_->Enqueue(txn, OutboxKind::kCommunicationUpdate,
                                            a.alert.study().study_instance_uid(), a.alert.study().generation(),
                                            Json{{"alert_id", alert_id}}.dump());
          !st.ok()) {
        return st;
      }
      response.add_resolved_alert_ids(alert_id);
      *response.add_alerts() = a.alert;
      resolved_labels.push_back(a.label);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    log::Warning("resolve failed", {{"study", study_uid}, {"error", std::string(s.message())}});
    return Retryable(s);
  }
  if (response.resolved_alert_ids_size() > 0) {
    on_outbox_();
    audit_->Poke();
    if (metrics_ != nullptr) {
      for (int i = 0; i < response.resolved_alert_ids_size(); ++i) {
        for (const v1::Alert& a : response.alerts()) {
          if (a.alert_id() == response.resolved_alert_ids(i)) {
            metrics_->AlertChanged("resolved", resolved_labels[i], PriorityName(a.priority()));
          }
        }
      }
    }
  }
  log::Info("alerts resolved", {{"study", study_uid},
                                {"resolved", response.resolved_alert_ids_size()},
                                {"already_resolved", response.already_resolved_alert_ids_size()},
                                {"unmatched", response.unmatched_finding_ids_size() + response.unmatched_alert_ids_size()},
                                {"outcome", outcome}});
  return response;
}

absl::StatusOr<v1::ListAlertsResponse> AlertService::List(const v1::ListAlertsRequest& request) {
  if (request.page_size() < 0 || request.page_size() > 500) {
    return absl::InvalidArgumentError("page_size must be between 0 and 500");
  }
  const int size = request.page_size() == 0 ? 50 : request.page_size();
  auto offset = Offset(request.page_token());
  if (!offset.ok()) return offset.status();
  auto alerts = store_->ListAlerts(request, *offset, size + 1);
  if (!alerts.ok()) return Retryable(alerts.status());
  v1::ListAlertsResponse response;
  for (int i = 0; i < static_cast<int>(alerts->size()) && i < size; ++i) *response.add_alerts() = (*alerts)[i].alert;
  if (static_cast<int>(alerts->size()) > size) response.set_next_page_token(std::to_string(*offset + size));
  return response;
}

absl::StatusOr<v1::GetAlertResponse> AlertService::Get(const std::string& alert_id) {
  if (alert_id.empty()) return absl::InvalidArgumentError("GetAlert needs an alert_id");
  auto a = store_->GetAlert(alert_id);
  if (!a.ok()) return Retryable(a.status());
  if (!a->has_value()) return absl::NotFoundError(absl::StrCat("no alert ", alert_id));
  auto events = store_->Events(alert_id);
  if (!events.ok()) return Retryable(events.status());
  v1::GetAlertResponse response;
  *response.mutable_alert() = (*a)->alert;
  for (v1::AlertEvent& e : *events) *response.add_history() = std::move(e);
  return response;
}

absl::StatusOr<int> AlertService::RunTimers() {
  const TimePoint now = clock_();
  int actions = 0;
  int escalations = 0;
  std::vector<std::string> fired;
  absl::Status s = store_->db()->InTransaction([&](store::Transaction& txn) -> absl::Status {
    actions = 0;
    escalations = 0;
    fired.clear();
    auto due = store_->DueAlertsForUpdate(txn, now, 200);
    if (!due.ok()) return due.status();
    for (StoredAlert& a : *due) {
      const TimerAction act =
          NextAction(a.timers, a.timers_from, a.renotified_at_level, a.alert.escalation_level(), now);
      Json item{{"alert_id", a.alert.alert_id()}};
      if (act.kind == TimerAction::Kind::kRenotify) {
        a.renotified_at_level = act.renotify_number;
        item["action"] = "renotify";
        item["group"] = a.CurrentGroup();
        if (absl::Status st = store_->AddEvent(
                txn, a.alert.alert_id(),
                Event(v1::ALERT_EVENT_KIND_RENOTIFIED, now, a.CurrentGroup(), "",
                      absl::StrCat("re-notification ", act.renotify_number, " of ", a.timers.max_renotify,
                                   " at escalation level ", a.alert.escalation_level())));
            !st.ok()) {
          return st;
        }
        fired.push_back("renotified");
      } else if (act.kind == TimerAction::Kind::kEscalate) {
        a.alert.set_state(v1::ALERT_STATE_ESCALATED);
        a.alert.set_escalation_level(act.new_level);
        a.renotified_at_level = 0;
        item["action"] = "escalate";
        item["group"] = act.group;
        if (absl::Status st = store_->AddEvent(
                txn, a.alert.alert_id(),
                Event(v1::ALERT_EVENT_KIND_ESCALATED, now, act.group, "",
                      absl::StrCat("unacknowledged: escalated to ", act.group, " (step ", act.new_level, " of ",
                                   a.timers.escalation.size(), ")")));
            !st.ok()) {
          return st;
        }
        audit::v1::AuditEvent e = ServiceEvent(audit::v1::EVENT_TYPE_ALERT_SENT, now);
        e.set_event_id(audit_client::EventIdFor(
            absl::StrCat("alert-routing/ALERT_SENT/", a.alert.alert_id(), "/escalated/", act.new_level)));
        *e.mutable_subject() = AlertSubject(a);
        Attr(&e, "target_group", act.group);
        Attr(&e, "escalated_to", act.group);
        Attr(&e, "escalation_level", std::to_string(act.new_level));
        Attr(&e, "priority", PriorityName(a.alert.priority()));
        Attr(&e, "critical", a.critical ? "true" : "false");
        if (auto st = audit_->Enqueue(txn, e); !st.ok()) return st.status();
        ++escalations;
        fired.push_back("escalated");
      }
      Reschedule(a);
      *a.alert.mutable_updated_at() = Stamp(now);
      if (absl::Status st = store_->SaveAlert(txn, a, false); !st.ok()) return st;
      if (act.kind == TimerAction::Kind::kNone) continue;  // rescheduled only (e.g. policy timers changed)
      if (absl::Status st = store_->Enqueue(txn, OutboxKind::kNotify, a.alert.study().study_instance_uid(),
                                            a.alert.study().generation(), item.dump());
          !st.ok()) {
        return st;
      }
      ++actions;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (actions > 0) on_outbox_();
  if (escalations > 0) audit_->Poke();
  if (metrics_ != nullptr) {
    for (const std::string& k : fired) metrics_->TimerFired(k);
  }
  return actions;
}

// gRPC wrappers: authenticate, call, map the status.
grpc::Status AlertService::Route(grpc::ServerContext* ctx, const v1::RouteRequest* request,
                                 v1::RouteResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(RouteAnalysis(*who, *request), response);
}

grpc::Status AlertService::AcknowledgeAlert(grpc::ServerContext* ctx, const v1::AcknowledgeAlertRequest* request,
                                            v1::AcknowledgeAlertResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Acknowledge(*who, *request), response);
}

grpc::Status AlertService::ResolveAlerts(grpc::ServerContext* ctx, const v1::ResolveAlertsRequest* request,
                                         v1::ResolveAlertsResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Resolve(*who, *request), response);
}

grpc::Status AlertService::ListAlerts(grpc::ServerContext* ctx, const v1::ListAlertsRequest* request,
                                      v1::ListAlertsResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(List(*request), response);
}

grpc::Status AlertService::GetAlert(grpc::ServerContext* ctx, const v1::GetAlertRequest* request,
                                    v1::GetAlertResponse* response) {
  auto who = authenticate_(ctx);
  if (!who.ok()) return status::ToGrpc(who.status());
  return status::Respond(Get(request->alert_id()), response);
}

}  // namespace parallax::alerting
