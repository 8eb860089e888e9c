#pragma once
// The ingest service's configuration: one typed struct, defaults here, loaded
// from a JSON file plus PARALLAX_INGEST_* environment overrides, validated at
// start-up. Passed by const reference; no global.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "parallax/dicom/query_retrieve.h"
#include "parallax/dicom/store_scu.h"

namespace parallax::ingest {

struct IngestConfig {
  // DICOM edge
  std::string ae_title = "PARALLAX";                 // our AE title
  int dicom_port = 11112;                            // C-STORE / C-ECHO SCP port
  std::vector<std::string> allowed_calling_aes;      // empty = accept any calling AE
  int max_associations = 16;                         // concurrent associations
  int dimse_timeout_seconds = 60;                    // idle time before an association is aborted
  // DICOMweb
  std::string http_address = "127.0.0.1";            // STOW-RS bind address
  int http_port = 8080;                              // STOW-RS port
  int http_threads = 4;                              // STOW-RS worker threads
  int64_t max_stow_bytes = 2LL * 1024 * 1024 * 1024;  // largest STOW-RS request body
  std::string public_base_url;                       // base of RetrieveURLs in STOW responses; derived when empty
  // Store
  std::string store_root = "/var/lib/parallax/ingest";  // instance files live here
  int64_t min_free_bytes = 512LL * 1024 * 1024;      // refuse (A700 / 503) below this much free space
  // Database
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/parallax";
  int database_pool_size = 24;                       // connections; one per busy association plus background work
  // Study stability and hand-off to triage
  std::chrono::milliseconds stable_after{10000};     // quiet period after the last instance
  std::chrono::milliseconds stability_sweep_interval{1000};  // how often stability is checked
  std::string triage_address = "127.0.0.1:50052";    // Triage gRPC endpoint
  std::chrono::milliseconds triage_deadline{5000};   // per SubmitStudy call
  std::chrono::milliseconds outbox_max_backoff{60000};  // retry backoff cap while triage is down
  // Audit: STUDY_RECEIVED events wait in ingest.audit_outbox and go to the
  // Audit service from there. Empty: they stay in the outbox, undelivered,
  // until ingest runs with an address again.
  std::string audit_address = "127.0.0.1:50057";     // Audit gRPC endpoint
  // Results to the PACS (SendToPacs, C-STORE SCU; calling AE is ae_title)
  std::vector<std::string> pacs_destinations;        // "name=AET@host:port" entries
  std::string default_pacs;                          // destination used when a request names none; empty = the only one
  int pacs_connect_timeout_seconds = 10;             // TCP connect to the PACS
  int pacs_dimse_timeout_seconds = 60;               // association negotiation and each C-STORE response
  // Prior studies (FindPriorStudies): C-FIND and C-GET towards one PACS
  std::string prior_pacs;                            // a pacs_destinations name; empty = local priors only
  std::string prior_calling_ae_title;                // our AE title towards it (the PACS must know it); empty = ae_title
  int prior_pacs_connect_timeout_seconds = 3;        // TCP connect to the prior PACS
  int prior_pacs_query_timeout_seconds = 10;         // association answer and each C-FIND response
  int prior_pacs_query_budget_seconds = 20;          // the whole PACS query phase of one call; later look-ups are skipped
  int prior_pacs_retrieve_timeout_seconds = 30;      // each C-GET message (progress, C-STORE sub-operation)
  // Service endpoints
  std::string grpc_address = "127.0.0.1:50051";      // Ingest gRPC (GetStudy, ReadInstance)
  std::string metrics_address = "127.0.0.1:9101";    // Prometheus /metrics
  std::string log_level = "info";                    // debug | info | warning | error
};

// Loads `path` (optional) and the environment into `config`, then validates.
// INVALID_ARGUMENT naming the offending key on any problem.
absl::Status LoadIngestConfig(const std::string& path, IngestConfig* config);

// Checks ranges and required values. INVALID_ARGUMENT naming the key.
absl::Status ValidateIngestConfig(const IngestConfig& config);

// Where FindPriorStudies looks for priors on a PACS, from the config.
struct PriorPacsSettings {
  bool enabled = false;                    // prior_pacs is set
  dicom::StoreDestination pacs;            // the pacs_destinations entry prior_pacs names
  dicom::QueryRetrieveOptions query;       // C-FIND: calling AE, connect, association and response timeouts
  dicom::QueryRetrieveOptions retrieve;    // C-GET: the same, with the retrieve timeout per message
  std::chrono::seconds query_budget{20};   // the whole PACS query phase of one call
};

// Where SendToPacs may send, from the config: the parsed destinations, the
// default one, and the SCU options (calling AE title = ae_title); and where
// FindPriorStudies looks for priors.
struct PacsSettings {
  std::vector<dicom::StoreDestination> destinations;
  std::string default_destination;  // a name in `destinations`; empty when there are none
  dicom::StoreScuOptions scu;
  PriorPacsSettings priors;         // disabled when prior_pacs is empty
};

// INVALID_ARGUMENT naming the key when a destination is malformed, two share
// a name, or default_pacs names none of them (or is empty while there are
// several), or as PriorPacsSettingsFromConfig.
absl::StatusOr<PacsSettings> PacsSettingsFromConfig(const IngestConfig& config);

// INVALID_ARGUMENT naming the key when prior_pacs names no pacs_destinations
// entry, prior_calling_ae_title is longer than 16 characters, or a timeout
// is below 1 second. Disabled (OK) when prior_pacs is empty.
absl::StatusOr<PriorPacsSettings> PriorPacsSettingsFromConfig(const IngestConfig& config);

}  // namespace parallax::ingest
