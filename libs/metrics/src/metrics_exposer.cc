#include "parallax/metrics/metrics_exposer.h"

#include <prometheus/exposer.h>

#include "parallax/log/log.h"

namespace parallax::metrics {

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(const std::string& bind_address) {
  std::unique_ptr<MetricsExposer> self(new MetricsExposer());
  try {
    self->exposer_ = std::make_unique<prometheus::Exposer>(bind_address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot serve metrics on " + bind_address + ": " + e.what());
  }
  self->registry_ = std::make_shared<prometheus::Registry>();
  self->exposer_->RegisterCollectable(self->registry_);
  log::Info("metrics listening", {{"address", bind_address}, {"port", self->port()}});
  return self;
}

MetricsExposer::~MetricsExposer() = default;

int MetricsExposer::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace parallax::metrics
