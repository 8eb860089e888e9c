#include "pacs_sr_sender.h"

#include <map>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

#include "parallax/comparison/change_words.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sr_writer.h"
#include "parallax/status/grpc_status.h"

namespace parallax::escalation {
namespace {

dicom::SrLaterality Laterality(common::v1::Laterality l) {
  switch (l) {
    case common::v1::LATERALITY_LEFT: return dicom::SrLaterality::kLeft;
    case common::v1::LATERALITY_RIGHT: return dicom::SrLaterality::kRight;
    case common::v1::LATERALITY_BILATERAL: return dicom::SrLaterality::kBilateral;
    default: return dicom::SrLaterality::kNone;
  }
}

// A finding code in DICOM terms: the standard scheme of its FHIR system, or
// Parallax's private scheme (DICOM's "99" prefix) for a local code.
dicom::SrCode Code(const common::v1::ClinicalCode& c) {
  auto code = dicom::SrCodeFromFhir(c.system(), c.code(), c.display());
  if (code.ok()) return *code;
  return {"99PARALLAX", c.code(), c.display().empty() ? c.code() : c.display()};
}

bool Rejected(v1::FindingOutcome o) {
  return o == v1::FINDING_OUTCOME_REJECTED || o == v1::FINDING_OUTCOME_REJECTED_BY_SENIOR;
}

}  // namespace

dicom::SrPriorComparison SrPriorComparisonOf(const common::v1::PriorComparison& c, const std::string& study_uid) {
  dicom::SrPriorComparison out;
  out.comment = comparison::ChangeSincePriorText(c);
  switch (c.change()) {
    case common::v1::CHANGE_CLASS_NO_PRIOR: out.change = dicom::SrChange::kNoPrior; return out;
    case common::v1::CHANGE_CLASS_NEW: out.change = dicom::SrChange::kNew; break;
    case common::v1::CHANGE_CLASS_LARGER: out.change = dicom::SrChange::kLarger; break;
    case common::v1::CHANGE_CLASS_STABLE: out.change = dicom::SrChange::kStable; break;
    case common::v1::CHANGE_CLASS_SMALLER: out.change = dicom::SrChange::kSmaller; break;
    case common::v1::CHANGE_CLASS_RESOLVED: out.change = dicom::SrChange::kResolved; break;
    default: return out;
  }
  const std::string& prior = c.prior_study_instance_uid();
  if (!dicom::IsValidUid(prior) || prior == study_uid) return dicom::SrPriorComparison{};
  out.prior_study_instance_uid = prior;
  if (c.prior_study_date().size() == 8) out.prior_study_date = c.prior_study_date();
  out.interval_days = c.interval_days();
  if (c.unit() == "mL" || c.unit() == "cm2") {
    out.unit = c.unit();
    if (c.has_prior_size() && c.prior_size() >= 0) out.prior_size = c.prior_size();
    if (c.has_current_size() && c.current_size() >= 0) out.current_size = c.current_size();
  }
  for (const common::v1::ImageRef& image : c.prior_images()) {
    if (image.sop_class_uid().empty() || image.series_instance_uid().empty()) continue;
    out.prior_images.push_back({image.sop_class_uid(), image.sop_instance_uid(), image.series_instance_uid()});
  }
  return out;
}

absl::StatusOr<std::string> PacsSrSender::Send(const v1::Report& report, const StoredReport& stored) {
  const auto deadline = std::chrono::system_clock::now() + timeout_;
  // SOP classes of the source images, from the manifest.
  std::map<std::string, std::pair<std::string, std::string>> classes;  // sop uid -> (class, series)
  if (stored.has_manifest) {
    for (const auto& series : stored.manifest.series()) {
      for (const auto& instance : series.instances()) {
        classes[instance.sop_instance_uid()] = {instance.sop_class_uid(), series.series_instance_uid()};
      }
    }
  }
  std::string first_source;
  std::vector<dicom::SrFinding> findings;
  std::vector<std::string> evidence_objects;
  std::string model_id, model_version, device_uid;
  for (const v1::ReportedFinding& rf : report.findings()) {
    const common::v1::Finding& f = rf.finding();
    if (f.source_sop_instance_uids().empty() || !f.has_code() || f.code().code().empty()) continue;
    dicom::SrFinding sr;
    sr.finding_id = f.finding_id();
    sr.code = Code(f.code());
    sr.present = f.positive() && !Rejected(rf.outcome());
    if (f.has_site() && !f.site().code().empty()) {
      sr.site = Code(f.site());
      sr.laterality = Laterality(f.laterality());
    }
    sr.probability = f.probability();
    if (f.has_area_cm2()) sr.area_cm2 = f.area_cm2();
    if (f.has_volume_ml()) sr.volume_ml = f.volume_ml();
    sr.subtype = f.subtype();
    sr.prior_comparison = SrPriorComparisonOf(f.prior_comparison(), report.study().study_instance_uid());
    for (const std::string& uid : f.source_sop_instance_uids()) {
      auto it = classes.find(uid);
      if (it == classes.end()) continue;
      sr.source_images.push_back({it->second.first, uid, it->second.second});
      if (first_source.empty()) first_source = uid;
    }
    if (sr.source_images.empty()) continue;
    // The heatmap objects triage stored for this finding.
    for (const common::v1::EvidenceRef& e : f.evidence()) {
      if (e.kind() != common::v1::EVIDENCE_KIND_SECONDARY_CAPTURE || e.sop_instance_uid().empty()) continue;
      sr.evidence.push_back({e.sop_class_uid(), e.sop_instance_uid(), e.series_instance_uid()});
    }
    if (!sr.evidence.empty()) {
      triage::v1::GetEvidenceRequest request;
      request.set_finding_id(f.finding_id());
      request.set_include_dicom(true);
      triage::v1::GetEvidenceResponse response;
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      decorate_(&ctx);
      absl::Status s = status::FromGrpc(triage_->GetEvidence(&ctx, request, &response));
      if (!s.ok() && s.code() != absl::StatusCode::kNotFound) return s;
      for (const auto& object : response.objects()) {
        if (!object.dicom_part10().empty()) evidence_objects.push_back(object.dicom_part10());
      }
    }
    if (model_id.empty()) {
      model_id = f.model().model_id();
      model_version = f.model().model_version();
      device_uid = f.model().device_uid();
    }
    findings.push_back(std::move(sr));
  }
  if (findings.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("report ", report.report_id(), " has no finding with a known source image for an SR"));
  }
  auto source = source_->ReadInstance(first_source, deadline);
  if (!source.ok()) return source.status();

  dicom::MeasurementReportInput input;
  input.source_instance_part10 = *source;
  input.report_key = report.report_id();
  input.revision = report.version();
  input.completion = report.status() == v1::REPORT_STATUS_AMENDED ? dicom::ReportCompletion::kAmended
                     : report.status() == v1::REPORT_STATUS_FINAL ? dicom::ReportCompletion::kFinal
                                                                  : dicom::ReportCompletion::kPreliminary;
  std::string verifier;
  for (const v1::ReportedFinding& rf : report.findings()) {
    if (!rf.decided_by().empty()) verifier = rf.decided_by();
    else if (verifier.empty() && !rf.reviewer_user_id().empty()) verifier = rf.reviewer_user_id();
  }
  input.verifying_observer_name = verifier.empty() ? "Parallax^Reviewer" : verifier;
  input.verifying_organization = "Radiology";
  input.model_id = model_id;
  input.model_version = model_version;
  input.model_device_uid = device_uid;
  input.findings = std::move(findings);
  auto sr = dicom::WriteMeasurementReport(input);
  if (!sr.ok()) return sr.status();

  ingest::v1::SendToPacsRequest request;
  request.add_instances(sr->part10);
  for (std::string& object : evidence_objects) request.add_instances(std::move(object));
  ingest::v1::SendToPacsResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  decorate_(&ctx);
  if (absl::Status s = status::FromGrpc(ingest_->SendToPacs(&ctx, request, &response)); !s.ok()) return s;
  for (const ingest::v1::SendResult& r : response.results()) {
    // 0x0000 success; 0xB000-0xBFFF warnings still store the object.
    if (r.dicom_status() != 0 && (r.dicom_status() & 0xF000) != 0xB000) {
      return absl::InternalError(absl::StrCat("the PACS refused ", r.sop_instance_uid(), " with DICOM status 0x",
                                              absl::Hex(r.dicom_status(), absl::kZeroPad4), ": ", r.error()));
    }
  }
  return sr->sop_instance_uid;
}

}  // namespace parallax::escalation
