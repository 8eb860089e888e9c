#pragma once
// Forearm / wrist radiograph phantoms: a DX image of the distal forearm,
// wrist and metacarpal bases with seeded anatomical variation and exactly
// known fractures, for testing the pipeline end to end. Not clinical data.
//
// The image is 12-bit MONOCHROME2 (bright = bone), fingers towards the top.
// The field is 153.6 mm square whatever the size (0.2 mm pixels at 768).
// AP: the forearm seen from the dorsum, so the radius (thumb side) lies on
// the image right for a LEFT limb and on the image left for a right limb.
// LAT: radius and ulna superimposed, the carpus stacked on the radius.
//
// Output is a pure function of the options: the same options give
// bit-identical pixels, masks and metadata. Anatomy, side, each fracture and
// the noise draw from separate streams, so a study with a fracture shares
// anatomy, side and noise with the normal study of the same seed and
// difficulty. Functions are thread-safe (no shared state).
#include <cstdint>
#include <string>
#include <vector>

#include "parallax/phantom/phantom.h"

namespace parallax::phantom {

struct BoneXrayOptions {
  uint64_t seed = 1;                  // everything random derives from this
  std::string view = "AP";            // "AP" or "LAT"
  std::string side = "";              // patient side of the limb: "left", "right"; "" = from the seed
  int size = 768;                     // rows = columns (64..4096)
  // Labels to draw (empty = normal), from BoneXrayLabels(). "Fracture" may
  // end in ":displaced" or ":undisplaced"; otherwise displacement is drawn
  // from the seed (likelier at low difficulty). At most two fractures, one
  // on each forearm bone (e.g. distal radius + ulnar styloid).
  std::vector<std::string> findings;
  double difficulty = 0.5;            // 0 = obvious, 1 = at the limit of visibility
  // Optional image-quality defects: "rotation", "motion_blur",
  // "underexposure", "noise". Recorded in Study::quality_defects.
  std::vector<std::string> defects;
};

// Renders the study: kind "bone_xray", one DX series (body part "FOREARM",
// view_position = view, protocol_name "FOREARM LEFT" / "FOREARM RIGHT": the
// limb side, for the DICOM Laterality attribute) with one Image, and one
// Finding per requested fracture: label "Fracture", laterality = the limb
// side, zone "distal radius", "radial shaft", "ulnar shaft" or "ulnar
// styloid", mask = a band around the fracture line within the bone (final
// image coordinates), contrast = mean change inside the mask against the
// normal study of the same seed (stored units, negative = darker), subtle
// when difficulty >= 0.7 (hairline, partial lucency).
// Throws std::invalid_argument for an unknown view, side, label or defect,
// more than two fractures, or a size outside 64..4096 (a programming error,
// not a runtime condition).
Study MakeBoneXray(const BoneXrayOptions& options);

// The labels MakeBoneXray can draw: {"Fracture"}.
std::vector<std::string> BoneXrayLabels();

}  // namespace parallax::phantom
