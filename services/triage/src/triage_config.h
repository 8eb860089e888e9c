#pragma once
// Triage's configuration: typed struct, JSON file plus PARALLAX_TRIAGE_*
// environment overrides, validated at start-up.
#include <chrono>
#include <string>
#include <vector>

#include <absl/status/status.h>

#include "parallax/auth/service_auth.h"

namespace parallax::triage {

// The chest model's lung lesion labels, compared as one lesion (see
// DefaultChangeRule in prior_comparison.h).
inline constexpr char kDefaultLabelFamilies[] = "Nodule,Mass,Lung Lesion";

struct TriageConfig {
  std::string grpc_address = "127.0.0.1:50052";    // Triage gRPC host:port
  std::string metrics_address = "127.0.0.1:9102";  // Prometheus /metrics
  std::string database_url = "postgresql://postgres@127.0.0.1:5432/parallax";
  int database_pool_size = 6;                      // PostgreSQL connections
  std::string model_dir = "models";                // model manifests (series selection)
  std::string inference_address = "127.0.0.1:50053";
  std::string explainability_address = "127.0.0.1:50054";
  std::string alert_routing_address = "127.0.0.1:50055";  // "" = keep analysed studies in the outbox
  // Audit gRPC host:port. "" = STUDY_ANALYSED events stay in the
  // triage.audit_outbox table, undelivered, until triage runs with an address.
  std::string audit_address = "127.0.0.1:50057";
  int workers = 2;                                 // analysis worker threads (0 = submissions only)
  std::string worker_name = "";                    // lease owner prefix; "" = host:pid
  std::chrono::milliseconds lease{30000};          // job lease; renewed every third
  int max_attempts = 5;                            // then the dead letter state
  std::chrono::milliseconds backoff_base{2000};    // first retry delay, doubling
  std::chrono::milliseconds analyze_timeout{30000};
  std::chrono::milliseconds explain_timeout{30000};
  bool dicom_evidence = true;                      // a Secondary Capture per positive finding
  // Prior-study comparison (prior_comparison.h): Ingest's address; "" = none is made.
  std::string ingest_address = "127.0.0.1:50051";
  std::chrono::milliseconds prior_budget{120000};       // the whole comparison of one study
  std::chrono::milliseconds prior_find_timeout{30000};  // Ingest.FindPriorStudies, PACS included
  int prior_lookback_days = 0;                          // 0 = ingest's default (5 years)
  bool prior_retrieve = true;                           // fetch the prior from the PACS when needed
  bool prior_register = true;                           // co-register the prior (Inference.RegisterPrior)
  double change_larger_ratio = 1.5;                     // current / prior size: larger at or above
  double change_smaller_ratio = 0.67;                   // smaller at or below
  double change_persistence_probability = 0.5;          // see comparison::ChangeRule; 1 = off
  bool change_subtypes_through_summary = true;          // a subtype's change through its summary finding
  // Label families (comparison::ParseLabelFamilies text: ';' between
  // families, ',' within one); "" = none.
  std::string change_label_families = kDefaultLabelFamilies;
  std::vector<std::vector<std::string>> change_label_family_list;  // parsed from it by LoadTriageConfig
  std::string log_level = "info";                  // debug | info | warning | error
  // jwt_* keys: triage's own token on calls to alert routing (none when no
  // HS256 secret is configured).
  auth::AuthConfig auth;
};

// Loads `path` (optional) and the environment, then validates.
absl::Status LoadTriageConfig(const std::string& path, TriageConfig* config);

}  // namespace parallax::triage
