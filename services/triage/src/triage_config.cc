#include "triage_config.h"

#include <absl/strings/str_cat.h>

#include "parallax/comparison/change.h"
#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"

namespace parallax::triage {

absl::Status LoadTriageConfig(const std::string& path, TriageConfig* c) {
  config::ConfigSchema s;
  s.Field("grpc_address", &c->grpc_address, "Triage gRPC host:port");
  s.Field("metrics_address", &c->metrics_address, "Prometheus metrics host:port");
  s.Field("database_url", &c->database_url, "PostgreSQL URL");
  s.Field("database_pool_size", &c->database_pool_size, "PostgreSQL connections");
  s.Field("model_dir", &c->model_dir, "model directory (manifests are read)");
  s.Field("inference_address", &c->inference_address, "Inference gRPC host:port");
  s.Field("explainability_address", &c->explainability_address, "Explainability gRPC host:port");
  s.Field("alert_routing_address", &c->alert_routing_address, "AlertRouting gRPC host:port, or empty");
  s.Field("audit_address", &c->audit_address, "Audit gRPC host:port; empty = events stay in triage.audit_outbox");
  s.Field("workers", &c->workers, "analysis worker threads");
  s.Field("worker_name", &c->worker_name, "lease owner prefix");
  s.Field("lease", &c->lease, "job lease");
  s.Field("max_attempts", &c->max_attempts, "attempts before the dead letter state");
  s.Field("backoff_base", &c->backoff_base, "first retry delay");
  s.Field("analyze_timeout", &c->analyze_timeout, "Inference.Analyze deadline");
  s.Field("explain_timeout", &c->explain_timeout, "Explainability.Explain deadline");
  s.Field("dicom_evidence", &c->dicom_evidence, "make a Secondary Capture per positive finding");
  s.Field("ingest_address", &c->ingest_address, "Ingest gRPC host:port for prior studies; empty = no comparison");
  s.Field("prior_budget", &c->prior_budget, "time for one study's prior comparison");
  s.Field("prior_find_timeout", &c->prior_find_timeout, "Ingest.FindPriorStudies deadline");
  s.Field("prior_lookback_days", &c->prior_lookback_days, "days back to look for priors; 0 = 5 years");
  s.Field("prior_retrieve", &c->prior_retrieve, "retrieve the prior from the PACS when ingest lacks it");
  s.Field("prior_register", &c->prior_register, "co-register the prior onto the current study");
  s.Field("change_larger_ratio", &c->change_larger_ratio, "current/prior size at or above which a finding is larger");
  s.Field("change_smaller_ratio", &c->change_smaller_ratio, "current/prior size at or below which it is smaller");
  s.Field("change_persistence_probability", &c->change_persistence_probability,
          "probability below the operating point at which a finding seen at the other time persists; 1 = off");
  s.Field("change_subtypes_through_summary", &c->change_subtypes_through_summary,
          "report a subtype's change through its model's summary finding (head CT ICH)");
  s.Field("change_label_families", &c->change_label_families,
          "labels compared as one lesion when one stands in for another ('Nodule,Mass,Lung Lesion'; ';' between "
          "families; empty = none)");
  s.Field("log_level", &c->log_level, "debug | info | warning | error");
  auth::BindAuthConfig(s, &c->auth);
  absl::Status st = config::LoadConfig(s, path, "PARALLAX_TRIAGE");
  if (!st.ok()) return st;
  if (c->database_url.empty()) return absl::InvalidArgumentError("config: database_url is required");
  if (c->database_pool_size < 2) return absl::InvalidArgumentError("config: database_pool_size must be at least 2");
  if (c->workers < 0) return absl::InvalidArgumentError("config: workers must not be negative");
  if (c->lease < std::chrono::milliseconds(300)) return absl::InvalidArgumentError("config: lease must be at least 300ms");
  if (c->max_attempts < 1) return absl::InvalidArgumentError("config: max_attempts must be at least 1");
  if (c->analyze_timeout <= std::chrono::milliseconds(0) || c->explain_timeout <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError("config: analyze_timeout and explain_timeout must be positive");
  }
  if (c->prior_budget <= std::chrono::milliseconds(0) || c->prior_find_timeout <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError("config: prior_budget and prior_find_timeout must be positive");
  }
  if (c->prior_lookback_days < 0 || c->prior_lookback_days > 36600) {
    return absl::InvalidArgumentError("config: prior_lookback_days must be 0..36600");
  }
  if (!(c->change_larger_ratio > 1) || !(c->change_smaller_ratio > 0 && c->change_smaller_ratio < 1) ||
      !(c->change_persistence_probability > 0 && c->change_persistence_probability <= 1)) {
    return absl::InvalidArgumentError(
        "config: change_larger_ratio must be above 1, change_smaller_ratio within (0, 1) and "
        "change_persistence_probability within (0, 1]");
  }
  absl::StatusOr<std::vector<std::vector<std::string>>> families =
      comparison::ParseLabelFamilies(c->change_label_families);
  if (!families.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("config: change_label_families: ", families.status().message()));
  }
  c->change_label_family_list = *std::move(families);
  log::Level level;
  if (!log::ParseLevel(c->log_level, &level)) {
    return absl::InvalidArgumentError("config: log_level must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

}  // namespace parallax::triage
