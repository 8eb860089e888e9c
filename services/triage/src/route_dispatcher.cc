#include "route_dispatcher.h"

#include <grpcpp/grpcpp.h>

#include "parallax/alerting/v1/alert_routing.grpc.pb.h"
#include "parallax/log/log.h"

namespace parallax::triage {

struct RouteDispatcher::Stub {
  std::unique_ptr<alerting::v1::AlertRouting::Stub> stub;
};

RouteDispatcher::RouteDispatcher(TriageStore* store, std::shared_ptr<grpc::Channel> alert_routing,
                                 std::chrono::milliseconds poll, std::chrono::milliseconds timeout,
                                 std::function<void(grpc::ClientContext*)> decorate)
    : store_(store),
      stub_(std::make_unique<Stub>(Stub{alerting::v1::AlertRouting::NewStub(std::move(alert_routing))})),
      poll_(poll),
      timeout_(timeout),
      decorate_(std::move(decorate)) {}

RouteDispatcher::~RouteDispatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RouteDispatcher::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      DeliverPending();
      lock.lock();
      cv_.wait_for(lock, poll_, [this] { return stop_ || poked_; });
      poked_ = false;
    }
  });
}

void RouteDispatcher::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

int RouteDispatcher::DeliverPending() {
  auto pending = store_->PendingRoutes(50);
  if (!pending.ok()) return 0;
  int delivered = 0;
  for (const TriageStore::OutboxEntry& e : *pending) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout_);
    if (decorate_) decorate_(&context);
    alerting::v1::RouteResponse response;
    grpc::Status s = stub_->stub->Route(&context, e.request, &response);
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      // Retrying cannot change the answer: set it aside, keep the rest moving.
      log::Warning("alert routing refused an analysed study for good; it is set aside",
                   {{"study", e.request.study().study_instance_uid()},
                    {"generation", static_cast<long long>(e.request.study().generation())},
                    {"error", s.error_message()}});
      (void)store_->MarkRouteFailed(e.id, "refused: " + s.error_message());
      (void)store_->MarkRouted(e.id);
      continue;
    }
    if (!s.ok()) {
      (void)store_->MarkRouteFailed(e.id, std::to_string(static_cast<int>(s.error_code())) + ": " + s.error_message());
      if (e.attempts == 0 || e.attempts % 20 == 0) {
        log::Warning("alert routing unreachable; analysed study waits in the outbox",
                     {{"study", e.request.study().study_instance_uid()}, {"error", s.error_message()}});
      }
      break;  // keep order; retry on the next pass
    }
    (void)store_->MarkRouted(e.id);
    ++delivered;
  }
  return delivered;
}

}  // namespace parallax::triage
