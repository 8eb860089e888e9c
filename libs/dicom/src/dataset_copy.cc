#include "dataset_copy.h"

#include <vector>

#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>

namespace parallax::dicom::internal {

void CopyIfPresent(DcmItem& from, DcmItem& to, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (from.findAndGetElement(tag, element).good() && element != nullptr) {
    to.insert(static_cast<DcmElement*>(element->clone()), /*replaceOld=*/true);
  }
}

void CopyOrEmpty(DcmItem& from, DcmItem& to, const DcmTagKey& tag) {
  CopyIfPresent(from, to, tag);
  if (!to.tagExists(tag)) to.insertEmptyElement(tag);
}

absl::Status ParsePart10(std::string_view bytes, DcmFileFormat& file) {
  if (bytes.size() < 132 || bytes.substr(128, 4) != "DICM") {
    return absl::InvalidArgumentError("source is not a DICOM Part-10 file (no DICM preamble)");
  }
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  file.transferInit();
  OFCondition cond = file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  if (cond.bad()) return absl::InvalidArgumentError(std::string("source is unparseable DICOM: ") + cond.text());
  return absl::OkStatus();
}

absl::StatusOr<std::string> EncodePart10(DcmFileFormat& file, E_TransferSyntax xfer, std::string_view what) {
  std::string out;
  std::vector<char> chunk(1 << 16);
  DcmOutputBufferStream stream(chunk.data(), static_cast<offile_off_t>(chunk.size()));
  file.transferInit();
  OFCondition cond = EC_StreamNotifyClient;
  while (cond == EC_StreamNotifyClient) {
    cond = file.write(stream, xfer, EET_ExplicitLength, /*wcache=*/nullptr);
    if (cond.good()) stream.flush();
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    if (length > 0) out.append(static_cast<const char*>(data), static_cast<size_t>(length));
  }
  file.transferEnd();
  if (cond.bad()) return absl::InternalError("cannot encode the " + std::string(what) + ": " + cond.text());
  return out;
}

}  // namespace parallax::dicom::internal
