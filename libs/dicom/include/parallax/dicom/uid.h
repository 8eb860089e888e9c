#pragma once
// Deterministic DICOM UIDs for synthetic data: "2.25.<decimal>" (PS3.5 B.2)
// from 122 bits derived from (seed, salt, index), shaped like a version-4
// UUID; at most 44 characters. The same inputs always give the same UID.
// Thread-safe (pure function).
#include <cstdint>
#include <string>
#include <string_view>

namespace parallax::dicom {

std::string DerivedUid(uint64_t seed, std::string_view salt, uint64_t index);

}  // namespace parallax::dicom
