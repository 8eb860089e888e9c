#pragma once
// Triage's durable analysis queue, in PostgreSQL (table triage.jobs).
//
// One job per (study, generation). A worker Claims the most urgent ready job
// (FOR UPDATE SKIP LOCKED, so concurrent workers never get the same one) and
// holds a lease on it: a random lease token and an expiry it renews with
// ExtendLease. A worker that dies stops renewing; the next Claim after the
// expiry hands the job to another worker with a fresh token. Complete and Fail
// are fenced by the token: a worker whose lease was taken over can no longer
// store a result, which is what makes "exactly one analysis stored" hold.
//
// States:
//   queued     waiting; claimable once available_at has passed (retries wait
//              out an exponential backoff)
//   running    leased to one worker until lease_expires_at
//   done       Complete committed the result (terminal)
//   failed     the worker reported a non-retryable error: the request itself
//              cannot be analysed, retrying would not help (terminal until an
//              operator calls Requeue)
//   dead       the dead letter: retries exhausted (max_attempts), including
//              workers that died holding the lease on the last attempt
//              (terminal until an operator calls Requeue)
//   superseded a newer generation of the study was enqueued before this one
//              finished; it will never run (terminal)
//
// Every time comes from PostgreSQL (statement_timestamp()), so workers on
// different machines agree on leases and backoff.
//
// No patient data is stored outside the payload: the error texts passed to
// Fail must hold codes and UIDs only.
//
// Thread-safety: JobQueue is thread-safe (it holds a Database*, which is).
// JobWaker is thread-safe. ClaimedJob/EnqueueResult/QueueCounts are values.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "parallax/store/database.h"
#include "parallax/store/listener.h"
#include "parallax/store/migrations.h"

namespace parallax::triage {

struct JobQueueOptions {
  // How long a Claim's lease lasts before another worker may take the job
  // over; the worker renews it with ExtendLease well before it runs out.
  std::chrono::milliseconds lease_duration{30000};
  // Attempts (claims) a job gets before it goes to the dead letter state.
  int max_attempts = 5;
  // Backoff before the second attempt after a retryable failure; doubles for
  // each further attempt.
  std::chrono::milliseconds backoff_base{2000};
  // Upper bound of the backoff.
  std::chrono::milliseconds backoff_cap{300000};
  // Fraction of the backoff drawn at random (0 = none, 0.5 = between 50% and
  // 100% of the nominal delay), so failed jobs do not retry in lock-step.
  double backoff_jitter = 0.5;
  // PostgreSQL NOTIFY channel announcing that a job became claimable.
  std::string notify_channel = "triage_jobs";
};

enum class JobState { kQueued, kRunning, kDone, kFailed, kDead, kSuperseded };

// "queued", "running", ... as stored in triage.jobs.state.
std::string_view JobStateName(JobState state);

struct EnqueueResult {
  int64_t job_id = 0;
  // False when (study, generation) was already enqueued: nothing changed.
  bool newly_created = false;
  // The job's state now (queued for a new job; superseded when a newer
  // generation of the study was already known).
  JobState state = JobState::kQueued;
};

// A job leased to one worker. Pass it back unchanged to ExtendLease, Complete
// and Fail; lease_token is what fences a worker whose lease was taken over.
struct ClaimedJob {
  int64_t job_id = 0;
  std::string study_instance_uid;
  int64_t generation = 0;
  int urgency = 0;
  // 1 for the first claim, 2 for the first retry, ...
  int attempt = 0;
  int max_attempts = 0;
  std::string lease_token;
  // The bytes given to Enqueue.
  std::string payload;
};

// What Complete's store_result learns besides the transaction.
struct CompletionContext {
  // Highest generation of the study enqueued so far. Larger than the job's
  // generation when new instances arrived while it ran: the result is then
  // for an older generation, and a newer job will analyse the study again.
  int64_t latest_generation = 0;
  // latest_generation > the job's generation.
  bool superseded = false;
};

// Jobs per state, for Prometheus gauges. done and superseded are history and
// are not counted here (count completions in-process instead), so a scrape
// costs in proportion to the active jobs only.
struct QueueCounts {
  int64_t queued = 0;        // of which some may still wait out a backoff
  int64_t queued_ready = 0;  // queued and claimable now
  int64_t running = 0;
  int64_t failed = 0;
  int64_t dead = 0;
  // Seconds since the oldest queued job was enqueued (0 when none is queued);
  // a retried or requeued job keeps its original enqueue time.
  double oldest_queued_age_seconds = 0;
};

// A job's row, for operators and status queries.
struct JobInfo {
  int64_t job_id = 0;
  std::string study_instance_uid;
  int64_t generation = 0;
  int urgency = 0;
  JobState state = JobState::kQueued;
  int attempts = 0;
  int max_attempts = 0;
  std::string last_error;  // empty when none
  std::string outcome;     // what Complete recorded; empty before
};

class JobQueue {
 public:
  // The queue's schema migrations, numbered first_version, first_version+1,
  // ... for appending to the triage service's own list (one list per schema;
  // see parallax/store/migrations.h). Objects are named triage.*.
  static std::vector<store::Migration> Migrations(int first_version);

  // Applies Migrations(1) to schema `triage`: for a database where the queue
  // is the schema's only user (tests, tools). The service appends
  // Migrations(n) to its list instead. OK when up to date; otherwise as
  // store::ApplyMigrations.
  static absl::Status Migrate(store::Database& db);

  // db must outlive the queue. options are copied.
  JobQueue(store::Database* db, JobQueueOptions options);

  // Adds the job for (study, generation), idempotently, and NOTIFYs the
  // channel at commit when it is claimable.
  // - (study, generation) known: nothing changes; newly_created false.
  // - newer than every known generation: a queued job; queued, failed and
  //   dead jobs of older generations become superseded (a running one may
  //   finish: Complete then tells its store_result it was superseded).
  // - older than a known generation: recorded as superseded, never runs.
  // INVALID_ARGUMENT for an empty study UID or generation < 1; UNAVAILABLE
  // (retryable) when the database cannot be reached; other store errors as
  // parallax/store/database.h.
  absl::StatusOr<EnqueueResult> Enqueue(std::string_view study_instance_uid, int64_t generation, int urgency,
                                        std::string_view payload);

  // Leases the most urgent claimable job (highest urgency, then oldest
  // job_id): a queued job whose available_at has passed, or a running job
  // whose lease expired (its worker is presumed dead). A job whose lease
  // expired on its last attempt goes to dead instead, and one whose study has
  // a newer generation to superseded. Sets running, attempt+1, a fresh
  // lease_token, lease_expires_at = now + lease (options' lease_duration
  // when lease is zero). Returns nullopt when nothing is claimable.
  // INVALID_ARGUMENT for an empty worker_id; UNAVAILABLE as Enqueue.
  absl::StatusOr<std::optional<ClaimedJob>> Claim(std::string_view worker_id,
                                                  std::chrono::milliseconds lease = std::chrono::milliseconds(0));

  // Heartbeat: moves the lease's expiry to now + lease (options' default when
  // zero). OK while the job is still running under job.lease_token (even if
  // the expiry passed, as long as no one took it over). FAILED_PRECONDITION
  // when the lease was lost (taken over, or the job is no longer running):
  // the worker must abandon the job. UNAVAILABLE as Enqueue.
  absl::Status ExtendLease(const ClaimedJob& job, std::chrono::milliseconds lease = std::chrono::milliseconds(0));

  // In one transaction: locks the job, checks it is still running under
  // job.lease_token, runs store_result (the caller stores the analysis with
  // the given Transaction), and marks the job done with outcome (a short code
  // such as "analysed"; no patient data). OK when all committed.
  // FAILED_PRECONDITION when the lease was lost: store_result did NOT run and
  // nothing changed. When store_result returns an error, everything rolls
  // back, Complete returns that error and the job stays running under the
  // lease (call Fail). store_result may run more than once if the
  // transaction is retried after a serialization failure or deadlock (each
  // earlier run rolled back), so it must only touch the database, and it
  // must not call into the Database itself. UNAVAILABLE as Enqueue; UNKNOWN
  // when the connection broke during COMMIT.
  absl::Status Complete(
      const ClaimedJob& job,
      const std::function<absl::Status(store::Transaction&, const CompletionContext&)>& store_result,
      std::string_view outcome = "analysed");

  // Gives the job up after an error (error_text: codes and UIDs only, kept
  // in last_error, truncated to 1000 bytes). Under a valid lease:
  // - a newer generation exists: superseded;
  // - retryable and attempts < max_attempts: queued again, claimable after
  //   the backoff min(cap, base * 2^(attempt-1)) less up to backoff_jitter of
  //   it at random;
  // - retryable and attempts exhausted: dead;
  // - not retryable: failed.
  // Returns the new state. FAILED_PRECONDITION when the lease was lost
  // (nothing changed); UNAVAILABLE as Enqueue.
  absl::StatusOr<JobState> Fail(const ClaimedJob& job, std::string_view error_text, bool retryable);

  // Operator action: puts a dead or failed job back to queued with a fresh
  // set of attempts, claimable now, and NOTIFYs. NOT_FOUND for an unknown
  // job_id; FAILED_PRECONDITION when it is in another state (a superseded
  // job is never re-run: enqueue the newer generation instead).
  absl::Status Requeue(int64_t job_id);

  // Jobs per state and the oldest queued age. UNAVAILABLE as Enqueue.
  absl::StatusOr<QueueCounts> Counts();

  // One job's row. NOT_FOUND for an unknown job_id; UNAVAILABLE as Enqueue.
  absl::StatusOr<JobInfo> Get(int64_t job_id);

  // Up to limit jobs in state, most recently updated first (e.g. the dead
  // letters for an operator). UNAVAILABLE as Enqueue.
  absl::StatusOr<std::vector<JobInfo>> List(JobState state, int limit);

  const JobQueueOptions& options() const { return options_; }

 private:
  // The nominal-with-jitter delay before attempt+1.
  std::chrono::milliseconds Backoff(int attempt) const;

  store::Database* db_;
  JobQueueOptions options_;
};

// Wakes idle workers when work is enqueued: one LISTEN connection and a
// thread that turns each NOTIFY on the channel into a wake-up of every
// waiter. A NOTIFY can race a worker's Claim, so workers also wake on their
// own fallback timeout and look again.
//
// Usage, per worker thread:
//   uint64_t seen = waker->Epoch();      // before the first Claim
//   for (;;) {
//     auto job = queue.Claim(...);
//     if (job is empty) { waker->WaitForWork(seen, fallback_poll); continue; }
//     ...
//   }
// Taking the epoch before Claim means a NOTIFY arriving between the empty
// Claim and the wait is not lost.
//
// Thread-safe. Destroying it stops the thread (within about 200 ms) and wakes
// every waiter.
class JobWaker {
 public:
  // Connects and LISTENs on channel. UNAVAILABLE when the server cannot be
  // reached; INVALID_ARGUMENT for an empty channel.
  static absl::StatusOr<std::unique_ptr<JobWaker>> Open(const std::string& url, const std::string& channel);
  ~JobWaker();
  JobWaker(const JobWaker&) = delete;
  JobWaker& operator=(const JobWaker&) = delete;

  // Counter of wake-ups so far (notifications received, reconnections,
  // Shutdown).
  uint64_t Epoch() const;

  // Returns true as soon as Epoch() > seen (at once when it already is) and
  // sets seen to the current epoch; false when timeout passed without a
  // wake-up. Also returns true after Shutdown.
  bool WaitForWork(uint64_t& seen, std::chrono::milliseconds timeout);

  // Wakes every waiter and makes later WaitForWork calls return at once.
  void Shutdown();

  bool shut_down() const;

 private:
  JobWaker() = default;
  void Run();
  void Bump();

  std::string url_;
  std::string channel_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t epoch_ = 0;
  bool shutdown_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::unique_ptr<store::Listener> listener_;  // owned by thread_ once it runs
};

}  // namespace parallax::triage
