#pragma once
// Chest radiograph phantoms: a frontal (PA or AP) chest X-ray with seeded
// anatomical variation and exactly known findings from the TorchXRayVision
// label set, for testing the pipeline end to end. Not clinical data.
//
// The image is 12-bit MONOCHROME2 (bright = dense), displayed as radiographs
// are: the patient's left is on the image's right. Laterality in findings is
// in PATIENT terms. Output is a pure function of the options: the same
// options give bit-identical pixels, masks and metadata. The anatomy, each
// finding and the noise draw from separate streams, so a study with findings
// shares anatomy and noise with the normal study of the same seed and
// difficulty. Functions are thread-safe (no shared state).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "parallax/phantom/phantom.h"
#include "parallax/phantom/rigid_shift.h"

namespace parallax::phantom {

struct ChestXrayOptions {
  uint64_t seed = 1;                  // everything random derives from this
  std::string view = "PA";            // "PA" or "AP"
  int size = 1024;                    // rows = columns (64..4096); field is 36 cm wide
  // Labels to draw (empty = normal), from ChestXrayLabels(). A label may end
  // in ":right", ":left" (patient side) or ":bilateral" to force the side;
  // otherwise the side is drawn from the seed.
  std::vector<std::string> findings;
  double difficulty = 0.5;            // 0 = obvious, 1 = at the limit of visibility
  // Optional image-quality defects: "rotation", "motion_blur",
  // "underexposure", "noise". Recorded in Study::quality_defects.
  std::vector<std::string> defects;
  // Follow-up studies (follow_up.h); the defaults change nothing.
  // The patient moved by this on the detector (detector mm: translation x, y
  // and rotation about z, see rigid_shift.h) relative to the default study;
  // the whole picture moves (bilinear, edges replicated), masks with it.
  RigidShift patient_shift;
  // Per entry of `findings`: the lesion's area relative to its natural size
  // (same place; best <= 1); 0 = not drawn or reported; missing = 1. Nodule,
  // Mass and Lung Lesion scale; other labels are drawn or not (0).
  std::vector<double> finding_scale;
  uint64_t acquisition_seed = 0;      // seeds the quantum noise; 0 = seed
};

// Renders the study: kind "chest_xray", one DX series with one Image, and one
// Finding per requested label (its mask in final image coordinates, zone
// "upper"/"mid"/"lower" by mask centroid, Cardiomegaly's zone "ctr=0.58").
// Throws std::invalid_argument for an unknown view, label or defect, or a
// size outside 64..4096 (a programming error, not a runtime condition).
Study MakeChestXray(const ChestXrayOptions& options);

// The labels MakeChestXray can draw (TorchXRayVision's 18 pathologies).
std::vector<std::string> ChestXrayLabels();

// Landmarks of the anatomy MakeChestXray would draw for these options, before
// any "rotation" defect; for tests and evaluation. Pixel coordinates are
// {row, column} of the final image.
struct ChestXrayLandmarks {
  double cardiothoracic_ratio = 0;          // heart width / inner thoracic width
  double midline_column = 0;                // spine centre
  // Costophrenic angle tips: [0] patient right (image left), [1] patient left.
  std::array<std::array<double, 2>, 2> costophrenic_angle{};
  // Top of each hemidiaphragm dome (row), [0] patient right, [1] patient left.
  std::array<double, 2> dome_row{};
  double lung_apex_row = 0;
};
ChestXrayLandmarks DescribeChestXray(const ChestXrayOptions& options);

}  // namespace parallax::phantom
