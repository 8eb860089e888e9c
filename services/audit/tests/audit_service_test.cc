// The Audit gRPC service over a real in-process server and a real
// PostgreSQL: services record without a role, reads need auditor or admin,
// and every refusal is itself in the log as ACCESS_REFUSED.
#include "src/audit_service.h"

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include "parallax/rpc/rpc_server.h"
#include "parallax/store/testing/fresh_database.h"

namespace parallax::audit {
namespace {

namespace v1 = audit::v1;

// Roles come from the test's own metadata ("x-test-roles: auditor,admin"):
// the stand-in for the JWT check main injects.
std::string Metadata(grpc::ServerContext* context, const std::string& key) {
  auto it = context->client_metadata().find(key);
  return it == context->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
}

struct Server {
  std::unique_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<AuditQuery> query;
  std::unique_ptr<AuditAnalytics> analytics;
  prometheus::Registry registry;
  std::unique_ptr<AuditMetrics> metrics;
  std::unique_ptr<AuditService> service;
  std::unique_ptr<rpc::RpcServer> server;
  std::unique_ptr<v1::Audit::Stub> stub;

  Server() {
    auto opened = store::Database::Open({store::testing::FreshDatabaseUrl("audit_service"), 4});
    REQUIRE(opened.ok());
    db = std::move(*opened);
    log = std::make_unique<AuditLog>(db.get());
    REQUIRE(log->Migrate().ok());
    query = std::make_unique<AuditQuery>(db.get());
    analytics = std::make_unique<AuditAnalytics>(db.get());
    metrics = std::make_unique<AuditMetrics>(registry);
    AuditServiceDeps deps{log.get(), query.get(), analytics.get(), nullptr, nullptr, metrics.get(), {}};
    deps.caller_roles = [](grpc::ServerContext* c) -> absl::StatusOr<std::vector<std::string>> {
      const std::string roles = Metadata(c, "x-test-roles");
      if (roles.empty()) return absl::UnauthenticatedError("no token");
      std::vector<std::string> out;
      size_t start = 0;
      for (size_t comma; (comma = roles.find(',', start)) != std::string::npos; start = comma + 1) {
        out.push_back(roles.substr(start, comma - start));
      }
      out.push_back(roles.substr(start));
      return out;
    };
    deps.caller_user_id = [](grpc::ServerContext* c) { return Metadata(c, "x-test-user"); };
    service = std::make_unique<AuditService>(std::move(deps));
    server = std::make_unique<rpc::RpcServer>(rpc::RpcServerOptions{"127.0.0.1:0"});
    server->Register(service.get(), "parallax.audit.v1.Audit");
    REQUIRE(server->Start().ok());
    stub = v1::Audit::NewStub(rpc::MakeChannel("127.0.0.1:" + std::to_string(server->port())));
  }
  ~Server() { server->Shutdown(); }

  static void As(grpc::ClientContext& c, const std::string& user, const std::string& roles) {
    if (!user.empty()) c.AddMetadata("x-test-user", user);
    if (!roles.empty()) c.AddMetadata("x-test-roles", roles);
  }
  // The ACCESS_REFUSED entries in the log, read directly (no RPC).
  std::vector<v1::AuditEvent> Refusals() {
    v1::QueryRequest q;
    q.add_types(v1::EVENT_TYPE_ACCESS_REFUSED);
    auto r = query->Query(q);
    REQUIRE(r.ok());
    return {r->events().begin(), r->events().end()};
  }
  double MetricValue(const std::string& family, const std::string& type_label = "") {
    for (const auto& f : registry.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        bool match = type_label.empty();
        for (const auto& l : m.label) match = match || (l.name == "type" && l.value == type_label);
        if (match) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
    return -1;
  }
};

v1::RecordRequest Recorded(const std::string& id) {
  v1::RecordRequest r;
  v1::AuditEvent* e = r.mutable_event();
  e->set_event_id(id);
  e->set_type(v1::EVENT_TYPE_FINDING_ACCEPTED);
  e->set_service("escalation");
  e->mutable_actor()->set_kind(v1::ACTOR_KIND_USER);
  e->mutable_actor()->set_user_id("u-1");
  e->mutable_subject()->set_finding_id("f-1");
  e->mutable_subject()->set_label("pneumothorax");
  return r;
}

TEST_CASE("audit service: a caller without the auditor or admin role is refused and the refusal is recorded",
          "[audit][db]") {
  Server s;
  {
    grpc::ClientContext c;
    v1::RecordResponse r;
    REQUIRE(s.stub->Record(&c, Recorded("e-1"), &r).ok());
  }
  const std::string roles = "radiologist,senior";
  grpc::StatusCode codes[4];
  {
    grpc::ClientContext c;
    Server::As(c, "u-7", roles);
    v1::QueryResponse r;
    codes[0] = s.stub->Query(&c, v1::QueryRequest(), &r).error_code();
  }
  {
    grpc::ClientContext c;
    Server::As(c, "u-7", roles);
    v1::VerifyResponse r;
    codes[1] = s.stub->Verify(&c, v1::VerifyRequest(), &r).error_code();
  }
  {
    grpc::ClientContext c;
    Server::As(c, "u-7", roles);
    v1::GetAnalyticsResponse r;
    codes[2] = s.stub->GetAnalytics(&c, v1::GetAnalyticsRequest(), &r).error_code();
  }
  {
    grpc::ClientContext c;
    Server::As(c, "u-7", roles);
    v1::GetReviewListResponse r;
    codes[3] = s.stub->GetReviewList(&c, v1::GetReviewListRequest(), &r).error_code();
  }
  for (grpc::StatusCode code : codes) CHECK(code == grpc::StatusCode::PERMISSION_DENIED);

  std::vector<v1::AuditEvent> refusals = s.Refusals();
  REQUIRE(refusals.size() == 4);
  std::vector<std::string> actions;
  for (const v1::AuditEvent& e : refusals) {
    CHECK(e.outcome() == v1::OUTCOME_DENIED);
    CHECK(e.service() == "audit");
    CHECK(e.actor().kind() == v1::ACTOR_KIND_USER);
    CHECK(e.actor().user_id() == "u-7");
    CHECK(e.actor().roles_size() == 2);
    CHECK_FALSE(e.actor().network_address().empty());
    for (const v1::Attribute& a : e.attributes()) {
      if (a.key() == "action") actions.push_back(a.value());
    }
  }
  CHECK(actions == std::vector<std::string>{"Audit.Query", "Audit.Verify", "Audit.GetAnalytics", "Audit.GetReviewList"});
  CHECK(s.MetricValue("parallax_audit_entries_recorded_total", "ACCESS_REFUSED") == 4);
  CHECK(s.MetricValue("parallax_audit_entries_recorded_total", "FINDING_ACCEPTED") == 1);
  CHECK(s.MetricValue("parallax_audit_head_sequence") == 5);

  SECTION("a caller with no credentials is UNAUTHENTICATED, and that is recorded too") {
    grpc::ClientContext c;
    v1::QueryResponse r;
    CHECK(s.stub->Query(&c, v1::QueryRequest(), &r).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    refusals = s.Refusals();
    REQUIRE(refusals.size() == 5);
    CHECK(refusals.back().actor().user_id().empty());
    CHECK(refusals.back().actor().kind() == v1::ACTOR_KIND_EXTERNAL_SYSTEM);
  }
  SECTION("an auditor reads the log, refusals included, and the chain verifies") {
    grpc::ClientContext c;
    Server::As(c, "aud-1", "auditor");
    v1::QueryRequest q;
    q.set_actor_user_id("u-7");
    v1::QueryResponse r;
    REQUIRE(s.stub->Query(&c, q, &r).ok());
    CHECK(r.events_size() == 4);
    grpc::ClientContext c2;
    Server::As(c2, "adm-1", "radiologist,admin");
    v1::VerifyResponse v;
    REQUIRE(s.stub->Verify(&c2, v1::VerifyRequest(), &v).ok());
    CHECK(v.ok());
    CHECK(v.entries_checked() == 5);
    CHECK(s.Refusals().size() == 4);  // the allowed calls added none
  }
}

TEST_CASE("audit service: a department head reads the department's figures but not the log itself", "[audit][db]") {
  Server s;
  {
    grpc::ClientContext c;
    Server::As(c, "dr.head", "department_head");
    v1::GetAnalyticsResponse r;
    CHECK(s.stub->GetAnalytics(&c, v1::GetAnalyticsRequest(), &r).ok());
  }
  {
    grpc::ClientContext c;
    Server::As(c, "dr.head", "department_head");
    v1::QueryResponse r;
    CHECK(s.stub->Query(&c, v1::QueryRequest(), &r).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext c;
    Server::As(c, "dr.head", "department_head");
    v1::GetReviewListResponse r;
    CHECK(s.stub->GetReviewList(&c, v1::GetReviewListRequest(), &r).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  CHECK(s.Refusals().size() == 2);
}

TEST_CASE("audit service: Record needs no role, is idempotent per event_id and rejects a malformed event",
          "[audit][db]") {
  Server s;
  v1::RecordResponse first, again;
  grpc::ClientContext c1, c2, c3;
  REQUIRE(s.stub->Record(&c1, Recorded("e-1"), &first).ok());
  CHECK_FALSE(first.duplicate());
  CHECK(first.sequence() == 1);
  REQUIRE(s.stub->Record(&c2, Recorded("e-1"), &again).ok());
  CHECK(again.duplicate());
  CHECK(again.sequence() == 1);
  CHECK(again.hash() == first.hash());
  v1::RecordRequest bad = Recorded("e-2");
  bad.mutable_event()->clear_service();
  v1::RecordResponse r;
  CHECK(s.stub->Record(&c3, bad, &r).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.MetricValue("parallax_audit_entries_recorded_total", "FINDING_ACCEPTED") == 1);
}

TEST_CASE("audit service: a verification that finds a break counts in the metrics", "[audit][db]") {
  Server s;
  for (int i = 1; i <= 3; ++i) {
    grpc::ClientContext c;
    v1::RecordResponse r;
    REQUIRE(s.stub->Record(&c, Recorded("e-" + std::to_string(i)), &r).ok());
  }
  REQUIRE(s.db->Exec("DELETE FROM audit.entries WHERE sequence = 2").ok());
  grpc::ClientContext c;
  Server::As(c, "aud-1", "auditor");
  v1::VerifyResponse v;
  REQUIRE(s.stub->Verify(&c, v1::VerifyRequest(), &v).ok());
  CHECK_FALSE(v.ok());
  CHECK(v.first_broken_sequence() == 2);
  CHECK(s.MetricValue("parallax_audit_verify_failures_total") == 1);
  auto now = s.service->VerifyNow();
  REQUIRE(now.ok());
  CHECK_FALSE(now->ok());
  CHECK(s.MetricValue("parallax_audit_verify_failures_total") == 2);
}

}  // namespace
}  // namespace parallax::audit
