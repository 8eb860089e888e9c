#include "analysis_worker.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include "parallax/explainability/v1/explainability.grpc.pb.h"
#include "parallax/inference/v1/inference.grpc.pb.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "prior_comparison.h"
#include "study_analysis.h"
#include "study_plan.h"
#include "triage_metrics.h"

namespace parallax::triage {
namespace {

using Clock = std::chrono::steady_clock;
namespace inf = parallax::inference::v1;
namespace xpl = parallax::explainability::v1;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kDeadlineExceeded || code == absl::StatusCode::kAborted ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kInternal;
}

const char* DecisionName(inf::StudyDecision d) {
  switch (d) {
    case inf::STUDY_DECISION_POSITIVE: return "positive";
    case inf::STUDY_DECISION_NEGATIVE: return "negative";
    case inf::STUDY_DECISION_INDETERMINATE: return "indeterminate";
    default: return "";
  }
}

// Renews the job's lease every third of its duration until destroyed.
class Heartbeat {
 public:
  Heartbeat(JobQueue* queue, const ClaimedJob& job) : queue_(queue), job_(job) {
    thread_ = std::thread([this] {
      const auto period = std::max(std::chrono::milliseconds(50), queue_->options().lease_duration / 3);
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, period, [this] { return done_; })) {
        lock.unlock();
        absl::Status s = queue_->ExtendLease(job_);
        lock.lock();
        if (!s.ok() && s.code() == absl::StatusCode::kFailedPrecondition) {
          lost_ = true;
          return;
        }
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  JobQueue* queue_;
  const ClaimedJob& job_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool lost_ = false;
  std::thread thread_;
};

common::v1::StudyRef StudyRefOf(const ClaimedJob& job) {
  common::v1::StudyRef ref;
  ref.set_study_instance_uid(job.study_instance_uid);
  ref.set_generation(job.generation);
  return ref;
}

}  // namespace

struct AnalysisWorker::Clients {
  std::unique_ptr<inf::Inference::Stub> inference;
  std::unique_ptr<xpl::Explainability::Stub> explainability;
};

AnalysisWorker::AnalysisWorker(JobQueue* queue, JobWaker* waker, TriageStore* store,
                               const std::vector<inference::ModelManifest>* models,
                               std::shared_ptr<grpc::Channel> inference, std::shared_ptr<grpc::Channel> explainability,
                               AnalysisWorkerOptions options, TriageMetrics* metrics, const PriorComparer* priors)
    : queue_(queue),
      waker_(waker),
      store_(store),
      models_(models),
      clients_(std::make_unique<Clients>(Clients{inf::Inference::NewStub(inference),
                                                 xpl::Explainability::NewStub(explainability)})),
      options_(std::move(options)),
      metrics_(metrics),
      priors_(priors) {}

AnalysisWorker::~AnalysisWorker() = default;

void AnalysisWorker::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    uint64_t seen = waker_ != nullptr ? waker_->Epoch() : 0;
    absl::StatusOr<bool> worked = RunOnce();
    if (!worked.ok()) {
      log::Warning("worker cannot claim", {{"worker", options_.worker_id}, {"error", std::string(worked.status().message())}});
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (*worked) continue;
    if (waker_ != nullptr) {
      waker_->WaitForWork(seen, options_.idle_poll);
    } else {
      std::this_thread::sleep_for(options_.idle_poll);
    }
  }
}

absl::StatusOr<bool> AnalysisWorker::RunOnce() {
  absl::StatusOr<std::optional<ClaimedJob>> claimed = queue_->Claim(options_.worker_id);
  if (!claimed.ok()) return claimed.status();
  if (!claimed->has_value()) return false;
  const ClaimedJob& job = **claimed;
  absl::Status s = Process(job);
  if (!s.ok()) {
    log::Warning("job failed", {{"job", static_cast<long long>(job.job_id)},
                                {"study", job.study_instance_uid},
                                {"attempt", job.attempt},
                                {"error", std::string(s.message())}});
  }
  if (metrics_ != nullptr) {
    if (auto counts = queue_->Counts(); counts.ok()) metrics_->SetQueue(*counts);
  }
  return true;
}

absl::Status AnalysisWorker::Process(const ClaimedJob& job) {
  const auto started = Clock::now();
  Heartbeat heartbeat(queue_, job);
  triage::v1::SubmitStudyRequest submission;
  if (!submission.ParseFromString(job.payload)) {
    (void)queue_->Fail(job, "job payload does not parse", false);
    if (metrics_ != nullptr) metrics_->JobEnded("failed");
    return absl::InternalError("job payload does not parse");
  }
  const common::v1::StudyManifest& manifest = submission.study();
  const StudyPlan plan = PlanStudy(manifest, *models_);
  (void)store_->MarkRunning(job.study_instance_uid, job.generation);

  auto give_up = [&](const absl::Status& error) -> absl::Status {
    const bool retryable = Retryable(error.code());
    const std::string text = absl::StrCat(absl::StatusCodeToString(error.code()), ": ", error.message());
    absl::StatusOr<JobState> state = queue_->Fail(job, text, retryable);
    const std::string outcome = !state.ok()                     ? "lease_lost"
                                : *state == JobState::kQueued   ? "retry"
                                : *state == JobState::kDead     ? "dead"
                                : *state == JobState::kSuperseded ? "superseded"
                                                                  : "failed";
    if (state.ok() && (*state == JobState::kDead || *state == JobState::kFailed)) {
      (void)store_->MarkFailed(job.study_instance_uid, job.generation, text.substr(0, 500));
    }
    if (metrics_ != nullptr) metrics_->JobEnded(outcome);
    return error;
  };

  AnalysisRecord record;
  record.study_instance_uid = job.study_instance_uid;
  record.generation = job.generation;
  record.job_id = job.job_id;
  std::vector<common::v1::Finding> findings;
  inf::AnalyzeResponse analysis;

  if (plan.models.empty()) {
    // The models changed since submission: nothing applies now.
    record.state = "not_applicable";
    record.reason = plan.NotApplicableReason();
  } else {
    const inf::AnalyzeRequest request =
        AnalyzeRequestFor(StudyRefOf(job), manifest, plan, std::to_string(job.job_id));
    const auto t_inference = Clock::now();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options_.analyze_timeout);
    grpc::Status g = clients_->inference->Analyze(&context, request, &analysis);
    record.inference_ms = Since(t_inference) * 1000;
    if (metrics_ != nullptr) metrics_->Stage("inference", record.inference_ms / 1000);
    if (!g.ok()) return give_up(status::FromGrpc(g));

    // Explain each positive finding on the slices that carry it.
    const auto t_explain = Clock::now();
    ExplainSettings explain;
    explain.deadline = std::chrono::system_clock::now() + options_.explain_timeout;
    explain.max_explained_slices = options_.max_explained_slices;
    explain.max_png_slices = options_.max_png_slices;
    explain.parallel_explains = options_.parallel_explains;
    explain.dicom_evidence = options_.dicom_evidence;
    ExplainOutcome explained = ExplainPositives(*clients_->explainability, request.study(), plan, &analysis, explain);
    record.evidence = std::move(explained.evidence);
    if (metrics_ != nullptr) {
      for (int i = 0; i < explained.failures; ++i) metrics_->ExplainFailed();
    }
    record.explain_ms = Since(t_explain) * 1000;
    if (metrics_ != nullptr) metrics_->Stage("explain", record.explain_ms / 1000);

    bool any_ok = false;
    for (const inf::ModelResult& r : analysis.results()) any_ok = any_ok || r.outcome() == inf::MODEL_OUTCOME_OK;
    if (any_ok && priors_ != nullptr) {
      const auto t_prior = Clock::now();
      const PriorOutcome compared = priors_->Compare(request.study(), manifest, plan, &analysis);
      record.prior_ms = Since(t_prior) * 1000;
      if (metrics_ != nullptr) {
        metrics_->Stage("prior", record.prior_ms / 1000);
        metrics_->PriorCompared(compared.outcome);
      }
      log::Info("prior comparison", {{"study", job.study_instance_uid},
                                     {"outcome", compared.outcome},
                                     {"prior", compared.prior_study_instance_uid},
                                     {"findings", compared.compared_findings},
                                     {"registered", compared.registered},
                                     {"note", compared.note},
                                     {"ms", static_cast<long long>(record.prior_ms)}});
    }
    for (const inf::ModelResult& r : analysis.results()) {
      for (const common::v1::Finding& f : r.findings()) findings.push_back(f);
    }
    if (any_ok) {
      record.state = "analysed";
    } else {
      // Every model declined: not applicable (or rejected input) with their reasons.
      bool rejected = false;
      std::vector<std::string> reasons;
      for (const inf::ModelResult& r : analysis.results()) {
        rejected = rejected || r.outcome() != inf::MODEL_OUTCOME_NOT_APPLICABLE;
        reasons.push_back(absl::StrCat(r.model().model_id(), ": ", r.error()));
      }
      record.state = rejected ? "failed" : "not_applicable";
      record.reason = absl::StrJoin(reasons, "; ");
    }
    record.decision = DecisionName(analysis.decision());
  }
  for (const common::v1::Finding& f : findings) {
    if (f.positive()) record.positive_labels.push_back(f.label());
  }
  record.quality_flags.assign(plan.quality_flags.begin(), plan.quality_flags.end());
  for (const inf::ModelResult& r : analysis.results()) {  // the image-quality gate's flags
    for (int q : r.quality_flags()) {
      if (std::find(record.quality_flags.begin(), record.quality_flags.end(), q) == record.quality_flags.end()) {
        record.quality_flags.push_back(q);
      }
    }
  }
  record.urgency = FinalUrgency(InitialUrgency(plan.setting, plan.modality, plan.head), findings,
                                analysis.decision() == inf::STUDY_DECISION_INDETERMINATE, options_.urgency);
  // What alert routing receives.
  *record.route.mutable_study() = analysis.has_study() ? analysis.study() : common::v1::StudyRef();
  record.route.mutable_study()->set_study_instance_uid(job.study_instance_uid);
  record.route.mutable_study()->set_generation(job.generation);
  *record.route.mutable_manifest() = manifest;
  for (const common::v1::Finding& f : findings) *record.route.add_findings() = f;
  for (int q : record.quality_flags) record.route.add_quality_flags(static_cast<common::v1::QualityFlag>(q));
  record.route.set_urgency(record.urgency);
  record.route.set_job_id(std::to_string(job.job_id));
  *record.route.mutable_analysed_at() = analysis.has_analysed_at()
                                            ? analysis.analysed_at()
                                            : google::protobuf::util::TimeUtil::GetCurrentTime();
  record.inference_response = analysis.SerializeAsString();

  const auto t_store = Clock::now();
  absl::Status stored = queue_->Complete(
      job,
      [&](store::Transaction& txn, const CompletionContext& ctx) -> absl::Status {
        if (!ctx.superseded) return store_->StoreAnalysis(txn, record);
        // A newer generation is queued: keep this analysis for the record
        // but do not alert on it; the newer one will be routed.
        AnalysisRecord r = record;
        r.route_to_alerting = false;
        return store_->StoreAnalysis(txn, r);
      },
      record.state);
  if (metrics_ != nullptr) metrics_->Stage("store", Since(t_store));
  if (!stored.ok()) {
    if (stored.code() == absl::StatusCode::kFailedPrecondition) {
      if (metrics_ != nullptr) metrics_->JobEnded("lease_lost");
      return stored;  // another worker owns the job now
    }
    return give_up(stored);
  }
  if (metrics_ != nullptr) {
    metrics_->JobEnded(record.state);
    metrics_->Stage("total", Since(started));
  }
  log::Info("study analysed", {{"study", job.study_instance_uid},
                               {"generation", static_cast<long long>(job.generation)},
                               {"state", record.state},
                               {"decision", record.decision},
                               {"positives", static_cast<int>(record.positive_labels.size())},
                               {"urgency", record.urgency},
                               {"inference_ms", static_cast<long long>(record.inference_ms)},
                               {"explain_ms", static_cast<long long>(record.explain_ms)}});
  return absl::OkStatus();
}

}  // namespace parallax::triage
