#pragma once
// Phantom studies as registration Volumes, and the registration error
// against a phantom pair's known motion: shared by the registration tests,
// scripts/bench/prior and the prior-comparison evaluation. Test support,
// not production code. Pure functions, thread-safe.
#include <array>
#include <vector>

#include "parallax/inference/registration.h"
#include "parallax/phantom/follow_up.h"

namespace parallax::inference::testing {

// A phantom study's first series placed as the study writer places it
// (rigid_shift.h): volumes at ((i - n/2) s, (j - n/2) s, k * slice spacing)
// in patient mm; films at ((c + 0.5 - n/2) s, (r + 0.5 - n/2) s) in
// detector mm.
Volume VolumeOf(const phantom::Study& study);

// Points of the patient in `v`: foreground voxel centres on a coarse lattice
// (every 8th column and row of each slice) for volumes, the central 80% of a
// film on the same lattice (a chest fills the film).
std::vector<std::array<double, 3>> PatientPoints(const Volume& v);

struct RegistrationError {
  double mean_mm = 0;
  double max_mm = 0;
};

// Distance between where the truth (current = truth.Apply(prior)) and the
// estimate (current -> prior) send each point.
RegistrationError ErrorAt(const phantom::RigidShift& truth, const Matrix4& current_to_prior,
                          const std::vector<std::array<double, 3>>& points);

// The error of doing nothing (the identity), for scale.
RegistrationError UnregisteredErrorAt(const phantom::RigidShift& truth, const std::vector<std::array<double, 3>>& points);

}  // namespace parallax::inference::testing
