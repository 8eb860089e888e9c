#include "ingest_config.h"

#include <algorithm>

#include "parallax/config/config_schema.h"
#include "parallax/log/log.h"

namespace parallax::ingest {

absl::Status LoadIngestConfig(const std::string& path, IngestConfig* c) {
  config::ConfigSchema s;
  s.Field("ae_title", &c->ae_title, "our AE title");
  s.Field("dicom_port", &c->dicom_port, "C-STORE / C-ECHO SCP port");
  s.Field("allowed_calling_aes", &c->allowed_calling_aes, "calling AE titles accepted; empty = any");
  s.Field("max_associations", &c->max_associations, "concurrent associations");
  s.Field("dimse_timeout_seconds", &c->dimse_timeout_seconds, "idle seconds before an association is aborted");
  s.Field("http_address", &c->http_address, "STOW-RS bind address");
  s.Field("http_port", &c->http_port, "STOW-RS port");
  s.Field("http_threads", &c->http_threads, "STOW-RS worker threads");
  s.Field("max_stow_bytes", &c->max_stow_bytes, "largest STOW-RS request body in bytes");
  s.Field("public_base_url", &c->public_base_url, "base URL used in STOW-RS RetrieveURLs");
  s.Field("store_root", &c->store_root, "directory of the instance store");
  s.Field("min_free_bytes", &c->min_free_bytes, "refuse instances below this much free space");
  s.Field("database_url", &c->database_url, "PostgreSQL URL");
  s.Field("database_pool_size", &c->database_pool_size, "PostgreSQL connections");
  s.Field("stable_after", &c->stable_after, "quiet period after which a study is stable");
  s.Field("stability_sweep_interval", &c->stability_sweep_interval, "how often stability is checked");
  s.Field("triage_address", &c->triage_address, "Triage gRPC host:port");
  s.Field("triage_deadline", &c->triage_deadline, "deadline of one SubmitStudy call");
  s.Field("outbox_max_backoff", &c->outbox_max_backoff, "retry backoff cap while triage is unreachable");
  s.Field("audit_address", &c->audit_address,
          "Audit gRPC host:port; empty = audit events stay in the ingest.audit_outbox table");
  s.Field("pacs_destinations", &c->pacs_destinations, "PACS destinations for results, name=AET@host:port");
  s.Field("default_pacs", &c->default_pacs, "destination name used when a SendToPacs request names none");
  s.Field("pacs_connect_timeout_seconds", &c->pacs_connect_timeout_seconds, "TCP connect timeout to the PACS");
  s.Field("pacs_dimse_timeout_seconds", &c->pacs_dimse_timeout_seconds,
          "association and C-STORE response timeout with the PACS");
  s.Field("prior_pacs", &c->prior_pacs,
          "pacs_destinations name searched for prior studies (C-FIND, C-GET); empty = local priors only");
  s.Field("prior_calling_ae_title", &c->prior_calling_ae_title,
          "our AE title towards the prior PACS; empty = ae_title");
  s.Field("prior_pacs_connect_timeout_seconds", &c->prior_pacs_connect_timeout_seconds,
          "TCP connect timeout to the prior PACS");
  s.Field("prior_pacs_query_timeout_seconds", &c->prior_pacs_query_timeout_seconds,
          "association and C-FIND response timeout with the prior PACS");
  s.Field("prior_pacs_query_budget_seconds", &c->prior_pacs_query_budget_seconds,
          "time for the whole PACS query phase of one FindPriorStudies call");
  s.Field("prior_pacs_retrieve_timeout_seconds", &c->prior_pacs_retrieve_timeout_seconds,
          "timeout of each C-GET message when retrieving a prior");
  s.Field("grpc_address", &c->grpc_address, "Ingest gRPC host:port");
  s.Field("metrics_address", &c->metrics_address, "Prometheus metrics host:port");
  s.Field("log_level", &c->log_level, "debug | info | warning | error");
  absl::Status st = config::LoadConfig(s, path, "PARALLAX_INGEST");
  if (!st.ok()) return st;
  return ValidateIngestConfig(*c);
}

absl::Status ValidateIngestConfig(const IngestConfig& c) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError("config: " + what); };
  if (c.ae_title.empty() || c.ae_title.size() > 16) return bad("ae_title must be 1 to 16 characters");
  if (c.dicom_port <= 0 || c.dicom_port > 65535) return bad("dicom_port must be 1..65535");
  if (c.http_port < 0 || c.http_port > 65535) return bad("http_port must be 0..65535");
  if (c.max_associations < 1) return bad("max_associations must be at least 1");
  if (c.http_threads < 1) return bad("http_threads must be at least 1");
  if (c.store_root.empty()) return bad("store_root is required");
  if (c.database_url.empty()) return bad("database_url is required");
  if (c.database_pool_size < 2) return bad("database_pool_size must be at least 2");
  if (c.stable_after.count() < 100) return bad("stable_after must be at least 100ms");
  if (c.stability_sweep_interval.count() < 10) return bad("stability_sweep_interval must be at least 10ms");
  if (c.min_free_bytes < 0) return bad("min_free_bytes must not be negative");
  for (const auto& ae : c.allowed_calling_aes) {
    if (ae.empty() || ae.size() > 16) return bad("allowed_calling_aes entries must be 1 to 16 characters");
  }
  if (c.pacs_connect_timeout_seconds < 1) return bad("pacs_connect_timeout_seconds must be at least 1");
  if (c.pacs_dimse_timeout_seconds < 1) return bad("pacs_dimse_timeout_seconds must be at least 1");
  if (absl::StatusOr<PacsSettings> pacs = PacsSettingsFromConfig(c); !pacs.ok()) return pacs.status();
  log::Level level;
  if (!log::ParseLevel(c.log_level, &level)) return bad("log_level must be debug, info, warning or error");
  return absl::OkStatus();
}

namespace {

absl::StatusOr<PriorPacsSettings> PriorSettingsFrom(const IngestConfig& c,
                                                    const std::vector<dicom::StoreDestination>& destinations) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError("config: " + what); };
  if (c.prior_pacs_connect_timeout_seconds < 1) return bad("prior_pacs_connect_timeout_seconds must be at least 1");
  if (c.prior_pacs_query_timeout_seconds < 1) return bad("prior_pacs_query_timeout_seconds must be at least 1");
  if (c.prior_pacs_query_budget_seconds < 1) return bad("prior_pacs_query_budget_seconds must be at least 1");
  if (c.prior_pacs_retrieve_timeout_seconds < 1) return bad("prior_pacs_retrieve_timeout_seconds must be at least 1");
  if (c.prior_calling_ae_title.size() > 16) return bad("prior_calling_ae_title must be at most 16 characters");
  PriorPacsSettings out;
  out.query.calling_ae_title = c.prior_calling_ae_title.empty() ? c.ae_title : c.prior_calling_ae_title;
  out.query.connect_timeout_seconds = c.prior_pacs_connect_timeout_seconds;
  out.query.acse_timeout_seconds = c.prior_pacs_query_timeout_seconds;
  out.query.dimse_timeout_seconds = c.prior_pacs_query_timeout_seconds;
  out.retrieve = out.query;
  out.retrieve.dimse_timeout_seconds = c.prior_pacs_retrieve_timeout_seconds;
  out.query_budget = std::chrono::seconds(c.prior_pacs_query_budget_seconds);
  if (c.prior_pacs.empty()) return out;
  for (const dicom::StoreDestination& d : destinations) {
    if (d.name == c.prior_pacs) {
      out.enabled = true;
      out.pacs = d;
      return out;
    }
  }
  return bad("prior_pacs '" + c.prior_pacs + "' is not one of pacs_destinations");
}

}  // namespace

absl::StatusOr<PacsSettings> PacsSettingsFromConfig(const IngestConfig& c) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError("config: " + what); };
  PacsSettings out;
  for (const std::string& entry : c.pacs_destinations) {
    absl::StatusOr<dicom::StoreDestination> d = dicom::ParseStoreDestination(entry);
    if (!d.ok()) return bad("pacs_destinations: " + std::string(d.status().message()));
    for (const auto& other : out.destinations) {
      if (other.name == d->name) return bad("pacs_destinations names '" + d->name + "' twice");
    }
    out.destinations.push_back(*std::move(d));
  }
  if (!c.default_pacs.empty()) {
    const bool known = std::any_of(out.destinations.begin(), out.destinations.end(),
                                   [&](const dicom::StoreDestination& d) { return d.name == c.default_pacs; });
    if (!known) return bad("default_pacs '" + c.default_pacs + "' is not one of pacs_destinations");
    out.default_destination = c.default_pacs;
  } else if (out.destinations.size() == 1) {
    out.default_destination = out.destinations[0].name;
  } else if (out.destinations.size() > 1) {
    return bad("default_pacs is required when pacs_destinations has several entries");
  }
  out.scu.calling_ae_title = c.ae_title;
  out.scu.connect_timeout_seconds = c.pacs_connect_timeout_seconds;
  out.scu.acse_timeout_seconds = c.pacs_dimse_timeout_seconds;
  out.scu.dimse_timeout_seconds = c.pacs_dimse_timeout_seconds;
  absl::StatusOr<PriorPacsSettings> priors = PriorSettingsFrom(c, out.destinations);
  if (!priors.ok()) return priors.status();
  out.priors = *std::move(priors);
  return out;
}

absl::StatusOr<PriorPacsSettings> PriorPacsSettingsFromConfig(const IngestConfig& c) {
  absl::StatusOr<PacsSettings> pacs = PacsSettingsFromConfig(c);
  if (!pacs.ok()) return pacs.status();
  return pacs->priors;
}

}  // namespace parallax::ingest
