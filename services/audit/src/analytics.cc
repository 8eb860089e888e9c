#include "analytics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>
#include <google/protobuf/util/time_util.h>

#include "audit_query.h"

namespace parallax::audit {
namespace {

using audit::v1::AuditEvent;
using google::protobuf::Duration;
using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;
namespace v1 = audit::v1;

std::string Attribute(const AuditEvent& e, std::string_view key) {
  for (const v1::Attribute& a : e.attributes()) {
    if (a.key() == key) return a.value();
  }
  return "";
}

bool IsTrue(const std::string& v) { return v == "true" || v == "TRUE" || v == "True" || v == "1"; }

std::vector<std::string> SplitLabels(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string label(absl::StripAsciiWhitespace(part));
    if (!label.empty() && std::find(out.begin(), out.end(), label) == out.end()) out.push_back(label);
  }
  return out;
}

// Orders by occurred_at, then sequence (the log's order).
void SortByTime(std::vector<AuditEvent>& events) {
  std::stable_sort(events.begin(), events.end(), [](const AuditEvent& a, const AuditEvent& b) {
    if (a.occurred_at() != b.occurred_at()) return a.occurred_at() < b.occurred_at();
    return a.sequence() < b.sequence();
  });
}

// Applies the model filter (see AnalyticsFilter).
std::vector<AuditEvent> FilterByModel(std::vector<AuditEvent> events, const std::string& model_id) {
  if (model_id.empty()) return events;
  std::unordered_set<std::string> findings, alerts, studies;
  for (const AuditEvent& e : events) {
    const v1::Subject& s = e.subject();
    if (s.model_id() != model_id) continue;
    if (!s.finding_id().empty()) findings.insert(s.finding_id());
    if (!s.alert_id().empty()) alerts.insert(s.alert_id());
    if (!s.study_instance_uid().empty()) studies.insert(s.study_instance_uid());
  }
  std::vector<AuditEvent> out;
  for (AuditEvent& e : events) {
    const v1::Subject& s = e.subject();
    bool keep = s.model_id() == model_id;
    if (!keep && s.model_id().empty()) {
      keep = (!s.finding_id().empty() && findings.count(s.finding_id())) ||
             (!s.alert_id().empty() && alerts.count(s.alert_id())) ||
             (s.finding_id().empty() && s.alert_id().empty() && !s.study_instance_uid().empty() &&
              studies.count(s.study_instance_uid()));
    }
    if (keep) out.push_back(std::move(e));
  }
  return out;
}

enum class Outcome { kNone, kAccepted, kRejected, kModified, kConfirmed };

struct Alert {
  std::string finding_id;
  std::string label;
  std::string study;
  Timestamp sent;
  bool critical = false;
  std::optional<Timestamp> acknowledged;
};

struct Finding {
  std::string label;
  std::string study;
  std::string alert_id;
  Outcome outcome = Outcome::kNone;        // the finding's outcome so far
  Outcome review = Outcome::kNone;         // the radiologist's last accept / reject / modify
  std::map<std::string, Outcome> by_user;  // each reviewer's last action
  std::optional<AuditEvent> last_rejection;
  bool critical = false;
  std::string case_id;
  bool escalated = false;
  std::string decision;
  std::string decided_by;
  std::optional<Timestamp> decided_at;
};

struct Case {
  std::string label;
  std::string decision;
};

// Everything joined once, in time order.
struct Joined {
  std::map<std::string, Alert> alerts;        // by alert_id
  std::map<std::string, Finding> findings;    // by finding_id
  std::map<std::string, Case> cases;          // by case_id
  std::set<std::string> studies_analysed;
  std::unordered_map<std::string, std::string> finding_of_alert;
};

void SetIfEmpty(std::string& field, const std::string& value) {
  if (field.empty()) field = value;
}

Joined Join(std::vector<AuditEvent> events) {
  SortByTime(events);
  Joined j;
  for (const AuditEvent& e : events) {
    const v1::Subject& s = e.subject();
    if (!s.alert_id().empty() && !s.finding_id().empty()) j.finding_of_alert.emplace(s.alert_id(), s.finding_id());
  }
  auto finding_for = [&](const AuditEvent& e) -> Finding* {
    std::string id = e.subject().finding_id();
    if (id.empty() && !e.subject().alert_id().empty()) {
      auto it = j.finding_of_alert.find(e.subject().alert_id());
      if (it != j.finding_of_alert.end()) id = it->second;
    }
    if (id.empty()) return nullptr;
    Finding& f = j.findings[id];
    SetIfEmpty(f.label, e.subject().label());
    SetIfEmpty(f.study, e.subject().study_instance_uid());
    SetIfEmpty(f.alert_id, e.subject().alert_id());
    if (IsTrue(Attribute(e, "critical"))) f.critical = true;
    return &f;
  };
  for (const AuditEvent& e : events) {
    const v1::Subject& s = e.subject();
    switch (e.type()) {
      case v1::EVENT_TYPE_STUDY_ANALYSED:
        if (!s.study_instance_uid().empty()) j.studies_analysed.insert(s.study_instance_uid());
        break;
      case v1::EVENT_TYPE_ALERT_SENT: {
        if (s.alert_id().empty()) break;
        auto [it, inserted] = j.alerts.try_emplace(s.alert_id());
        Alert& a = it->second;
        if (inserted) a.sent = e.occurred_at();  // a re-notification keeps the first send time
        SetIfEmpty(a.finding_id, s.finding_id());
        SetIfEmpty(a.label, s.label());
        SetIfEmpty(a.study, s.study_instance_uid());
        if (IsTrue(Attribute(e, "critical"))) a.critical = true;
        if (Finding* f = finding_for(e)) {
          SetIfEmpty(f->alert_id, s.alert_id());
          if (a.critical) f->critical = true;
        }
        break;
      }
      case v1::EVENT_TYPE_ALERT_ACKNOWLEDGED: {
        auto it = j.alerts.find(s.alert_id());
        if (it != j.alerts.end() && !it->second.acknowledged) it->second.acknowledged = e.occurred_at();
        break;
      }
      case v1::EVENT_TYPE_FINDING_ACCEPTED:
      case v1::EVENT_TYPE_FINDING_REJECTED:
      case v1::EVENT_TYPE_FINDING_MODIFIED: {
        Finding* f = finding_for(e);
        if (!f) break;
        const Outcome o = e.type() == v1::EVENT_TYPE_FINDING_ACCEPTED   ? Outcome::kAccepted
                          : e.type() == v1::EVENT_TYPE_FINDING_REJECTED ? Outcome::kRejected
                                                                        : Outcome::kModified;
        f->outcome = f->review = o;
        if (!e.actor().user_id().empty()) f->by_user[e.actor().user_id()] = o;
        if (o == Outcome::kRejected) f->last_rejection = e;
        break;
      }
      case v1::EVENT_TYPE_CASE_ESCALATED: {
        Finding* f = finding_for(e);
        if (!s.case_id().empty()) SetIfEmpty(j.cases[s.case_id()].label, f ? f->label : s.label());
        if (!f) break;
        f->escalated = true;
        f->critical = true;  // only critical findings are escalated
        SetIfEmpty(f->case_id, s.case_id());
        break;
      }
      case v1::EVENT_TYPE_CASE_DECIDED: {
        const std::string decision = Attribute(e, "decision");
        Finding* f = finding_for(e);
        if (!s.case_id().empty()) {
          Case& c = j.cases[s.case_id()];
          SetIfEmpty(c.label, f ? f->label : s.label());
          c.decision = decision;
        }
        if (!f) break;
        SetIfEmpty(f->case_id, s.case_id());
        f->decision = decision;
        f->decided_by = e.actor().user_id();
        f->decided_at = e.occurred_at();
        if (decision == "CONFIRM_FINDING") f->outcome = Outcome::kConfirmed;
        else if (decision == "UPHOLD_REJECTION") f->outcome = Outcome::kRejected;
        else if (decision == "MODIFY") f->outcome = Outcome::kModified;
        break;
      }
      default:
        break;
    }
  }
  return j;
}

class LabelFilter {
 public:
  explicit LabelFilter(const std::vector<std::string>& labels) : labels_(labels.begin(), labels.end()) {}
  bool Passes(const std::string& label) const { return labels_.empty() || labels_.count(label) > 0; }

 private:
  std::set<std::string> labels_;
};

// Nearest-rank percentile of sorted durations (nanoseconds).
int64_t NearestRank(const std::vector<int64_t>& sorted, double p) {
  const size_t n = sorted.size();
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  return sorted[rank - 1];
}

void FillDurationStats(std::vector<int64_t> nanos, v1::DurationStats* out) {
  out->set_count(static_cast<int64_t>(nanos.size()));
  if (nanos.empty()) return;
  std::sort(nanos.begin(), nanos.end());
  *out->mutable_median() = TimeUtil::NanosecondsToDuration(NearestRank(nanos, 0.5));
  *out->mutable_p90() = TimeUtil::NanosecondsToDuration(NearestRank(nanos, 0.9));
  *out->mutable_max() = TimeUtil::NanosecondsToDuration(nanos.back());
}

struct ConditionAccumulator {
  v1::ConditionStats stats;
  std::vector<int64_t> ack_nanos;
};

}  // namespace

v1::GetAnalyticsResponse ComputeAnalytics(std::vector<AuditEvent> events, const AnalyticsFilter& filter) {
  const Joined j = Join(FilterByModel(std::move(events), filter.model_id));
  const LabelFilter labels(filter.labels);
  v1::GetAnalyticsResponse out;
  std::map<std::string, ConditionAccumulator> conditions;
  auto condition = [&](const std::string& label) -> ConditionAccumulator& {
    ConditionAccumulator& c = conditions[label];
    c.stats.set_label(label);
    return c;
  };
  out.set_studies_analysed(static_cast<int64_t>(j.studies_analysed.size()));

  std::vector<int64_t> all_ack_nanos;
  for (const auto& [alert_id, a] : j.alerts) {
    if (!labels.Passes(a.label)) continue;
    ConditionAccumulator& c = condition(a.label);
    out.set_alerts_sent(out.alerts_sent() + 1);
    c.stats.set_alerts_sent(c.stats.alerts_sent() + 1);
    std::string finding_id = a.finding_id;
    if (finding_id.empty()) {
      auto it = j.finding_of_alert.find(alert_id);
      if (it != j.finding_of_alert.end()) finding_id = it->second;
    }
    auto f = j.findings.find(finding_id);
    if (!finding_id.empty() && f != j.findings.end() && f->second.outcome == Outcome::kRejected) {
      out.set_false_alerts(out.false_alerts() + 1);
      c.stats.set_false_alerts(c.stats.false_alerts() + 1);
    }
    if (a.acknowledged) {
      const int64_t nanos = std::max<int64_t>(0, TimeUtil::DurationToNanoseconds(*a.acknowledged - a.sent));
      all_ack_nanos.push_back(nanos);
      c.ack_nanos.push_back(nanos);
    } else {
      c.stats.set_unacknowledged(c.stats.unacknowledged() + 1);
    }
  }
  if (out.studies_analysed() > 0) {
    out.set_false_alerts_per_1000_studies(1000.0 * static_cast<double>(out.false_alerts()) /
                                          static_cast<double>(out.studies_analysed()));
  }
  FillDurationStats(all_ack_nanos, out.mutable_time_to_acknowledgment());

  std::map<std::pair<std::string, std::string>, v1::OverrideStats> overrides;
  for (const auto& [finding_id, f] : j.findings) {
    if (!labels.Passes(f.label)) continue;
    if (f.review != Outcome::kNone) {
      v1::ConditionStats& s = condition(f.label).stats;
      s.set_reviewed(s.reviewed() + 1);
      if (f.review == Outcome::kAccepted) s.set_accepted(s.accepted() + 1);
      if (f.review == Outcome::kRejected) s.set_rejected(s.rejected() + 1);
      if (f.review == Outcome::kModified) s.set_modified(s.modified() + 1);
    }
    for (const auto& [user, o] : f.by_user) {
      v1::OverrideStats& ov = overrides[{user, f.label}];
      ov.set_user_id(user);
      ov.set_label(f.label);
      ov.set_reviews(ov.reviews() + 1);
      if (o == Outcome::kRejected || o == Outcome::kModified) ov.set_overrides(ov.overrides() + 1);
    }
  }
  for (const auto& [case_id, c] : j.cases) {
    if (!labels.Passes(c.label)) continue;
    v1::ConditionStats& s = condition(c.label).stats;
    s.set_escalated(s.escalated() + 1);
    if (c.decision == "CONFIRM_FINDING") s.set_senior_confirmed(s.senior_confirmed() + 1);
  }
  for (auto& [label, c] : conditions) {
    if (c.stats.reviewed() > 0) {
      c.stats.set_agreement(static_cast<double>(c.stats.accepted()) / static_cast<double>(c.stats.reviewed()));
    }
    FillDurationStats(std::move(c.ack_nanos), c.stats.mutable_time_to_acknowledgment());
    *out.add_conditions() = std::move(c.stats);
  }
  for (auto& [key, ov] : overrides) {
    ov.set_override_rate(static_cast<double>(ov.overrides()) / static_cast<double>(ov.reviews()));
    *out.add_overrides() = std::move(ov);
  }
  return out;
}

v1::GetReviewListResponse ComputeReviewList(std::vector<AuditEvent> events, const AnalyticsFilter& filter) {
  events = FilterByModel(std::move(events), filter.model_id);
  SortByTime(events);
  const LabelFilter labels(filter.labels);
  v1::GetReviewListResponse out;

  // The studies each alert and finding belongs to, and which studies were acted on.
  std::unordered_map<std::string, std::string> study_of_alert, study_of_finding;
  for (const AuditEvent& e : events) {
    const v1::Subject& s = e.subject();
    if (s.study_instance_uid().empty()) continue;
    if (!s.alert_id().empty()) study_of_alert.emplace(s.alert_id(), s.study_instance_uid());
    if (!s.finding_id().empty()) study_of_finding.emplace(s.finding_id(), s.study_instance_uid());
  }
  auto study_of = [&](const AuditEvent& e) -> std::string {
    const v1::Subject& s = e.subject();
    if (!s.study_instance_uid().empty()) return s.study_instance_uid();
    if (auto it = study_of_finding.find(s.finding_id()); !s.finding_id().empty() && it != study_of_finding.end()) {
      return it->second;
    }
    if (auto it = study_of_alert.find(s.alert_id()); !s.alert_id().empty() && it != study_of_alert.end()) {
      return it->second;
    }
    return "";
  };
  struct Study {
    int64_t generation = 0;
    std::vector<std::string> positive_labels;
    Timestamp analysed_at;
  };
  std::map<std::string, Study> studies;
  std::set<std::string> acted, viewed;
  std::map<std::string, std::set<std::string>> alerts_of_study;
  for (const AuditEvent& e : events) {
    switch (e.type()) {
      case v1::EVENT_TYPE_STUDY_ANALYSED: {
        const std::string& uid = e.subject().study_instance_uid();
        if (uid.empty()) break;
        Study& st = studies[uid];
        st.generation = e.subject().generation();
        st.analysed_at = e.occurred_at();
        st.positive_labels = SplitLabels(Attribute(e, "positive_labels"));  // the latest analysis counts
        break;
      }
      case v1::EVENT_TYPE_ALERT_SENT:
        if (!e.subject().alert_id().empty()) alerts_of_study[study_of(e)].insert(e.subject().alert_id());
        break;
      case v1::EVENT_TYPE_ALERT_ACKNOWLEDGED:
      case v1::EVENT_TYPE_FINDING_ACCEPTED:
      case v1::EVENT_TYPE_FINDING_REJECTED:
      case v1::EVENT_TYPE_FINDING_MODIFIED:
        acted.insert(study_of(e));
        break;
      case v1::EVENT_TYPE_FINDING_VIEWED:
        viewed.insert(study_of(e));
        break;
      default:
        break;
    }
  }
  std::vector<std::pair<std::string, Study*>> unacted;
  for (auto& [uid, st] : studies) {
    std::vector<std::string> shown;
    for (const std::string& l : st.positive_labels) {
      if (labels.Passes(l)) shown.push_back(l);
    }
    if (shown.empty() || acted.count(uid)) continue;
    st.positive_labels = std::move(shown);
    unacted.emplace_back(uid, &st);
  }
  std::stable_sort(unacted.begin(), unacted.end(),
                   [](const auto& a, const auto& b) { return a.second->analysed_at < b.second->analysed_at; });
  for (const auto& [uid, st] : unacted) {
    v1::UnactedPositiveStudy* u = out.add_unacted_positive_studies();
    u->set_study_instance_uid(uid);
    u->set_generation(st->generation);
    for (const std::string& l : st->positive_labels) u->add_positive_labels(l);
    *u->mutable_analysed_at() = st->analysed_at;
    auto alerts = alerts_of_study.find(uid);
    u->set_alerts_sent(alerts == alerts_of_study.end() ? 0 : static_cast<int64_t>(alerts->second.size()));
    u->set_viewed(viewed.count(uid) > 0);
  }

  // Rejected critical findings: one row per finding, from its last rejection.
  const Joined j = Join(std::move(events));
  std::vector<std::pair<std::string, const Finding*>> rejected;
  for (const auto& [finding_id, f] : j.findings) {
    if (!f.last_rejection || !labels.Passes(f.label)) continue;
    bool critical = f.critical;
    if (auto a = j.alerts.find(f.alert_id); !critical && a != j.alerts.end()) critical = a->second.critical;
    if (critical) rejected.emplace_back(finding_id, &f);
  }
  std::stable_sort(rejected.begin(), rejected.end(), [](const auto& a, const auto& b) {
    return a.second->last_rejection->occurred_at() < b.second->last_rejection->occurred_at();
  });
  for (const auto& [finding_id, f] : rejected) {
    const AuditEvent& r = *f->last_rejection;
    v1::RejectedCriticalFinding* x = out.add_rejected_critical_findings();
    x->set_finding_id(finding_id);
    x->set_label(f->label);
    x->set_study_instance_uid(f->study);
    x->set_alert_id(f->alert_id);
    x->set_review_id(r.subject().review_id());
    x->set_reviewer_user_id(r.actor().user_id());
    x->set_reject_reason(Attribute(r, "reject_reason"));
    *x->mutable_rejected_at() = r.occurred_at();
    x->set_escalated(f->escalated);
    x->set_case_id(f->case_id);
    x->set_decision(f->decision);
    x->set_decided_by_user_id(f->decided_by);
    if (f->decided_at) *x->mutable_decided_at() = *f->decided_at;
  }
  return out;
}

absl::StatusOr<std::vector<AuditEvent>> AuditAnalytics::LoadWindow(const Timestamp& start, const Timestamp* end) {
  v1::QueryRequest q;
  for (v1::EventType t : {v1::EVENT_TYPE_STUDY_ANALYSED, v1::EVENT_TYPE_ALERT_SENT, v1::EVENT_TYPE_ALERT_ACKNOWLEDGED,
                          v1::EVENT_TYPE_FINDING_VIEWED, v1::EVENT_TYPE_FINDING_ACCEPTED,
                          v1::EVENT_TYPE_FINDING_REJECTED, v1::EVENT_TYPE_FINDING_MODIFIED,
                          v1::EVENT_TYPE_CASE_ESCALATED, v1::EVENT_TYPE_CASE_DECIDED}) {
    q.add_types(t);
  }
  *q.mutable_occurred_after() = start;
  if (end) *q.mutable_occurred_before() = *end;
  q.set_page_size(kMaxPageSize);
  AuditQuery query(db_);
  std::vector<AuditEvent> events;
  for (;;) {
    auto page = query.Query(q);
    if (!page.ok()) return page.status();
    for (AuditEvent& e : *page->mutable_events()) events.push_back(std::move(e));
    if (static_cast<int64_t>(events.size()) > max_events_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the window holds more than ", max_events_, " audit entries; ask for a shorter window"));
    }
    if (page->next_page_token().empty()) break;
    q.set_page_token(page->next_page_token());
  }
  return events;
}

namespace {

// Window checks shared by both requests; fills `end` with now when unset.
absl::Status CheckWindow(const Timestamp& start, bool has_end, const Timestamp& requested_end, Timestamp* end) {
  *end = has_end ? requested_end : TimeUtil::GetCurrentTime();
  if (!(start < *end)) return absl::InvalidArgumentError("window_start must be before window_end");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::GetAnalyticsResponse> AuditAnalytics::GetAnalytics(const v1::GetAnalyticsRequest& request) {
  Timestamp end;
  if (absl::Status s = CheckWindow(request.window_start(), request.has_window_end(), request.window_end(), &end);
      !s.ok()) {
    return s;
  }
  auto events = LoadWindow(request.window_start(), &end);
  if (!events.ok()) return events.status();
  AnalyticsFilter filter{{request.labels().begin(), request.labels().end()}, request.model_id()};
  return ComputeAnalytics(std::move(*events), filter);
}

absl::StatusOr<v1::GetReviewListResponse> AuditAnalytics::GetReviewList(const v1::GetReviewListRequest& request) {
  Timestamp end;
  if (absl::Status s = CheckWindow(request.window_start(), request.has_window_end(), request.window_end(), &end);
      !s.ok()) {
    return s;
  }
  auto events = LoadWindow(request.window_start(), &end);
  if (!events.ok()) return events.status();
  AnalyticsFilter filter{{request.labels().begin(), request.labels().end()}, request.model_id()};
  return ComputeReviewList(std::move(*events), filter);
}

}  // namespace parallax::audit
