#pragma once
// Converts between the wire StudyManifest (what ingest indexes) and
// dicom::InstanceHeader (what series selection reads), so triage can choose
// series from a manifest without reading any file, and tools and tests can
// build a manifest from headers. Pure functions; thread-safe.
#include <span>
#include <string>
#include <vector>

#include "parallax/common/v1/study.pb.h"
#include "parallax/dicom/instance_header.h"

namespace parallax::ingest_client {

// The header of one instance as far as the manifest knows it (study, series
// and instance fields; pixel data attributes; no patient name).
dicom::InstanceHeader ToInstanceHeader(const common::v1::StudyManifest& study,
                                       const common::v1::SeriesManifest& series,
                                       const common::v1::InstanceManifest& instance);

// The series of `study` with this Series Instance UID; nullptr when none.
const common::v1::SeriesManifest* FindSeries(const common::v1::StudyManifest& study,
                                             const std::string& series_instance_uid);

// Every instance of the manifest, series by series.
std::vector<dicom::InstanceHeader> ToInstanceHeaders(const common::v1::StudyManifest& study);

// A manifest of one study from the headers of its instances (grouped into
// series in order of first appearance). Study fields come from the first
// header; generation is 1.
common::v1::StudyManifest ManifestFromHeaders(std::span<const dicom::InstanceHeader> headers);

}  // namespace parallax::ingest_client
