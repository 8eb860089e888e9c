#pragma once
// DICOMweb STOW-RS (PS3.18 10.5): POST /dicomweb/studies and
// /dicomweb/studies/{study}, multipart/related; type="application/dicom".
// Each part goes through the InstanceReceiver; the response is the PS3.18
// store response (application/dicom+json) with a ReferencedSOPSequence entry
// per stored instance and a FailedSOPSequence entry, with its FailureReason,
// per refused one. HTTP 200 when all were stored, 202 when some were, 409
// when none were; 400 for a malformed request, 415 for another media type.
//
// Thread-safe: handlers run concurrently on the HTTP server's threads.
#include "instance_receiver.h"
#include "parallax/http/router.h"

namespace parallax::ingest {

class StowRs {
 public:
  explicit StowRs(InstanceReceiver* receiver) : receiver_(receiver) {}

  // Adds the STOW-RS routes to `router`.
  void Register(http::Router& router);

  http::Response Store(const http::Request& request);

 private:
  InstanceReceiver* receiver_;
};

}  // namespace parallax::ingest
