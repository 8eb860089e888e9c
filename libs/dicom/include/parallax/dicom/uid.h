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

// A deterministic "2.25.<decimal>" UID named by arbitrary text (for objects
// Parallax derives from others, e.g. evidence from a source instance and a
// model): 122 bits hashed from `name`, shaped like a version-4 UUID, at most
// 44 characters. Equal names give equal UIDs, so a retried derivation yields
// the same object; different names collide with negligible probability.
// Put every input that distinguishes the object into `name`. Thread-safe.
std::string NameBasedUid(std::string_view name);

}  // namespace parallax::dicom
