#include "inference_service.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "finding_mapping.h"
#include "inference_metrics.h"
#include "prior_registration.h"
#include "quality_gate.h"
#include "parallax/ingest_client/manifest_headers.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::inference_service {
namespace {

using Clock = std::chrono::steady_clock;

const char* OutcomeName(inference::v1::ModelOutcome o) {
  switch (o) {
    case inference::v1::MODEL_OUTCOME_OK: return "ok";
    case inference::v1::MODEL_OUTCOME_NOT_APPLICABLE: return "not_applicable";
    case inference::v1::MODEL_OUTCOME_REJECTED_INPUT: return "rejected_input";
    case inference::v1::MODEL_OUTCOME_FAILED: return "failed";
    default: return "unspecified";
  }
}


bool IsImage(const common::v1::InstanceManifest& i) { return i.rows() > 0 && i.columns() > 0; }

}  // namespace

InferenceService::InferenceService(const std::vector<LoadedModel>& models, ingest_client::StudySource& source,
                                   InferenceServiceOptions options, prometheus::Registry* registry)
    : models_(models),
      source_(source),
      options_(std::move(options)),
      limit_(options_.max_concurrent),
      metrics_(registry != nullptr ? std::make_unique<InferenceMetrics>(*registry) : nullptr) {}

InferenceService::~InferenceService() = default;

const LoadedModel* InferenceService::Find(const std::string& model_id) const {
  for (const LoadedModel& m : models_) {
    if (m.model->manifest().id == model_id) return &m;
  }
  return nullptr;
}

absl::StatusOr<inference::v1::AnalyzeResponse> InferenceService::Run(const inference::v1::AnalyzeRequest& request,
                                                                      ingest_client::Deadline deadline,
                                                                      const std::function<bool()>& cancelled) {
  const std::string& study_uid = request.study().study_instance_uid();
  if (study_uid.empty()) return absl::InvalidArgumentError("AnalyzeRequest.study.study_instance_uid is empty");
  if (request.selections().empty()) return absl::InvalidArgumentError("AnalyzeRequest has no model selection");
  for (const inference::v1::ModelSelection& sel : request.selections()) {
    if (sel.model_id().empty()) return absl::InvalidArgumentError("a ModelSelection has an empty model_id");
    if (sel.series_instance_uid().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the selection of model ", sel.model_id(), " names no series_instance_uid"));
    }
    const LoadedModel* loaded = Find(sel.model_id());
    if (loaded == nullptr) {
      return absl::NotFoundError(absl::StrCat("model ", sel.model_id(), " is not loaded on this replica"));
    }
    if (!sel.model_version().empty() && sel.model_version() != loaded->model->manifest().version) {
      return absl::FailedPreconditionError(absl::StrCat("model ", sel.model_id(), " version ", sel.model_version(),
                                                        " was asked for but ",
                                                        loaded->model->manifest().version, " is loaded"));
    }
  }

  rpc::ConcurrencyLimit::Slot slot(limit_);
  if (!slot.acquired()) {
    return absl::ResourceExhaustedError(absl::StrCat("replica at capacity (", options_.max_concurrent,
                                                     " analyses running); retry, possibly on another replica"));
  }
  if (metrics_) metrics_->SetInFlight(limit_.in_use());

  common::v1::StudyManifest fetched;
  const common::v1::StudyManifest* manifest = &request.manifest();
  if (request.manifest().study_instance_uid() != study_uid || request.manifest().series().empty()) {
    absl::StatusOr<common::v1::StudyManifest> got = source_.GetStudy(study_uid, deadline);
    if (!got.ok()) return got.status();
    fetched = *std::move(got);
    manifest = &fetched;
  }
  common::v1::StudyRef study = request.study();
  if (study.generation() == 0) study.set_generation(manifest->generation());

  std::vector<common::v1::QualityFlag> flags;
  for (int q : request.quality_flags()) flags.push_back(static_cast<common::v1::QualityFlag>(q));

  inference::v1::AnalyzeResponse response;
  std::vector<inference::v1::ModelResult> results;
  for (const inference::v1::ModelSelection& sel : request.selections()) {
    if (std::chrono::system_clock::now() > deadline || (cancelled && cancelled())) {
      return absl::DeadlineExceededError(absl::StrCat("deadline passed before model ", sel.model_id(), " ran"));
    }
    const LoadedModel& loaded = *Find(sel.model_id());
    const inference::ModelManifest& model_manifest = loaded.model->manifest();
    const auto started = Clock::now();

    // The instances to read: the chosen ones of the primary series (or all
    // its images), then every image of each additional series.
    std::vector<std::string> uids;
    const common::v1::SeriesManifest* primary = ingest_client::FindSeries(*manifest, sel.series_instance_uid());
    if (primary == nullptr) {
      return absl::NotFoundError(absl::StrCat("series ", sel.series_instance_uid(), " is not part of study ",
                                              study_uid));
    }
    if (sel.sop_instance_uids().empty()) {
      for (const common::v1::InstanceManifest& i : primary->instances()) {
        if (IsImage(i)) uids.push_back(i.sop_instance_uid());
      }
    } else {
      std::unordered_set<std::string> known;
      for (const common::v1::InstanceManifest& i : primary->instances()) known.insert(i.sop_instance_uid());
      for (const std::string& uid : sel.sop_instance_uids()) {
        if (!known.count(uid)) {
          return absl::NotFoundError(absl::StrCat("instance ", uid, " is not part of series ",
                                                  sel.series_instance_uid()));
        }
        uids.push_back(uid);
      }
    }
    for (const std::string& extra : sel.additional_series_instance_uids()) {
      const common::v1::SeriesManifest* s = ingest_client::FindSeries(*manifest, extra);
      if (s == nullptr) {
        return absl::NotFoundError(absl::StrCat("series ", extra, " is not part of study ", study_uid));
      }
      for (const common::v1::InstanceManifest& i : s->instances()) {
        if (IsImage(i)) uids.push_back(i.sop_instance_uid());
      }
    }
    if (uids.empty()) {
      return absl::NotFoundError(absl::StrCat("series ", sel.series_instance_uid(), " holds no image instance"));
    }
    absl::StatusOr<std::vector<std::string>> bytes =
        source_.ReadInstances(uids, deadline, options_.instance_read_parallelism);
    if (!bytes.ok()) return bytes.status();
    std::vector<inference::StudyInstance> instances(bytes->size());
    for (size_t i = 0; i < bytes->size(); ++i) instances[i].bytes = (*bytes)[i];

    inference::v1::ModelResult result;
    QualityResult quality;
    absl::StatusOr<inference::StudyAnalysis> analysis;
    absl::StatusOr<inference::PreparedStudy> prepared = loaded.analyzer->Prepare(instances);
    if (prepared.ok()) {
      quality = AssessQuality(model_manifest, *prepared);
      analysis = loaded.analyzer->AnalyzePrepared(*std::move(prepared));
    } else {
      analysis = prepared.status();
    }
    if (analysis.ok()) {
      std::vector<common::v1::QualityFlag> model_flags = flags;
      for (common::v1::QualityFlag q : quality.flags) {
        if (std::find(model_flags.begin(), model_flags.end(), q) == model_flags.end()) model_flags.push_back(q);
      }
      result = ToModelResult(model_manifest, *analysis, study, model_flags);
      for (common::v1::QualityFlag q : quality.flags) result.add_quality_flags(q);
      for (const std::string& note : quality.notes) result.add_quality_notes(note);
    } else if (analysis.status().code() == absl::StatusCode::kInvalidArgument ||
               analysis.status().code() == absl::StatusCode::kNotFound) {
      result = FailedModelResult(model_manifest, inference::v1::MODEL_OUTCOME_REJECTED_INPUT,
                                 std::string(analysis.status().message()));
    } else {
      result = FailedModelResult(model_manifest, inference::v1::MODEL_OUTCOME_FAILED,
                                 std::string(analysis.status().message()));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    *result.mutable_elapsed() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
        static_cast<int64_t>(seconds * 1e9));
    result.set_device(loaded.model->device());
    if (metrics_) metrics_->ModelRun(model_manifest.id, OutcomeName(result.outcome()), seconds);
    log::Info("model ran", {{"study", study_uid},
                            {"model", model_manifest.id},
                            {"outcome", OutcomeName(result.outcome())},
                            {"instances", static_cast<int>(uids.size())},
                            {"ms", static_cast<long long>(seconds * 1000)}});
    results.push_back(std::move(result));
  }
  if (std::chrono::system_clock::now() > deadline) {
    return absl::DeadlineExceededError("deadline passed while the models ran");
  }

  *response.mutable_study() = study;
  for (inference::v1::ModelResult& r : results) {
    for (const common::v1::Finding& f : r.findings()) {
      if (f.positive()) response.add_positive_labels(f.label());
    }
  }
  response.set_decision(Decide(results));
  for (inference::v1::ModelResult& r : results) *response.add_results() = std::move(r);
  *response.mutable_analysed_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  response.set_replica(options_.replica);
  return response;
}

grpc::Status InferenceService::Analyze(grpc::ServerContext* context, const inference::v1::AnalyzeRequest* request,
                                       inference::v1::AnalyzeResponse* response) {
  const auto started = Clock::now();
  absl::StatusOr<inference::v1::AnalyzeResponse> out =
      Run(*request, context->deadline(), [context] { return context->IsCancelled(); });
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (metrics_) {
    metrics_->Call(absl::StatusCodeToString(out.status().code()), seconds);
    metrics_->SetInFlight(limit_.in_use());
  }
  if (!out.ok()) {
    log::Warning("analyze refused", {{"study", request->study().study_instance_uid()},
                                     {"code", absl::StatusCodeToString(out.status().code())},
                                     {"error", std::string(out.status().message())}});
    return status::ToGrpc(out.status());
  }
  *response = *std::move(out);
  return grpc::Status::OK;
}

absl::StatusOr<inference::v1::RegisterPriorResponse> InferenceService::RunRegisterPrior(
    const inference::v1::RegisterPriorRequest& request, ingest_client::Deadline deadline,
    const std::function<bool()>& cancelled) {
  if (absl::Status s = ValidateRegisterPriorRequest(request); !s.ok()) return s;
  rpc::ConcurrencyLimit::Slot slot(limit_);
  if (!slot.acquired()) {
    return absl::ResourceExhaustedError(absl::StrCat("replica at capacity (", options_.max_concurrent,
                                                     " analyses or registrations running); retry, possibly on "
                                                     "another replica"));
  }
  if (metrics_) metrics_->SetInFlight(limit_.in_use());
  absl::StatusOr<inference::v1::RegisterPriorResponse> out =
      inference_service::RegisterPrior(request, source_, deadline,
                                       {.instance_read_parallelism = options_.instance_read_parallelism,
                                        .threads = options_.registration_threads},
                                       cancelled);
  if (out.ok()) out->set_replica(options_.replica);
  return out;
}

grpc::Status InferenceService::RegisterPrior(grpc::ServerContext* context,
                                             const inference::v1::RegisterPriorRequest* request,
                                             inference::v1::RegisterPriorResponse* response) {
  const auto started = Clock::now();
  absl::StatusOr<inference::v1::RegisterPriorResponse> out =
      RunRegisterPrior(*request, context->deadline(), [context] { return context->IsCancelled(); });
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (metrics_) {
    metrics_->Registration(absl::StatusCodeToString(out.status().code()), out.ok() && out->film(), seconds);
    metrics_->SetInFlight(limit_.in_use());
  }
  if (!out.ok()) {
    log::Warning("prior registration refused", {{"study", request->current().study_instance_uid()},
                                                {"prior_study", request->prior().study_instance_uid()},
                                                {"code", absl::StatusCodeToString(out.status().code())},
                                                {"error", std::string(out.status().message())}});
    return status::ToGrpc(out.status());
  }
  log::Info("prior registered", {{"study", request->current().study_instance_uid()},
                                 {"prior_study", request->prior().study_instance_uid()},
                                 {"film", out->film()},
                                 {"ncc_after", out->ncc_after()},
                                 {"ms", static_cast<long long>(out->elapsed_ms())}});
  *response = *std::move(out);
  return grpc::Status::OK;
}

grpc::Status InferenceService::ListModels(grpc::ServerContext*, const inference::v1::ListModelsRequest* request,
                                          inference::v1::ListModelsResponse* response) {
  for (const LoadedModel& loaded : models_) {
    const inference::ModelManifest& m = loaded.model->manifest();
    const auto has = [](const std::vector<std::string>& values, const std::string& want) {
      return want.empty() || values.empty() || std::find(values.begin(), values.end(), want) != values.end();
    };
    if (!request->modality().empty() &&
        std::find(m.applies_to.modality.begin(), m.applies_to.modality.end(), request->modality()) ==
            m.applies_to.modality.end()) {
      continue;
    }
    if (!has(m.applies_to.body_part, request->body_part())) continue;
    inference::v1::ModelInfo* info = response->add_models();
    info->mutable_model()->set_model_id(m.id);
    info->mutable_model()->set_model_version(m.version);
    info->mutable_model()->set_device_uid(m.device_uid);
    info->set_name(m.id);
    for (const std::string& v : m.applies_to.modality) info->mutable_applies_to()->add_modalities(v);
    for (const std::string& v : m.applies_to.body_part) info->mutable_applies_to()->add_body_parts(v);
    for (const std::string& v : m.applies_to.view_position) info->mutable_applies_to()->add_view_positions(v);
    if (m.input.depth > 1) info->mutable_applies_to()->set_min_slices(m.input.depth);
    for (const inference::Label& l : m.labels) {
      inference::v1::LabelInfo* label = info->add_labels();
      label->set_label(l.name);
      label->mutable_code()->set_system(l.code.system);
      label->mutable_code()->set_code(l.code.code);
      label->mutable_code()->set_display(l.code.display);
      label->set_operating_point(l.operating_point);
      if (inference::IsAnyHaemorrhageLabel(l.name)) {
        for (const inference::Measurement& meas : m.measurements) label->add_measurements(meas.name);
      }
    }
    info->set_weights_sha256(loaded.weights_sha256);
    *info->mutable_loaded_at() = google::protobuf::util::TimeUtil::TimeTToTimestamp(
        std::chrono::system_clock::to_time_t(loaded.loaded_at));
    info->set_device(loaded.model->device());
  }
  return grpc::Status::OK;
}

}  // namespace parallax::inference_service
