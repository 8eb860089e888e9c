#pragma once
// Serves one Prometheus registry over HTTP (/metrics) for a service.
// Metric families are created on registry() with prometheus-cpp's builders;
// labels carry internal codes only (reasons, SOP class names, AE titles of
// systems), never patient data. Thread-safe: prometheus-cpp metrics are.
#include <memory>
#include <string>

#include <absl/status/statusor.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace prometheus {
class Exposer;
}

namespace parallax::metrics {

class MetricsExposer {
 public:
  // Binds "host:port" (port 0 = ephemeral). UNAVAILABLE naming the address
  // when it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(const std::string& bind_address);
  ~MetricsExposer();

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }
  int port() const;

 private:
  MetricsExposer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
};

}  // namespace parallax::metrics
