#pragma once
// A DICOM Storage SCU (C-STORE) built on DCMTK dcmnet: sends Part-10 objects
// that Parallax made (SR, heatmap Secondary Captures) to a PACS on one
// association. For every SOP class among the objects it proposes the
// object's own transfer syntax and, in a second presentation context,
// Explicit and Implicit VR Little Endian, so an uncompressed object is sent
// even when the PACS does not take its exact encoding (converted on the fly);
// a compressed object whose syntax the PACS refuses is not decompressed and
// gets a failure result of its own.
//
// Thread-safe: each call opens its own association; calls may run
// concurrently.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::dicom {

// Where to send: a configured PACS.
struct StoreDestination {
  std::string name;      // configuration name, e.g. "pacs"; used in messages
  std::string ae_title;  // called AE title, 1..16 characters
  std::string host;      // host name or address
  int port = 104;        // 1..65535
};

// Parses "name=AET@host:port" (e.g. "pacs=ORTHANC@127.0.0.1:4242").
// INVALID_ARGUMENT naming what is wrong when the text is not of that form,
// the AE title is empty or longer than 16 characters, or the port is not
// 1..65535.
absl::StatusOr<StoreDestination> ParseStoreDestination(std::string_view text);

struct StoreScuOptions {
  std::string calling_ae_title = "PARALLAX";  // our AE title
  int connect_timeout_seconds = 10;           // TCP connect
  int acse_timeout_seconds = 30;              // association negotiation
  int dimse_timeout_seconds = 60;             // each C-STORE response
  unsigned max_pdu = 65536;                   // maximum receive PDU length
};

// What the PACS answered for one object.
struct StoreResult {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  // The C-STORE response status (0x0000 success, 0xB000..0xB007 warnings,
  // 0xA7xx / 0xA9xx / 0xCxxx failures); 0x0122 (SOP class not supported)
  // when the PACS accepted no presentation context able to carry the object.
  uint16_t status = 0;
  std::string error;  // empty on success or warning
  // Success or warning: the PACS stored the object.
  bool stored() const { return status == 0x0000 || (status & 0xF000) == 0xB000; }
};

// Sends `objects` (complete Part-10 files) to `destination`, in order, on
// one association, and returns one result per object in the same order.
// INVALID_ARGUMENT (before any connection) when there are no objects, an
// object is not parseable DICOM Part-10 or lacks a valid SOP Class or SOP
// Instance UID (the message gives its position, never its content), or the
// destination or calling AE title is malformed. UNAVAILABLE naming the
// destination (name, AE title, host and port) when the association cannot
// be established (connection refused, timeout, association rejected) or
// breaks before every object was answered; retrying is safe, a PACS treats
// a resent SOP Instance UID as a duplicate.
absl::StatusOr<std::vector<StoreResult>> StoreInstances(const StoreDestination& destination,
                                                        const StoreScuOptions& options,
                                                        const std::vector<std::string_view>& objects);

}  // namespace parallax::dicom
