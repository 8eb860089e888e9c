#pragma once
// The logic of Inference.RegisterPrior without gRPC and without the
// service's concurrency limit (InferenceService holds a slot around it):
// reads the current and the prior series from a StudySource (ingest), turns
// each into a registration Volume by its DICOM geometry
// (inference::VolumeFromInstances) and registers the prior onto the current
// study (inference::Register).
//
// Thread-safety: a pure function of its arguments apart from the
// StudySource (which is thread-safe) and LibTorch's process-wide intra-op
// thread count (see registration.h); may run concurrently.
#include <functional>

#include <absl/status/statusor.h>

#include "parallax/inference/v1/inference.pb.h"
#include "parallax/ingest_client/study_source.h"

namespace parallax::inference_service {

struct PriorRegistrationOptions {
  int instance_read_parallelism = 4;  // concurrent ReadInstance calls per series
  int threads = 0;                    // LibTorch intra-op threads (process-wide); 0 = leave as is
};

// Registers request.prior's series onto request.current's. Returns the
// response with every field filled but `replica`.
// INVALID_ARGUMENT when a study or series UID is missing or the transform is
// unknown; NOT_FOUND (naming the UID) when a study, series or named instance
// is not held by the source, or a series holds no image; FAILED_PRECONDITION
// when one series is a 2-D image and the other a volume, the volumes are of
// different modalities, or the stored images cannot be registered (pixels
// not decodable, several 2-D images without a named one, irregular slices,
// a constant image, no overlap), naming the series; the source's
// UNAVAILABLE, DEADLINE_EXCEEDED and DATA_LOSS as they come;
// DEADLINE_EXCEEDED when `deadline` passes or `cancelled` (may be null)
// returns true before the registration starts; INTERNAL when LibTorch
// fails.
absl::StatusOr<inference::v1::RegisterPriorResponse> RegisterPrior(
    const inference::v1::RegisterPriorRequest& request, ingest_client::StudySource& source,
    ingest_client::Deadline deadline, const PriorRegistrationOptions& options,
    const std::function<bool()>& cancelled = nullptr);

// The request's checks alone (UIDs present, transform known), so the service
// can refuse a malformed call before it takes a concurrency slot.
// INVALID_ARGUMENT naming the missing field.
absl::Status ValidateRegisterPriorRequest(const inference::v1::RegisterPriorRequest& request);

}  // namespace parallax::inference_service
