#include "triage_handoff.h"

#include "parallax/log/log.h"

namespace parallax::ingest {

TriageHandoff::TriageHandoff(TriageHandoffOptions options, StudyIndex* index, IngestMetrics* metrics,
                             SubmitStudyFn submit)
    : options_(options), index_(index), metrics_(metrics), submit_(std::move(submit)) {}

TriageHandoff::~TriageHandoff() { Stop(); }

void TriageHandoff::Start() {
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void TriageHandoff::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TriageHandoff::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    RunOnce();
    lock.lock();
    cv_.wait_for(lock, options_.sweep_interval, [this] { return stopping_; });
  }
}

void TriageHandoff::RunOnce() {
  // Priors ingest retrieved itself (origin prior_retrieval) become stable
  // here too, but the index does not enqueue them: they are old studies for
  // comparison, not new ones for triage to analyse and alert on.
  int skipped_priors = 0;
  auto marked = index_->MarkStableStudies(options_.stable_after, &skipped_priors);
  if (!marked.ok()) {
    log::Warning("stability sweep failed", {{"error", std::string(marked.status().message())}});
  } else {
    if (*marked > 0) {
      metrics_->StudiesStable(*marked);
      log::Info("studies stable", {{"count", *marked}});
    }
    if (skipped_priors > 0) {
      log::Info("retrieved priors stable; not handed to triage", {{"count", skipped_priors}});
    }
  }

  auto delivered = index_->DispatchDue(16, options_.max_backoff, [this](const OutboxEntry& entry) {
    auto manifest = index_->LoadManifest(entry.study_instance_uid);
    if (!manifest.ok()) return manifest.status();
    // The manifest is read now, so instances indexed after the study was
    // marked stable travel with it; its generation is the outbox entry's.
    manifest->set_generation(entry.generation);
    absl::Status s = submit_(*manifest, "ingest-outbox-" + std::to_string(entry.id));
    metrics_->SubmittedToTriage(s.ok());
    if (s.ok()) {
      log::Info("study submitted to triage", {{"study_uid", entry.study_instance_uid},
                                              {"generation", static_cast<long long>(entry.generation)}});
    } else {
      log::Warning("triage did not accept the study; will retry",
                   {{"study_uid", entry.study_instance_uid}, {"attempt", entry.attempts + 1},
                    {"error", std::string(s.message())}});
    }
    return s;
  });
  if (!delivered.ok()) log::Warning("outbox delivery failed", {{"error", std::string(delivered.status().message())}});

  auto depth = index_->OutboxDepth();
  if (depth.ok()) metrics_->SetOutboxDepth(static_cast<double>(*depth));
}

}  // namespace parallax::ingest
