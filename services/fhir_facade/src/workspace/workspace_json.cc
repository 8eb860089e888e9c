#include "workspace/workspace_json.h"

#include <algorithm>
#include <cctype>

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

namespace parallax::fhir_facade::workspace {
namespace {

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  return google::protobuf::util::TimeUtil::ToString(t);
}

double Seconds(const google::protobuf::Duration& d) { return d.seconds() + d.nanos() / 1e9; }

Json DurationsJson(const audit::v1::DurationStats& d) {
  return {{"count", d.count()},
          {"median_s", Seconds(d.median())},
          {"p90_s", Seconds(d.p90())},
          {"max_s", Seconds(d.max())}};
}

Json ModificationJson(const escalation::v1::FindingModification& m) {
  Json j = Json::object();
  if (m.has_subtype()) j["subtype"] = m.subtype();
  if (m.laterality() != common::v1::LATERALITY_UNSPECIFIED) j["laterality"] = LateralityText(m.laterality());
  if (m.has_zone()) j["zone"] = m.zone();
  if (m.has_area_cm2()) j["area_cm2"] = m.area_cm2();
  if (m.has_volume_ml()) j["volume_ml"] = m.volume_ml();
  return j;
}

}  // namespace

std::string EnumText(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) == prefix) name.remove_prefix(prefix.size());
  if (name == "UNSPECIFIED") return "";
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string LateralityText(common::v1::Laterality v) {
  return EnumText(common::v1::Laterality_Name(v), "LATERALITY_");
}
std::string StateText(triage::v1::AnalysisState v) {
  return EnumText(triage::v1::AnalysisState_Name(v), "ANALYSIS_STATE_");
}
std::string AlertStateText(alerting::v1::AlertState v) {
  return EnumText(alerting::v1::AlertState_Name(v), "ALERT_STATE_");
}
std::string PriorityText(alerting::v1::AlertPriority v) {
  return EnumText(alerting::v1::AlertPriority_Name(v), "ALERT_PRIORITY_");
}
std::string ReportStatusText(escalation::v1::ReportStatus v) {
  std::string s = EnumText(escalation::v1::ReportStatus_Name(v), "REPORT_STATUS_");
  return s.empty() ? "none" : s;
}
std::string OutcomeText(escalation::v1::FindingOutcome v) {
  std::string s = EnumText(escalation::v1::FindingOutcome_Name(v), "FINDING_OUTCOME_");
  return s.empty() ? "pending" : s;
}

Json QualityFlagsJson(const google::protobuf::RepeatedField<int>& flags) {
  Json out = Json::array();
  for (int f : flags) {
    out.push_back(EnumText(common::v1::QualityFlag_Name(static_cast<common::v1::QualityFlag>(f)), "QUALITY_FLAG_"));
  }
  return out;
}

bool ParseLaterality(std::string_view text, common::v1::Laterality* out) {
  for (int v = common::v1::Laterality_MIN; v <= common::v1::Laterality_MAX; ++v) {
    if (!common::v1::Laterality_IsValid(v) || v == common::v1::LATERALITY_UNSPECIFIED) continue;
    if (LateralityText(static_cast<common::v1::Laterality>(v)) == text) {
      *out = static_cast<common::v1::Laterality>(v);
      return true;
    }
  }
  return false;
}

bool ParseState(std::string_view text, triage::v1::AnalysisState* out) {
  for (int v = triage::v1::AnalysisState_MIN; v <= triage::v1::AnalysisState_MAX; ++v) {
    if (!triage::v1::AnalysisState_IsValid(v) || v == triage::v1::ANALYSIS_STATE_UNSPECIFIED) continue;
    if (StateText(static_cast<triage::v1::AnalysisState>(v)) == text) {
      *out = static_cast<triage::v1::AnalysisState>(v);
      return true;
    }
  }
  return false;
}

Json FindingJson(const common::v1::Finding& f) {
  Json j = {{"finding_id", f.finding_id()},
            {"label", f.label()},
            {"display", f.code().display().empty() ? f.label() : f.code().display()},
            {"subtype", f.subtype()},
            {"probability", f.probability()},
            {"operating_point", f.operating_point()},
            {"positive", f.positive()},
            {"laterality", LateralityText(f.laterality())},
            {"zone", f.zone()},
            {"area_cm2", nullptr},
            {"volume_ml", nullptr},
            {"quality_flags", QualityFlagsJson(f.quality_flags())},
            {"model",
             {{"model_id", f.model().model_id()},
              {"model_version", f.model().model_version()},
              {"device_uid", f.model().device_uid()}}}};
  if (f.has_area_cm2()) j["area_cm2"] = f.area_cm2();
  if (f.has_volume_ml()) j["volume_ml"] = f.volume_ml();
  Json measurements = Json::array();
  for (const auto& m : f.measurements()) {
    measurements.push_back({{"name", m.name()}, {"value", m.value()}, {"unit", m.unit()}});
  }
  j["measurements"] = measurements;
  return j;
}

Json ComparisonJson(const common::v1::PriorComparison& c, const std::string& prior_key) {
  std::string change = EnumText(common::v1::ChangeClass_Name(c.change()), "CHANGE_CLASS_");
  if (change.empty()) change = "not_compared";
  const std::string& d = c.prior_study_date();
  Json j = {{"change", change},
            {"prior_key", prior_key},
            {"prior_date", d.size() == 8 ? absl::StrCat(d.substr(0, 4), "-", d.substr(4, 2), "-", d.substr(6, 2)) : ""},
            {"interval_days", c.interval_days()},
            {"prior_size", nullptr},
            {"current_size", nullptr},
            {"unit", c.unit()},
            {"sizes_compared", c.sizes_compared()},
            {"registered", c.current_to_prior_size() == 16},
            {"registration_residual", nullptr},
            {"note", c.note()},
            {"prior_series", -1},
            {"slice_map", Json::array()}};
  if (c.has_prior_size()) j["prior_size"] = c.prior_size();
  if (c.has_current_size()) j["current_size"] = c.current_size();
  if (c.has_registration_residual()) j["registration_residual"] = c.registration_residual();
  return j;
}

std::vector<std::string> AlertGroups(const alerting::v1::Alert& a) {
  std::vector<std::string> out(a.target_groups().begin(), a.target_groups().end());
  if (out.empty()) out.push_back(a.target_group());
  return out;
}

Json AlertJson(const alerting::v1::Alert& a, bool critical) {
  return {{"alert_id", a.alert_id()},
          {"state", AlertStateText(a.state())},
          {"priority", PriorityText(a.priority())},
          {"groups", AlertGroups(a)},
          {"critical", critical || a.priority() == alerting::v1::ALERT_PRIORITY_CRITICAL},
          {"acknowledged_by", a.acknowledged_by()}};
}

Json ReportSummaryJson(const escalation::v1::Report& r) {
  if (r.report_id().empty()) return nullptr;
  return {{"report_id", r.report_id()},
          {"status", ReportStatusText(r.status())},
          {"version", r.version()},
          {"issued_at", Rfc3339(r.issued_at())}};
}

Json CaseJson(const escalation::v1::Case& c, const std::string& study_key) {
  Json finding = FindingJson(c.finding());
  const std::string reject_code =
      EnumText(escalation::v1::RejectReason_Name(c.triggering_review().reject_reason()), "REJECT_REASON_");
  return {{"case_id", c.case_id()},
          {"study_key", study_key},
          {"state", EnumText(escalation::v1::CaseState_Name(c.state()), "CASE_STATE_")},
          {"assigned_group", c.assigned_group()},
          {"assignee", c.assignee_user_id()},
          {"created_at", Rfc3339(c.created_at())},
          {"due_at", Rfc3339(c.due_at())},
          {"finding", finding},
          {"rejected_by", c.triggering_review().actor_user_id()},
          // The reviewer's words when given, else the coded reason.
          {"reject_reason", c.triggering_review().reason_text().empty() ? reject_code : c.triggering_review().reason_text()},
          {"reject_code", reject_code},
          // The words a decision is made with (POST .../decision).
          {"decision", c.decision() == escalation::v1::CASE_DECISION_CONFIRM_FINDING
                           ? std::string("confirm")
                           : EnumText(escalation::v1::CaseDecision_Name(c.decision()), "CASE_DECISION_")},
          {"modification", ModificationJson(c.decision_modification())},
          {"decided_by", c.decided_by()},
          {"rationale", c.rationale()},
          {"decided_at", Rfc3339(c.decided_at())}};
}

Json DepartmentJson(const audit::v1::GetAnalyticsResponse& a, int window_days) {
  Json conditions = Json::array();
  for (const auto& c : a.conditions()) {
    const double per_1000 =
        a.studies_analysed() > 0 ? 1000.0 * static_cast<double>(c.false_alerts()) / a.studies_analysed() : 0.0;
    conditions.push_back({{"label", c.label()},
                          {"reviewed", c.reviewed()},
                          {"accepted", c.accepted()},
                          {"rejected", c.rejected()},
                          {"modified", c.modified()},
                          {"agreement", c.agreement()},
                          {"escalated", c.escalated()},
                          {"senior_confirmed", c.senior_confirmed()},
                          {"alerts_sent", c.alerts_sent()},
                          {"false_alerts", c.false_alerts()},
                          {"false_alerts_per_1000_studies", per_1000},
                          {"unacknowledged", c.unacknowledged()},
                          {"time_to_acknowledgment", DurationsJson(c.time_to_acknowledgment())}});
  }
  Json overrides = Json::array();
  for (const auto& o : a.overrides()) {
    overrides.push_back({{"user", o.user_id()},
                         {"label", o.label()},
                         {"reviews", o.reviews()},
                         {"overrides", o.overrides()},
                         {"override_rate", o.override_rate()}});
  }
  return {{"window_days", window_days},
          {"studies_analysed", a.studies_analysed()},
          {"alerts_sent", a.alerts_sent()},
          {"false_alerts", a.false_alerts()},
          {"false_alerts_per_1000_studies", a.false_alerts_per_1000_studies()},
          {"time_to_acknowledgment", DurationsJson(a.time_to_acknowledgment())},
          {"conditions", conditions},
          {"overrides", overrides}};
}

int AlertRank(const alerting::v1::Alert& a) {
  const bool live = a.state() == alerting::v1::ALERT_STATE_OPEN || a.state() == alerting::v1::ALERT_STATE_ESCALATED ||
                    a.state() == alerting::v1::ALERT_STATE_ACKNOWLEDGED;
  const int rank = static_cast<int>(a.priority()) * 10 + (a.state() == alerting::v1::ALERT_STATE_ACKNOWLEDGED ? 0 : 1);
  if (live) return 100 + rank;
  return a.state() == alerting::v1::ALERT_STATE_RESOLVED ? 50 + rank : rank;
}

}  // namespace parallax::fhir_facade::workspace
