#pragma once
// The storage SOP classes and transfer syntaxes Parallax accepts: what a
// radiology department sends (CR, DX, CT, MR, enhanced CT/MR, secondary
// capture, SR, segmentation, ...). Immutable tables; thread-safe.
#include <string>
#include <string_view>
#include <vector>

namespace parallax::dicom {

struct SopClass {
  std::string uid;
  std::string name;  // short label safe for metrics, e.g. "CTImageStorage"
};

// The accepted storage SOP classes.
const std::vector<SopClass>& AcceptedStorageSopClasses();

// True when `uid` is an accepted storage SOP class.
bool IsAcceptedStorageSopClass(std::string_view uid);

// The short name of a SOP class for metric labels; "other" when unknown.
std::string SopClassLabel(std::string_view uid);

// Transfer syntaxes offered in association negotiation, most preferred
// first: encapsulated (compressed) syntaxes first so a sender never has to
// decompress, then explicit and implicit little endian, then big endian.
const std::vector<std::string>& AcceptedTransferSyntaxes();

}  // namespace parallax::dicom
