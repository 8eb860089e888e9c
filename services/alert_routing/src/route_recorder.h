#pragma once
// Alert routing at its first stage: records every analysed study triage
// routes (schema `alerting`), idempotently per (study, generation), so
// nothing analysed is lost before the alerts issue adds the department
// policy, the alerts and their timers. Route answers with no alert changes
// and every positive finding as suppressed NO_POLICY (no policy is loaded
// yet, so nothing alerts); the other RPCs are UNIMPLEMENTED. Thread-safe.
#include <absl/status/status.h>

#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/store/database.h"

namespace parallax::alerting {

class RouteRecorder final : public alerting::v1::AlertRouting::Service {
 public:
  explicit RouteRecorder(store::Database* db) : db_(db) {}

  absl::Status Migrate();

  grpc::Status Route(grpc::ServerContext* ctx, const alerting::v1::RouteRequest* request,
                     alerting::v1::RouteResponse* response) override;

  // Route without gRPC. INVALID_ARGUMENT without a study UID or with a
  // finding lacking id or label; UNAVAILABLE when the store is down.
  absl::StatusOr<alerting::v1::RouteResponse> Record(const alerting::v1::RouteRequest& request);

 private:
  store::Database* db_;
};

}  // namespace parallax::alerting
