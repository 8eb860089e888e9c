// The worklist, the study view and its pixels and heatmaps (API.md).
#include <algorithm>
#include <cmath>
#include <cstring>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>

#include <google/protobuf/util/time_util.h>

#include "parallax/auth/roles.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "workspace/series_geometry.h"
#include "workspace/workspace_api.h"

namespace parallax::fhir_facade::workspace {
namespace {

// A default window for the first look: brain for head CT, soft tissue for
// other CT, else the 1st..99th percentile of the slice.
std::pair<double, double> DefaultWindow(const std::string& modality, const std::string& body_part,
                                        const std::vector<float>& values) {
  if (modality == "CT") return body_part == "HEAD" || body_part == "BRAIN" ? std::pair{40.0, 80.0} : std::pair{40.0, 400.0};
  if (values.empty()) return {0.5, 1.0};
  std::vector<float> sorted(values);
  const size_t lo = sorted.size() / 100, hi = sorted.size() - 1 - sorted.size() / 100;
  std::nth_element(sorted.begin(), sorted.begin() + lo, sorted.end());
  const double p1 = sorted[lo];
  std::nth_element(sorted.begin(), sorted.begin() + hi, sorted.end());
  const double p99 = sorted[hi];
  return {(p1 + p99) / 2, std::max(1.0, p99 - p1)};
}

// The finding's heatmaps, one per source slice, in a fixed order (by SOP
// Instance UID) that the study view's "evidence" list and the heatmap
// route share; the DICOM Secondary Capture rows ("dicom:<uid>") are left out.
std::vector<const triage::v1::EvidenceObject*> HeatmapObjects(const triage::v1::GetEvidenceResponse& response) {
  std::vector<const triage::v1::EvidenceObject*> out;
  for (const auto& o : response.objects()) {
    if (o.source_sop_instance_uid().rfind("dicom:", 0) != 0) out.push_back(&o);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
    return a->source_sop_instance_uid() < b->source_sop_instance_uid();
  });
  return out;
}

}  // namespace

http::Response WorkspaceApi::Worklist(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  if (backends_.triage == nullptr) return ErrorResponse(absl::UnavailableError("no triage service is configured"));
  triage::v1::ListWorklistRequest list;
  list.set_limit(options_.worklist_limit);
  if (auto m = request.QueryParam("modality"); m && !m->empty()) list.set_modality(*m);
  if (auto st = request.QueryParam("status"); st && !st->empty()) {
    triage::v1::AnalysisState state;
    if (!ParseState(*st, &state)) {
      return ErrorResponse(absl::InvalidArgumentError(
          "status must be queued, running, analysed, not_applicable or failed"));
    }
    list.set_state(state);
  }
  const std::string group = request.QueryParam("group").value_or("");
  triage::v1::ListWorklistResponse worklist;
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, *caller);
    if (absl::Status s = status::FromGrpc(backends_.triage->ListWorklist(&ctx, list, &worklist)); !s.ok()) {
      return ErrorResponse(absl::Status(s.code(), absl::StrCat("triage: ", s.message())));
    }
  }
  Json studies = Json::array();
  for (const auto& e : worklist.entries()) {
    const std::string& uid = e.study_instance_uid();
    auto alerts = Alerts(*caller, uid);
    if (!alerts.ok()) return ErrorResponse(alerts.status());
    // A study belongs to every group its alerts notify, not only the primary one.
    auto notifies = [&](const alerting::v1::Alert& a) {
      const std::vector<std::string> all = AlertGroups(a);
      return std::find(all.begin(), all.end(), group) != all.end();
    };
    if (!group.empty() && std::none_of(alerts->begin(), alerts->end(), notifies)) {
      continue;
    }
    const alerting::v1::Alert* headline = nullptr;
    std::vector<std::string> groups;
    for (const auto& a : *alerts) {
      if (a.study().generation() == e.generation()) {
        for (const std::string& g : AlertGroups(a)) {
          if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
        }
      }
      if (headline == nullptr || AlertRank(a) > AlertRank(*headline)) headline = &a;
    }
    auto report = Report(*caller, uid);
    if (!report.ok()) return ErrorResponse(report.status());
    double top = 0;
    for (const auto& f : report->findings()) {
      if (f.finding().positive()) top = std::max(top, f.finding().probability());
    }
    Json row = {{"key", keys_->KeyOf(uid)},
                {"modality", e.modality()},
                {"body_part", ""},
                {"description", ""},
                {"patient_setting", e.patient_setting()},
                {"state", StateText(e.state())},
                {"reason", e.reason()},
                {"urgency", e.urgency()},
                {"decision", e.decision()},
                {"positive_labels", e.positive_labels()},
                {"top_probability", top},
                {"quality_flags", QualityFlagsJson(e.quality_flags())},
                {"alert", nullptr},
                {"report_status", ReportStatusText(report->status())},
                {"analysed_at", ReportSummaryJson(*report).is_null() ? Json("") : ReportSummaryJson(*report)["issued_at"]}};
    if (headline != nullptr) {
      row["alert"] = AlertJson(*headline, false);
      row["alert"]["groups"] = groups;
    }
    if (backends_.ingest != nullptr) {
      auto manifest = backends_.ingest->GetStudy(uid, std::chrono::system_clock::now() + options_.call_timeout);
      if (manifest.ok()) {
        row["description"] = manifest->study_description();
        for (const auto* s : ImageSeries(*manifest)) {
          if (!s->body_part_examined().empty()) {
            row["body_part"] = s->body_part_examined();
            break;
          }
        }
      }
    }
    studies.push_back(std::move(row));
  }
  return JsonResponse(200, {{"studies", studies}});
}

http::Response WorkspaceApi::Study(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  auto uid = ResolveStudy(*caller, std::string(request.PathParam("key")));
  if (!uid.ok()) return ErrorResponse(uid.status());
  if (backends_.triage == nullptr || backends_.ingest == nullptr) {
    return ErrorResponse(absl::UnavailableError("triage and ingest are needed for the study view"));
  }
  triage::v1::GetStudyStatusRequest status_request;
  status_request.set_study_instance_uid(*uid);
  triage::v1::GetStudyStatusResponse state;
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, *caller);
    if (absl::Status s = status::FromGrpc(backends_.triage->GetStudyStatus(&ctx, status_request, &state)); !s.ok()) {
      return ErrorResponse(absl::Status(s.code(), absl::StrCat("triage: ", s.message())));
    }
  }
  auto manifest = backends_.ingest->GetStudy(*uid, std::chrono::system_clock::now() + options_.call_timeout);
  if (!manifest.ok()) return ErrorResponse(absl::Status(manifest.status().code(),
                                                        absl::StrCat("ingest: ", manifest.status().message())));
  auto report = Report(*caller, *uid);
  if (!report.ok()) return ErrorResponse(report.status());
  auto alerts = Alerts(*caller, *uid);
  if (!alerts.ok()) return ErrorResponse(alerts.status());

  // Series, and where each SOP instance sits in them.
  std::map<std::string, std::pair<int, int>> position;
  Json series = Json::array();
  std::string body_part;
  const auto image_series = ImageSeries(*manifest);
  for (size_t si = 0; si < image_series.size(); ++si) {
    const auto& s = *image_series[si];
    if (body_part.empty()) body_part = s.body_part_examined();
    const auto ordered = Ordered(s);
    Json sops = Json::array();
    for (size_t i = 0; i < ordered.size(); ++i) {
      sops.push_back(ordered[i]->sop_instance_uid());
      position[ordered[i]->sop_instance_uid()] = {static_cast<int>(si), static_cast<int>(i)};
    }
    Json entry = {{"index", si},
                  {"modality", s.modality()},
                  {"body_part", s.body_part_examined()},
                  {"description", s.series_description()},
                  {"rows", 0},
                  {"columns", 0},
                  {"slices", ordered.size()},
                  {"window_center", 0},
                  {"window_width", 0},
                  {"pixel_spacing", Json::array()},
                  {"sop_instance_uids", sops}};
    // The middle slice gives the size and a default window.
    const auto* middle = ordered[ordered.size() / 2];
    auto bytes = backends_.ingest->ReadInstance(middle->sop_instance_uid(),
                                                std::chrono::system_clock::now() + options_.call_timeout);
    if (bytes.ok()) {
      auto frames = dicom::ReadPixelsFromBuffer(bytes->data(), bytes->size());
      if (frames.ok() && !frames->empty()) {
        const dicom::PixelImage& f = frames->front();
        const auto [c, w] = DefaultWindow(s.modality(), s.body_part_examined(), f.values);
        entry["rows"] = f.rows;
        entry["columns"] = f.columns;
        entry["window_center"] = c;
        entry["window_width"] = w;
        entry["pixel_spacing"] = {f.pixel_spacing_mm[0], f.pixel_spacing_mm[1]};
      }
    }
    series.push_back(std::move(entry));
  }

  Json findings = Json::array();
  std::vector<const escalation::v1::ReportedFinding*> ordered_findings;
  for (const auto& f : report->findings()) ordered_findings.push_back(&f);
  std::stable_sort(ordered_findings.begin(), ordered_findings.end(), [](auto* a, auto* b) {
    if (a->finding().positive() != b->finding().positive()) return a->finding().positive();
    return a->finding().probability() > b->finding().probability();
  });
  for (const auto* rf : ordered_findings) {
    const common::v1::Finding& f = rf->finding();
    RememberFinding(f.finding_id(), *uid);
    Json j = FindingJson(f);
    j["outcome"] = OutcomeText(rf->outcome());
    j["reviewer"] = rf->reviewer_user_id();
    j["decided_by"] = rf->decided_by();
    j["alert"] = nullptr;
    j["critical"] = false;
    for (const auto& a : *alerts) {
      if (a.finding().finding_id() == f.finding_id() || (a.finding().label() == f.label() &&
                                                          a.study().generation() == report->study().generation())) {
        j["alert"] = AlertJson(a, false);
        j["critical"] = j["alert"]["critical"];
      }
    }
    j["comparison"] = nullptr;
    if (f.has_prior_comparison()) j["comparison"] = PriorComparisonView(f, *uid, image_series);
    Json evidence = Json::array();
    if (f.positive()) {
      triage::v1::GetEvidenceRequest er;
      er.set_finding_id(f.finding_id());
      triage::v1::GetEvidenceResponse eresp;
      grpc::ClientContext ctx;
      Prepare(&ctx, *caller);
      if (backends_.triage->GetEvidence(&ctx, er, &eresp).ok()) {
        for (const auto* o : HeatmapObjects(eresp)) {
          const std::string& sop = o->source_sop_instance_uid();
          auto p = position.find(sop);
          evidence.push_back({{"sop_instance_uid", sop},
                              {"series", p == position.end() ? -1 : p->second.first},
                              {"slice", p == position.end() ? -1 : p->second.second}});
        }
      }
    }
    j["evidence"] = evidence;
    findings.push_back(std::move(j));
  }
  RecordViewed(*caller, *report);
  return JsonResponse(200, {{"key", keys_->KeyOf(*uid)},
                            {"modality", state.modality()},
                            {"body_part", body_part},
                            {"description", manifest->study_description()},
                            {"state", StateText(state.state())},
                            {"reason", state.reason()},
                            {"decision", state.decision()},
                            {"urgency", state.urgency()},
                            {"quality_flags", QualityFlagsJson(state.quality_flags())},
                            {"report", ReportSummaryJson(*report)},
                            {"findings", findings},
                            {"series", series}});
}

Json WorkspaceApi::PriorComparisonView(const common::v1::Finding& f, const std::string& study_uid,
                                       const std::vector<const common::v1::SeriesManifest*>& image_series) {
  const common::v1::PriorComparison& c = f.prior_comparison();
  const std::string& prior_uid = c.prior_study_instance_uid();
  Json j = ComparisonJson(c, prior_uid.empty() || prior_uid == study_uid ? "" : keys_->KeyOf(prior_uid));
  if (prior_uid.empty() || c.prior_series_instance_uid().empty()) return j;
  // The prior's series and, for each current slice, the prior slice the
  // registration puts there (series_geometry.h).
  const common::v1::SeriesManifest* current = nullptr;
  for (const auto* s : image_series) {
    if (s->series_instance_uid() == f.series_instance_uid()) current = s;
  }
  auto prior = backends_.ingest->GetStudy(prior_uid, std::chrono::system_clock::now() + options_.call_timeout);
  if (current == nullptr || !prior.ok()) return j;
  const auto prior_series = ImageSeries(*prior);
  for (size_t i = 0; i < prior_series.size(); ++i) {
    if (prior_series[i]->series_instance_uid() != c.prior_series_instance_uid()) continue;
    j["prior_series"] = i;
    std::vector<double> matrix(c.current_to_prior().begin(), c.current_to_prior().end());
    if (matrix.size() != 16) matrix = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};  // unregistered: by position
    j["slice_map"] = MatchPriorSlices(Ordered(*current), Ordered(*prior_series[i]), matrix);
  }
  return j;
}

void WorkspaceApi::RecordViewed(const Caller& caller, const escalation::v1::Report& report) {
  if (backends_.recorder == nullptr) return;
  for (const auto& rf : report.findings()) {
    const common::v1::Finding& f = rf.finding();
    if (!f.positive()) continue;
    audit::v1::AuditEvent e;
    e.set_type(audit::v1::EVENT_TYPE_FINDING_VIEWED);
    *e.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    e.set_service("fhir-facade");
    e.mutable_actor()->set_kind(audit::v1::ACTOR_KIND_USER);
    e.mutable_actor()->set_user_id(caller.principal.user_id);
    for (auth::Role r : caller.principal.roles) e.mutable_actor()->add_roles(auth::RoleName(r));
    e.mutable_actor()->set_system_id("workspace");
    e.mutable_subject()->set_study_instance_uid(report.study().study_instance_uid());
    e.mutable_subject()->set_generation(report.study().generation());
    e.mutable_subject()->set_finding_id(f.finding_id());
    e.mutable_subject()->set_report_id(report.report_id());
    e.mutable_subject()->set_label(f.label());
    e.mutable_subject()->set_model_id(f.model().model_id());
    e.mutable_subject()->set_model_version(f.model().model_version());
    e.set_outcome(audit::v1::OUTCOME_SUCCESS);
    // Durable in the facade's outbox before the view is answered; an audit
    // outage delays the entry, never loses it.
    if (auto recorded = backends_.recorder->Record(std::move(e)); !recorded.ok()) {
      log::Warning("could not record a finding view", {{"error", std::string(recorded.status().message())}});
    }
  }
}

http::Response WorkspaceApi::Slice(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  auto uid = ResolveStudy(*caller, std::string(request.PathParam("key")));
  if (!uid.ok()) return ErrorResponse(uid.status());
  int series_index = 0, slice_index = 0;
  if (!absl::SimpleAtoi(std::string(request.PathParam("series")), &series_index) ||
      !absl::SimpleAtoi(std::string(request.PathParam("slice")), &slice_index)) {
    return ErrorResponse(absl::InvalidArgumentError("series and slice are numbers"));
  }
  if (backends_.ingest == nullptr) return ErrorResponse(absl::UnavailableError("no ingest service is configured"));
  const auto deadline = std::chrono::system_clock::now() + options_.call_timeout;
  auto manifest = backends_.ingest->GetStudy(*uid, deadline);
  if (!manifest.ok()) return ErrorResponse(manifest.status());
  const auto series = ImageSeries(*manifest);
  if (series_index < 0 || series_index >= static_cast<int>(series.size())) {
    return ErrorResponse(absl::NotFoundError("the study has no such series"));
  }
  const auto ordered = Ordered(*series[series_index]);
  if (slice_index < 0 || slice_index >= static_cast<int>(ordered.size())) {
    return ErrorResponse(absl::NotFoundError("the series has no such slice"));
  }
  auto bytes = backends_.ingest->ReadInstance(ordered[slice_index]->sop_instance_uid(), deadline);
  if (!bytes.ok()) return ErrorResponse(bytes.status());
  auto frames = dicom::ReadPixelsFromBuffer(bytes->data(), bytes->size());
  if (!frames.ok()) return ErrorResponse(frames.status());
  if (frames->empty()) return ErrorResponse(absl::NotFoundError("the instance has no frame"));
  const dicom::PixelImage& f = frames->front();
  std::string body(f.values.size() * 2, '\0');
  for (size_t i = 0; i < f.values.size(); ++i) {
    const float v = std::clamp(std::round(f.values[i]), -32768.0f, 32767.0f);
    const auto s = static_cast<uint16_t>(static_cast<int16_t>(v));
    body[2 * i] = static_cast<char>(s & 0xff);
    body[2 * i + 1] = static_cast<char>(s >> 8);
  }
  http::Response r = http::Response::Make(200, std::move(body), "application/octet-stream");
  r.headers.emplace_back("X-Rows", std::to_string(f.rows));
  r.headers.emplace_back("X-Columns", std::to_string(f.columns));
  r.headers.emplace_back("Cache-Control", "private, max-age=300");
  return r;
}

http::Response WorkspaceApi::Heatmap(const http::Request& request) {
  auto caller = Authenticate(request);
  if (!caller.ok()) return ErrorResponse(caller.status());
  int n = 0;
  if (!absl::SimpleAtoi(std::string(request.PathParam("n")), &n) || n < 0) {
    return ErrorResponse(absl::InvalidArgumentError("n is the index of an evidence slice"));
  }
  if (backends_.triage == nullptr) return ErrorResponse(absl::UnavailableError("no triage service is configured"));
  triage::v1::GetEvidenceRequest er;
  er.set_finding_id(std::string(request.PathParam("finding")));
  er.set_include_png(true);
  triage::v1::GetEvidenceResponse eresp;
  grpc::ClientContext ctx;
  Prepare(&ctx, *caller);
  if (absl::Status s = status::FromGrpc(backends_.triage->GetEvidence(&ctx, er, &eresp)); !s.ok()) {
    return ErrorResponse(s);
  }
  const auto objects = HeatmapObjects(eresp);
  if (n >= static_cast<int>(objects.size()) || objects[n]->heatmap_png().empty()) {
    return ErrorResponse(absl::NotFoundError("the finding has no heatmap for this evidence slice"));
  }
  http::Response r = http::Response::Make(200, objects[n]->heatmap_png(), "image/png");
  r.headers.emplace_back("Cache-Control", "private, max-age=300");
  return r;
}

}  // namespace parallax::fhir_facade::workspace
