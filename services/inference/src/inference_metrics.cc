#include "inference_metrics.h"

namespace parallax::inference_service {
namespace {

const prometheus::Histogram::BucketBoundaries& SecondsBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32};
  return kBuckets;
}

}  // namespace

InferenceMetrics::InferenceMetrics(prometheus::Registry& registry)
    : model_runs_(prometheus::BuildCounter()
                      .Name("parallax_inference_model_runs_total")
                      .Help("Model runs on a study, by model and outcome")
                      .Register(registry)),
      model_seconds_(prometheus::BuildHistogram()
                         .Name("parallax_inference_model_seconds")
                         .Help("Time of one model on one study, reading its instances included")
                         .Register(registry)),
      calls_(prometheus::BuildCounter()
                 .Name("parallax_inference_analyze_calls_total")
                 .Help("Analyze calls by result code")
                 .Register(registry)),
      call_seconds_(prometheus::BuildHistogram()
                        .Name("parallax_inference_analyze_seconds")
                        .Help("Time of one Analyze call")
                        .Register(registry)),
      registrations_(prometheus::BuildCounter()
                         .Name("parallax_inference_register_prior_calls_total")
                         .Help("RegisterPrior calls by result code and image kind (film, volume)")
                         .Register(registry)),
      registration_seconds_(prometheus::BuildHistogram()
                                .Name("parallax_inference_register_prior_seconds")
                                .Help("Time of one RegisterPrior call (reading, decoding, registering), by image kind")
                                .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("parallax_inference_analyses_in_flight")
                     .Help("Analyses and prior registrations running now")
                     .Register(registry)
                     .Add({})) {}

void InferenceMetrics::ModelRun(const std::string& model_id, const std::string& outcome, double seconds) {
  model_runs_.Add({{"model", model_id}, {"outcome", outcome}}).Increment();
  model_seconds_.Add({{"model", model_id}}, SecondsBuckets()).Observe(seconds);
}

void InferenceMetrics::Call(const std::string& code, double seconds) {
  calls_.Add({{"code", code}}).Increment();
  call_seconds_.Add({}, SecondsBuckets()).Observe(seconds);
}

void InferenceMetrics::Registration(const std::string& code, bool film, double seconds) {
  const std::string kind = film ? "film" : "volume";
  registrations_.Add({{"code", code}, {"kind", kind}}).Increment();
  registration_seconds_.Add({{"kind", kind}}, SecondsBuckets()).Observe(seconds);
}

void InferenceMetrics::SetInFlight(int n) { in_flight_.Set(n); }

}  // namespace parallax::inference_service
