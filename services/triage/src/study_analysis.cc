#include "study_analysis.h"

#include <algorithm>
#include <thread>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

#include "parallax/log/log.h"

namespace parallax::triage {

namespace inf = parallax::inference::v1;
namespace xpl = parallax::explainability::v1;

inf::AnalyzeRequest AnalyzeRequestFor(const common::v1::StudyRef& study, const common::v1::StudyManifest& manifest,
                                      const StudyPlan& plan, const std::string& job_id) {
  inf::AnalyzeRequest request;
  *request.mutable_study() = study;
  *request.mutable_manifest() = manifest;
  request.set_job_id(job_id);
  for (common::v1::QualityFlag q : plan.quality_flags) request.add_quality_flags(q);
  for (const PlannedModel& m : plan.models) {
    inf::ModelSelection* sel = request.add_selections();
    sel->set_model_id(m.model_id);
    sel->set_series_instance_uid(m.series_instance_uid);
    for (const std::string& uid : m.sop_instance_uids) sel->add_sop_instance_uids(uid);
    for (const std::string& uid : m.additional_series) sel->add_additional_series_instance_uids(uid);
  }
  return request;
}

ExplainOutcome ExplainPositives(xpl::Explainability::StubInterface& explainability, const common::v1::StudyRef& study,
                                const StudyPlan& plan, inf::AnalyzeResponse* analysis,
                                const ExplainSettings& settings) {
  struct Pending {
    common::v1::Finding* finding;
    xpl::ExplainRequest request;
    xpl::ExplainResponse response;
    grpc::Status status;
  };
  std::vector<Pending> pending;
  for (inf::ModelResult& result : *analysis->mutable_results()) {
    const PlannedModel* planned = nullptr;
    for (const PlannedModel& m : plan.models) {
      if (m.model_id == result.model().model_id()) planned = &m;
    }
    for (common::v1::Finding& f : *result.mutable_findings()) {
      const bool wanted = settings.select ? settings.select(f) : f.positive();
      if (!wanted || planned == nullptr) continue;
      if (settings.only_unmeasured && (f.has_volume_ml() || f.has_area_cm2())) continue;
      xpl::ExplainRequest ex;
      *ex.mutable_study() = study;
      ex.set_series_instance_uid(f.series_instance_uid());
      const int n = std::min(f.source_sop_instance_uids_size(), settings.max_explained_slices);
      for (int k = 0; k < n; ++k) ex.add_sop_instance_uids(f.source_sop_instance_uids(k));
      for (const std::string& uid : planned->additional_series) ex.add_additional_series_instance_uids(uid);
      *ex.mutable_model() = f.model();
      ex.set_finding_label(f.label());
      ex.set_finding_id(f.finding_id());
      ex.set_include_png(settings.include_png);
      if (settings.include_png) ex.set_max_png_slices(settings.max_png_slices);
      if (settings.dicom_evidence) ex.set_dicom_evidence(xpl::DICOM_EVIDENCE_TYPE_SECONDARY_CAPTURE);
      pending.push_back({&f, std::move(ex), {}, grpc::Status::OK});
    }
  }
  const auto explain_one = [&](Pending& p) {
    // A replica at capacity or briefly unreachable is retried until the deadline.
    for (auto backoff = std::chrono::milliseconds(20);; backoff = std::min(backoff * 2, std::chrono::milliseconds(500))) {
      grpc::ClientContext context;
      context.set_deadline(settings.deadline);
      p.status = explainability.Explain(&context, p.request, &p.response);
      const bool again = p.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                         p.status.error_code() == grpc::StatusCode::UNAVAILABLE;
      if (!again || std::chrono::system_clock::now() + backoff >= settings.deadline) return;
      std::this_thread::sleep_for(backoff);
    }
  };
  const size_t parallel = static_cast<size_t>(std::max(1, settings.parallel_explains));
  for (size_t first = 0; first < pending.size(); first += parallel) {
    std::vector<std::thread> calls;
    for (size_t i = first + 1; i < std::min(pending.size(), first + parallel); ++i) {
      calls.emplace_back([&, i] { explain_one(pending[i]); });
    }
    explain_one(pending[first]);
    for (std::thread& t : calls) t.join();
  }

  ExplainOutcome outcome;
  for (Pending& p : pending) {
    common::v1::Finding& f = *p.finding;
    const xpl::ExplainResponse& explained = p.response;
    if (!p.status.ok()) {
      log::Warning("finding stored without evidence", {{"study", study.study_instance_uid()},
                                                       {"finding", f.finding_id()},
                                                       {"code", static_cast<int>(p.status.error_code())},
                                                       {"error", p.status.error_message()}});
      ++outcome.failures;
      continue;
    }
    f.set_laterality(explained.laterality());
    f.set_zone(explained.zone());
    if (!f.has_area_cm2() && explained.has_area_cm2()) f.set_area_cm2(explained.area_cm2());
    if (!f.has_volume_ml() && explained.has_volume_ml()) f.set_volume_ml(explained.volume_ml());
    for (const xpl::Heatmap& h : explained.heatmaps()) {
      StoredEvidence e;
      e.finding_id = f.finding_id();
      e.source_sop_instance_uid = h.source_sop_instance_uid();
      e.png = h.png();
      e.overlay_png = h.overlay_png();
      common::v1::EvidenceRef* ref = f.add_evidence();
      ref->set_kind(common::v1::EVIDENCE_KIND_HEATMAP_PNG);
      ref->set_uri(absl::StrCat("parallax:triage/evidence/", f.finding_id(), "/", h.source_sop_instance_uid()));
      ref->add_referenced_sop_instance_uids(h.source_sop_instance_uid());
      outcome.evidence.push_back(std::move(e));
    }
    if (explained.has_dicom_evidence()) {
      const xpl::DicomEvidence& d = explained.dicom_evidence();
      StoredEvidence e;
      e.finding_id = f.finding_id();
      e.source_sop_instance_uid = "dicom:" + d.sop_instance_uid();
      e.dicom_sop_instance_uid = d.sop_instance_uid();
      e.dicom_part10 = d.part10();
      common::v1::EvidenceRef* ref = f.add_evidence();
      ref->set_kind(d.kind());
      ref->set_sop_instance_uid(d.sop_instance_uid());
      ref->set_series_instance_uid(d.series_instance_uid());
      ref->set_sop_class_uid(d.sop_class_uid());
      for (const std::string& r : d.referenced_sop_instance_uids()) ref->add_referenced_sop_instance_uids(r);
      outcome.evidence.push_back(std::move(e));
    }
  }
  return outcome;
}

}  // namespace parallax::triage
