#pragma once
// Visual AI evidence as a DICOM object a PACS can display: a Secondary
// Capture Image (SOP Class 1.2.840.10008.5.1.4.1.1.7) holding the caller's
// already-blended RGB picture (e.g. a Grad-CAM heatmap over the source
// image), in the source's patient and study, in a new series of its own, with
// Source Image Sequence and Referenced Image Sequence pointing at the source
// instance.
//
// Why single-frame Secondary Capture and not Multi-frame True Color SC
// (1.2.840.10008.5.1.4.1.1.7.4): the evidence is one picture per finding;
// Secondary Capture Image Storage is the SC class every PACS and viewer
// stores and displays, it validates with dciodvfy without errors, and it
// needs no Multi-frame / Cine modules or frame pointers. A multi-slice
// (CT) explanation is one SC instance per explained slice in the same series.
//
// The object (PS3.3 A.8.1):
//  - Patient, General Study and Patient Study attributes copied from the
//    source as they are (including Specific Character Set), type 2 ones
//    present empty when the source lacks them;
//  - General Series: Modality of the source (OT when it has none), the
//    series UID, number and description given; Body Part and Laterality
//    copied;
//  - General Equipment describes the model, as IHE AIR asks of AI results:
//    Manufacturer "Parallax", Manufacturer's Model Name, Software Versions
//    and Device UID of the model; Institution copied from the source; the
//    source's acquisition equipment goes into Contributing Equipment;
//  - SC Equipment: Conversion Type WSD, SC Device Manufacturer/Model/Version;
//  - General Image: Image Type DERIVED\SECONDARY, Instance Number, Patient
//    Orientation copied (or derived from Image Orientation (Patient) when the
//    source has only that, as CT does), Burned In Annotation, Derivation
//    Description, Source and Referenced Image Sequences, Lossy Image
//    Compression carried over from the source;
//  - Image Pixel: RGB, 3 samples, Planar Configuration 0, 8/8/7, unsigned;
//  - SC Image: Date/Time of Secondary Capture and Pixel Spacing (the
//    Basic Pixel Spacing Calibration Macro) from the source's Pixel Spacing,
//    scaled when the picture's size differs from the source's (the picture
//    is assumed to show the source's whole field of view). Imager Pixel
//    Spacing alone (projection radiographs) is not copied: it is at the
//    detector, not at the patient.
// Written as Explicit VR Little Endian Part-10 bytes.
//
// Character sets: the caller's strings (labels, descriptions) are UTF-8. When
// one of them is not plain ASCII and the source is not already UTF-8
// (ISO_IR 192), the copied attributes are converted to UTF-8 and the object is
// written as ISO_IR 192.
//
// Thread-safe: a pure function of its input.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::dicom {

inline constexpr char kSecondaryCaptureImageStorage[] = "1.2.840.10008.5.1.4.1.1.7";

struct EvidenceImageRequest {
  // The instance that was explained: a complete Part-10 file (pixel data may
  // be present; it is not used). Patient, study and equipment context and the
  // references come from here.
  std::string_view source_part10;
  // For a multi-frame source, the frame that was explained (1-based); 0 for
  // a single-frame source.
  int source_frame_number = 0;

  // The picture: rows x columns x 3 bytes, R G B per pixel, row-major, already
  // blended by the caller, in the source's orientation.
  std::span<const uint8_t> rgb_pixels;
  int rows = 0;
  int columns = 0;

  // The new object's identity. Empty: derived deterministically (see
  // NameBasedUid in uid.h) so a retried explanation gives the same object:
  // the series from (study, model), the instance from (source instance,
  // frame, finding label, model).
  std::string series_instance_uid;
  std::string sop_instance_uid;
  int series_number = 9001;  // high, so it sorts after the acquired series
  int instance_number = 1;
  std::string series_description = "Parallax AI evidence - Grad-CAM, not for primary diagnosis";

  // What was explained and by which model.
  std::string finding_label;      // e.g. "Pneumothorax"
  std::string method = "Grad-CAM";  // in the Derivation Description
  std::string model_name;         // Manufacturer's Model Name
  std::string model_version;      // Software Versions
  std::string model_device_uid;   // Device UID; a UID or empty

  // Content Date (YYYYMMDD) and Time (HHMMSS[.FFFFFF]); empty: now (local time).
  std::string content_date;
  std::string content_time;

  // YES when the picture carries burned-in text that identifies the patient.
  // Parallax's heatmaps carry none.
  bool burned_in_annotation = false;
};

// The written object, shaped like explainability.v1.DicomEvidence.
struct EvidenceImage {
  std::string part10;  // complete Part-10 file, Explicit VR Little Endian
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string study_instance_uid;
  std::vector<std::string> referenced_sop_instance_uids;
};

// Writes the Secondary Capture described above.
// INVALID_ARGUMENT, naming the problem and never patient data, when the
// source is not a parseable DICOM Part-10 file or lacks its Study Instance
// UID, SOP Class UID or SOP Instance UID; when rows or columns are not in
// 1..65535 or the pixel buffer is not rows x columns x 3 bytes; when a given
// UID is malformed; when a text must be converted to UTF-8 and the source's
// character set cannot be. INTERNAL when DCMTK fails to build or encode the
// object.
absl::StatusOr<EvidenceImage> WriteSecondaryCaptureEvidence(const EvidenceImageRequest& request);

}  // namespace parallax::dicom
