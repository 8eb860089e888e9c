#pragma once
// From DICOM to registration input: the Volume (registration.h) of one
// series, its decoded images placed in physical space by their DICOM
// geometry, so that Register() works in the millimetres the headers state.
// Shared by the inference service (Inference.RegisterPrior, instances read
// from ingest) and the evaluation tools (a PreparedStudy's decoded series).
//
// Two kinds of series:
//
//   volume    more than one image, every one with ImagePositionPatient and
//             ImageOrientationPatient (CT, MR): slices sorted along the
//             slice normal (row x column cosine); origin = the position of
//             the first slice in that order; the i and j axes are the row
//             and column cosines, the k axis runs from the first slice's
//             position to the last's (the slice normal, or the tilted
//             direction of a gantry-tilted stack); spacing = PixelSpacing
//             (column spacing along i, row spacing along j) and the distance
//             between consecutive slice positions (not SliceThickness or
//             SpacingBetweenSlices, which are often absent or wrong).
//   2-D image a series of exactly one image (a radiograph, or a single
//             slice): nz = 1 in detector millimetres, x along the columns,
//             y along the rows, origin at the image centre, spacing from
//             PixelSpacing, else ImagerPixelSpacing.
//
// Voxel values are the decoder's modality units (dicom::PixelImage: HU for
// CT, MONOCHROME1 already flipped).
//
// Thread-safety: pure functions of their arguments; safe to call
// concurrently. Messages name instances by SOP Instance UID (or by position
// before a header is read), never by patient data.
#include <span>

#include <absl/status/statusor.h>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/registration.h"
#include "parallax/inference/study_analysis.h"

namespace parallax::inference {

// The Volume of one series from its images: headers[i] describes frames[i]
// (one frame per instance; any order). Returns the volume or 2-D image as
// described above.
// INVALID_ARGUMENT (naming the instance and the attribute) when there is no
// image, the two spans differ in length, a frame's size differs from its
// header or from the first image's, a series of several images lacks
// ImagePositionPatient or ImageOrientationPatient on one of them, the
// orientation is not two orthogonal unit vectors or differs between slices,
// the pixel spacing is missing, not positive or differs between slices, two
// slices share a position, or the slices are not evenly spaced along one
// line (a gap of missing slices, two stacks in one series): a Volume is a
// regular grid.
absl::StatusOr<Volume> VolumeFromSeries(std::span<const dicom::InstanceHeader> headers,
                                        std::span<const dicom::PixelImage> frames);

// Reads the header and pixels of each instance of one series (files on disk
// or Part-10 bytes in memory, as StudyAnalyzer takes them) and returns
// VolumeFromSeries of them.
// INVALID_ARGUMENT when an instance is not readable DICOM (named by its
// position), its pixels cannot be decoded, or it has other than one frame
// (named by SOP Instance UID); NOT_FOUND when a file is missing; otherwise
// the errors of VolumeFromSeries.
absl::StatusOr<Volume> VolumeFromInstances(std::span<const StudyInstance> instances);

}  // namespace parallax::inference
