#pragma once
// Private helpers of libs/dicom's writers (evidence_writer, sr_writer):
// reading a source from memory, copying its attributes, and encoding a new object as
// Part-10 bytes in memory. Not part of the public surface.
#include <string>
#include <string_view>

#include <absl/status/statusor.h>
#include <dcmtk/dcmdata/dctk.h>

namespace parallax::dicom::internal {

// Copies `tag` from `from` to `to` when present (any VR, sequences too).
void CopyIfPresent(DcmItem& from, DcmItem& to, const DcmTagKey& tag);

// Copies `tag`, or inserts it empty (a type 2 attribute must be present).
void CopyOrEmpty(DcmItem& from, DcmItem& to, const DcmTagKey& tag);

// Reads Part-10 bytes (with the DICM preamble) into `file`. INVALID_ARGUMENT
// "source is not a DICOM Part-10 file ..." or "source is unparseable DICOM: ...".
absl::Status ParsePart10(std::string_view bytes, DcmFileFormat& file);

// Encodes `file` as Part-10 bytes without touching the file system.
// INTERNAL "cannot encode the <what>: ..." when DCMTK refuses.
absl::StatusOr<std::string> EncodePart10(DcmFileFormat& file, E_TransferSyntax xfer, std::string_view what);

}  // namespace parallax::dicom::internal
