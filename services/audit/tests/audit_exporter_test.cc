// The FHIR export of the audit log against a real PostgreSQL and an
// in-process stand-in for FhirFacade (a gRPC server on loopback that records
// what it is handed and answers as each test scripts it). The exporter hands
// every entry over once, in sequence order, with the service's credentials;
// waits out a facade that is down or failing without losing or repeating
// anything; skips only what the facade refuses as malformed; and resumes
// from its durable cursor after a restart. The end-to-end run against the
// real facade and EHR is tests/alerts_review_end_to_end_test.cc.
#include "src/audit_exporter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include "parallax/fhir/v1/fhir_facade.grpc.pb.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/testing/fresh_database.h"
#include "src/audit_log.h"
#include "src/audit_service.h"

namespace parallax::audit {
namespace {

namespace v1 = audit::v1;
using namespace std::chrono_literals;

constexpr char kToken[] = "Bearer audit-service-test-token";

// A loopback port nobody listens on (bound, read, released).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

// FhirFacade as the exporter sees it. `answer` scripts the outcome of each
// call from the sequence and the how-many-th attempt at it this is (1 = the
// first); unset answers OK. Accepted events are kept in arrival order.
class FakeFacade final : public fhir::v1::FhirFacade::Service {
 public:
  std::function<grpc::Status(int64_t sequence, int attempt)> answer;

  grpc::Status PublishAuditEvent(grpc::ServerContext* context, const fhir::v1::PublishAuditEventRequest* request,
                                 fhir::v1::PublishAuditEventResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t sequence = request->event().sequence();
    const int attempt = ++attempts_[sequence];
    auto auth = context->client_metadata().find("authorization");
    authorizations_.push_back(auth == context->client_metadata().end()
                                  ? ""
                                  : std::string(auth->second.data(), auth->second.size()));
    grpc::Status status = answer ? answer(sequence, attempt) : grpc::Status::OK;
    if (!status.ok()) return status;
    accepted_.push_back(request->event());
    fhir::v1::OutboxReceipt* receipt = response->mutable_audit_event();
    receipt->set_resource_type(fhir::v1::RESOURCE_TYPE_AUDIT_EVENT);
    receipt->set_resource_id("audit-" + std::to_string(sequence));
    receipt->set_version_id("1");
    return grpc::Status::OK;
  }

  std::vector<v1::AuditEvent> Accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::vector<int64_t> AcceptedSequences() {
    std::vector<int64_t> out;
    for (const v1::AuditEvent& e : Accepted()) out.push_back(e.sequence());
    return out;
  }
  int Attempts(int64_t sequence) {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_[sequence];
  }
  std::vector<std::string> Authorizations() {
    std::lock_guard<std::mutex> lock(mu_);
    return authorizations_;
  }

 private:
  std::mutex mu_;
  std::map<int64_t, int> attempts_;
  std::vector<v1::AuditEvent> accepted_;
  std::vector<std::string> authorizations_;
};

// The fake facade behind a real gRPC server on a fixed loopback port that
// can be brought up (again) and down.
struct FacadeSide {
  FakeFacade facade;
  std::unique_ptr<rpc::RpcServer> server;
  int port = FreePort();

  ~FacadeSide() { Down(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  void Up() {
    server = std::make_unique<rpc::RpcServer>(rpc::RpcServerOptions{address()});
    server->Register(&facade, "parallax.fhir.v1.FhirFacade");
    REQUIRE(server->Start().ok());
  }
  void Down() {
    if (server) server->Shutdown(0ms);
    server.reset();
  }
};

// The audit log with its own fresh database and metrics.
struct LogSide {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
  prometheus::Registry registry;
  std::unique_ptr<AuditMetrics> metrics;
  std::vector<v1::RecordResponse> recorded;  // in sequence order

  LogSide() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit_export"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(db.get());
    REQUIRE(log->Migrate().ok());
    metrics = std::make_unique<AuditMetrics>(registry);
  }

  static v1::AuditEvent Event(int i) {
    v1::AuditEvent e;
    e.set_event_id("export-test-" + std::to_string(i));
    e.set_type(i % 2 ? v1::EVENT_TYPE_FINDING_ACCEPTED : v1::EVENT_TYPE_FINDING_VIEWED);
    e.set_service("viewer");
    e.mutable_actor()->set_kind(v1::ACTOR_KIND_USER);
    e.mutable_actor()->set_user_id("u-" + std::to_string(i));
    e.mutable_subject()->set_study_instance_uid("1.2.826.0.1.3680043.10.543." + std::to_string(i));
    e.mutable_subject()->set_finding_id("f-" + std::to_string(i));
    return e;
  }

  // Appends `count` more entries.
  void Record(int count) {
    for (int n = 0; n < count; ++n) {
      auto r = log->Record(Event(static_cast<int>(recorded.size()) + 1));
      REQUIRE(r.ok());
      REQUIRE_FALSE(r->duplicate());
      recorded.push_back(*r);
    }
  }

  double Metric(const std::string& name) {
    for (const prometheus::MetricFamily& family : registry.Collect()) {
      if (family.name != name || family.metric.empty()) continue;
      const prometheus::ClientMetric& m = family.metric[0];
      return family.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
    }
    FAIL("no metric " << name);
    return -1;
  }

  std::unique_ptr<AuditExporter> Exporter(const std::string& facade_address,
                                          std::chrono::milliseconds poll = 100ms) {
    AuditExporterOptions o;
    o.facade_address = facade_address;
    o.poll = poll;
    o.rpc_timeout = 2000ms;
    o.backoff_initial = 20ms;
    o.backoff_max = 200ms;
    return std::make_unique<AuditExporter>(
        db.get(), o, [](grpc::ClientContext* ctx) { ctx->AddMetadata("authorization", kToken); }, metrics.get());
  }
};

std::vector<int64_t> Range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

int64_t CursorOf(AuditExporter& exporter) {
  auto c = exporter.Cursor();
  REQUIRE(c.ok());
  return *c;
}

// What the process writes to stderr (the log) while `body` runs.
template <typename Body>
std::string CapturedLog(Body body) {
  char path[] = "/tmp/audit_exporter_test_log_XXXXXX";
  const int file = mkstemp(path);
  REQUIRE(file >= 0);
  fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  dup2(file, STDERR_FILENO);
  body();
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(file);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path);
  return text.str();
}

TEST_CASE("the audit exporter publishes every recorded entry once, in sequence order, with the service's credentials",
          "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;
  facade.Up();
  log.Record(230);  // more than two batches of 100
  auto exporter = log.Exporter(facade.address());
  CHECK(CursorOf(*exporter) == 0);
  REQUIRE(exporter->Start().ok());
  REQUIRE(WaitUntil([&] { return CursorOf(*exporter) == 230; }, 30s));
  exporter->Stop();

  const std::vector<v1::AuditEvent> accepted = facade.facade.Accepted();
  REQUIRE(accepted.size() == 230);
  for (size_t i = 0; i < accepted.size(); ++i) {
    const v1::AuditEvent& e = accepted[i];
    CHECK(e.sequence() == static_cast<int64_t>(i) + 1);
    // The entry as recorded: decoded from the hashed content, hash set.
    CHECK(e.hash() == log.recorded[i].hash());
    CHECK(e.event_id() == "export-test-" + std::to_string(i + 1));
    CHECK(e.previous_hash() == (i == 0 ? std::string(32, '\0') : log.recorded[i - 1].hash()));
    CHECK(e.has_recorded_at());
    CHECK(e.subject().study_instance_uid() == "1.2.826.0.1.3680043.10.543." + std::to_string(i + 1));
  }
  for (const std::string& authorization : facade.facade.Authorizations()) CHECK(authorization == kToken);
  CHECK(log.Metric("parallax_audit_exported_total") == 230);
  CHECK(log.Metric("parallax_audit_export_failures_total") == 0);
  CHECK(log.Metric("parallax_audit_export_lag") == 0);
  auto lag = exporter->Lag();
  REQUIRE(lag.ok());
  CHECK(*lag == 0);
}

TEST_CASE("a new entry is exported as soon as the audit service pokes the exporter", "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;
  facade.Up();
  log.Record(1);
  // Polling once an hour: only the poke after Record can explain a prompt export.
  auto exporter = log.Exporter(facade.address(), std::chrono::hours(1));
  AuditQuery query(log.db.get());
  AuditAnalytics analytics(log.db.get());
  AuditServiceDeps deps;
  deps.log = log.log.get();
  deps.query = &query;
  deps.analytics = &analytics;
  deps.recorded = [&](int64_t) { exporter->Poke(); };
  AuditService service(std::move(deps));
  REQUIRE(exporter->Start().ok());
  REQUIRE(WaitUntil([&] { return CursorOf(*exporter) == 1; }, 10s));  // the pass at start

  v1::RecordRequest request;
  *request.mutable_event() = LogSide::Event(2);
  v1::RecordResponse response;
  REQUIRE(service.Record(nullptr, &request, &response).ok());
  CHECK(response.sequence() == 2);
  CHECK(WaitUntil([&] { return CursorOf(*exporter) == 2; }, 5s));
  // A duplicate record appends nothing and exports nothing more.
  REQUIRE(service.Record(nullptr, &request, &response).ok());
  CHECK(response.duplicate());
  exporter->Stop();
  CHECK(facade.facade.AcceptedSequences() == Range(1, 2));
}

TEST_CASE("while the facade is down entries wait, and once it is up each is exported once, in order",
          "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;  // not listening yet
  log.Record(5);
  auto exporter = log.Exporter(facade.address());
  REQUIRE(exporter->Start().ok());
  std::this_thread::sleep_for(800ms);
  CHECK(CursorOf(*exporter) == 0);
  CHECK(log.Metric("parallax_audit_export_failures_total") >= 2);  // it kept retrying
  CHECK(log.Metric("parallax_audit_export_lag") == 5);
  CHECK(log.Metric("parallax_audit_exported_total") == 0);

  facade.Up();
  REQUIRE(WaitUntil([&] { return CursorOf(*exporter) == 5; }, 20s));
  log.Record(3);  // while up
  exporter->Poke();
  REQUIRE(WaitUntil([&] { return CursorOf(*exporter) == 8; }, 10s));
  exporter->Stop();
  CHECK(facade.facade.AcceptedSequences() == Range(1, 8));
  CHECK(log.Metric("parallax_audit_exported_total") == 8);
  CHECK(log.Metric("parallax_audit_export_lag") == 0);
}

TEST_CASE("a failed publish stops the pass at that entry, and the retries export each entry once, in order",
          "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;
  facade.facade.answer = [](int64_t sequence, int attempt) {
    if (sequence == 3 && attempt <= 2) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "facade store is down");
    if (sequence == 6 && attempt == 1) return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "outbox is full");
    return grpc::Status::OK;
  };
  facade.Up();
  log.Record(8);
  auto exporter = log.Exporter(facade.address());

  // One pass by hand: 1 and 2 go, 3 fails, nothing after it is tried.
  auto pass = exporter->ExportPending();
  REQUIRE_FALSE(pass.ok());
  CHECK(pass.status().code() == absl::StatusCode::kUnavailable);
  CHECK(pass.status().message().find("audit entry 3") != absl::string_view::npos);
  CHECK(CursorOf(*exporter) == 2);
  CHECK(facade.facade.Attempts(4) == 0);
  CHECK(log.Metric("parallax_audit_export_lag") == 6);

  // The thread retries until all are through.
  REQUIRE(exporter->Start().ok());
  REQUIRE(WaitUntil([&] { return CursorOf(*exporter) == 8; }, 20s));
  exporter->Stop();
  CHECK(facade.facade.AcceptedSequences() == Range(1, 8));
  CHECK(facade.facade.Attempts(3) == 3);
  CHECK(facade.facade.Attempts(6) == 2);
  CHECK(facade.facade.Attempts(7) == 1);
  CHECK(log.Metric("parallax_audit_export_failures_total") == 3);
  CHECK(log.Metric("parallax_audit_exported_total") == 8);
}

TEST_CASE("an entry the facade refuses as malformed is logged without its content, counted and skipped",
          "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;
  facade.facade.answer = [](int64_t sequence, int) {
    return sequence == 2 ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "event.type is required")
                         : grpc::Status::OK;
  };
  facade.Up();
  log.Record(4);
  auto exporter = log.Exporter(facade.address());
  absl::StatusOr<AuditExporter::Pass> pass;
  const std::string logged = CapturedLog([&] { pass = exporter->ExportPending(); });
  REQUIRE(pass.ok());
  CHECK(pass->exported == 3);
  CHECK(pass->refused == 1);
  CHECK_FALSE(pass->more);
  CHECK(facade.facade.AcceptedSequences() == std::vector<int64_t>{1, 3, 4});
  CHECK(facade.facade.Attempts(2) == 1);  // not retried
  CHECK(CursorOf(*exporter) == 4);
  CHECK(log.Metric("parallax_audit_export_refused_total") == 1);
  CHECK(log.Metric("parallax_audit_exported_total") == 3);
  CHECK(log.Metric("parallax_audit_export_failures_total") == 0);

  INFO(logged);
  CHECK(logged.find("refused an audit entry") != std::string::npos);
  CHECK(logged.find("sequence=2") != std::string::npos);
  CHECK(logged.find("event.type is required") != std::string::npos);
  // Identifiers of the entry's subject and actor stay out of the log.
  CHECK(logged.find("1.2.826.0.1.3680043.10.543.2") == std::string::npos);
  CHECK(logged.find("u-2") == std::string::npos);

  // Nothing left: the next pass publishes nothing and the refused entry is not retried.
  auto again = exporter->ExportPending();
  REQUIRE(again.ok());
  CHECK(again->exported == 0);
  CHECK(facade.facade.Attempts(2) == 1);
}

TEST_CASE("a restarted exporter resumes from its cursor", "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;
  facade.Up();
  log.Record(4);
  {
    auto first = log.Exporter(facade.address());
    REQUIRE(first->Start().ok());
    REQUIRE(WaitUntil([&] { return CursorOf(*first) == 4; }, 10s));
  }  // the audit service stops
  log.Record(3);
  std::this_thread::sleep_for(200ms);
  auto restarted = log.Exporter(facade.address());
  CHECK(CursorOf(*restarted) == 4);  // durable, and nobody exported while stopped
  REQUIRE(restarted->Start().ok());
  REQUIRE(WaitUntil([&] { return CursorOf(*restarted) == 7; }, 10s));
  restarted->Stop();
  CHECK(facade.facade.AcceptedSequences() == Range(1, 7));
}

TEST_CASE("an entry missing from the log stops the export instead of being passed over", "[audit][export][db]") {
  LogSide log;
  FacadeSide facade;
  facade.Up();
  log.Record(3);
  REQUIRE(log.db->Exec("DELETE FROM audit.entries WHERE sequence = 2").ok());
  auto exporter = log.Exporter(facade.address());
  auto pass = exporter->ExportPending();
  REQUIRE_FALSE(pass.ok());
  CHECK(pass.status().code() == absl::StatusCode::kDataLoss);
  CHECK(pass.status().message().find("audit entry 2 is missing") != absl::string_view::npos);
  CHECK(CursorOf(*exporter) == 1);
  CHECK(facade.facade.AcceptedSequences() == std::vector<int64_t>{1});

  // The last entry removed: the head still remembers it.
  REQUIRE(log.db->Exec("UPDATE audit.export_cursor SET sequence = 2").ok());
  REQUIRE(log.db->Exec("DELETE FROM audit.entries WHERE sequence = 3").ok());
  pass = exporter->ExportPending();
  REQUIRE_FALSE(pass.ok());
  CHECK(pass.status().code() == absl::StatusCode::kDataLoss);
  CHECK(CursorOf(*exporter) == 2);
}

TEST_CASE("without a facade address nothing is exported and the cursor stays", "[audit][export][db]") {
  LogSide log;
  log.Record(2);
  auto exporter = log.Exporter("");
  CHECK(exporter->Start().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(exporter->ExportPending().status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(CursorOf(*exporter) == 0);
  auto lag = exporter->Lag();
  REQUIRE(lag.ok());
  CHECK(*lag == 2);
}

}  // namespace
}  // namespace parallax::audit
