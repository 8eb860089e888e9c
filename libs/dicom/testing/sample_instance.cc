#include "parallax/dicom/testing/sample_instance.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <vector>

namespace parallax::dicom::testing {

std::string NewUid() {
  char uid[100];
  dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  return uid;
}

absl::Status WriteSampleInstance(const SampleInstance& s, const std::string& path) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  const std::string study = s.study_uid.empty() ? NewUid() : s.study_uid;
  const std::string series = s.series_uid.empty() ? NewUid() : s.series_uid;
  const std::string sop = s.sop_instance_uid.empty() ? NewUid() : s.sop_instance_uid;
  ds->putAndInsertString(DCM_SOPClassUID, s.sop_class_uid.c_str());
  if (!s.omit_sop_instance_uid) ds->putAndInsertString(DCM_SOPInstanceUID, sop.c_str());
  if (!s.omit_study_uid) ds->putAndInsertString(DCM_StudyInstanceUID, study.c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, series.c_str());
  ds->putAndInsertString(DCM_PatientName, "PHANTOM^TEST");
  ds->putAndInsertString(DCM_PatientID, s.patient_id.c_str());
  ds->putAndInsertString(DCM_AccessionNumber, "ACC0001");
  ds->putAndInsertString(DCM_StudyDate, "20261204");
  ds->putAndInsertString(DCM_StudyTime, "101500");
  ds->putAndInsertString(DCM_StudyDescription, "TEST STUDY");
  ds->putAndInsertString(DCM_Modality, s.modality.c_str());
  ds->putAndInsertString(DCM_BodyPartExamined, s.body_part.c_str());
  ds->putAndInsertString(DCM_SeriesNumber, "1");
  ds->putAndInsertString(DCM_InstanceNumber, std::to_string(s.instance_number).c_str());
  const bool is_sr = s.modality == "SR";
  if (!is_sr) {
    ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
    ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    ds->putAndInsertString(DCM_ImagePositionPatient,
                           ("-16\\-16\\" + std::to_string(5 * s.instance_number)).c_str());
    ds->putAndInsertString(DCM_PixelSpacing, "0.5\\0.5");
    ds->putAndInsertString(DCM_SliceThickness, "5");
    ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.rows));
    ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.columns));
    ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
    ds->putAndInsertUint16(DCM_BitsAllocated, 16);
    ds->putAndInsertUint16(DCM_BitsStored, 12);
    ds->putAndInsertUint16(DCM_HighBit, 11);
    ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
    if (s.modality == "CR" || s.modality == "DX") ds->putAndInsertString(DCM_ViewPosition, "PA");
    std::vector<Uint16> pixels(static_cast<size_t>(s.rows) * s.columns);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<Uint16>((i * 7 + s.instance_number) % 4096);
    ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
  } else {
    ds->putAndInsertString(DCM_ValueType, "CONTAINER");
    ds->putAndInsertString(DCM_CompletionFlag, "COMPLETE");
    ds->putAndInsertString(DCM_VerificationFlag, "UNVERIFIED");
  }
  E_TransferSyntax xfer = DcmXfer(s.transfer_syntax_uid.c_str()).getXfer();
  OFCondition cond = file.saveFile(path.c_str(), xfer);
  if (cond.bad()) return absl::InternalError(std::string("cannot write sample instance: ") + cond.text());
  return absl::OkStatus();
}

}  // namespace parallax::dicom::testing
