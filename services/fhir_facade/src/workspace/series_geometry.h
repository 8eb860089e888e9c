#pragma once
// Where the images of a series lie, for the workspace's viewer: the reading
// order of a series' instances, the image series of a study, and, for the
// prior study shown beside the current one, which prior slice matches each
// current slice through the co-registration triage stored
// (PriorComparison.current_to_prior).
//
// The match is slice-to-slice ("registered scrolling"): the centre of each
// current slice is mapped into the prior by the registration's matrix and
// the prior slice nearest to it along the prior's slice normal is chosen.
// The prior is not resampled, so a prior tilted against the current study
// shows its own slice plane.
//
// Pure functions: thread-safe.
#include <vector>

#include "parallax/common/v1/study.pb.h"

namespace parallax::fhir_facade::workspace {

// A series' instances in reading order: by position along the slice normal
// when the instances have one, else by instance number.
std::vector<const common::v1::InstanceManifest*> Ordered(const common::v1::SeriesManifest& series);

// The study's image series, in manifest order (Parallax's own SR and other
// non-image objects a PACS may forward are left out).
std::vector<const common::v1::SeriesManifest*> ImageSeries(const common::v1::StudyManifest& study);

// For each slice of `current` (in reading order), the index of the matching
// slice of `prior` (in reading order) under `current_to_prior` (16 values,
// row-major 4 x 4, current patient mm -> prior patient mm). Series without
// geometry (films, or instances lacking position or orientation) map by
// index, clamped to the prior's last slice. Empty when either series is
// empty or the matrix does not have 16 values.
std::vector<int> MatchPriorSlices(const std::vector<const common::v1::InstanceManifest*>& current,
                                  const std::vector<const common::v1::InstanceManifest*>& prior,
                                  const std::vector<double>& current_to_prior);

}  // namespace parallax::fhir_facade::workspace
