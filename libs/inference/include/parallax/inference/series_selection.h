#pragma once
// Series selection: given the instance headers of one study and a model's
// manifest, decides whether the model applies and which series (and which
// instances, in which order) feed it. Pure logic on headers: no pixels, no
// LibTorch, so triage can link it (target parallax_inference_manifest).
//
// Rules (all string comparisons ignore case and surrounding spaces):
//   Modality      the series' Modality must be in applies_to.modality.
//   Body part     BodyPartExamined must match applies_to.body_part (empty =
//                 any). When BodyPartExamined is empty, the body part is
//                 looked for as a word in the Series Description, then the
//                 Protocol Name, then the Study Description; the result says
//                 which field supplied it. HEAD, BRAIN and SKULL count as one
//                 body part, as do CHEST, THORAX and LUNG.
//   Radiographs   (a modality other than CT/MR): one image. Its View Position
//                 (else a PA/AP/LAT word of the series description) must be in
//                 applies_to.view_position (empty = any); among matching
//                 images the one whose view comes first in that list wins
//                 (so ["PA","AP"] prefers a PA film, and any frontal film
//                 beats a lateral), then the lowest series / instance number.
//   CT and MR     a volume: single-frame instances of one series that share
//                 ImageOrientationPatient, with ImagePositionPatient, whose
//                 normal (row x column) is closest to the patient's z axis
//                 (axial: |n_z| is its largest component, which accepts a
//                 gantry tilt). CT also needs a slice thickness (SliceThickness,
//                 else the spacing measured from positions) within
//                 [min_ct_slice_thickness_mm, max_ct_slice_thickness_mm].
//                 Among eligible series the one with the most slices wins.
//                 Slices are sorted by their position along the normal
//                 (never by file name or Instance Number); two slices at the
//                 same position make a series ineligible.
//   Multi-series  (manifest input.series, e.g. ["T1_POST_CONTRAST","FLAIR"]):
//                 one volume per role, chosen as above among the series whose
//                 recognised role matches; the volumes must be co-registered
//                 (same slice count, positions within half a slice spacing),
//                 the first role's series giving the order.
//
// A model that does not apply gives applies == false with a reason such as
// "modality MR not in [DX, CR]", "no axial series with 2.5–5 mm slices" or
// "no FLAIR series" — never an empty, unexplained result. Reasons and notes
// hold no patient data (they name modalities, body parts, roles, counts).
//
// Thread-safe: pure functions.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "parallax/dicom/instance_header.h"
#include "parallax/inference/model_manifest.h"

namespace parallax::inference {

struct SelectionCriteria {
  double min_ct_slice_thickness_mm = 2.5;  // CT only, inclusive
  double max_ct_slice_thickness_mm = 5.0;  // CT only, inclusive
  int min_slices = 3;                      // a volume with fewer slices is not a volume
};

// One series chosen for the model.
struct SelectedSeries {
  std::string role;                  // the input.series role, "" for a single-series model
  std::string series_instance_uid;
  std::string series_description;    // for display; not patient data by DICOM's definition
  std::string modality;
  // Indices into the headers given to SelectSeries, in the order the model
  // sees them: patient order along the slice normal for a volume (first =
  // most negative position along the normal, i.e. inferior for axial LPS),
  // one index for a radiograph.
  std::vector<size_t> instances;
  // Position of each instance along the slice normal (mm); empty for a radiograph.
  std::vector<double> positions_mm;
  // Median distance between neighbouring positions (mm); 0 for a radiograph.
  double slice_spacing_mm = 0;
  double slice_thickness_mm = 0;     // SliceThickness, else slice_spacing_mm
  std::vector<double> pixel_spacing_mm;  // row, column (mm) of the first instance, as in the header
};

struct SeriesSelection {
  bool applies = false;
  // When !applies, why not (never empty). When applies, empty.
  std::string reason;
  // Where the body part came from: "BodyPartExamined", "SeriesDescription",
  // "ProtocolName", "StudyDescription", or "" when the manifest accepts any
  // body part.
  std::string body_part_source;
  // One per role of input.series, in that order; exactly one for a
  // single-series model. Empty when !applies.
  std::vector<SelectedSeries> series;
};

// Decides whether `manifest` applies to the study whose instances are
// `headers` and picks the series. Headers of other studies are not expected
// (the caller groups by Study Instance UID).
SeriesSelection SelectSeries(std::span<const dicom::InstanceHeader> headers, const ModelManifest& manifest,
                             const SelectionCriteria& criteria = {});

// The series roles (KnownSeriesRoles() names) the header's Series
// Description and Protocol Name suggest, most specific first; empty when
// nothing is recognised. "FLAIR" -> FLAIR; "T1" with "POST", "GD", "GAD",
// "+C", "C+", "CONTRAST", "CE" or "MPRAGE POST" -> T1_POST_CONTRAST; "T1"
// otherwise -> T1; "T2" (not FLAIR) -> T2; "DWI"/"DIFFUSION"/"TRACE" -> DWI.
std::vector<std::string> RecogniseSeriesRoles(const dicom::InstanceHeader& header);

}  // namespace parallax::inference
