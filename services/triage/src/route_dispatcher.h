#pragma once
// Delivers analysed studies from triage.route_outbox to AlertRouting.Route,
// oldest first, so an alert-routing outage delays alerts and never loses
// them (Route is idempotent per study generation and finding, so a delivery
// repeated after a crash is harmless). A refusal that cannot change on retry
// (INVALID_ARGUMENT, FAILED_PRECONDITION: e.g. a late older generation) is
// recorded and set aside so it never blocks the studies behind it. Calls
// carry triage's own credentials (`decorate`). Runs on its own thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "triage_store.h"

namespace grpc {
class Channel;
class ClientContext;
}

namespace parallax::triage {

class RouteDispatcher {
 public:
  RouteDispatcher(TriageStore* store, std::shared_ptr<grpc::Channel> alert_routing,
                  std::chrono::milliseconds poll = std::chrono::milliseconds(500),
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                  std::function<void(grpc::ClientContext*)> decorate = {});
  ~RouteDispatcher();  // stops the thread

  void Start();
  // Wakes the dispatcher now (after an analysis was stored).
  void Poke();
  // One pass: delivers what is pending; returns how many were delivered.
  int DeliverPending();

 private:
  struct Stub;
  TriageStore* store_;
  std::unique_ptr<Stub> stub_;
  std::chrono::milliseconds poll_, timeout_;
  std::function<void(grpc::ClientContext*)> decorate_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, poked_ = false;
  std::thread thread_;
};

}  // namespace parallax::triage
