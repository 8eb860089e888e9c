#include "parallax/status/dicom_status.h"

#include <cstdio>
#include <optional>
#include <string>

namespace parallax::status {
namespace {

constexpr const char kPayloadUrl[] = "parallax.dicom/status";

std::optional<uint16_t> AttachedCode(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  unsigned value = 0;
  if (std::sscanf(std::string(*payload).c_str(), "%x", &value) != 1) return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

absl::Status WithDicomStatus(absl::Status status, uint16_t dicom_code) {
  if (status.ok()) return status;
  char text[8];
  std::snprintf(text, sizeof text, "%04X", dicom_code);
  status.SetPayload(kPayloadUrl, absl::Cord(text));
  return status;
}

uint16_t ToDicom(const absl::Status& status) {
  if (status.ok()) return kDicomSuccess;
  if (auto code = AttachedCode(status)) return *code;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: return kDicomCannotUnderstand;
    case absl::StatusCode::kUnimplemented: return kDicomSopClassNotSupported;
    case absl::StatusCode::kResourceExhausted: return kDicomOutOfResources;
    case absl::StatusCode::kUnavailable: return kDicomOutOfResources;
    case absl::StatusCode::kPermissionDenied: return kDicomNotAuthorized;
    default: return kDicomProcessingFailure;
  }
}

}  // namespace parallax::status
