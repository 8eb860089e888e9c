#include "parallax/dicom/instance_header.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/oflog/oflog.h>

namespace parallax::dicom {
namespace {

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).good()) return std::string(value.c_str());
  return {};
}

int GetInt(DcmItem& item, const DcmTagKey& tag, int fallback) {
  // IS / US values: read as text first (IS), then as unsigned short (US).
  OFString text;
  if (item.findAndGetOFString(tag, text).good() && !text.empty()) {
    try {
      return std::stoi(text.c_str());
    } catch (...) {
      return fallback;
    }
  }
  return fallback;
}

std::vector<double> GetDoubles(DcmItem& item, const DcmTagKey& tag) {
  std::vector<double> out;
  for (unsigned long i = 0;; ++i) {
    Float64 v;
    if (item.findAndGetFloat64(tag, v, i).bad()) break;
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> GetStrings(DcmItem& item, const DcmTagKey& tag) {
  std::vector<std::string> out;
  for (unsigned long i = 0;; ++i) {
    OFString v;
    if (item.findAndGetOFString(tag, v, i).bad()) break;
    out.emplace_back(v.c_str());
  }
  return out;
}

absl::StatusOr<InstanceHeader> Extract(DcmFileFormat& file) {
  DcmDataset& ds = *file.getDataset();
  DcmMetaInfo& meta = *file.getMetaInfo();
  InstanceHeader h;
  h.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  h.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  h.study_instance_uid = GetString(ds, DCM_StudyInstanceUID);
  h.series_instance_uid = GetString(ds, DCM_SeriesInstanceUID);
  h.transfer_syntax_uid = GetString(meta, DCM_TransferSyntaxUID);
  if (h.transfer_syntax_uid.empty()) {
    DcmXfer xfer(ds.getOriginalXfer());
    h.transfer_syntax_uid = xfer.getXferID();
  }

  struct Required {
    const char* name;
    const std::string& value;
  };
  for (const Required& r : {Required{"SOPClassUID (0008,0016)", h.sop_class_uid},
                            Required{"SOPInstanceUID (0008,0018)", h.sop_instance_uid},
                            Required{"StudyInstanceUID (0020,000D)", h.study_instance_uid},
                            Required{"SeriesInstanceUID (0020,000E)", h.series_instance_uid}}) {
    if (r.value.empty()) return absl::InvalidArgumentError(std::string("instance has no ") + r.name);
    if (!IsValidUid(r.value)) return absl::InvalidArgumentError(std::string("instance has a malformed ") + r.name);
  }

  h.patient_id = GetString(ds, DCM_PatientID);
  h.issuer_of_patient_id = GetString(ds, DCM_IssuerOfPatientID);
  h.accession_number = GetString(ds, DCM_AccessionNumber);
  h.study_date = GetString(ds, DCM_StudyDate);
  h.study_time = GetString(ds, DCM_StudyTime);
  h.study_description = GetString(ds, DCM_StudyDescription);
  h.referring_physician = GetString(ds, DCM_ReferringPhysicianName);
  h.requested_priority = GetString(ds, DCM_RequestedProcedurePriority);
  h.modality = GetString(ds, DCM_Modality);
  h.body_part_examined = GetString(ds, DCM_BodyPartExamined);
  h.series_description = GetString(ds, DCM_SeriesDescription);
  h.protocol_name = GetString(ds, DCM_ProtocolName);
  h.series_number = GetInt(ds, DCM_SeriesNumber, 0);
  h.laterality = GetString(ds, DCM_Laterality);
  if (h.laterality.empty()) h.laterality = GetString(ds, DCM_ImageLaterality);
  h.instance_number = GetInt(ds, DCM_InstanceNumber, 0);
  h.view_position = GetString(ds, DCM_ViewPosition);
  h.image_type = GetStrings(ds, DCM_ImageType);
  h.image_orientation_patient = GetDoubles(ds, DCM_ImageOrientationPatient);
  h.image_position_patient = GetDoubles(ds, DCM_ImagePositionPatient);
  h.pixel_spacing = GetDoubles(ds, DCM_PixelSpacing);
  if (h.pixel_spacing.empty()) h.pixel_spacing = GetDoubles(ds, DCM_ImagerPixelSpacing);
  auto thickness = GetDoubles(ds, DCM_SliceThickness);
  h.slice_thickness = thickness.empty() ? 0.0 : thickness.front();
  Uint16 us = 0;
  if (ds.findAndGetUint16(DCM_Rows, us).good()) h.rows = us;
  if (ds.findAndGetUint16(DCM_Columns, us).good()) h.columns = us;
  if (ds.findAndGetUint16(DCM_BitsStored, us).good()) h.bits_stored = us;
  h.number_of_frames = GetInt(ds, DCM_NumberOfFrames, 1);
  h.photometric_interpretation = GetString(ds, DCM_PhotometricInterpretation);
  h.patient_orientation = GetString(ds, DCM_PatientOrientation);
  return h;
}

}  // namespace

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  if (uid.front() == '.' || uid.back() == '.') return false;
  char previous = '.';
  for (char c : uid) {
    if (c == '.') {
      if (previous == '.') return false;  // empty component
    } else if (c < '0' || c > '9') {
      return false;
    }
    previous = c;
  }
  return true;
}

namespace {

// Reading up to the pixel data makes DCMTK warn "Element PixelData
// encountered, skipping rest of dataset" on every file; that is the intent
// here, and Parallax reports its own errors, so DCMTK logs errors only.
void QuietDcmtkOnce() {
  static const bool quiet = [] {
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
    return true;
  }();
  (void)quiet;
}

}  // namespace

absl::StatusOr<InstanceHeader> ReadInstanceHeaderFromFile(const std::string& path) {
  QuietDcmtkOnce();
  DcmFileFormat file;
  OFCondition cond = file.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                           ERM_autoDetect, DCM_PixelData);
  if (cond.bad()) return absl::InvalidArgumentError(std::string("unparseable DICOM data: ") + cond.text());
  return Extract(file);
}

absl::StatusOr<InstanceHeader> ReadInstanceHeaderFromBuffer(const char* data, size_t size) {
  if (size < 132 || std::string_view(data + 128, 4) != "DICM") {
    return absl::InvalidArgumentError("not a DICOM Part-10 file (no DICM preamble)");
  }
  DcmInputBufferStream stream;
  stream.setBuffer(data, static_cast<offile_off_t>(size));
  stream.setEos();
  DcmFileFormat file;
  file.transferInit();
  OFCondition cond = file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  if (cond.bad()) return absl::InvalidArgumentError(std::string("unparseable DICOM data: ") + cond.text());
  if (file.getMetaInfo()->tagExists(DCM_TransferSyntaxUID) == OFFalse) {
    return absl::InvalidArgumentError("DICOM file has no TransferSyntaxUID (0002,0010) in its meta information");
  }
  return Extract(file);
}

}  // namespace parallax::dicom
