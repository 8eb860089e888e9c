#pragma once
// The attributes of one DICOM instance that Parallax indexes: identifiers,
// what the image is (modality, body part, view, orientation, geometry) and
// how it is encoded. Read with DCMTK from a Part-10 file or buffer, stopping
// before the pixel data where the source allows it.
//
// Fields holding patient data (patient_id, accession_number, ...) must never
// be logged or put into metric labels or error messages.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::dicom {

struct InstanceHeader {
  // Identification
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string transfer_syntax_uid;  // from the file meta information
  // Patient and study (patient data)
  std::string patient_id;
  std::string issuer_of_patient_id;
  std::string accession_number;
  std::string study_date;
  std::string study_time;
  std::string study_description;
  std::string referring_physician;
  std::string requested_priority;  // Requested Procedure Priority (0040,1003) when present
  // Series
  std::string modality;
  std::string body_part_examined;
  std::string series_description;
  std::string protocol_name;
  int series_number = 0;
  std::string laterality;
  // Instance and image
  int instance_number = 0;
  std::string view_position;
  std::vector<std::string> image_type;
  std::vector<double> image_orientation_patient;
  std::vector<double> image_position_patient;
  std::vector<double> pixel_spacing;
  double slice_thickness = 0;
  int rows = 0;
  int columns = 0;
  int number_of_frames = 1;
  std::string photometric_interpretation;
  int bits_stored = 0;
  std::string patient_orientation;
};

// True when `uid` is a syntactically usable DICOM UID: 1..64 characters of
// digits and dots, no empty component. Parallax uses UIDs as file names, so
// this check also keeps paths safe.
bool IsValidUid(std::string_view uid);

// Reads the header of a Part-10 file (a file received by C-STORE).
// INVALID_ARGUMENT when the file is not parseable DICOM or lacks a required
// UID (the message names the missing attribute, never its value).
absl::StatusOr<InstanceHeader> ReadInstanceHeaderFromFile(const std::string& path);

// Parses a complete Part-10 file held in memory (a STOW-RS part): the whole
// data set must parse, so truncated or corrupt data is refused.
// INVALID_ARGUMENT as above; the file meta information is required.
absl::StatusOr<InstanceHeader> ReadInstanceHeaderFromBuffer(const char* data, size_t size);

}  // namespace parallax::dicom
