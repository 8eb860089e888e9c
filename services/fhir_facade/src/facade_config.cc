#include "facade_config.h"

#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"

namespace parallax::fhir_facade {

absl::Status LoadFacadeConfig(const std::string& path, FacadeConfig* c) {
  config::ConfigSchema s;
  s.Field("grpc_address", &c->grpc_address, "FhirFacade gRPC host:port");
  s.Field("http_address", &c->http_address, "FHIR REST host:port");
  s.Field("metrics_address", &c->metrics_address, "Prometheus metrics host:port");
  s.Field("database_url", &c->database_url, "PostgreSQL URL");
  s.Field("database_pool_size", &c->database_pool_size, "PostgreSQL connections");
  s.Field("http_threads", &c->http_threads, "concurrent FHIR requests");
  s.Field("public_base_url", &c->public_base_url, "absolute FHIR base URL for links, or empty");
  s.Field("http_allow_unauthenticated", &c->http_allow_unauthenticated, "serve FHIR reads without authorisation");
  s.Field("ehr_base_url", &c->ehr_base_url, "EHR FHIR base URL, or empty for no delivery");
  s.Field("ingest_address", &c->ingest_address, "Ingest gRPC host:port, or empty");
  s.Field("ingest_timeout", &c->ingest_timeout, "GetStudy deadline");
  auth::BindAuthConfig(s, &c->auth);
  s.Field("triage_address", &c->triage_address, "Triage gRPC host:port (heatmap PNGs), or empty");
  s.Field("evidence_base_url", &c->evidence_base_url, "public URL of /evidence, or empty for http://<http_address>/evidence");
  s.Field("delivery_timeout", &c->delivery_timeout, "one HTTP call to the EHR");
  s.Field("max_attempts", &c->max_attempts, "delivery attempts before an entry goes dead");
  s.Field("backoff_base", &c->backoff_base, "first retry delay");
  s.Field("backoff_max", &c->backoff_max, "largest retry delay");
  s.Field("poll_interval", &c->poll_interval, "fallback poll of the outbox");
  s.Field("delivery_workers", &c->delivery_workers, "delivery threads");
  s.Field("outbox_capacity", &c->outbox_capacity, "open outbox entries before publishing is refused");
  s.Field("patient_identifier_system", &c->patient_identifier_system, "identifier system of patient ids");
  s.Field("accession_identifier_system", &c->accession_identifier_system, "identifier system of accessions");
  s.Field("parallax_identifier_system", &c->parallax_identifier_system, "identifier system of Parallax ids");
  s.Field("organisation_name", &c->organisation_name, "reporting organisation");
  s.Field("dicomweb_base_url", &c->dicomweb_base_url, "WADO-RS base for evidence, or empty");
  s.Field("dicom_timezone_offset", &c->dicom_timezone_offset, "UTC offset of DICOM dates and times, or empty");
  s.Field("log_level", &c->log_level, "debug | info | warning | error");
  s.Field("escalation_address", &c->escalation_address, "Escalation gRPC host:port for the workspace, or empty");
  s.Field("alert_routing_address", &c->alert_routing_address, "AlertRouting gRPC host:port for the workspace, or empty");
  s.Field("audit_address", &c->audit_address, "Audit gRPC host:port for the workspace, or empty");
  s.Field("web_root", &c->web_root, "folder of the workspace's static files, or empty for the built-in default");
  s.Field("local_identity_file", &c->local_identity_file, "local users and password hashes for sign-in, or empty");
  s.Field("session_ttl", &c->session_ttl, "lifetime of a workspace sign-in");
  s.Field("workspace_events_wait", &c->workspace_events_wait, "longest wait of a live-update request");
  absl::Status st = config::LoadConfig(s, path, "PARALLAX_FHIR_FACADE");
  if (!st.ok()) return st;
  if (c->database_url.empty()) return absl::InvalidArgumentError("config: database_url is required");
  if (c->database_pool_size < 2) return absl::InvalidArgumentError("config: database_pool_size must be at least 2");
  if (c->http_threads < 1) return absl::InvalidArgumentError("config: http_threads must be at least 1");
  if (c->http_address.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError("config: http_address must be host:port");
  }
  if (!c->ehr_base_url.empty() && c->ehr_base_url.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError("config: ehr_base_url must be an http:// URL (or empty)");
  }
  if (c->max_attempts < 1) return absl::InvalidArgumentError("config: max_attempts must be at least 1");
  if (c->delivery_workers < 1) return absl::InvalidArgumentError("config: delivery_workers must be at least 1");
  if (c->outbox_capacity < 0) return absl::InvalidArgumentError("config: outbox_capacity must not be negative");
  const std::chrono::milliseconds zero(0);
  if (c->session_ttl < std::chrono::milliseconds(60000) || c->workspace_events_wait <= zero) {
    return absl::InvalidArgumentError("config: session_ttl must be at least a minute and workspace_events_wait positive");
  }
  if (c->delivery_timeout <= zero || c->ingest_timeout <= zero || c->backoff_base <= zero ||
      c->poll_interval <= zero || c->backoff_max < c->backoff_base) {
    return absl::InvalidArgumentError(
        "config: timeouts, backoff_base and poll_interval must be positive and backoff_max >= backoff_base");
  }
  log::Level level;
  if (!log::ParseLevel(c->log_level, &level)) {
    return absl::InvalidArgumentError("config: log_level must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

}  // namespace parallax::fhir_facade
