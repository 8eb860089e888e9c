// What the FHIR facade is asked to publish for a report version, without a
// database: rejected findings reported absent, reviewers as interpreters,
// the conclusion in words.
#include <catch2/catch.hpp>

#include "report_publisher.h"

namespace parallax::escalation {
namespace {

v1::ReportedFinding Reported(const std::string& id, const std::string& label, bool positive,
                             v1::FindingOutcome outcome, const std::string& reviewer, const std::string& senior = "") {
  v1::ReportedFinding rf;
  common::v1::Finding* f = rf.mutable_finding();
  f->set_finding_id(id);
  f->set_label(label);
  f->set_positive(positive);
  f->set_probability(positive ? 0.91 : 0.04);
  f->set_operating_point(0.5);
  f->set_laterality(common::v1::LATERALITY_RIGHT);
  f->set_area_cm2(31.5);
  rf.set_outcome(outcome);
  rf.set_reviewer_user_id(reviewer);
  rf.set_decided_by(senior);
  return rf;
}

TEST_CASE("report content: a rejected AI finding is reported absent and the reviewers interpret the report",
          "[escalation][report]") {
  v1::Report report;
  report.set_report_id("rpt-1");
  report.set_version(2);
  report.set_status(v1::REPORT_STATUS_FINAL);
  report.mutable_study()->set_study_instance_uid("1.2.3");
  *report.add_findings() = Reported("f-ptx", "Pneumothorax", true, v1::FINDING_OUTCOME_ACCEPTED, "dr.chest");
  *report.add_findings() = Reported("f-mass", "Mass", true, v1::FINDING_OUTCOME_REJECTED_BY_SENIOR, "dr.ray", "dr.senior");
  *report.add_findings() = Reported("f-eff", "Effusion", false, v1::FINDING_OUTCOME_PENDING, "");
  StoredReport stored;
  stored.sr_sop_instance_uid = "1.2.3.99";
  fhir::v1::PublishReportRequest r = ToPublishReport(report, stored);
  CHECK(r.report_id() == "rpt-1");
  CHECK(r.report_version() == 2);
  CHECK(r.status() == fhir::v1::REPORT_STATUS_FINAL);
  CHECK(r.sr_sop_instance_uid() == "1.2.3.99");
  REQUIRE(r.observations_size() == 3);
  CHECK(r.observations(0).finding().positive());
  CHECK(!r.observations(1).finding().positive());  // rejected by the senior: absent
  CHECK(r.observations(1).note().find("rejected by dr.senior") != std::string::npos);
  CHECK(r.observations(2).note().empty());         // a negative AI finding carries no review note
  // Accepted findings are in the conclusion; the rejected one is not.
  CHECK(r.conclusion().find("Pneumothorax, right, 31.5 cm2") != std::string::npos);
  CHECK(r.conclusion().find("Mass") == std::string::npos);
  CHECK(r.conclusion().find("reviewed by a radiologist") != std::string::npos);
  std::set<std::string> interpreters(r.results_interpreter_user_ids().begin(), r.results_interpreter_user_ids().end());
  CHECK(interpreters == std::set<std::string>{"dr.chest", "dr.ray", "dr.senior"});
}

TEST_CASE("report content: a preliminary report says it is not yet reviewed", "[escalation][report]") {
  v1::Report report;
  report.set_report_id("rpt-2");
  report.set_version(1);
  report.set_status(v1::REPORT_STATUS_PRELIMINARY);
  *report.add_findings() = Reported("f-eff", "Effusion", false, v1::FINDING_OUTCOME_PENDING, "");
  fhir::v1::PublishReportRequest r = ToPublishReport(report, StoredReport{});
  CHECK(r.status() == fhir::v1::REPORT_STATUS_PRELIMINARY);
  CHECK(r.conclusion().find("not yet reviewed") != std::string::npos);
  CHECK(r.conclusion().find("No AI finding above its operating point") != std::string::npos);
  CHECK(r.results_interpreter_user_ids().empty());
}

}  // namespace
}  // namespace parallax::escalation
