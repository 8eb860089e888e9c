#pragma once
// bytea values as text: PostgreSQL's hex format ("\x0a1b...") both ways, for
// binary parameters (serialized protos, PNGs, DICOM) and bytea columns.
// Pure functions; thread-safe.
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

namespace parallax::store {

// `bytes` as a bytea parameter in hex format.
std::string ToByteaHex(std::string_view bytes);

// A bytea column's text (bytea_output = hex, PostgreSQL's default) back to
// bytes. INTERNAL naming `what` (a column name, never the value) when the text
// is not in hex format.
absl::StatusOr<std::string> FromByteaHex(std::string_view text, std::string_view what);

}  // namespace parallax::store
