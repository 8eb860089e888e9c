#include "parallax/dicom/study_writer.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cstdio>
#include <filesystem>

#include "parallax/dicom/uid.h"

namespace parallax::dicom {
namespace {

const char* SopClassFor(const std::string& modality) {
  if (modality == "CT") return UID_CTImageStorage;
  if (modality == "MR") return UID_MRImageStorage;
  if (modality == "CR") return UID_ComputedRadiographyImageStorage;
  return UID_DigitalXRayImageStorageForPresentation;
}

std::string Decimal(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

bool IsVolume(const phantom::SeriesInfo& info) { return info.modality == "CT" || info.modality == "MR"; }

}  // namespace

absl::StatusOr<WrittenStudy> WritePhantomStudy(const phantom::Study& study, const StudyIdentity& id,
                                               const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return absl::InternalError("cannot create " + directory + ": " + ec.message());

  WrittenStudy out;
  out.study_instance_uid = DerivedUid(id.uid_seed, "study", 0);
  const std::string frame_of_reference = DerivedUid(id.uid_seed, "frame-of-reference", 0);
  for (size_t s = 0; s < study.series.size(); ++s) {
    const phantom::Series& series = study.series[s];
    const phantom::SeriesInfo& info = series.info;
    const std::string series_uid = DerivedUid(id.uid_seed, "series", s);
    out.series_instance_uids.push_back(series_uid);
    for (size_t i = 0; i < series.images.size(); ++i) {
      const phantom::Image& image = series.images[i];
      DcmFileFormat file;
      DcmDataset* ds = file.getDataset();
      const std::string sop_uid = DerivedUid(id.uid_seed, "instance", s * 100000 + i);
      ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
      ds->putAndInsertString(DCM_SOPClassUID, SopClassFor(info.modality));
      ds->putAndInsertString(DCM_SOPInstanceUID, sop_uid.c_str());
      ds->putAndInsertString(DCM_StudyInstanceUID, out.study_instance_uid.c_str());
      ds->putAndInsertString(DCM_SeriesInstanceUID, series_uid.c_str());
      ds->putAndInsertString(DCM_PatientName, id.patient_name.c_str());
      ds->putAndInsertString(DCM_PatientID, id.patient_id.c_str());
      ds->putAndInsertString(DCM_PatientSex, id.patient_sex.c_str());
      ds->putAndInsertString(DCM_PatientBirthDate, id.patient_birth_date.c_str());
      ds->putAndInsertString(DCM_StudyDate, id.study_date.c_str());
      ds->putAndInsertString(DCM_StudyTime, id.study_time.c_str());
      ds->putAndInsertString(DCM_SeriesDate, id.study_date.c_str());
      ds->putAndInsertString(DCM_AccessionNumber, id.accession_number.c_str());
      ds->putAndInsertString(DCM_StudyID, "1");
      ds->putAndInsertString(DCM_ReferringPhysicianName, "");
      ds->putAndInsertString(DCM_StudyDescription,
                             (id.study_description.empty() ? "PHANTOM " + study.kind : id.study_description).c_str());
      ds->putAndInsertString(DCM_Manufacturer, "Parallax phantom generator (not patient data)");
      ds->putAndInsertString(DCM_Modality, info.modality.c_str());
      ds->putAndInsertString(DCM_BodyPartExamined, info.body_part.c_str());
      ds->putAndInsertString(DCM_SeriesDescription, info.series_description.c_str());
      ds->putAndInsertString(DCM_ProtocolName, info.protocol_name.c_str());
      if (!info.laterality.empty()) ds->putAndInsertString(DCM_Laterality, info.laterality.c_str());
      ds->putAndInsertString(DCM_SeriesNumber, std::to_string(s + 1).c_str());
      ds->putAndInsertString(DCM_InstanceNumber, std::to_string(i + 1).c_str());
      ds->putAndInsertString(DCM_FrameOfReferenceUID, frame_of_reference.c_str());
      const std::string spacing = Decimal(image.pixel_spacing_mm[0]) + "\\" + Decimal(image.pixel_spacing_mm[1]);
      if (IsVolume(info)) {
        ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
        ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
        const double x0 = -0.5 * image.columns * image.pixel_spacing_mm[1];
        const double y0 = -0.5 * image.rows * image.pixel_spacing_mm[0];
        // A series with missing slices keeps each slice at its acquired position.
        const double z = static_cast<double>(image.slice_index >= 0 ? image.slice_index : static_cast<int>(i)) *
                         info.slice_spacing_mm;
        ds->putAndInsertString(DCM_ImagePositionPatient,
                               (Decimal(x0) + "\\" + Decimal(y0) + "\\" + Decimal(z)).c_str());
        ds->putAndInsertString(DCM_SliceLocation, Decimal(z).c_str());
        ds->putAndInsertString(DCM_SliceThickness, Decimal(info.slice_thickness_mm).c_str());
        ds->putAndInsertString(DCM_SpacingBetweenSlices, Decimal(info.slice_spacing_mm).c_str());
        ds->putAndInsertString(DCM_PixelSpacing, spacing.c_str());
      } else {
        ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY");
        ds->putAndInsertString(DCM_ViewPosition, info.view_position.c_str());
        // Rows run towards the patient's left, columns towards the feet (PA/AP as displayed).
        ds->putAndInsertString(DCM_PatientOrientation, "L\\F");
        ds->putAndInsertString(DCM_ImagerPixelSpacing, spacing.c_str());
        ds->putAndInsertString(DCM_PixelSpacing, spacing.c_str());
        ds->putAndInsertString(DCM_PresentationIntentType, "FOR PRESENTATION");
      }
      if (info.modality == "CT") {
        ds->putAndInsertString(DCM_RescaleIntercept, Decimal(info.rescale_intercept).c_str());
        ds->putAndInsertString(DCM_RescaleSlope, Decimal(info.rescale_slope).c_str());
        ds->putAndInsertString(DCM_RescaleType, "HU");
        ds->putAndInsertString(DCM_KVP, "120");
      }
      if (info.window_width > 0) {
        ds->putAndInsertString(DCM_WindowCenter, Decimal(info.window_center).c_str());
        ds->putAndInsertString(DCM_WindowWidth, Decimal(info.window_width).c_str());
      }
      ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(image.rows));
      ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(image.columns));
      ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
      ds->putAndInsertString(DCM_PhotometricInterpretation, info.photometric.c_str());
      ds->putAndInsertUint16(DCM_BitsAllocated, 16);
      ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(info.bits_stored));
      ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(info.bits_stored - 1));
      ds->putAndInsertUint16(DCM_PixelRepresentation, info.is_signed ? 1 : 0);
      ds->putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(image.pixels.data()),
                                  static_cast<unsigned long>(image.pixels.size()));
      char name[48];
      std::snprintf(name, sizeof name, "%02zu-%04zu.dcm", s + 1, i + 1);
      const std::string path = (std::filesystem::path(directory) / name).string();
      OFCondition cond = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
      if (cond.bad()) return absl::InternalError("cannot write " + path + ": " + cond.text());
      out.files.push_back(path);
    }
  }
  return out;
}

}  // namespace parallax::dicom
