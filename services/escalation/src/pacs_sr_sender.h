#pragma once
// The SrSender that reaches a real PACS: builds the report's TID 1500
// Comprehensive 3D SR (libs/dicom sr_writer.h) from one source image read
// through ingest, gathers each finding's heatmap Secondary Capture from
// triage, and has ingest C-STORE them all to the configured PACS
// (Ingest.SendToPacs). UIDs are deterministic per report version, so a
// retried send stores the same objects again (a no-op for the PACS).
// Thread-safe.
#include <chrono>
#include <functional>
#include <memory>

#include "parallax/dicom/sr_writer.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "parallax/ingest_client/study_source.h"
#include "parallax/triage/v1/triage.grpc.pb.h"
#include "report_publisher.h"

namespace parallax::escalation {

// The SR's comparison with the prior (libs/dicom sr_writer.h) from a
// finding's PriorComparison: class, prior study UID and date, interval,
// sizes with their unit, and the prior images (Pertinent Other Evidence).
// "Not compared" (the SR then says nothing) when the class is unspecified,
// or when the prior UID is not a valid UID or is the report's own study
// (`study_uid`), which the SR writer would refuse. Pure.
dicom::SrPriorComparison SrPriorComparisonOf(const common::v1::PriorComparison& comparison,
                                             const std::string& study_uid);

class PacsSrSender final : public SrSender {
 public:
  // Everything must outlive the sender. `decorate` adds credentials.
  PacsSrSender(ingest_client::StudySource* source, ingest::v1::Ingest::StubInterface* ingest,
               triage::v1::Triage::StubInterface* triage, std::function<void(grpc::ClientContext*)> decorate,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(15000))
      : source_(source), ingest_(ingest), triage_(triage), decorate_(std::move(decorate)), timeout_(timeout) {}

  // The SR's SOP Instance UID once the PACS stored it (and the heatmaps).
  // UNAVAILABLE when ingest, triage or the PACS cannot be reached;
  // FAILED_PRECONDITION when the report has nothing to put in an SR (no
  // finding with a source image); INTERNAL when the PACS refuses an object.
  absl::StatusOr<std::string> Send(const v1::Report& report, const StoredReport& stored) override;

 private:
  ingest_client::StudySource* source_;
  ingest::v1::Ingest::StubInterface* ingest_;
  triage::v1::Triage::StubInterface* triage_;
  std::function<void(grpc::ClientContext*)> decorate_;
  std::chrono::milliseconds timeout_;
};

}  // namespace parallax::escalation
