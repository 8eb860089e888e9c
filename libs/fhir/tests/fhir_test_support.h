#pragma once
// Realistic inputs for the FHIR builders (studies, findings read from the
// shipped model manifests, reports, alerts, cases, audit entries) and the
// bridge to the node schema validator in tools/fhir-validator.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parallax/audit/v1/audit.pb.h"
#include "parallax/common/v1/finding.pb.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/fhir/v1/fhir_facade.pb.h"

namespace parallax::fhir::testing {

// A chest radiograph (one DX PA instance) and a head CT (three axial slices).
common::v1::StudyManifest ChestRadiographManifest();
common::v1::StudyManifest HeadCtManifest();

// A label's coded concept and the model's identity from models/<model>.json.
common::v1::ClinicalCode LabelCode(const std::string& model, const std::string& label);
common::v1::ModelRef ModelOf(const std::string& model);

// Positive right pneumothorax, 12.5 cm2, with PNG heatmap and DICOM SC.
common::v1::Finding RightPneumothorax();
// Positive left subdural haemorrhage, 45.2 mL, midline shift 6.5 mm.
common::v1::Finding LeftSubduralHaemorrhage();
// Negative pleural effusion finding.
common::v1::Finding NoEffusion();

google::protobuf::Timestamp At(int64_t unix_seconds, int32_t nanos = 0);

// A report on the chest radiograph with the pneumothorax and the negative
// effusion finding.
v1::PublishReportRequest ChestReport(v1::ReportStatus status);
// A report on the head CT with the subdural haemorrhage.
v1::PublishReportRequest HeadCtReport(v1::ReportStatus status);

// The head CT report whose haemorrhage was compared with the patient's
// prior head CT of 2026-09-03 (92 days before; 45.2 mL now and, at the
// prior, 20.1 mL when larger or resolved, 44.0 mL when stable, 80.3 mL when
// smaller, none when new) with class `change`; for CHANGE_CLASS_NO_PRIOR the
// comparison names no prior (interval -1, current size only).
v1::PublishReportRequest HeadCtFollowUpReport(v1::ReportStatus status, common::v1::ChangeClass change);
// The prior study's UID and series of HeadCtFollowUpReport.
inline constexpr char kPriorHeadCtStudyUid[] = "1.2.826.0.1.3680043.8.498.20001";
inline constexpr char kPriorHeadCtSeriesUid[] = "1.2.826.0.1.3680043.8.498.20001.2";

audit::v1::AuditEvent AuditEntry(audit::v1::EventType type, audit::v1::Outcome outcome, int64_t sequence);

// Writes each resource to dir/<name>.json and returns the paths.
std::vector<std::string> WriteResources(const std::filesystem::path& dir,
                                        const std::vector<std::pair<std::string, nlohmann::json>>& resources);

struct ValidatorRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};
// Runs `node tools/fhir-validator/validate.js <files>`. FAILs the test when
// node or the validator's node_modules are missing (run scripts/bootstrap).
ValidatorRun RunValidator(const std::vector<std::string>& files);

}  // namespace parallax::fhir::testing
