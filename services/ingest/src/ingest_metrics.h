#pragma once
// Ingest's Prometheus metrics. Labels carry reasons, sources and SOP class
// names only, never patient data. Thread-safe.
#include <string>

#include "parallax/metrics/metrics_exposer.h"

namespace parallax::ingest {

class IngestMetrics {
 public:
  explicit IngestMetrics(prometheus::Registry& registry);

  void Received(const std::string& source);
  void Stored(const std::string& source, const std::string& sop_class_label, double bytes, double seconds);
  void Duplicate(const std::string& source);
  void Rejected(const std::string& source, const std::string& reason);
  void SetOpenAssociations(int n);
  void SetOutboxDepth(double n);
  void StudiesStable(int n);
  void SubmittedToTriage(bool ok);

 private:
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& stored_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& duplicates_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Histogram>& store_latency_;
  prometheus::Gauge& open_associations_;
  prometheus::Gauge& outbox_depth_;
  prometheus::Counter& studies_stable_;
  prometheus::Family<prometheus::Counter>& submissions_;
};

}  // namespace parallax::ingest
