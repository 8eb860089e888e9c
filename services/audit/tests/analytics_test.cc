// The department's analytics and review lists on a scripted week of events
// recorded into a real audit log: exact agreement, false-alert and
// time-to-acknowledgment numbers, overrides, and the two review lists.
#include "analytics.h"

#include <map>

#include <catch2/catch.hpp>
#include <google/protobuf/util/time_util.h>

#include "audit_log.h"
#include "parallax/store/testing/fresh_database.h"

namespace parallax::audit {
namespace {

namespace v1 = audit::v1;
using google::protobuf::util::TimeUtil;

constexpr int64_t kT0 = 1796000000;  // window start
constexpr int64_t kWeek = 7 * 24 * 3600;

class Script {
 public:
  explicit Script(AuditLog* log) : log_(log) {}

  v1::AuditEvent& Add(v1::EventType type, int64_t at, const std::string& service = "escalation") {
    v1::AuditEvent e;
    e.set_event_id("ev-" + std::to_string(++n_));
    e.set_type(type);
    e.set_service(service);
    e.mutable_actor()->set_kind(v1::ACTOR_KIND_SERVICE);
    e.mutable_actor()->set_system_id(service);
    e.mutable_occurred_at()->set_seconds(at);
    events_.push_back(e);
    return events_.back();
  }
  static void User(v1::AuditEvent& e, const std::string& user) {
    e.mutable_actor()->set_kind(v1::ACTOR_KIND_USER);
    e.mutable_actor()->set_user_id(user);
    e.mutable_actor()->clear_system_id();
  }
  static void Attr(v1::AuditEvent& e, const std::string& key, const std::string& value) {
    v1::Attribute* a = e.add_attributes();
    a->set_key(key);
    a->set_value(value);
  }

  void Analysed(const std::string& study, int64_t at, const std::string& model, const std::string& positive = "",
                int generation = 1) {
    v1::AuditEvent& e = Add(v1::EVENT_TYPE_STUDY_ANALYSED, at, "triage");
    e.mutable_subject()->set_study_instance_uid(study);
    e.mutable_subject()->set_generation(generation);
    e.mutable_subject()->set_model_id(model);
    if (!positive.empty()) Attr(e, "positive_labels", positive);
  }
  void Alert(const std::string& alert, const std::string& finding, const std::string& label, const std::string& study,
             int64_t at, bool critical, const std::string& model) {
    v1::AuditEvent& e = Add(v1::EVENT_TYPE_ALERT_SENT, at, "alert-routing");
    e.mutable_subject()->set_alert_id(alert);
    e.mutable_subject()->set_finding_id(finding);
    e.mutable_subject()->set_label(label);
    e.mutable_subject()->set_study_instance_uid(study);
    e.mutable_subject()->set_model_id(model);
    Attr(e, "target_group", "thoracic");
    Attr(e, "priority", critical ? "critical" : "routine");
    Attr(e, "critical", critical ? "true" : "false");
  }
  void Ack(const std::string& alert, const std::string& label, int64_t at, const std::string& user) {
    v1::AuditEvent& e = Add(v1::EVENT_TYPE_ALERT_ACKNOWLEDGED, at, "alert-routing");
    e.mutable_subject()->set_alert_id(alert);
    e.mutable_subject()->set_label(label);
    User(e, user);
  }
  void Review(v1::EventType type, const std::string& finding, const std::string& label, const std::string& study,
              const std::string& alert, int64_t at, const std::string& user, bool critical,
              const std::string& reason = "") {
    v1::AuditEvent& e = Add(type, at);
    e.mutable_subject()->set_finding_id(finding);
    e.mutable_subject()->set_label(label);
    e.mutable_subject()->set_study_instance_uid(study);
    e.mutable_subject()->set_alert_id(alert);
    e.mutable_subject()->set_review_id("rv-" + finding + "-" + std::to_string(at));
    User(e, user);
    if (!reason.empty()) Attr(e, "reject_reason", reason);
    Attr(e, "critical", critical ? "true" : "false");
  }
  void Escalated(const std::string& case_id, const std::string& finding, const std::string& label, int64_t at) {
    v1::AuditEvent& e = Add(v1::EVENT_TYPE_CASE_ESCALATED, at);
    e.mutable_subject()->set_case_id(case_id);
    e.mutable_subject()->set_finding_id(finding);
    e.mutable_subject()->set_label(label);
  }
  void Decided(const std::string& case_id, const std::string& finding, const std::string& label, int64_t at,
               const std::string& senior, const std::string& decision) {
    v1::AuditEvent& e = Add(v1::EVENT_TYPE_CASE_DECIDED, at);
    e.mutable_subject()->set_case_id(case_id);
    e.mutable_subject()->set_finding_id(finding);
    e.mutable_subject()->set_label(label);
    User(e, senior);
    Attr(e, "decision", decision);
  }

  // Records the events in an order that is not their time order, so the
  // analytics must sort by occurred_at.
  void RecordAll() {
    for (size_t i = 0; i < events_.size(); i += 2) REQUIRE(log_->Record(events_[i]).ok());
    for (size_t i = 1; i < events_.size(); i += 2) REQUIRE(log_->Record(events_[i]).ok());
  }

 private:
  AuditLog* log_;
  int n_ = 0;
  std::vector<v1::AuditEvent> events_;
};

// A week: 10 studies, 4 alerts (3 acknowledged after 30 s, 60 s and 120 s),
// one critical finding rejected and upheld, one rejected and confirmed by the
// senior, one modified, two accepted, one non-critical rejection, and two
// positive studies nobody acted on.
void ScriptWeek(Script& s) {
  const int64_t t = kT0 + 3600;
  // Before the window: must not count.
  s.Analysed("1.9.0", kT0 - 3600, "chest-xr", "pneumothorax");
  s.Alert("A0", "f0", "pneumothorax", "1.9.0", kT0 - 3500, true, "chest-xr");
  s.Review(v1::EVENT_TYPE_FINDING_REJECTED, "f0", "pneumothorax", "1.9.0", "A0", kT0 - 3400, "u-1", true, "old");

  s.Analysed("1.9.1", t, "chest-xr", "pneumothorax");
  s.Analysed("1.9.2", t + 10, "chest-xr", "pneumothorax");
  s.Analysed("1.9.3", t + 20, "ct-head", "haemorrhage");
  s.Analysed("1.9.4", t + 30, "chest-xr", "pneumothorax");
  s.Analysed("1.9.5", t + 40, "ct-head", "haemorrhage");
  s.Analysed("1.9.6", t + 50, "chest-xr", "pneumothorax,nodule");
  s.Analysed("1.9.7", t + 60, "chest-xr", "pneumothorax");
  s.Analysed("1.9.8", t + 70, "chest-xr", "nodule");
  s.Analysed("1.9.9", t + 80, "chest-xr");
  s.Analysed("1.9.10", t + 90, "chest-xr");
  s.Analysed("1.9.10", t + 95, "chest-xr", "", 2);  // a re-analysis is the same study

  s.Alert("A1", "f1", "pneumothorax", "1.9.1", t + 100, true, "chest-xr");
  s.Alert("A2", "f2", "pneumothorax", "1.9.2", t + 200, true, "chest-xr");
  s.Alert("A3", "f3", "haemorrhage", "1.9.3", t + 300, true, "ct-head");
  s.Alert("A4", "f4", "pneumothorax", "1.9.4", t + 400, false, "chest-xr");
  s.Alert("A1", "f1", "pneumothorax", "1.9.1", t + 700, true, "chest-xr");  // re-notified: still one alert

  s.Ack("A1", "pneumothorax", t + 130, "u-1");   // 30 s
  s.Ack("A1", "pneumothorax", t + 900, "u-2");   // a second ack does not count
  s.Ack("A2", "pneumothorax", t + 260, "u-2");   // 60 s
  s.Ack("A3", "haemorrhage", t + 420, "u-1");    // 120 s
  s.Ack("A4", "pneumothorax", kT0 + kWeek + 10, "u-2");  // after the window: A4 stays unacknowledged

  s.Review(v1::EVENT_TYPE_FINDING_VIEWED, "f1", "pneumothorax", "1.9.1", "A1", t + 1000, "u-1", true);
  s.Review(v1::EVENT_TYPE_FINDING_ACCEPTED, "f1", "pneumothorax", "1.9.1", "A1", t + 1010, "u-1", true);
  s.Review(v1::EVENT_TYPE_FINDING_REJECTED, "f2", "pneumothorax", "1.9.2", "A2", t + 1100, "u-2", true, "artefact");
  s.Escalated("c2", "f2", "pneumothorax", t + 1101);
  s.Decided("c2", "f2", "pneumothorax", t + 5000, "senior-1", "UPHOLD_REJECTION");
  s.Review(v1::EVENT_TYPE_FINDING_REJECTED, "f3", "haemorrhage", "1.9.3", "A3", t + 1200, "u-1", true, "old bleed");
  s.Escalated("c3", "f3", "haemorrhage", t + 1201);
  s.Decided("c3", "f3", "haemorrhage", t + 6000, "senior-1", "CONFIRM_FINDING");
  s.Review(v1::EVENT_TYPE_FINDING_MODIFIED, "f4", "pneumothorax", "1.9.4", "A4", t + 1300, "u-2", false);
  s.Review(v1::EVENT_TYPE_FINDING_VIEWED, "f6", "pneumothorax", "1.9.6", "", t + 1400, "u-1", false);
  s.Review(v1::EVENT_TYPE_FINDING_ACCEPTED, "f7", "pneumothorax", "1.9.7", "", t + 1500, "u-1", false);
  s.Review(v1::EVENT_TYPE_FINDING_REJECTED, "f8", "nodule", "1.9.8", "", t + 1600, "u-1", false, "calcified");
  // After the window: does not count.
  s.Review(v1::EVENT_TYPE_FINDING_ACCEPTED, "f6", "pneumothorax", "1.9.6", "", kT0 + kWeek + 20, "u-1", false);
}

struct Fixture {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<AuditAnalytics> analytics;
  Fixture() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit_analytics"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(db.get());
    REQUIRE(log->Migrate().ok());
    analytics = std::make_unique<AuditAnalytics>(db.get());
    Script s(log.get());
    ScriptWeek(s);
    s.RecordAll();
  }
  template <typename Request>
  static Request Window() {
    Request r;
    r.mutable_window_start()->set_seconds(kT0);
    r.mutable_window_end()->set_seconds(kT0 + kWeek);
    return r;
  }
};

int64_t Secs(const google::protobuf::Duration& d) { return TimeUtil::DurationToSeconds(d); }

std::map<std::string, v1::ConditionStats> ByLabel(const v1::GetAnalyticsResponse& r) {
  std::map<std::string, v1::ConditionStats> out;
  for (const v1::ConditionStats& c : r.conditions()) out[c.label()] = c;
  return out;
}

TEST_CASE("audit analytics: studies, alerts, false alerts per 1,000 studies and time to acknowledgment over a week",
          "[audit][db]") {
  Fixture f;
  auto r = f.analytics->GetAnalytics(Fixture::Window<v1::GetAnalyticsRequest>());
  REQUIRE(r.ok());
  CHECK(r->studies_analysed() == 10);
  CHECK(r->alerts_sent() == 4);
  CHECK(r->false_alerts() == 1);  // A2: rejected and upheld; A3 was confirmed by the senior
  CHECK(r->false_alerts_per_1000_studies() == Approx(100.0));
  CHECK(r->time_to_acknowledgment().count() == 3);
  CHECK(Secs(r->time_to_acknowledgment().median()) == 60);
  CHECK(Secs(r->time_to_acknowledgment().p90()) == 120);
  CHECK(Secs(r->time_to_acknowledgment().max()) == 120);
}

TEST_CASE("audit analytics: per condition agreement, escalations, senior confirmations and acknowledgment",
          "[audit][db]") {
  Fixture f;
  auto r = f.analytics->GetAnalytics(Fixture::Window<v1::GetAnalyticsRequest>());
  REQUIRE(r.ok());
  auto c = ByLabel(*r);
  REQUIRE(c.size() == 3);
  const v1::ConditionStats& ptx = c["pneumothorax"];
  CHECK(ptx.reviewed() == 4);  // f1 accepted, f2 rejected, f4 modified, f7 accepted; f6 only viewed in the window
  CHECK(ptx.accepted() == 2);
  CHECK(ptx.rejected() == 1);
  CHECK(ptx.modified() == 1);
  CHECK(ptx.agreement() == Approx(0.5));
  CHECK(ptx.escalated() == 1);
  CHECK(ptx.senior_confirmed() == 0);
  CHECK(ptx.alerts_sent() == 3);
  CHECK(ptx.false_alerts() == 1);
  CHECK(ptx.unacknowledged() == 1);
  CHECK(ptx.time_to_acknowledgment().count() == 2);
  CHECK(Secs(ptx.time_to_acknowledgment().median()) == 30);
  CHECK(Secs(ptx.time_to_acknowledgment().p90()) == 60);

  const v1::ConditionStats& bleed = c["haemorrhage"];
  CHECK(bleed.reviewed() == 1);
  CHECK(bleed.rejected() == 1);
  CHECK(bleed.agreement() == Approx(0.0));
  CHECK(bleed.escalated() == 1);
  CHECK(bleed.senior_confirmed() == 1);
  CHECK(bleed.alerts_sent() == 1);
  CHECK(bleed.false_alerts() == 0);
  CHECK(bleed.unacknowledged() == 0);
  CHECK(Secs(bleed.time_to_acknowledgment().median()) == 120);

  const v1::ConditionStats& nodule = c["nodule"];
  CHECK(nodule.reviewed() == 1);
  CHECK(nodule.rejected() == 1);
  CHECK(nodule.alerts_sent() == 0);
}

TEST_CASE("audit analytics: overrides by user and condition", "[audit][db]") {
  Fixture f;
  auto r = f.analytics->GetAnalytics(Fixture::Window<v1::GetAnalyticsRequest>());
  REQUIRE(r.ok());
  std::map<std::pair<std::string, std::string>, v1::OverrideStats> o;
  for (const v1::OverrideStats& s : r->overrides()) o[{s.user_id(), s.label()}] = s;
  REQUIRE(o.size() == 4);
  CHECK(o[{"u-1", "pneumothorax"}].reviews() == 2);
  CHECK(o[{"u-1", "pneumothorax"}].overrides() == 0);
  CHECK(o[{"u-1", "haemorrhage"}].reviews() == 1);
  CHECK(o[{"u-1", "haemorrhage"}].overrides() == 1);
  CHECK(o[{"u-1", "nodule"}].override_rate() == Approx(1.0));
  CHECK(o[{"u-2", "pneumothorax"}].reviews() == 2);
  CHECK(o[{"u-2", "pneumothorax"}].overrides() == 2);
  CHECK(o[{"u-2", "pneumothorax"}].override_rate() == Approx(1.0));
}

TEST_CASE("audit analytics: the label and model filters narrow what counts", "[audit][db]") {
  Fixture f;
  auto request = Fixture::Window<v1::GetAnalyticsRequest>();
  request.add_labels("haemorrhage");
  auto bleed = f.analytics->GetAnalytics(request);
  REQUIRE(bleed.ok());
  CHECK(bleed->studies_analysed() == 10);  // the denominator is every analysed study
  CHECK(bleed->alerts_sent() == 1);
  CHECK(bleed->false_alerts() == 0);
  REQUIRE(bleed->conditions_size() == 1);
  CHECK(bleed->conditions(0).label() == "haemorrhage");

  request = Fixture::Window<v1::GetAnalyticsRequest>();
  request.set_model_id("ct-head");
  auto ct = f.analytics->GetAnalytics(request);
  REQUIRE(ct.ok());
  CHECK(ct->studies_analysed() == 2);
  CHECK(ct->alerts_sent() == 1);
  REQUIRE(ct->conditions_size() == 1);
  CHECK(ct->conditions(0).reviewed() == 1);  // joined to the model through its finding
  CHECK(ct->conditions(0).senior_confirmed() == 1);
}

TEST_CASE("audit review list: rejected critical findings with their escalation and decision", "[audit][db]") {
  Fixture f;
  auto r = f.analytics->GetReviewList(Fixture::Window<v1::GetReviewListRequest>());
  REQUIRE(r.ok());
  REQUIRE(r->rejected_critical_findings_size() == 2);  // f8 was not critical, f0 before the window
  const v1::RejectedCriticalFinding& f2 = r->rejected_critical_findings(0);
  CHECK(f2.finding_id() == "f2");
  CHECK(f2.label() == "pneumothorax");
  CHECK(f2.study_instance_uid() == "1.9.2");
  CHECK(f2.alert_id() == "A2");
  CHECK(f2.reviewer_user_id() == "u-2");
  CHECK(f2.reject_reason() == "artefact");
  CHECK(f2.rejected_at().seconds() == kT0 + 3600 + 1100);
  CHECK(f2.escalated());
  CHECK(f2.case_id() == "c2");
  CHECK(f2.decision() == "UPHOLD_REJECTION");
  CHECK(f2.decided_by_user_id() == "senior-1");
  const v1::RejectedCriticalFinding& f3 = r->rejected_critical_findings(1);
  CHECK(f3.finding_id() == "f3");
  CHECK(f3.reject_reason() == "old bleed");
  CHECK(f3.decision() == "CONFIRM_FINDING");
  CHECK(f3.case_id() == "c3");
}

TEST_CASE("audit review list: AI-positive studies nobody acted on within the window", "[audit][db]") {
  Fixture f;
  auto r = f.analytics->GetReviewList(Fixture::Window<v1::GetReviewListRequest>());
  REQUIRE(r.ok());
  REQUIRE(r->unacted_positive_studies_size() == 2);
  const v1::UnactedPositiveStudy& s5 = r->unacted_positive_studies(0);
  CHECK(s5.study_instance_uid() == "1.9.5");
  CHECK(std::vector<std::string>(s5.positive_labels().begin(), s5.positive_labels().end()) ==
        std::vector<std::string>{"haemorrhage"});
  CHECK_FALSE(s5.viewed());
  CHECK(s5.alerts_sent() == 0);
  const v1::UnactedPositiveStudy& s6 = r->unacted_positive_studies(1);
  CHECK(s6.study_instance_uid() == "1.9.6");
  CHECK(s6.positive_labels_size() == 2);
  CHECK(s6.viewed());  // opened, but neither accepted nor rejected in the window

  auto request = Fixture::Window<v1::GetReviewListRequest>();
  request.add_labels("nodule");
  auto nodules = f.analytics->GetReviewList(request);
  REQUIRE(nodules.ok());
  REQUIRE(nodules->unacted_positive_studies_size() == 1);
  CHECK(nodules->unacted_positive_studies(0).study_instance_uid() == "1.9.6");
  CHECK(nodules->rejected_critical_findings_size() == 0);
}

TEST_CASE("audit analytics: a window that does not start before it ends is INVALID_ARGUMENT", "[audit][db]") {
  Fixture f;
  v1::GetAnalyticsRequest r;
  r.mutable_window_start()->set_seconds(kT0 + 10);
  r.mutable_window_end()->set_seconds(kT0);
  CHECK(f.analytics->GetAnalytics(r).status().code() == absl::StatusCode::kInvalidArgument);
  v1::GetReviewListRequest l;
  l.mutable_window_start()->set_seconds(kT0);
  l.mutable_window_end()->set_seconds(kT0);
  CHECK(f.analytics->GetReviewList(l).status().code() == absl::StatusCode::kInvalidArgument);
  f.analytics->set_max_events(5);
  CHECK(f.analytics->GetAnalytics(Fixture::Window<v1::GetAnalyticsRequest>()).status().code() ==
        absl::StatusCode::kResourceExhausted);
}

TEST_CASE("audit analytics: a rejection later accepted, and a case decided MODIFY, are not false alerts",
          "[audit]") {
  std::vector<v1::AuditEvent> events;
  auto add = [&](v1::EventType type, int64_t at, const std::string& alert, const std::string& finding,
                 const std::string& decision = "") {
    v1::AuditEvent e;
    e.set_type(type);
    e.set_sequence(static_cast<int64_t>(events.size()) + 1);
    e.mutable_occurred_at()->set_seconds(at);
    e.mutable_subject()->set_alert_id(alert);
    e.mutable_subject()->set_finding_id(finding);
    e.mutable_subject()->set_label("pneumothorax");
    e.mutable_actor()->set_user_id("u-1");
    if (!decision.empty()) {
      v1::Attribute* a = e.add_attributes();
      a->set_key("decision");
      a->set_value(decision);
    }
    events.push_back(e);
  };
  add(v1::EVENT_TYPE_ALERT_SENT, 10, "A", "fa");
  add(v1::EVENT_TYPE_ALERT_SENT, 10, "B", "fb");
  add(v1::EVENT_TYPE_ALERT_SENT, 10, "C", "fc");
  add(v1::EVENT_TYPE_FINDING_REJECTED, 20, "A", "fa");
  add(v1::EVENT_TYPE_FINDING_ACCEPTED, 30, "A", "fa");
  add(v1::EVENT_TYPE_FINDING_REJECTED, 20, "", "fb");
  add(v1::EVENT_TYPE_CASE_DECIDED, 40, "", "fb", "MODIFY");
  // Recorded before the rejection it follows in time: order is by occurred_at.
  add(v1::EVENT_TYPE_FINDING_ACCEPTED, 15, "C", "fc");
  add(v1::EVENT_TYPE_FINDING_REJECTED, 25, "C", "fc");
  std::swap(events[7], events[8]);
  v1::GetAnalyticsResponse r = ComputeAnalytics(events, {});
  CHECK(r.alerts_sent() == 3);
  CHECK(r.false_alerts() == 1);  // only C ends rejected
  CHECK(r.studies_analysed() == 0);
  CHECK(r.false_alerts_per_1000_studies() == 0.0);
}

}  // namespace
}  // namespace parallax::audit
