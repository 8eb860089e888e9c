#pragma once
// Brain MRI phantom for a tumour protocol: two co-registered axial series of
// the same slices, "T1 POST" (T1-weighted after gadolinium) and "FLAIR", from
// the foramen magnum to the vertex. Anatomy: scalp (fat bright on T1), skull
// (dark cortical bone, brighter diploe), dura and falx (faint enhancement),
// CSF (dark on both: FLAIR suppresses it), cortex with sulci, white matter
// (brighter than grey on T1, a little darker on FLAIR), deep grey nuclei,
// ventricles, choroid plexus, brainstem, cerebellum, orbits, sinuses, and
// enhancing dural sinuses, pituitary and cortical vessels on T1 POST (flow
// voids on FLAIR). Rician noise and a mild bias field, both deterministic.
//
// Findings, each with an exact 3-D mask: an enhancing tumour (ring-enhancing
// with a necrotic centre, or solid, with FLAIR-bright vasogenic oedema that
// is NOT in the mask), a non-enhancing lesion (FLAIR-bright mass), metastases
// (2-6 small enhancing nodules: one Finding, a multi-component mask) and
// white matter lesions (small periventricular FLAIR-bright ovoid foci, one
// Finding, zone "periventricular").
//
// Geometry: as the head CT phantom. Columns run to the patient's LEFT and
// rows to POSTERIOR (DICOM LPS, orientation 1\0\0\0\1\0, radiological
// display: the patient's left is on the image right); image k of each
// series is slice k at z = k * slice_spacing_mm, foot to head. Both series
// share rows, columns, spacing and slice positions, so one mask fits both.
// Finding::laterality is in patient terms; Finding::contrast is the mean
// change of the noise-free signal inside the mask (stored units) on the
// series where the finding shows: T1 POST for "Enhancing tumour" and
// "Metastases", FLAIR for the others.
//
// Stored values are MR signal in arbitrary units, 12-bit unsigned (0..4095).
// Not clinical data. Pure functions: thread-safe.
#include <cstdint>
#include <string>
#include <vector>

#include "parallax/phantom/phantom.h"
#include "parallax/phantom/rigid_shift.h"

namespace parallax::phantom {

struct BrainMriOptions {
  uint64_t seed = 1;                  // same options -> bit-identical study
  int size = 256;                     // rows = columns (field of view ~23 cm)
  int slices = 24;                    // axial slices, foramen magnum to vertex
  double slice_thickness_mm = 5.0;    // also the spacing
  std::vector<std::string> findings;  // any of BrainMriLabels(); unknown names are ignored
  double difficulty = 0.5;            // 0 obvious .. 1 at the limit of visibility
  std::vector<std::string> defects;   // "motion_blur", "noise"
  // Follow-up studies (follow_up.h); the defaults change nothing.
  // The patient moved by this relative to the study with the default (patient mm, see rigid_shift.h).
  RigidShift patient_shift;
  // Per entry of `findings`: the lesion's volume relative to its natural size
  // (same place; best <= 1); 0 = built but not drawn or reported; missing
  // entries = 1. Enhancing tumour, Non-enhancing lesion and Metastases scale;
  // White matter lesions are drawn or not (0).
  std::vector<double> finding_scale;
  uint64_t acquisition_seed = 0;      // seeds the Rician noise; 0 = seed
};

// A brain MRI study of kind "brain_mri": two series, "AX T1 POST GD" then
// "AX FLAIR", one Image per slice each, one Finding per requested label.
Study MakeBrainMri(const BrainMriOptions& options);

// "Enhancing tumour", "Non-enhancing lesion", "Metastases",
// "White matter lesions".
std::vector<std::string> BrainMriLabels();

}  // namespace parallax::phantom
