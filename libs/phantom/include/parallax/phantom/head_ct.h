#pragma once
// Non-contrast head CT phantom: an axial series from the skull base to the
// vertex with air, scalp, skull (sutures, diploe, sinuses, orbits), CSF spaces
// (sulci, Sylvian and interhemispheric fissures, basal cisterns, ventricles),
// grey and white matter, deep grey nuclei, brainstem and cerebellum, and any
// of five intracranial haemorrhage subtypes drawn with exact 3-D masks.
//
// Geometry: image columns run to the patient's LEFT and rows to POSTERIOR
// (DICOM LPS, orientation 1\0\0\0\1\0, radiological display: the patient's
// left is on the image right). Image i of the series is slice
// HeadCtSliceIndices(study)[i], at z = index * slice_spacing_mm from the
// skull base (first) towards the vertex (last). Finding::laterality is in
// patient terms. Masks cover every slice of the acquired volume (slices =
// HeadCtOptions::slices), also those a "missing_slices" defect dropped.
//
// Stored values are HU + 1024 (rescale intercept -1024, slope 1, 12 bits,
// unsigned). Not clinical data. Pure functions: thread-safe.
#include <cstdint>
#include <string>
#include <vector>

#include "parallax/phantom/phantom.h"
#include "parallax/phantom/rigid_shift.h"

namespace parallax::phantom {

struct HeadCtOptions {
  uint64_t seed = 1;                  // same options -> bit-identical study
  int size = 512;                     // rows = columns (field of view ~24 cm)
  int slices = 32;                    // axial slices, skull base to vertex
  double slice_thickness_mm = 5.0;    // also the spacing
  std::vector<std::string> findings;  // any of HeadCtLabels(); unknown names are ignored
  double difficulty = 0.5;            // 0 obvious .. 1 at the limit of visibility
  std::vector<std::string> defects;   // "motion_blur", "noise", "missing_slices"
  // Follow-up studies (follow_up.h); the defaults change nothing.
  // The patient moved by this relative to the study with the default (patient mm, see rigid_shift.h).
  RigidShift patient_shift;
  // Per entry of `findings`: the lesion's volume relative to its natural size
  // (same place, same shape family; best <= 1); 0 = built but not drawn or
  // reported; missing entries = 1. Only Epidural, Subdural and
  // Intraparenchymal scale; the others are drawn or not (0).
  std::vector<double> finding_scale;
  uint64_t acquisition_seed = 0;      // seeds the quantum noise; 0 = seed
};

// A head CT study of kind "head_ct": one series, one Image per slice (fewer
// with "missing_slices"), one Finding per requested subtype.
Study MakeHeadCt(const HeadCtOptions& options);

// The five subtypes: Epidural, Subdural, Subarachnoid, Intraparenchymal,
// Intraventricular (consumers derive "any").
std::vector<std::string> HeadCtLabels();

// The acquired slice index of each image of a head CT study (0, 1, 2 ... with
// a gap of 2-4 after "missing_slices"); the DICOM writer places image i at
// z = HeadCtSliceIndices(study)[i] * slice_spacing_mm. Identity for other kinds.
std::vector<int> HeadCtSliceIndices(const Study& study);

}  // namespace parallax::phantom
