#include "parallax/audit_client/audit_recorder.h"

#include <algorithm>
#include <atomic>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_replace.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "parallax/audit/v1/audit.grpc.pb.h"
#include "parallax/audit_client/event_id.h"
#include "parallax/log/log.h"
#include "parallax/store/bytea.h"
#include "parallax/store/listener.h"

namespace parallax::audit_client {
namespace {

namespace v1 = audit::v1;

constexpr char kOutboxSql[] = R"sql(
CREATE TABLE ${schema}.audit_outbox (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id     text NOT NULL UNIQUE,
  event        bytea NOT NULL,
  enqueued_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text,
  dead         boolean NOT NULL DEFAULT false
);
CREATE INDEX audit_outbox_pending ON ${schema}.audit_outbox (id) WHERE NOT dead;
)sql";

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 48) return false;
  if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

// Refusals that no retry can turn into success.
bool Permanent(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT || code == grpc::StatusCode::FAILED_PRECONDITION ||
         code == grpc::StatusCode::OUT_OF_RANGE;
}

std::string Truncated(std::string text) {
  if (text.size() > 1000) text.resize(1000);
  return text;
}

}  // namespace

struct AuditRecorder::Sender {
  std::unique_ptr<v1::Audit::Stub> stub;
};

struct AuditRecorder::Metrics {
  prometheus::Counter* delivered = nullptr;
  prometheus::Counter* failures = nullptr;
  prometheus::Counter* dead = nullptr;
  prometheus::Gauge* pending = nullptr;
};

std::vector<store::Migration> AuditRecorder::Migrations(std::string_view schema, int first_version) {
  return {{first_version, "audit outbox",
           absl::StrReplaceAll(kOutboxSql, {{"${schema}", std::string(schema)}})}};
}

absl::Status AuditRecorder::Migrate(store::Database& db, std::string_view schema) {
  if (!IsIdentifier(schema)) return absl::InvalidArgumentError("audit outbox schema must be a lower-case identifier");
  return store::ApplyMigrations(db, schema, Migrations(schema, 1));
}

AuditRecorder::AuditRecorder(store::Database* db, std::string schema, AuditRecorderOptions options)
    : db_(db),
      schema_(std::move(schema)),
      table_(schema_ + ".audit_outbox"),
      channel_name_(schema_ + "_audit_outbox"),
      options_(std::move(options)),
      sender_(std::make_unique<Sender>()),
      metrics_(std::make_unique<Metrics>()) {
  options_.batch_size = std::max(1, options_.batch_size);
  options_.backoff_initial = std::max(options_.backoff_initial, std::chrono::milliseconds(1));
  options_.backoff_max = std::max(options_.backoff_max, options_.backoff_initial);
  std::shared_ptr<grpc::Channel> channel = options_.channel;
  if (!channel && !options_.audit_address.empty()) {
    grpc::ChannelArguments args;
    // Reconnect soon after the audit service comes back, not after gRPC's
    // default two minutes.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(options_.backoff_initial.count()));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(options_.backoff_initial.count()));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(std::min<int64_t>(options_.backoff_max.count(), 10000)));
    channel = grpc::CreateCustomChannel(options_.audit_address, grpc::InsecureChannelCredentials(), args);
  }
  if (channel) sender_->stub = v1::Audit::NewStub(channel);
  if (options_.registry) {
    const std::map<std::string, std::string> labels = {{"schema", schema_}};
    metrics_->delivered = &prometheus::BuildCounter()
                               .Name("parallax_audit_outbox_delivered_total")
                               .Help("Audit events delivered from this service's outbox")
                               .Register(*options_.registry)
                               .Add(labels);
    metrics_->failures = &prometheus::BuildCounter()
                              .Name("parallax_audit_outbox_delivery_failures_total")
                              .Help("Failed attempts to deliver an audit event (retried)")
                              .Register(*options_.registry)
                              .Add(labels);
    metrics_->dead = &prometheus::BuildCounter()
                          .Name("parallax_audit_outbox_dead_total")
                          .Help("Audit events set aside because the audit service refused them as malformed")
                          .Register(*options_.registry)
                          .Add(labels);
    metrics_->pending = &prometheus::BuildGauge()
                             .Name("parallax_audit_outbox_pending")
                             .Help("Audit events waiting in this service's outbox")
                             .Register(*options_.registry)
                             .Add(labels);
  }
}

AuditRecorder::~AuditRecorder() { Stop(); }

absl::Status AuditRecorder::Start() {
  if (!IsIdentifier(schema_)) return absl::InvalidArgumentError("audit outbox schema must be a lower-case identifier");
  if (!sender_->stub) return absl::FailedPreconditionError("audit recorder has no audit address to deliver to");
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return absl::FailedPreconditionError("audit recorder already started");
  started_ = true;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  if (options_.listen) listener_thread_ = std::thread([this] { Listen(); });
  return absl::OkStatus();
}

void AuditRecorder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (listener_thread_.joinable()) listener_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  started_ = false;
}

void AuditRecorder::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void AuditRecorder::Run() {
  std::chrono::milliseconds backoff = options_.backoff_initial;
  int failures = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    poked_ = false;
    lock.unlock();
    absl::StatusOr<int> delivered = DeliverPending();
    lock.lock();
    if (!delivered.ok()) {
      if (failures == 0 || failures % 50 == 0) {
        log::Warning("audit events wait in the outbox", {{"schema", schema_},
                                                         {"error", std::string(delivered.status().message())}});
      }
      ++failures;
      cv_.wait_for(lock, backoff, [this] { return stop_; });
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    if (failures > 0) log::Info("audit outbox delivers again", {{"schema", schema_}, {"failed_passes", failures}});
    failures = 0;
    backoff = options_.backoff_initial;
    if (*delivered >= options_.batch_size) continue;  // more may be waiting
    cv_.wait_for(lock, options_.poll, [this] { return stop_ || poked_; });
  }
}

void AuditRecorder::Listen() {
  std::unique_ptr<store::Listener> listener;
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  };
  while (!stopping()) {
    if (!listener) {
      auto opened = store::Listener::Open(db_->options().url, channel_name_);
      if (!opened.ok()) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, options_.poll, [this] { return stop_; });
        continue;
      }
      listener = std::move(*opened);
    }
    absl::StatusOr<bool> woke = listener->Wait(std::chrono::milliseconds(200));
    if (!woke.ok()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; });
      continue;
    }
    if (*woke) Poke();
  }
}

absl::Status AuditRecorder::Complete(v1::AuditEvent& event) const {
  if (event.type() == v1::EVENT_TYPE_UNSPECIFIED) return absl::InvalidArgumentError("audit event without type");
  if (event.service().empty()) event.set_service(options_.service);
  if (event.service().empty()) {
    return absl::InvalidArgumentError("audit event without service (set AuditRecorderOptions.service)");
  }
  if (event.event_id().empty()) event.set_event_id(NewEventId());
  if (!event.has_occurred_at()) *event.mutable_occurred_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  if (!event.has_actor() || event.actor().kind() == v1::ACTOR_KIND_UNSPECIFIED) {
    v1::Actor* actor = event.mutable_actor();
    if (actor->user_id().empty()) {
      actor->set_kind(v1::ACTOR_KIND_SERVICE);
      if (actor->system_id().empty()) actor->set_system_id(event.service());
    } else {
      actor->set_kind(v1::ACTOR_KIND_USER);
    }
  }
  // Set by the audit service; a caller's values would only be ignored.
  event.clear_sequence();
  event.clear_recorded_at();
  event.clear_previous_hash();
  event.clear_hash();
  return absl::OkStatus();
}

absl::StatusOr<std::string> AuditRecorder::Enqueue(store::Transaction& txn, v1::AuditEvent event) {
  if (!IsIdentifier(schema_)) return absl::InvalidArgumentError("audit outbox schema must be a lower-case identifier");
  if (absl::Status s = Complete(event); !s.ok()) return s;
  std::string bytes;
  if (!event.SerializeToString(&bytes)) return absl::InternalError("audit event does not serialize");
  auto inserted = txn.Exec(absl::StrCat("INSERT INTO ", table_,
                                        " (event_id, event) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING"),
                           {event.event_id(), store::ToByteaHex(bytes)});
  if (!inserted.ok()) return inserted.status();
  auto notified = txn.Exec("SELECT pg_notify($1, '')", {channel_name_});
  if (!notified.ok()) return notified.status();
  return event.event_id();
}

absl::StatusOr<std::string> AuditRecorder::Record(v1::AuditEvent event) {
  if (absl::Status s = Complete(event); !s.ok()) return s;
  std::string id;
  absl::Status s = db_->InTransaction([&](store::Transaction& txn) -> absl::Status {
    auto enqueued = Enqueue(txn, event);
    if (!enqueued.ok()) return enqueued.status();
    id = *enqueued;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Poke();
  return id;
}

absl::StatusOr<int> AuditRecorder::DeliverPending() {
  if (!sender_->stub) return absl::FailedPreconditionError("audit recorder has no audit address to deliver to");
  int delivered = 0;
  int newly_dead = 0;
  grpc::Status failure;
  absl::Status s = db_->InTransaction([&](store::Transaction& txn) -> absl::Status {
    delivered = 0;
    newly_dead = 0;
    failure = grpc::Status::OK;
    // One deliverer per outbox across replicas; the others skip this pass.
    auto locked = txn.Exec("SELECT pg_try_advisory_xact_lock(hashtext('parallax.audit_outbox'), hashtext($1))",
                           {table_});
    if (!locked.ok()) return locked.status();
    if (!(*locked)[0].GetBool(0).value_or(false)) return absl::OkStatus();
    auto rows = txn.Exec(absl::StrCat("SELECT id, event FROM ", table_, " WHERE NOT dead ORDER BY id LIMIT $1"),
                         {options_.batch_size});
    if (!rows.ok()) return rows.status();
    for (const store::Row& row : *rows) {
      const long long id = row.GetInt64(0).value_or(0);
      auto bytes = store::FromByteaHex(row.Get(1).value_or(""), "audit_outbox.event");
      v1::RecordRequest request;
      if (!bytes.ok() || !request.mutable_event()->ParseFromString(*bytes)) {
        auto dead = txn.Exec(absl::StrCat("UPDATE ", table_, " SET dead = true, last_error = $2 WHERE id = $1"),
                             {id, "stored event does not parse"});
        if (!dead.ok()) return dead.status();
        ++newly_dead;
        log::Error("undeliverable audit event set aside", {{"schema", schema_}, {"outbox_id", id}});
        continue;
      }
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
      v1::RecordResponse response;
      grpc::Status sent = sender_->stub->Record(&context, request, &response);
      if (sent.ok()) {
        auto removed = txn.Exec(absl::StrCat("DELETE FROM ", table_, " WHERE id = $1"), {id});
        if (!removed.ok()) return removed.status();
        ++delivered;
        continue;
      }
      const std::string error = absl::StrCat(static_cast<int>(sent.error_code()), ": ", sent.error_message());
      if (Permanent(sent.error_code())) {
        auto dead = txn.Exec(
            absl::StrCat("UPDATE ", table_, " SET dead = true, attempts = attempts + 1, last_error = $2 WHERE id = $1"),
            {id, Truncated(error)});
        if (!dead.ok()) return dead.status();
        ++newly_dead;
        log::Error("audit service refused an event; set aside in the outbox",
                   {{"schema", schema_}, {"outbox_id", id}, {"event_id", request.event().event_id()},
                    {"error", sent.error_message()}});
        continue;
      }
      auto failed = txn.Exec(
          absl::StrCat("UPDATE ", table_, " SET attempts = attempts + 1, last_error = $2 WHERE id = $1"),
          {id, Truncated(error)});
      if (!failed.ok()) return failed.status();
      failure = sent;
      break;  // keep the order: later entries wait for this one
    }
    return absl::OkStatus();
  });
  if (metrics_->delivered) {
    if (s.ok()) {
      metrics_->delivered->Increment(delivered);
      metrics_->dead->Increment(newly_dead);
    }
    if (!s.ok() || !failure.ok()) metrics_->failures->Increment();
    if (auto pending = PendingCount(); pending.ok()) metrics_->pending->Set(static_cast<double>(*pending));
  }
  if (!s.ok()) return s;
  if (!failure.ok()) {
    return absl::UnavailableError(absl::StrCat("audit service did not take the event (", failure.error_message(),
                                               "); it waits in ", table_));
  }
  return delivered;
}

absl::StatusOr<int64_t> AuditRecorder::PendingCount() {
  auto rows = db_->Exec(absl::StrCat("SELECT count(*) FROM ", table_, " WHERE NOT dead"));
  if (!rows.ok()) return rows.status();
  return (*rows)[0].GetInt64(0);
}

absl::StatusOr<int64_t> AuditRecorder::DeadCount() {
  auto rows = db_->Exec(absl::StrCat("SELECT count(*) FROM ", table_, " WHERE dead"));
  if (!rows.ok()) return rows.status();
  return (*rows)[0].GetInt64(0);
}

}  // namespace parallax::audit_client
