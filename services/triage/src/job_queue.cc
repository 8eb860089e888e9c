#include "job_queue.h"

#include "parallax/store/bytea.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

namespace parallax::triage {
namespace {

// The lease and backoff travel as milliseconds; PostgreSQL does the time.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE triage.jobs (
  job_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid  text NOT NULL,
  generation          bigint NOT NULL CHECK (generation >= 1),
  urgency             integer NOT NULL,
  state               text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'done', 'failed', 'dead', 'superseded')),
  attempts            integer NOT NULL DEFAULT 0,
  max_attempts        integer NOT NULL CHECK (max_attempts >= 1),
  available_at        timestamptz NOT NULL DEFAULT statement_timestamp(),
  lease_owner         text,
  lease_token         uuid,
  lease_expires_at    timestamptz,
  last_error          text,
  outcome             text,
  payload             bytea NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT statement_timestamp(),
  updated_at          timestamptz NOT NULL DEFAULT statement_timestamp(),
  finished_at         timestamptz,
  UNIQUE (study_instance_uid, generation),
  CHECK ((state = 'running') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);
-- Claim: the most urgent, oldest queued job.
CREATE INDEX jobs_claimable ON triage.jobs (urgency DESC, job_id) WHERE state = 'queued';
-- Claim's reaper: running jobs whose lease expired.
CREATE INDEX jobs_leases ON triage.jobs (lease_expires_at) WHERE state = 'running';
-- Operators and gauges: what needs attention.
CREATE INDEX jobs_attention ON triage.jobs (state, updated_at) WHERE state IN ('failed', 'dead');
)sql";

constexpr char kColumns[] =
    "job_id, study_instance_uid, generation, urgency, state, attempts, max_attempts, "
    "coalesce(last_error, ''), coalesce(outcome, '')";

absl::StatusOr<JobState> ParseState(const std::string& s) {
  for (JobState st : {JobState::kQueued, JobState::kRunning, JobState::kDone, JobState::kFailed, JobState::kDead,
                      JobState::kSuperseded}) {
    if (s == JobStateName(st)) return st;
  }
  return absl::InternalError("triage.jobs: unknown state in the database");
}

absl::StatusOr<JobInfo> ParseInfo(const store::Row& row) {
  JobInfo info;
  auto id = row.GetInt64(0);
  if (!id.ok()) return id.status();
  info.job_id = *id;
  info.study_instance_uid = row.Get(1).value_or("");
  info.generation = row.GetInt64(2).value_or(0);
  info.urgency = static_cast<int>(row.GetInt64(3).value_or(0));
  auto state = ParseState(row.Get(4).value_or(""));
  if (!state.ok()) return state.status();
  info.state = *state;
  info.attempts = static_cast<int>(row.GetInt64(5).value_or(0));
  info.max_attempts = static_cast<int>(row.GetInt64(6).value_or(0));
  info.last_error = row.Get(7).value_or("");
  info.outcome = row.Get(8).value_or("");
  return info;
}

absl::Status LeaseLost(int64_t job_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "lease on triage job ", job_id, " was lost (taken over by another worker, or the job is no longer running)"));
}

long long Millis(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

// Locks the job's row when it is still running under job's lease; false when
// the lease was lost.
absl::StatusOr<bool> LockLease(store::Transaction& tx, const ClaimedJob& job) {
  auto rows = tx.Exec(
      "SELECT 1 FROM triage.jobs WHERE job_id = $1 AND state = 'running' AND lease_token = $2::uuid FOR UPDATE",
      {static_cast<long long>(job.job_id), job.lease_token});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

absl::StatusOr<int64_t> LatestGeneration(store::Transaction& tx, const std::string& study) {
  auto rows = tx.Exec("SELECT max(generation) FROM triage.jobs WHERE study_instance_uid = $1", {study});
  if (!rows.ok()) return rows.status();
  if (rows->empty() || (*rows)[0].IsNull(0)) return int64_t{0};
  return (*rows)[0].GetInt64(0);
}

}  // namespace

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kFailed: return "failed";
    case JobState::kDead: return "dead";
    case JobState::kSuperseded: return "superseded";
  }
  return "unknown";
}

std::vector<store::Migration> JobQueue::Migrations(int first_version) {
  return {{first_version, "analysis job queue", std::string(kMigration1)}};
}

absl::Status JobQueue::Migrate(store::Database& db) { return store::ApplyMigrations(db, "triage", Migrations(1)); }

JobQueue::JobQueue(store::Database* db, JobQueueOptions options) : db_(db), options_(std::move(options)) {}

std::chrono::milliseconds JobQueue::Backoff(int attempt) const {
  const double base = static_cast<double>(options_.backoff_base.count());
  const double cap = static_cast<double>(options_.backoff_cap.count());
  const double nominal = std::min(cap, base * std::pow(2.0, std::max(0, attempt - 1)));
  const double jitter = std::clamp(options_.backoff_jitter, 0.0, 1.0);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(nominal * (1.0 - jitter * draw(rng))));
}

absl::StatusOr<EnqueueResult> JobQueue::Enqueue(std::string_view study_instance_uid, int64_t generation, int urgency,
                                                std::string_view payload) {
  if (study_instance_uid.empty()) return absl::InvalidArgumentError("study_instance_uid is required");
  if (generation < 1) return absl::InvalidArgumentError("generation must be >= 1");
  const std::string study(study_instance_uid);
  const std::string hex_payload = store::ToByteaHex(payload);
  EnqueueResult result;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    result = EnqueueResult{};
    // Enqueues of one study serialise, so "newest generation" is well defined.
    auto lock = tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended('triage.jobs:' || $1, 0))", {study});
    if (!lock.ok()) return lock.status();
    auto latest = LatestGeneration(tx, study);
    if (!latest.ok()) return latest.status();
    const bool stale = *latest > generation;
    auto inserted = tx.Exec(
        "INSERT INTO triage.jobs (study_instance_uid, generation, urgency, state, max_attempts, payload, finished_at) "
        "VALUES ($1::text, $2::bigint, $3::integer, $4::text, $5::integer, $6::bytea,"
        "        CASE WHEN $4::text = 'superseded' THEN statement_timestamp() END) "
        "ON CONFLICT (study_instance_uid, generation) DO NOTHING RETURNING job_id",
        {study, static_cast<long long>(generation), urgency, stale ? "superseded" : "queued",
         options_.max_attempts, hex_payload});
    if (!inserted.ok()) return inserted.status();
    if (inserted->empty()) {
      auto existing = tx.Exec("SELECT job_id, state FROM triage.jobs WHERE study_instance_uid = $1 AND generation = $2",
                              {study, static_cast<long long>(generation)});
      if (!existing.ok()) return existing.status();
      if (existing->empty()) return absl::InternalError("triage.jobs: conflicting row vanished");
      auto id = (*existing)[0].GetInt64(0);
      if (!id.ok()) return id.status();
      auto state = ParseState((*existing)[0].Get(1).value_or(""));
      if (!state.ok()) return state.status();
      result.job_id = *id;
      result.state = *state;
      return absl::OkStatus();
    }
    auto id = (*inserted)[0].GetInt64(0);
    if (!id.ok()) return id.status();
    result.job_id = *id;
    result.newly_created = true;
    result.state = stale ? JobState::kSuperseded : JobState::kQueued;
    if (stale) return absl::OkStatus();
    auto superseded = tx.Exec(
        "UPDATE triage.jobs SET state = 'superseded', updated_at = statement_timestamp(), "
        "finished_at = statement_timestamp() "
        "WHERE study_instance_uid = $1 AND generation < $2 AND state IN ('queued', 'failed', 'dead')",
        {study, static_cast<long long>(generation)});
    if (!superseded.ok()) return superseded.status();
    // Delivered when the transaction commits, never before.
    auto notified = tx.Exec("SELECT pg_notify($1, $2)", {options_.notify_channel, std::to_string(result.job_id)});
    if (!notified.ok()) return notified.status();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<std::optional<ClaimedJob>> JobQueue::Claim(std::string_view worker_id,
                                                          std::chrono::milliseconds lease) {
  if (worker_id.empty()) return absl::InvalidArgumentError("worker_id is required");
  if (lease.count() <= 0) lease = options_.lease_duration;
  std::optional<ClaimedJob> claimed;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    claimed.reset();
    // Reap expired leases: their worker is presumed dead. The job goes back to
    // the queue (claimable at once, possibly by this very Claim), to dead when
    // that was its last attempt, or to superseded when the study moved on.
    // SKIP LOCKED: a row locked by its worker's Complete/Fail is not expired
    // from our point of view, and another reaper's rows are its business.
    auto reaped = tx.Exec(
        "WITH expired AS ("
        "  SELECT e.job_id, EXISTS (SELECT 1 FROM triage.jobs n WHERE n.study_instance_uid = e.study_instance_uid"
        "                           AND n.generation > e.generation) AS newer"
        "  FROM triage.jobs e"
        "  WHERE e.state = 'running' AND e.lease_expires_at <= statement_timestamp()"
        "  ORDER BY e.lease_expires_at LIMIT 100 FOR UPDATE OF e SKIP LOCKED) "
        "UPDATE triage.jobs j SET "
        "  state = CASE WHEN expired.newer THEN 'superseded'"
        "               WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,"
        "  last_error = 'lease expired on attempt ' || j.attempts || ' (worker ' || j.lease_owner || ')',"
        "  available_at = statement_timestamp(), lease_owner = NULL, lease_token = NULL,"
        "  lease_expires_at = NULL, updated_at = statement_timestamp(),"
        "  finished_at = CASE WHEN expired.newer OR j.attempts >= j.max_attempts THEN statement_timestamp() END "
        "FROM expired WHERE j.job_id = expired.job_id");
    if (!reaped.ok()) return reaped.status();
    auto rows = tx.Exec(
        "WITH next AS ("
        "  SELECT job_id FROM triage.jobs"
        "  WHERE state = 'queued' AND available_at <= statement_timestamp()"
        "  ORDER BY urgency DESC, job_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "UPDATE triage.jobs j SET state = 'running', attempts = j.attempts + 1, lease_owner = $1,"
        "  lease_token = gen_random_uuid(),"
        "  lease_expires_at = statement_timestamp() + $2::bigint * interval '1 millisecond',"
        "  updated_at = statement_timestamp() "
        "FROM next WHERE j.job_id = next.job_id "
        "RETURNING j.job_id, j.study_instance_uid, j.generation, j.urgency, j.attempts, j.max_attempts,"
        "  j.lease_token::text, j.payload",
        {std::string(worker_id), Millis(lease)});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::OkStatus();
    const store::Row& row = (*rows)[0];
    ClaimedJob job;
    auto id = row.GetInt64(0);
    if (!id.ok()) return id.status();
    job.job_id = *id;
    job.study_instance_uid = row.Get(1).value_or("");
    job.generation = row.GetInt64(2).value_or(0);
    job.urgency = static_cast<int>(row.GetInt64(3).value_or(0));
    job.attempt = static_cast<int>(row.GetInt64(4).value_or(0));
    job.max_attempts = static_cast<int>(row.GetInt64(5).value_or(0));
    job.lease_token = row.Get(6).value_or("");
    auto payload = store::FromByteaHex(row.Get(7).value_or(""), "triage.jobs.payload");
    if (!payload.ok()) return payload.status();
    job.payload = *std::move(payload);
    claimed = std::move(job);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return claimed;
}

absl::Status JobQueue::ExtendLease(const ClaimedJob& job, std::chrono::milliseconds lease) {
  if (lease.count() <= 0) lease = options_.lease_duration;
  auto rows = db_->Exec(
      "UPDATE triage.jobs SET lease_expires_at = statement_timestamp() + $3::bigint * interval '1 millisecond',"
      "  updated_at = statement_timestamp() "
      "WHERE job_id = $1 AND state = 'running' AND lease_token = $2::uuid",
      {static_cast<long long>(job.job_id), job.lease_token, Millis(lease)});
  if (!rows.ok()) return rows.status();
  if (rows->affected_rows() != 1) return LeaseLost(job.job_id);
  return absl::OkStatus();
}

absl::Status JobQueue::Complete(
    const ClaimedJob& job,
    const std::function<absl::Status(store::Transaction&, const CompletionContext&)>& store_result,
    std::string_view outcome) {
  const std::string outcome_text(outcome);
  return db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    auto held = LockLease(tx, job);
    if (!held.ok()) return held.status();
    if (!*held) return LeaseLost(job.job_id);
    auto latest = LatestGeneration(tx, job.study_instance_uid);
    if (!latest.ok()) return latest.status();
    CompletionContext context;
    context.latest_generation = *latest;
    context.superseded = *latest > job.generation;
    absl::Status stored = store_result(tx, context);
    if (!stored.ok()) return stored;
    auto done = tx.Exec(
        "UPDATE triage.jobs SET state = 'done', outcome = $2, lease_token = NULL, lease_expires_at = NULL,"
        "  updated_at = statement_timestamp(), finished_at = statement_timestamp() WHERE job_id = $1",
        {static_cast<long long>(job.job_id), outcome_text});
    if (!done.ok()) return done.status();
    return absl::OkStatus();
  });
}

absl::StatusOr<JobState> JobQueue::Fail(const ClaimedJob& job, std::string_view error_text, bool retryable) {
  std::string error(error_text.substr(0, 1000));
  // Cut at a UTF-8 character boundary: PostgreSQL rejects a broken sequence.
  if (error.size() == 1000) {
    size_t end = error.size();
    size_t i = end;
    while (i > 0 && (static_cast<unsigned char>(error[i - 1]) & 0xC0) == 0x80) --i;
    if (i > 0 && (static_cast<unsigned char>(error[i - 1]) & 0x80) != 0) {
      const unsigned char lead = static_cast<unsigned char>(error[i - 1]);
      const size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (end - (i - 1) < len) error.resize(i - 1);
    }
  }
  const long long backoff_ms = Millis(Backoff(job.attempt));
  JobState next = JobState::kFailed;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    auto held = LockLease(tx, job);
    if (!held.ok()) return held.status();
    if (!*held) return LeaseLost(job.job_id);
    auto latest = LatestGeneration(tx, job.study_instance_uid);
    if (!latest.ok()) return latest.status();
    auto attempts = tx.Exec("SELECT attempts, max_attempts FROM triage.jobs WHERE job_id = $1",
                            {static_cast<long long>(job.job_id)});
    if (!attempts.ok()) return attempts.status();
    if (attempts->empty()) return LeaseLost(job.job_id);
    const int64_t used = (*attempts)[0].GetInt64(0).value_or(0);
    const int64_t allowed = (*attempts)[0].GetInt64(1).value_or(0);
    if (*latest > job.generation) {
      next = JobState::kSuperseded;
    } else if (!retryable) {
      next = JobState::kFailed;
    } else if (used >= allowed) {
      next = JobState::kDead;
    } else {
      next = JobState::kQueued;
    }
    const bool terminal = next != JobState::kQueued;
    auto updated = tx.Exec(
        "UPDATE triage.jobs SET state = $2, last_error = $3, lease_owner = NULL, lease_token = NULL,"
        "  lease_expires_at = NULL,"
        "  available_at = statement_timestamp() + $4::bigint * interval '1 millisecond',"
        "  updated_at = statement_timestamp(),"
        "  finished_at = CASE WHEN $5::boolean THEN statement_timestamp() END "
        "WHERE job_id = $1",
        {static_cast<long long>(job.job_id), std::string(JobStateName(next)), error,
         terminal ? 0LL : backoff_ms, terminal});
    if (!updated.ok()) return updated.status();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return next;
}

absl::Status JobQueue::Requeue(int64_t job_id) {
  bool found = false;
  bool requeued = false;
  absl::Status s = db_->InTransaction([&](store::Transaction& tx) -> absl::Status {
    auto rows = tx.Exec(
        "UPDATE triage.jobs SET state = 'queued', attempts = 0, available_at = statement_timestamp(),"
        "  updated_at = statement_timestamp(), finished_at = NULL "
        "WHERE job_id = $1 AND state IN ('dead', 'failed') RETURNING job_id",
        {static_cast<long long>(job_id)});
    if (!rows.ok()) return rows.status();
    requeued = !rows->empty();
    if (!requeued) {
      auto exists = tx.Exec("SELECT 1 FROM triage.jobs WHERE job_id = $1", {static_cast<long long>(job_id)});
      if (!exists.ok()) return exists.status();
      found = !exists->empty();
      return absl::OkStatus();
    }
    found = true;
    auto notified = tx.Exec("SELECT pg_notify($1, $2)", {options_.notify_channel, std::to_string(job_id)});
    if (!notified.ok()) return notified.status();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError(absl::StrCat("no triage job ", job_id));
  if (!requeued) {
    return absl::FailedPreconditionError(
        absl::StrCat("triage job ", job_id, " is neither dead nor failed; only those can be requeued"));
  }
  return absl::OkStatus();
}

absl::StatusOr<QueueCounts> JobQueue::Counts() {
  // One small aggregate per partial index, so the cost follows the active
  // jobs, never the history of done ones.
  auto rows = db_->Exec(
      "SELECT q.total, q.ready, r.total, fd.failed, fd.dead,"
      "  coalesce(extract(epoch FROM statement_timestamp() - q.oldest), 0)::float8 "
      "FROM (SELECT count(*) AS total, count(*) FILTER (WHERE available_at <= statement_timestamp()) AS ready,"
      "             min(created_at) AS oldest FROM triage.jobs WHERE state = 'queued') q,"
      "     (SELECT count(*) AS total FROM triage.jobs WHERE state = 'running') r,"
      "     (SELECT count(*) FILTER (WHERE state = 'failed') AS failed, count(*) FILTER (WHERE state = 'dead') AS dead"
      "      FROM triage.jobs WHERE state IN ('failed', 'dead')) fd");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::InternalError("triage.jobs counts: no row");
  const store::Row& row = (*rows)[0];
  QueueCounts counts;
  counts.queued = row.GetInt64(0).value_or(0);
  counts.queued_ready = row.GetInt64(1).value_or(0);
  counts.running = row.GetInt64(2).value_or(0);
  counts.failed = row.GetInt64(3).value_or(0);
  counts.dead = row.GetInt64(4).value_or(0);
  counts.oldest_queued_age_seconds = row.GetDouble(5).value_or(0);
  return counts;
}

absl::StatusOr<JobInfo> JobQueue::Get(int64_t job_id) {
  auto rows = db_->Exec(absl::StrCat("SELECT ", kColumns, " FROM triage.jobs WHERE job_id = $1"),
                        {static_cast<long long>(job_id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat("no triage job ", job_id));
  return ParseInfo((*rows)[0]);
}

absl::StatusOr<std::vector<JobInfo>> JobQueue::List(JobState state, int limit) {
  limit = std::clamp(limit, 1, 1000);
  auto rows = db_->Exec(absl::StrCat("SELECT ", kColumns,
                                     " FROM triage.jobs WHERE state = $1 ORDER BY updated_at DESC, job_id DESC "
                                     "LIMIT $2"),
                        {std::string(JobStateName(state)), limit});
  if (!rows.ok()) return rows.status();
  std::vector<JobInfo> out;
  out.reserve(rows->size());
  for (const auto& row : *rows) {
    auto info = ParseInfo(row);
    if (!info.ok()) return info.status();
    out.push_back(*std::move(info));
  }
  return out;
}

// ---------------------------------------------------------------------------
// JobWaker

absl::StatusOr<std::unique_ptr<JobWaker>> JobWaker::Open(const std::string& url, const std::string& channel) {
  auto listener = store::Listener::Open(url, channel);
  if (!listener.ok()) return listener.status();
  std::unique_ptr<JobWaker> waker(new JobWaker());
  waker->url_ = url;
  waker->channel_ = channel;
  waker->listener_ = *std::move(listener);
  waker->thread_ = std::thread([w = waker.get()] { w->Run(); });
  return waker;
}

JobWaker::~JobWaker() {
  stop_.store(true);
  Shutdown();
  if (thread_.joinable()) thread_.join();
}

void JobWaker::Run() {
  // Short waits so the destructor is never kept waiting long.
  constexpr std::chrono::milliseconds kSlice{200};
  while (!stop_.load()) {
    auto woke = listener_->Wait(kSlice);
    if (woke.ok()) {
      if (*woke) Bump();
      continue;
    }
    // Connection lost: the next Wait reconnects (and reports true, as
    // notifications may have been missed). Do not spin on a dead server.
    for (int i = 0; i < 5 && !stop_.load(); ++i) std::this_thread::sleep_for(kSlice);
  }
}

void JobWaker::Bump() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++epoch_;
  }
  cv_.notify_all();
}

uint64_t JobWaker::Epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

bool JobWaker::WaitForWork(uint64_t& seen, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool woke = cv_.wait_for(lock, timeout, [&] { return shutdown_ || epoch_ > seen; });
  seen = epoch_;
  return woke;
}

void JobWaker::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shutdown_) ++epoch_;
    shutdown_ = true;
  }
  cv_.notify_all();
}

bool JobWaker::shut_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_;
}

}  // namespace parallax::triage
