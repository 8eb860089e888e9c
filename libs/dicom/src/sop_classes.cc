#include "parallax/dicom/sop_classes.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>

namespace parallax::dicom {

const std::vector<SopClass>& AcceptedStorageSopClasses() {
  static const std::vector<SopClass> kClasses = {
      {UID_ComputedRadiographyImageStorage, "CRImageStorage"},
      {UID_DigitalXRayImageStorageForPresentation, "DXImageStorageForPresentation"},
      {UID_DigitalXRayImageStorageForProcessing, "DXImageStorageForProcessing"},
      {UID_DigitalMammographyXRayImageStorageForPresentation, "MGImageStorageForPresentation"},
      {UID_DigitalMammographyXRayImageStorageForProcessing, "MGImageStorageForProcessing"},
      {UID_BreastTomosynthesisImageStorage, "BreastTomosynthesisImageStorage"},
      {UID_CTImageStorage, "CTImageStorage"},
      {UID_EnhancedCTImageStorage, "EnhancedCTImageStorage"},
      {UID_LegacyConvertedEnhancedCTImageStorage, "LegacyConvertedEnhancedCTImageStorage"},
      {UID_MRImageStorage, "MRImageStorage"},
      {UID_EnhancedMRImageStorage, "EnhancedMRImageStorage"},
      {UID_EnhancedMRColorImageStorage, "EnhancedMRColorImageStorage"},
      {UID_LegacyConvertedEnhancedMRImageStorage, "LegacyConvertedEnhancedMRImageStorage"},
      {UID_PositronEmissionTomographyImageStorage, "PETImageStorage"},
      {UID_EnhancedPETImageStorage, "EnhancedPETImageStorage"},
      {UID_NuclearMedicineImageStorage, "NMImageStorage"},
      {UID_UltrasoundImageStorage, "USImageStorage"},
      {UID_UltrasoundMultiframeImageStorage, "USMultiframeImageStorage"},
      {UID_XRayAngiographicImageStorage, "XAImageStorage"},
      {UID_XRayRadiofluoroscopicImageStorage, "XRFImageStorage"},
      {UID_SecondaryCaptureImageStorage, "SecondaryCaptureImageStorage"},
      {UID_MultiframeGrayscaleByteSecondaryCaptureImageStorage, "MultiframeGrayscaleByteSCImageStorage"},
      {UID_MultiframeGrayscaleWordSecondaryCaptureImageStorage, "MultiframeGrayscaleWordSCImageStorage"},
      {UID_MultiframeTrueColorSecondaryCaptureImageStorage, "MultiframeTrueColorSCImageStorage"},
      {UID_BasicTextSRStorage, "BasicTextSRStorage"},
      {UID_EnhancedSRStorage, "EnhancedSRStorage"},
      {UID_ComprehensiveSRStorage, "ComprehensiveSRStorage"},
      {UID_Comprehensive3DSRStorage, "Comprehensive3DSRStorage"},
      {UID_KeyObjectSelectionDocumentStorage, "KeyObjectSelectionDocumentStorage"},
      {UID_SegmentationStorage, "SegmentationStorage"},
      {UID_GrayscaleSoftcopyPresentationStateStorage, "GrayscaleSoftcopyPresentationStateStorage"},
      {UID_EncapsulatedPDFStorage, "EncapsulatedPDFStorage"},
  };
  return kClasses;
}

bool IsAcceptedStorageSopClass(std::string_view uid) {
  const auto& classes = AcceptedStorageSopClasses();
  return std::any_of(classes.begin(), classes.end(), [&](const SopClass& c) { return c.uid == uid; });
}

std::string SopClassLabel(std::string_view uid) {
  for (const SopClass& c : AcceptedStorageSopClasses()) {
    if (c.uid == uid) return c.name;
  }
  return "other";
}

const std::vector<std::string>& AcceptedTransferSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {
      UID_JPEGProcess14SV1TransferSyntax,       // JPEG lossless, first-order prediction
      UID_JPEGProcess14TransferSyntax,          // JPEG lossless
      UID_JPEGLSLosslessTransferSyntax,
      UID_JPEG2000LosslessOnlyTransferSyntax,
      UID_RLELosslessTransferSyntax,
      UID_JPEGProcess1TransferSyntax,           // JPEG baseline (lossy, as sent)
      UID_JPEGProcess2_4TransferSyntax,         // JPEG extended
      UID_JPEGLSLossyTransferSyntax,
      UID_JPEG2000TransferSyntax,
      UID_DeflatedExplicitVRLittleEndianTransferSyntax,
      UID_LittleEndianExplicitTransferSyntax,
      UID_LittleEndianImplicitTransferSyntax,
      UID_BigEndianExplicitTransferSyntax,
  };
  return kSyntaxes;
}

}  // namespace parallax::dicom
