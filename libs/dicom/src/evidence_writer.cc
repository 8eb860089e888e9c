#include "parallax/dicom/evidence_writer.h"

#include "dataset_copy.h"
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <new>
#include <utility>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/uid.h"

namespace parallax::dicom {
namespace {

using internal::CopyIfPresent;
using internal::CopyOrEmpty;
using internal::EncodePart10;
using internal::ParsePart10;

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).good()) return std::string(value.c_str());
  return {};
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

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// At most `max_chars` characters of UTF-8 text (VR LO is 64 characters).
std::string TruncateUtf8(std::string_view s, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {  // starts a character
      if (chars == max_chars) return std::string(s.substr(0, i));
      ++chars;
    }
  }
  return std::string(s);
}

std::string DecimalDs(double v) {
  // VR DS holds 16 bytes; trim precision until it fits.
  for (int precision = 10; precision >= 1; --precision) {
    char text[40];
    std::snprintf(text, sizeof text, "%.*g", precision, v);
    if (std::string_view(text).size() <= 16) return text;
  }
  return "0";
}

// Patient Orientation (two values) from Image Orientation (Patient): for
// each direction cosine vector, the patient axes it runs along, strongest
// first (PS3.3 C.7.6.1.1.1), e.g. axial CT "L\P".
std::string OrientationFromCosines(const std::vector<double>& iop) {
  auto letters = [](double x, double y, double z) {
    struct Axis {
      double value;
      char positive;
      char negative;
    };
    Axis axes[3] = {{x, 'L', 'R'}, {y, 'P', 'A'}, {z, 'H', 'F'}};
    std::sort(std::begin(axes), std::end(axes),
              [](const Axis& a, const Axis& b) { return std::fabs(a.value) > std::fabs(b.value); });
    std::string out;
    for (const Axis& a : axes) {
      if (std::fabs(a.value) < 1e-3) break;
      out.push_back(a.value > 0 ? a.positive : a.negative);
    }
    return out;
  };
  if (iop.size() != 6) return {};
  const std::string row = letters(iop[0], iop[1], iop[2]);
  const std::string column = letters(iop[3], iop[4], iop[5]);
  if (row.empty() || column.empty()) return {};
  return row + "\\" + column;
}

std::pair<std::string, std::string> NowDateTime() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char date[16];
  char time[16];
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  std::strftime(time, sizeof time, "%H%M%S", &tm);
  return {date, time};
}

bool Digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ValidDate(std::string_view d) { return d.size() == 8 && Digits(d); }

bool ValidTime(std::string_view t) {
  const std::string_view whole = t.substr(0, t.find('.'));
  if (whole.size() < 2 || whole.size() > 6 || whole.size() % 2 != 0 || !Digits(whole)) return false;
  if (whole.size() != t.size()) {
    const std::string_view fraction = t.substr(whole.size() + 1);
    return whole.size() == 6 && !fraction.empty() && fraction.size() <= 6 && Digits(fraction);
  }
  return true;
}

// Collects the first failed DCMTK condition of a sequence of puts.
class Puts {
 public:
  explicit Puts(DcmItem& item) : item_(item) {}
  Puts& Str(const DcmTagKey& tag, const std::string& value) {
    Note(item_.putAndInsertString(tag, value.c_str()), tag);
    return *this;
  }
  Puts& U16(const DcmTagKey& tag, Uint16 value) {
    Note(item_.putAndInsertUint16(tag, value), tag);
    return *this;
  }
  void Note(const OFCondition& cond, const DcmTagKey& tag) {
    if (cond.bad() && ok_) {
      ok_ = false;
      error_ = std::string(DcmTag(tag).getTagName()) + ": " + cond.text();
    }
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  DcmItem& item_;
  bool ok_ = true;
  std::string error_;
};

// A code sequence item (Code Value, Coding Scheme Designator, Code Meaning).
void PutCode(Puts& puts, DcmItem& parent, const DcmTagKey& sequence, const char* value, const char* scheme,
             const char* meaning) {
  DcmItem* code = nullptr;
  puts.Note(parent.findOrCreateSequenceItem(sequence, code, -2), sequence);
  if (code == nullptr) return;
  puts.Note(code->putAndInsertString(DCM_CodeValue, value), DCM_CodeValue);
  puts.Note(code->putAndInsertString(DCM_CodingSchemeDesignator, scheme), DCM_CodingSchemeDesignator);
  puts.Note(code->putAndInsertString(DCM_CodeMeaning, meaning), DCM_CodeMeaning);
}

absl::StatusOr<EvidenceImage> Write(const EvidenceImageRequest& r) {
  // --- Validate what the caller gave, before touching the source.
  if (r.rows <= 0 || r.columns <= 0) return absl::InvalidArgumentError("evidence image has zero size");
  if (r.rows > 65535 || r.columns > 65535) {
    return absl::InvalidArgumentError("evidence image is larger than 65535 rows or columns");
  }
  const uint64_t expected = static_cast<uint64_t>(r.rows) * static_cast<uint64_t>(r.columns) * 3;
  if (r.rgb_pixels.size() != expected) {
    return absl::InvalidArgumentError("evidence pixel buffer has " + std::to_string(r.rgb_pixels.size()) +
                                      " bytes; rows x columns x 3 is " + std::to_string(expected));
  }
  if (expected > 0xFFFFFFF0ULL) return absl::InvalidArgumentError("evidence image is too large for one object");
  if (r.source_frame_number < 0) return absl::InvalidArgumentError("source frame number is negative");
  if (r.instance_number < 0 || r.series_number < 0) {
    return absl::InvalidArgumentError("series and instance numbers must not be negative");
  }
  if (!r.series_instance_uid.empty() && !IsValidUid(r.series_instance_uid)) {
    return absl::InvalidArgumentError("the given Series Instance UID is malformed");
  }
  if (!r.sop_instance_uid.empty() && !IsValidUid(r.sop_instance_uid)) {
    return absl::InvalidArgumentError("the given SOP Instance UID is malformed");
  }
  if (!r.model_device_uid.empty() && !IsValidUid(r.model_device_uid)) {
    return absl::InvalidArgumentError("the model's device UID is malformed");
  }
  if (!r.content_date.empty() && !ValidDate(r.content_date)) {
    return absl::InvalidArgumentError("content date is not YYYYMMDD");
  }
  if (!r.content_time.empty() && !ValidTime(r.content_time)) {
    return absl::InvalidArgumentError("content time is not HHMMSS[.FFFFFF]");
  }

  // --- Parse the source.
  DcmFileFormat source_file;
  if (absl::Status parsed = ParsePart10(r.source_part10, source_file); !parsed.ok()) return parsed;
  DcmDataset& s = *source_file.getDataset();
  const std::string study_uid = GetString(s, DCM_StudyInstanceUID);
  const std::string source_class = GetString(s, DCM_SOPClassUID);
  const std::string source_instance = GetString(s, DCM_SOPInstanceUID);
  if (study_uid.empty()) return absl::InvalidArgumentError("source has no StudyInstanceUID (0020,000D)");
  if (!IsValidUid(study_uid)) return absl::InvalidArgumentError("source has a malformed StudyInstanceUID (0020,000D)");
  if (source_class.empty() || !IsValidUid(source_class)) {
    return absl::InvalidArgumentError("source has no valid SOPClassUID (0008,0016) to reference");
  }
  if (source_instance.empty() || !IsValidUid(source_instance)) {
    return absl::InvalidArgumentError("source has no valid SOPInstanceUID (0008,0018) to reference");
  }

  // --- Identity of the new object.
  const std::string model_key = r.model_name + "|" + r.model_version + "|" + r.model_device_uid;
  EvidenceImage out;
  out.sop_class_uid = kSecondaryCaptureImageStorage;
  out.study_instance_uid = study_uid;
  out.series_instance_uid = !r.series_instance_uid.empty()
                                ? r.series_instance_uid
                                : NameBasedUid("parallax/evidence/sc/series|" + study_uid + "|" + model_key);
  out.sop_instance_uid =
      !r.sop_instance_uid.empty()
          ? r.sop_instance_uid
          : NameBasedUid("parallax/evidence/sc/instance|" + source_instance + "|" +
                         std::to_string(r.source_frame_number) + "|" + r.finding_label + "|" + r.method + "|" +
                         model_key);
  out.referenced_sop_instance_uids = {source_instance};
  if (out.sop_instance_uid == source_instance || out.series_instance_uid == GetString(s, DCM_SeriesInstanceUID)) {
    return absl::InvalidArgumentError("evidence must not reuse the source's series or instance UID");
  }

  std::string content_date = r.content_date;
  std::string content_time = r.content_time;
  if (content_date.empty() || content_time.empty()) {
    auto [date, time] = NowDateTime();
    if (content_date.empty()) content_date = date;
    if (content_time.empty()) content_time = time;
  }

  // --- Build the object.
  DcmFileFormat file;
  DcmDataset& d = *file.getDataset();

  // Copied context, in the source's character set.
  CopyIfPresent(s, d, DCM_SpecificCharacterSet);
  // Patient module.
  CopyOrEmpty(s, d, DCM_PatientName);
  CopyOrEmpty(s, d, DCM_PatientID);
  CopyIfPresent(s, d, DCM_IssuerOfPatientID);
  CopyIfPresent(s, d, DCM_IssuerOfPatientIDQualifiersSequence);
  CopyOrEmpty(s, d, DCM_PatientBirthDate);
  CopyIfPresent(s, d, DCM_PatientBirthTime);
  CopyOrEmpty(s, d, DCM_PatientSex);
  CopyIfPresent(s, d, DCM_OtherPatientIDsSequence);
  CopyIfPresent(s, d, DCM_PatientIdentityRemoved);
  CopyIfPresent(s, d, DCM_DeidentificationMethod);
  // General Study module.
  CopyIfPresent(s, d, DCM_StudyInstanceUID);
  CopyOrEmpty(s, d, DCM_StudyDate);
  CopyOrEmpty(s, d, DCM_StudyTime);
  CopyOrEmpty(s, d, DCM_ReferringPhysicianName);
  CopyOrEmpty(s, d, DCM_StudyID);
  CopyOrEmpty(s, d, DCM_AccessionNumber);
  CopyIfPresent(s, d, DCM_IssuerOfAccessionNumberSequence);
  CopyIfPresent(s, d, DCM_StudyDescription);
  // Patient Study module.
  CopyIfPresent(s, d, DCM_PatientAge);
  CopyIfPresent(s, d, DCM_PatientSize);
  CopyIfPresent(s, d, DCM_PatientWeight);
  // General Series (what describes the anatomy) and the institution.
  CopyIfPresent(s, d, DCM_BodyPartExamined);
  CopyIfPresent(s, d, DCM_Laterality);
  CopyIfPresent(s, d, DCM_InstitutionName);
  CopyIfPresent(s, d, DCM_InstitutionAddress);
  CopyIfPresent(s, d, DCM_InstitutionalDepartmentName);
  // General Image: once lossy, always lossy (PS3.3 C.7.6.1.1.5).
  CopyIfPresent(s, d, DCM_LossyImageCompression);
  CopyIfPresent(s, d, DCM_LossyImageCompressionRatio);
  CopyIfPresent(s, d, DCM_LossyImageCompressionMethod);
  if (!d.tagExists(DCM_LossyImageCompression) && DcmXfer(s.getOriginalXfer()).isLossy()) {
    d.putAndInsertString(DCM_LossyImageCompression, "01");
  }

  // Parallax's own text is UTF-8: if any is not ASCII and the copied text is
  // in another character set, move the copied text to UTF-8 first.
  const std::string derivation =
      TruncateUtf8((r.method.empty() ? std::string("AI evidence") : r.method) +
                       (r.finding_label.empty() ? std::string() : " map for " + r.finding_label) +
                       (r.model_name.empty() ? std::string() : " by " + r.model_name) +
                       (r.model_version.empty() ? std::string() : " " + r.model_version) +
                       ", blended over the referenced source image. Not for primary diagnosis.",
                   1024);
  const std::string series_description = TruncateUtf8(r.series_description, 64);
  const std::string model_name = TruncateUtf8(r.model_name, 64);
  const std::string model_version = TruncateUtf8(r.model_version, 64);
  const std::string comments =
      "Parallax AI evidence" + (r.finding_label.empty() ? std::string() : ": " + r.finding_label) +
      ". Not for primary diagnosis.";
  const bool own_text_ascii =
      IsAscii(derivation) && IsAscii(series_description) && IsAscii(model_name) && IsAscii(model_version);
  if (!own_text_ascii && GetString(d, DCM_SpecificCharacterSet) != "ISO_IR 192") {
    OFCondition cond = d.convertToUTF8();
    if (cond.bad()) {
      return absl::InvalidArgumentError(std::string("evidence text is not ASCII and the source's character set "
                                                    "cannot be converted to UTF-8: ") +
                                        cond.text());
    }
    d.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  }

  Puts put(d);
  // SOP Common.
  put.Str(DCM_SOPClassUID, out.sop_class_uid)
      .Str(DCM_SOPInstanceUID, out.sop_instance_uid)
      .Str(DCM_InstanceCreationDate, content_date)
      .Str(DCM_InstanceCreationTime, content_time);
  // General Series.
  std::string modality = GetString(s, DCM_Modality);
  if (modality.empty()) modality = "OT";
  put.Str(DCM_Modality, modality)
      .Str(DCM_SeriesInstanceUID, out.series_instance_uid)
      .Str(DCM_SeriesNumber, std::to_string(r.series_number))
      .Str(DCM_SeriesDate, content_date)
      .Str(DCM_SeriesTime, content_time)
      .Str(DCM_SeriesDescription, series_description);
  // General Equipment: the model (IHE AIR).
  put.Str(DCM_Manufacturer, "Parallax");
  if (!model_name.empty()) put.Str(DCM_ManufacturerModelName, model_name);
  if (!model_version.empty()) put.Str(DCM_SoftwareVersions, model_version);
  if (!r.model_device_uid.empty()) put.Str(DCM_DeviceUID, r.model_device_uid);
  // The source's acquisition equipment, as contributing equipment.
  const std::string source_manufacturer = GetString(s, DCM_Manufacturer);
  if (!source_manufacturer.empty()) {
    DcmItem* equipment = nullptr;
    put.Note(d.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, equipment, -2),
             DCM_ContributingEquipmentSequence);
    if (equipment != nullptr) {
      PutCode(put, *equipment, DCM_PurposeOfReferenceCodeSequence, "109101", "DCM", "Acquisition Equipment");
      for (const DcmTagKey& tag : {DCM_Manufacturer, DCM_InstitutionName, DCM_StationName,
                                   DCM_ManufacturerModelName, DCM_DeviceSerialNumber, DCM_SoftwareVersions,
                                   DCM_DeviceUID}) {
        CopyIfPresent(s, *equipment, tag);
      }
    }
  }
  // SC Equipment.
  put.Str(DCM_ConversionType, "WSD")
      .Str(DCM_SecondaryCaptureDeviceManufacturer, "Parallax");
  if (!model_name.empty()) put.Str(DCM_SecondaryCaptureDeviceManufacturerModelName, model_name);
  if (!model_version.empty()) put.Str(DCM_SecondaryCaptureDeviceSoftwareVersions, model_version);
  // General Image.
  std::string orientation = GetString(s, DCM_PatientOrientation);
  if (orientation.empty()) orientation = OrientationFromCosines(GetDoubles(s, DCM_ImageOrientationPatient));
  put.Str(DCM_InstanceNumber, std::to_string(r.instance_number))
      .Str(DCM_PatientOrientation, orientation)
      .Str(DCM_ContentDate, content_date)
      .Str(DCM_ContentTime, content_time)
      .Str(DCM_ImageType, "DERIVED\\SECONDARY")
      .Str(DCM_DerivationDescription, derivation)
      .Str(DCM_BurnedInAnnotation, r.burned_in_annotation ? "YES" : "NO")
      .Str(DCM_ImageComments, comments);
  for (const DcmTagKey& sequence : {DCM_SourceImageSequence, DCM_ReferencedImageSequence}) {
    DcmItem* ref = nullptr;
    put.Note(d.findOrCreateSequenceItem(sequence, ref, -2), sequence);
    if (ref == nullptr) continue;
    put.Note(ref->putAndInsertString(DCM_ReferencedSOPClassUID, source_class.c_str()), DCM_ReferencedSOPClassUID);
    put.Note(ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, source_instance.c_str()),
             DCM_ReferencedSOPInstanceUID);
    if (r.source_frame_number > 0) {
      put.Note(ref->putAndInsertString(DCM_ReferencedFrameNumber, std::to_string(r.source_frame_number).c_str()),
               DCM_ReferencedFrameNumber);
    }
    // CID 7202: the source is what the image processing operated on.
    PutCode(put, *ref, DCM_PurposeOfReferenceCodeSequence, "121322", "DCM",
            "Source image for image processing operation");
  }
  // SC Image.
  put.Str(DCM_DateOfSecondaryCapture, content_date).Str(DCM_TimeOfSecondaryCapture, content_time);
  const std::vector<double> spacing = GetDoubles(s, DCM_PixelSpacing);
  Uint16 source_rows = 0;
  Uint16 source_columns = 0;
  if (spacing.size() == 2 && spacing[0] > 0 && spacing[1] > 0 && s.findAndGetUint16(DCM_Rows, source_rows).good() &&
      s.findAndGetUint16(DCM_Columns, source_columns).good() && source_rows > 0 && source_columns > 0) {
    const double row_spacing = spacing[0] * source_rows / r.rows;
    const double column_spacing = spacing[1] * source_columns / r.columns;
    put.Str(DCM_PixelSpacing, DecimalDs(row_spacing) + "\\" + DecimalDs(column_spacing));
    CopyIfPresent(s, d, DCM_PixelSpacingCalibrationType);
    CopyIfPresent(s, d, DCM_PixelSpacingCalibrationDescription);
  }
  // Image Pixel.
  put.U16(DCM_SamplesPerPixel, 3)
      .Str(DCM_PhotometricInterpretation, "RGB")
      .U16(DCM_PlanarConfiguration, 0)
      .U16(DCM_Rows, static_cast<Uint16>(r.rows))
      .U16(DCM_Columns, static_cast<Uint16>(r.columns))
      .U16(DCM_BitsAllocated, 8)
      .U16(DCM_BitsStored, 8)
      .U16(DCM_HighBit, 7)
      .U16(DCM_PixelRepresentation, 0);
  put.Note(d.putAndInsertUint8Array(DCM_PixelData, r.rgb_pixels.data(), static_cast<unsigned long>(expected)),
           DCM_PixelData);
  if (!put.ok()) return absl::InternalError("cannot build the evidence object: " + put.error());

  absl::StatusOr<std::string> bytes = EncodePart10(file, EXS_LittleEndianExplicit, "evidence object");
  if (!bytes.ok()) return bytes.status();
  out.part10 = *std::move(bytes);
  return out;
}

}  // namespace

absl::StatusOr<EvidenceImage> WriteSecondaryCaptureEvidence(const EvidenceImageRequest& request) {
  // DCMTK reports through OFCondition; anything thrown (allocation) is turned
  // into a Status here, at the library's edge.
  try {
    return Write(request);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory writing the evidence object");
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("cannot write the evidence object: ") + e.what());
  }
}

}  // namespace parallax::dicom
