#include "ingest_metrics.h"

namespace parallax::ingest {

IngestMetrics::IngestMetrics(prometheus::Registry& r)
    : received_(prometheus::BuildCounter()
                    .Name("parallax_ingest_instances_received_total")
                    .Help("DICOM instances received, by source (dimse, stow)")
                    .Register(r)),
      stored_(prometheus::BuildCounter()
                  .Name("parallax_ingest_instances_stored_total")
                  .Help("Instances made durable and indexed, by source and SOP class")
                  .Register(r)),
      bytes_(prometheus::BuildCounter()
                 .Name("parallax_ingest_stored_bytes_total")
                 .Help("Bytes of instances stored, by source")
                 .Register(r)),
      duplicates_(prometheus::BuildCounter()
                      .Name("parallax_ingest_instances_duplicate_total")
                      .Help("Resent instances already stored (answered Success, not stored twice)")
                      .Register(r)),
      rejected_(prometheus::BuildCounter()
                    .Name("parallax_ingest_instances_rejected_total")
                    .Help("Instances refused, by source and reason")
                    .Register(r)),
      store_latency_(prometheus::BuildHistogram()
                         .Name("parallax_ingest_store_seconds")
                         .Help("Time from a complete data set to durable and indexed, by source")
                         .Register(r)),
      open_associations_(prometheus::BuildGauge()
                             .Name("parallax_ingest_open_associations")
                             .Help("DICOM associations currently open")
                             .Register(r)
                             .Add({})),
      outbox_depth_(prometheus::BuildGauge()
                        .Name("parallax_ingest_triage_outbox_depth")
                        .Help("Stable studies not yet accepted by triage")
                        .Register(r)
                        .Add({})),
      studies_stable_(prometheus::BuildCounter()
                          .Name("parallax_ingest_studies_stable_total")
                          .Help("Studies marked stable (each generation counts once)")
                          .Register(r)
                          .Add({})),
      submissions_(prometheus::BuildCounter()
                       .Name("parallax_ingest_triage_submissions_total")
                       .Help("SubmitStudy calls to triage, by result")
                       .Register(r)) {}

void IngestMetrics::Received(const std::string& source) { received_.Add({{"source", source}}).Increment(); }

void IngestMetrics::Stored(const std::string& source, const std::string& sop_class_label, double bytes,
                           double seconds) {
  stored_.Add({{"source", source}, {"sop_class", sop_class_label}}).Increment();
  bytes_.Add({{"source", source}}).Increment(bytes);
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                                   0.05,   0.1,   0.25,  0.5,   1,    2.5};
  store_latency_.Add({{"source", source}}, kBuckets).Observe(seconds);
}

void IngestMetrics::Duplicate(const std::string& source) { duplicates_.Add({{"source", source}}).Increment(); }

void IngestMetrics::Rejected(const std::string& source, const std::string& reason) {
  rejected_.Add({{"source", source}, {"reason", reason}}).Increment();
}

void IngestMetrics::SetOpenAssociations(int n) { open_associations_.Set(n); }
void IngestMetrics::SetOutboxDepth(double n) { outbox_depth_.Set(n); }
void IngestMetrics::StudiesStable(int n) { studies_stable_.Increment(n); }
void IngestMetrics::SubmittedToTriage(bool ok) { submissions_.Add({{"result", ok ? "ok" : "error"}}).Increment(); }

}  // namespace parallax::ingest
