#pragma once
// Inference's Prometheus metrics. Labels carry model ids and outcome names
// only, never patient data or UIDs. Thread-safe.
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace parallax::inference_service {

class InferenceMetrics {
 public:
  explicit InferenceMetrics(prometheus::Registry& registry);

  // One model run on one study: its outcome name (ok, not_applicable,
  // rejected_input, failed) and how long it took, reading included.
  void ModelRun(const std::string& model_id, const std::string& outcome, double seconds);
  // A whole Analyze call, by gRPC-style code name (OK, NOT_FOUND, ...).
  void Call(const std::string& code, double seconds);
  // A whole RegisterPrior call, by code name, and whether it registered
  // films ("film") or volumes ("volume"; also every failed call, whose kind
  // is not known).
  void Registration(const std::string& code, bool film, double seconds);
  void SetInFlight(int n);

 private:
  prometheus::Family<prometheus::Counter>& model_runs_;
  prometheus::Family<prometheus::Histogram>& model_seconds_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& call_seconds_;
  prometheus::Family<prometheus::Counter>& registrations_;
  prometheus::Family<prometheus::Histogram>& registration_seconds_;
  prometheus::Gauge& in_flight_;
};

}  // namespace parallax::inference_service
