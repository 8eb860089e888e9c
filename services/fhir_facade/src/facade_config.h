#pragma once
// The FHIR facade's configuration: typed struct, JSON file plus
// PARALLAX_FHIR_FACADE_* environment overrides, validated at start-up.
#include <chrono>
#include <cstdint>
#include <string>

#include "parallax/auth/service_auth.h"

#include <absl/status/status.h>

namespace parallax::fhir_facade {

struct FacadeConfig {
  auth::AuthConfig auth;                           // jwt_* keys: callers and HTTP readers
  std::string triage_address = "127.0.0.1:50052";  // where the heatmap PNGs are held (Triage.GetEvidence)
  std::string evidence_base_url;                   // URL of /evidence as the EHR sees it; empty = http://<http_address>/evidence
  std::string grpc_address = "127.0.0.1:50058";    // FhirFacade gRPC host:port
  std::string http_address = "127.0.0.1:8090";     // FHIR REST host:port (IP literal)
  std::string metrics_address = "127.0.0.1:9108";  // Prometheus /metrics
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/parallax";
  int database_pool_size = 6;                      // PostgreSQL connections
  // Concurrent HTTP requests; each open workspace holds one while it waits
  // for live updates (up to workspace_events_wait).
  int http_threads = 32;
  std::string public_base_url = "";                // absolute FHIR base for links; "" = from Host
  // Until the JWT authoriser is wired in, the REST API refuses every request
  // but /metadata (401) unless this is set (local demo only).
  bool http_allow_unauthenticated = false;
  std::string ehr_base_url = "";                   // EHR FHIR base; "" = no delivery (entries stay pending)
  std::string ingest_address = "127.0.0.1:50051";  // Ingest gRPC for manifests; "" = none
  std::chrono::milliseconds ingest_timeout{5000};  // one GetStudy call
  std::chrono::milliseconds delivery_timeout{10000};  // one HTTP call to the EHR
  int max_attempts = 10;                           // then the entry goes dead
  std::chrono::milliseconds backoff_base{1000};    // first retry delay, doubling
  std::chrono::milliseconds backoff_max{300000};   // upper bound of the retry delay
  std::chrono::milliseconds poll_interval{1000};   // fallback poll besides LISTEN/NOTIFY
  int delivery_workers = 1;                        // delivery threads
  int64_t outbox_capacity = 100000;                // open entries before RESOURCE_EXHAUSTED; 0 = no limit
  std::string patient_identifier_system = "urn:parallax:patient-id";
  std::string accession_identifier_system = "urn:parallax:accession";
  std::string parallax_identifier_system = "urn:parallax:id";
  std::string organisation_name = "Parallax";
  std::string dicomweb_base_url = "";              // WADO-RS base for evidence links; "" = none
  std::string dicom_timezone_offset = "";          // e.g. "+01:00"; "" = dates only
  std::string log_level = "info";                  // debug | info | warning | error
  // The radiologist's workspace (web UI and /api): the services behind it
  // ("" = that part answers 503), its static files ("" = no UI is served),
  // and the local identity for sign-in ("" = tokens from the hospital's
  // identity provider only).
  std::string escalation_address = "127.0.0.1:50056";
  std::string alert_routing_address = "127.0.0.1:50055";
  std::string audit_address = "127.0.0.1:50057";
  std::string web_root = "";                       // folder of index.html; "" = the built-in default
  std::string local_identity_file = "";            // workspace/local_identity.h's file
  std::chrono::milliseconds session_ttl{8 * 3600 * 1000};        // a signed-in session
  std::chrono::milliseconds workspace_events_wait{25000};        // longest live-update long-poll
};

// Loads `path` (optional) and the environment, then validates.
// INVALID_ARGUMENT naming the key for an unknown key or a bad value;
// NOT_FOUND when the file cannot be read.
absl::Status LoadFacadeConfig(const std::string& path, FacadeConfig* config);

}  // namespace parallax::fhir_facade
