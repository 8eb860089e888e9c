#pragma once
// absl::Status -> DIMSE status code (PS3.7 Annex C), the DICOM table.
//
//   OK                    0x0000 Success
//   INVALID_ARGUMENT      0xC000 Error: Cannot understand
//   UNIMPLEMENTED         0x0122 Refused: SOP Class not supported
//   RESOURCE_EXHAUSTED    0xA700 Refused: Out of resources
//   UNAVAILABLE           0xA700 Refused: Out of resources (retry later)
//   PERMISSION_DENIED     0x0124 Refused: Not authorized
//   anything else         0x0110 Processing failure
//
// A status may carry a precise DICOM code (e.g. 0xA900 "Data Set does not
// match SOP Class") attached with WithDicomStatus(); it wins over the table.
// Stateless and thread-safe.
#include <cstdint>
#include <string_view>

#include <absl/status/status.h>

namespace parallax::status {

inline constexpr uint16_t kDicomSuccess = 0x0000;
inline constexpr uint16_t kDicomProcessingFailure = 0x0110;
inline constexpr uint16_t kDicomSopClassNotSupported = 0x0122;
inline constexpr uint16_t kDicomNotAuthorized = 0x0124;
inline constexpr uint16_t kDicomOutOfResources = 0xA700;
inline constexpr uint16_t kDicomDataSetDoesNotMatchSopClass = 0xA900;
inline constexpr uint16_t kDicomCannotUnderstand = 0xC000;

// Returns `status` with a DICOM status code attached (no effect on OK).
absl::Status WithDicomStatus(absl::Status status, uint16_t dicom_code);

// Returns the DIMSE status code for `status` (see the table above).
uint16_t ToDicom(const absl::Status& status);

}  // namespace parallax::status
