// What the FHIR facade is asked to publish for a report version, without a
// database: rejected findings reported absent, reviewers as interpreters,
// the conclusion in words.
#include <catch2/catch.hpp>

#include "pacs_sr_sender.h"
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

TEST_CASE("the SR names the prior, the change, the interval, both sizes and the prior images of a compared finding",
          "[escalation][sr]") {
  namespace common = parallax::common::v1;
  namespace dicom = parallax::dicom;
  common::PriorComparison c;
  c.set_change(common::CHANGE_CLASS_LARGER);
  c.set_prior_study_instance_uid("1.2.826.0.1.3680043.10.1.7");
  c.set_prior_study_date("20260301");
  c.set_interval_days(216);
  c.set_prior_size(5.4);
  c.set_current_size(17.9);
  c.set_unit("mL");
  common::ImageRef* image = c.add_prior_images();
  image->set_sop_class_uid("1.2.840.10008.5.1.4.1.1.2");
  image->set_sop_instance_uid("1.2.826.0.1.3680043.10.1.7.1.1");
  image->set_series_instance_uid("1.2.826.0.1.3680043.10.1.7.1");
  const dicom::SrPriorComparison sr = parallax::escalation::SrPriorComparisonOf(c, "1.2.826.0.1.3680043.10.1.9");
  CHECK(sr.change == dicom::SrChange::kLarger);
  CHECK(sr.prior_study_instance_uid == "1.2.826.0.1.3680043.10.1.7");
  CHECK(sr.prior_study_date == "20260301");
  CHECK(sr.interval_days == 216);
  REQUIRE(sr.prior_size);
  CHECK(*sr.prior_size == 5.4);
  REQUIRE(sr.current_size);
  CHECK(*sr.current_size == 17.9);
  CHECK(sr.unit == "mL");
  // The SR's comment is the alert's and the FHIR report's wording.
  CHECK(sr.comment == "larger since prior of 2026-03-01 (216 days): 5.4 mL -> 17.9 mL");
  REQUIRE(sr.prior_images.size() == 1);
  CHECK(sr.prior_images[0].series_instance_uid == "1.2.826.0.1.3680043.10.1.7.1");

  // Nothing the writer would refuse: an unset class, a prior that is the study itself, a bad UID.
  common::PriorComparison unset = c;
  unset.set_change(common::CHANGE_CLASS_UNSPECIFIED);
  CHECK(parallax::escalation::SrPriorComparisonOf(unset, "1.2.3").change == dicom::SrChange::kNotCompared);
  CHECK(parallax::escalation::SrPriorComparisonOf(c, "1.2.826.0.1.3680043.10.1.7").change ==
        dicom::SrChange::kNotCompared);
  common::PriorComparison bad = c;
  bad.set_prior_study_instance_uid("PATIENT-42");
  CHECK(parallax::escalation::SrPriorComparisonOf(bad, "1.2.3").change == dicom::SrChange::kNotCompared);
  common::PriorComparison none;
  none.set_change(common::CHANGE_CLASS_NO_PRIOR);
  CHECK(parallax::escalation::SrPriorComparisonOf(none, "1.2.3").change == dicom::SrChange::kNoPrior);
  CHECK(parallax::escalation::SrPriorComparisonOf(none, "1.2.3").comment == "no prior available");
  CHECK(parallax::escalation::SrPriorComparisonOf(unset, "1.2.3").comment.empty());
}
