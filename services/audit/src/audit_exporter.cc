#include "audit_exporter.h"

#include <algorithm>
#include <random>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

#include "parallax/fhir/v1/fhir_facade.grpc.pb.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"
#include "parallax/store/bytea.h"

namespace parallax::audit {
namespace {

std::string EventTypeName(audit::v1::EventType type) {
  std::string name = audit::v1::EventType_Name(type);
  return name.empty() ? std::to_string(static_cast<int>(type)) : name;
}

std::string Truncated(absl::string_view text) { return std::string(text.substr(0, 300)); }

}  // namespace

struct AuditExporter::Facade {
  std::unique_ptr<fhir::v1::FhirFacade::Stub> stub;
};

AuditExporter::AuditExporter(store::Database* db, AuditExporterOptions options, DecorateCall decorate,
                             AuditMetrics* metrics)
    : db_(db),
      options_(std::move(options)),
      decorate_(std::move(decorate)),
      metrics_(metrics),
      facade_(std::make_unique<Facade>()) {
  options_.batch_size = std::max(1, options_.batch_size);
  options_.poll = std::max(options_.poll, std::chrono::milliseconds(1));
  options_.backoff_initial = std::max(options_.backoff_initial, std::chrono::milliseconds(1));
  options_.backoff_max = std::max(options_.backoff_max, options_.backoff_initial);
  std::shared_ptr<grpc::Channel> channel = options_.channel;
  if (!channel && !options_.facade_address.empty()) {
    grpc::ChannelArguments args;
    // Reconnect soon after the facade comes back, not after gRPC's default
    // two minutes.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(options_.backoff_initial.count()));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(options_.backoff_initial.count()));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(std::min<int64_t>(options_.backoff_max.count(), 10000)));
    channel = grpc::CreateCustomChannel(options_.facade_address, grpc::InsecureChannelCredentials(), args);
  }
  if (channel) facade_->stub = fhir::v1::FhirFacade::NewStub(channel);
}

AuditExporter::~AuditExporter() { Stop(); }

absl::Status AuditExporter::Start() {
  if (!facade_->stub) return absl::FailedPreconditionError("audit exporter has no FHIR facade address to publish to");
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return absl::FailedPreconditionError("audit exporter already started");
  started_ = true;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void AuditExporter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stop_ = true;
    if (in_flight_) in_flight_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  started_ = false;
  stop_ = false;
}

void AuditExporter::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void AuditExporter::Run() {
  std::mt19937_64 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.backoff_initial;
  int failures = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    poked_ = false;
    lock.unlock();
    absl::StatusOr<Pass> pass = ExportPending();
    lock.lock();
    if (stop_) break;
    if (!pass.ok()) {
      if (failures == 0 || failures % 20 == 0) {
        const bool damaged = pass.status().code() == absl::StatusCode::kDataLoss;
        log::Write(damaged ? log::Level::kError : log::Level::kWarning, "audit entries wait for the FHIR export",
                   {{"code", std::string(absl::StatusCodeToString(pass.status().code()))},
                    {"error", Truncated(pass.status().message())},
                    {"failed_passes", failures + 1}});
      }
      ++failures;
      // Jitter: replicas (and services) that failed together retry apart.
      std::uniform_int_distribution<int64_t> draw(backoff.count() / 2, backoff.count());
      cv_.wait_for(lock, std::chrono::milliseconds(draw(random)), [this] { return stop_; });
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    if (failures > 0) log::Info("FHIR export of audit entries resumed", {{"failed_passes", failures}});
    failures = 0;
    backoff = options_.backoff_initial;
    if (pass->more) continue;
    cv_.wait_for(lock, options_.poll, [this] { return stop_ || poked_; });
  }
}

absl::Status AuditExporter::Publish(const audit::v1::AuditEvent& event) {
  fhir::v1::PublishAuditEventRequest request;
  *request.mutable_event() = event;
  fhir::v1::PublishAuditEventResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  if (decorate_) decorate_(&context);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return absl::CancelledError("audit exporter is stopping");
    in_flight_ = &context;
  }
  grpc::Status sent = facade_->stub->PublishAuditEvent(&context, request, &response);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = nullptr;
  }
  return status::FromGrpc(sent);
}

absl::StatusOr<int64_t> AuditExporter::Cursor() {
  auto rows = db_->Exec("SELECT sequence FROM audit.export_cursor");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::FailedPreconditionError("audit.export_cursor has no row; run AuditLog::Migrate");
  return (*rows)[0].GetInt64(0).value_or(0);
}

absl::StatusOr<int64_t> AuditExporter::Lag() {
  auto rows = db_->Exec("SELECT h.sequence - c.sequence FROM audit.head h CROSS JOIN audit.export_cursor c");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::FailedPreconditionError("audit.head or audit.export_cursor has no row; run Migrate");
  const int64_t lag = std::max<int64_t>(0, (*rows)[0].GetInt64(0).value_or(0));
  if (metrics_) metrics_->SetExportLag(lag);
  return lag;
}

absl::StatusOr<AuditExporter::Pass> AuditExporter::ExportPending() {
  if (!facade_->stub) return absl::FailedPreconditionError("audit exporter has no FHIR facade address to publish to");
  auto position = db_->Exec("SELECT c.sequence, h.sequence FROM audit.export_cursor c CROSS JOIN audit.head h");
  if (!position.ok()) return position.status();
  if (position->empty()) return absl::FailedPreconditionError("audit.export_cursor has no row; run AuditLog::Migrate");
  const int64_t cursor = (*position)[0].GetInt64(0).value_or(0);
  const int64_t head = (*position)[0].GetInt64(1).value_or(0);
  auto rows = db_->Exec("SELECT sequence, content, hash FROM audit.entries WHERE sequence > $1 ORDER BY sequence LIMIT $2",
                        {static_cast<long long>(cursor), options_.batch_size});
  if (!rows.ok()) return rows.status();

  Pass pass;
  pass.more = static_cast<int>(rows->size()) >= options_.batch_size;
  absl::Status stopped;
  int64_t expected = cursor + 1;
  for (const store::Row& row : *rows) {
    const int64_t sequence = row.GetInt64(0).value_or(0);
    if (sequence != expected) {
      stopped = absl::DataLossError(absl::StrCat("audit entry ", expected, " is missing; run Verify"));
      break;
    }
    auto content = store::FromByteaHex(row.Get(1).value_or(""), "audit.entries.content");
    auto hash = store::FromByteaHex(row.Get(2).value_or(""), "audit.entries.hash");
    audit::v1::AuditEvent event;
    if (!content.ok() || !hash.ok() || !event.ParseFromString(*content)) {
      stopped = absl::DataLossError(absl::StrCat("audit entry ", sequence, " cannot be decoded; run Verify"));
      break;
    }
    event.set_sequence(sequence);
    event.set_hash(*hash);
    absl::Status published = Publish(event);
    if (published.code() == absl::StatusCode::kInvalidArgument) {
      // No retry can make a malformed entry acceptable: do not let it hold
      // back the rest. Sequence and type identify it; the entry itself
      // stays in the log.
      log::Error("FHIR facade refused an audit entry as malformed; it is not exported",
                 {{"sequence", static_cast<long long>(sequence)},
                  {"type", EventTypeName(event.type())},
                  {"error", Truncated(published.message())}});
      if (metrics_) metrics_->ExportRefused();
      ++pass.refused;
    } else if (!published.ok()) {
      stopped = absl::Status(published.code(), absl::StrCat("FHIR facade did not take audit entry ", sequence, ": ",
                                                            Truncated(published.message())));
      break;
    } else {
      if (metrics_) metrics_->Exported();
      ++pass.exported;
    }
    // Forward only: a replica that got further is never set back.
    auto advanced = db_->Exec("UPDATE audit.export_cursor SET sequence = $1 WHERE sequence < $1",
                              {static_cast<long long>(sequence)});
    if (!advanced.ok()) {
      stopped = advanced.status();
      break;
    }
    ++expected;
  }
  // Fewer rows than the head promises: the last entries were removed.
  if (stopped.ok() && !pass.more && expected <= head) {
    stopped = absl::DataLossError(absl::StrCat("audit entry ", expected, " is missing; run Verify"));
  }
  (void)Lag();  // the gauge; a store error here shows in the next pass
  if (!stopped.ok()) {
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping = stop_;
    }
    if (metrics_ && !stopping) metrics_->ExportFailed();  // a call cancelled by Stop is no failure
    return stopped;
  }
  return pass;
}

}  // namespace parallax::audit
