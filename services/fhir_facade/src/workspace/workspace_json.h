#pragma once
// The workspace's JSON shapes (services/fhir_facade/web/API.md) from the
// services' protos: findings, reports, alerts, cases and the department's
// analytics. Enum values become their lower-case names without the prefix
// (LATERALITY_RIGHT -> "right"). Pure functions, thread-safe.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "parallax/alerting/v1/alert_routing.pb.h"
#include "parallax/audit/v1/audit.pb.h"
#include "parallax/common/v1/finding.pb.h"
#include "parallax/escalation/v1/escalation.pb.h"
#include "parallax/triage/v1/triage.pb.h"

namespace parallax::fhir_facade::workspace {

using Json = nlohmann::json;

// "LATERALITY_RIGHT" with prefix "LATERALITY_" -> "right"; "" for the
// UNSPECIFIED value.
std::string EnumText(std::string_view name, std::string_view prefix);

std::string LateralityText(common::v1::Laterality v);
std::string StateText(triage::v1::AnalysisState v);
std::string AlertStateText(alerting::v1::AlertState v);
std::string PriorityText(alerting::v1::AlertPriority v);
std::string ReportStatusText(escalation::v1::ReportStatus v);  // "none" for unspecified
std::string OutcomeText(escalation::v1::FindingOutcome v);
Json QualityFlagsJson(const google::protobuf::RepeatedField<int>& flags);

// The parsed enum of a text the browser sent; false when unknown.
bool ParseLaterality(std::string_view text, common::v1::Laterality* out);
bool ParseState(std::string_view text, triage::v1::AnalysisState* out);

// A finding as API.md's study view shows it (without outcome, alert and
// evidence, which the caller adds).
Json FindingJson(const common::v1::Finding& f);

// A finding's comparison with the prior study (API.md "comparison"): change
// ∈ no_prior, new, larger, stable, smaller, resolved, not_compared; the
// prior addressed by `prior_key` ("" when none); dates as YYYY-MM-DD. The
// caller adds the prior's series index and slice map.
Json ComparisonJson(const common::v1::PriorComparison& c, const std::string& prior_key);

// Every group an alert notifies, primary first (alerts made before
// Alert.target_groups existed: the primary group only).
std::vector<std::string> AlertGroups(const alerting::v1::Alert& a);

// The smaller alert object of worklists and findings.
Json AlertJson(const alerting::v1::Alert& a, bool critical);

// {"report_id", "status", "version"}; null for an empty report.
Json ReportSummaryJson(const escalation::v1::Report& r);

// A case; `study_key` is the study's opaque key.
Json CaseJson(const escalation::v1::Case& c, const std::string& study_key);

// GET /api/department's body.
Json DepartmentJson(const audit::v1::GetAnalyticsResponse& a, int window_days);

// Severity rank of an alert for choosing a study's headline alert: open
// critical first; resolved and withdrawn alerts rank lowest.
int AlertRank(const alerting::v1::Alert& a);

}  // namespace parallax::fhir_facade::workspace
