#pragma once
// Parallax's structured report as a DICOM object the PACS stores and a
// reading workstation renders: a Comprehensive 3D SR (SOP Class
// 1.2.840.10008.5.1.4.1.1.88.34) whose content follows DICOM PS3.16
// TID 1500 "Measurement Report", in the source's patient and study, in a new
// series of its own.
//
// The content tree (concept names are (value, scheme, meaning)):
//  CONTAINER (126000, DCM, "Imaging Measurement Report"), template TID 1500
//   HAS CONCEPT MOD  Language of Content Item and Descendants = en (TID 1204)
//   HAS OBS CONTEXT  Observer Type = Device, Device Observer UID / Name /
//                    Manufacturer "Parallax" / Model Name (TID 1001, 1004)
//   HAS CONCEPT MOD  Procedure reported (the caller's code)
//   CONTAINS         Image Library (TID 1600) with every source image
//   CONTAINS         CONTAINER Imaging Measurements
//    CONTAINS        CONTAINER Measurement Group (TID 1501), one per finding:
//                     Tracking Identifier (the finding id), Tracking Unique
//                     Identifier (derived from the finding id, so the same
//                     finding has the same UID in the preliminary, final and
//                     amended reports), Finding (the finding's code),
//                     Finding Site with its Laterality (without a site,
//                     the Laterality qualifies the Finding), Algorithm Name and
//                     Version (TID 4019), measurements (TID 300):
//                     Probability (122157, DCM) in UCUM "1" (0..1), Area
//                     (42798000, SCT) in cm2, Volume (118565006, SCT) in ml,
//                     each INFERRED FROM the source images ("Source of
//                     Measurement"); the qualitative evaluation Presence
//                     (705057003, SCT) = Present (52101004, SCT) or Absent
//                     (2667000, SCT); the subtype as a Comment; the heatmap
//                     objects as IMAGE "Best illustration of finding";
//                     when the finding was compared with a prior study
//                     (SrFinding::prior_comparison), the change as below.
//
// The change since the prior study. DICOM has no standard concept for "change
// since the prior" in TID 1501 (the mammography CAD's temporal terms belong
// to its own templates), so the codes are Parallax's private coding scheme
// kParallaxCodingScheme ("99PARALLAX"; PS3.16 8.2: a designator starting
// "99" is private), declared in the Coding Scheme Identification Sequence:
//   CONTAINS CODE (CHANGE, 99PARALLAX, "Change since prior study") =
//            (NEW | LARGER | STABLE | SMALLER | RESOLVED | NO-PRIOR,
//             99PARALLAX, "New since prior study" ... "No prior study
//             available"), and for a change against a prior:
//     HAS PROPERTIES UIDREF (110180, DCM, "Study Instance UID") = the prior
//     HAS PROPERTIES DATE   (111060, DCM, "Study Date") = its study date
//     HAS PROPERTIES NUM    (INTERVAL, 99PARALLAX, "Interval since prior
//                           study") in (d, UCUM, "day")
//     HAS PROPERTIES NUM    (PRIOR-SIZE, 99PARALLAX, "Size at prior study")
//                           in ml or cm2, when measured
//   CONTAINS TEXT (121106, DCM, "Comment") = "Change since prior: " and
//            SrPriorComparison::comment, the change in the alert's and the
//            FHIR report's words, e.g. "Change since prior: stable since
//            prior of 2026-06-01 (92 days): 12.1 mL -> 11.8 mL" (no item
//            when the comment is empty).
// The prior study is also listed in the Pertinent Other Evidence Sequence
// (0040,A385) when the prior's images are known (SrPriorComparison::
// prior_images): that sequence uses the Hierarchical SOP Instance Reference
// Macro (PS3.3 C.17.2.3, Table C.17-3), whose Referenced Series Sequence and
// Referenced SOP Sequence are type 1 with one or more items, so a study UID
// alone (or a series without instances) would make the object invalid; then
// the prior is named by the UIDREF item only.
//
// The object (PS3.3 A.35.13):
//  - Patient, General Study and Patient Study attributes copied from the
//    source as they are (type 2 ones present empty when the source lacks
//    them), in the source's character set (moved to UTF-8 when Parallax's
//    own text is not ASCII and the source is not UTF-8);
//  - SR Document Series: Modality SR, the derived series UID and number;
//  - General Equipment describes the model, as IHE AIR asks of AI results:
//    Manufacturer "Parallax", Manufacturer's Model Name = model id, Software
//    Versions = model version (the Device UID is in Contributing Equipment
//    and the Device Observer UID: dciodvfy's SR IOD has no top-level one);
//  - Contributing Equipment Sequence (0018,A001): the model again, with
//    Purpose of Reference (109102, DCM, "Processing Equipment") (CID 7005),
//    Manufacturer, Manufacturer's Model Name, Software Versions, Device UID
//    (IHE AIR); the source's acquisition equipment as (109101, DCM,
//    "Acquisition Equipment") when the source names its manufacturer;
//  - SR Document General: Completion PARTIAL and Verification UNVERIFIED and
//    Preliminary Flag PRELIMINARY for a preliminary report; COMPLETE,
//    VERIFIED with the Verifying Observer Sequence and FINAL for a final or
//    amended one (an amended one names its predecessor when given);
//    Current Requested Procedure Evidence Sequence lists the source images and
//    the heatmap objects.
// Written as Explicit VR Little Endian Part-10 bytes.
//
// Determinism: with the content date and time given, the same input gives the
// same bytes (UIDs derived with NameBasedUid, see uid.h).
//
// Thread-safe: a pure function of its input.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

namespace parallax::dicom {

inline constexpr char kComprehensive3DSrStorage[] = "1.2.840.10008.5.1.4.1.1.88.34";

// A coded concept as DICOM writes it: Coding Scheme Designator (e.g. "SCT",
// "DCM", "LN"), Code Value, Code Meaning.
struct SrCode {
  std::string scheme;
  std::string value;
  std::string meaning;
  bool empty() const { return value.empty(); }
};

// The DICOM code of a FHIR coding: system http://snomed.info/sct -> SCT,
// http://loinc.org -> LN, http://dicom.nema.org/resources/ontology/DCM -> DCM,
// http://radlex.org -> RADLEX, http://unitsofmeasure.org -> UCUM.
// INVALID_ARGUMENT naming the system when it is none of these, or when the
// code is empty.
absl::StatusOr<SrCode> SrCodeFromFhir(std::string_view system, std::string_view code, std::string_view display);

// Side of the patient (not of the image), CID 244.
enum class SrLaterality {
  kNone,       // unpaired structure, global finding or not determined: no Laterality item
  kLeft,       // (7771000, SCT, "Left")
  kRight,      // (24028007, SCT, "Right")
  kBilateral,  // (51440002, SCT, "Right and left")
};

// A composite instance the report refers to.
struct SrInstanceReference {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  // Series of the instance; for source images empty means the series of
  // MeasurementReportInput::source_instance_part10. Required for evidence.
  std::string series_instance_uid;
};

// Private coding scheme of Parallax's own concepts (the change since the
// prior study).
inline constexpr char kParallaxCodingScheme[] = "99PARALLAX";

// How a finding changed since the patient's prior study (the classes of
// parallax.common.v1.ChangeClass).
enum class SrChange {
  kNotCompared,  // no comparison was made: nothing is written
  kNoPrior,      // the patient has no prior study to compare with
  kNew,
  kLarger,
  kStable,
  kSmaller,
  kResolved,
};

// The comparison of one finding with the prior study (see the tree above).
struct SrPriorComparison {
  SrChange change = SrChange::kNotCompared;
  // The prior study; required (a valid UID, not the report's own study) for
  // every class but kNotCompared and kNoPrior.
  std::string prior_study_instance_uid;
  std::string prior_study_date;  // DICOM DA YYYYMMDD; optional
  int interval_days = -1;        // days since the prior; -1 when unknown / no prior
  // Sizes at both times in `unit` ("mL" or "cm2"), when measured.
  std::optional<double> prior_size;
  std::optional<double> current_size;
  std::string unit;
  // Images of the prior study the comparison read (each with its series):
  // listed in the Pertinent Other Evidence Sequence. Empty: the prior is
  // named in the content tree only (see above).
  std::vector<SrInstanceReference> prior_images;
  // The change in words (libs/comparison change_words.h, the wording of the
  // alert and the FHIR report); the caller writes it so that every output
  // says it the same way. Empty: no comment item.
  std::string comment;
};

// One finding of the model, present or absent.
struct SrFinding {
  std::string finding_id;  // stable internal id: Tracking Identifier, and names the Tracking UID
  SrCode code;             // e.g. (SCT, 36118008, "Pneumothorax")
  bool present = false;
  SrLaterality laterality = SrLaterality::kNone;  // under the finding site, else under the finding
  SrCode site;                                    // optional finding site, e.g. (SCT, 39607008, "Lung structure")
  double probability = 0;                         // calibrated, 0..1
  std::optional<double> area_cm2;                 // projection radiographs
  std::optional<double> volume_ml;                // volumes
  std::string subtype;                            // free text, e.g. "subdural"; empty when none
  // The images the model read (Source of Measurement); at least one.
  std::vector<SrInstanceReference> source_images;
  // The heatmap objects (e.g. the Secondary Capture from evidence_writer.h).
  std::vector<SrInstanceReference> evidence;
  // The change since the prior study; kNotCompared (the default) writes none.
  SrPriorComparison prior_comparison;
};

enum class ReportCompletion {
  kPreliminary,  // PARTIAL, UNVERIFIED, PRELIMINARY: the AI's own result before review
  kFinal,        // COMPLETE, VERIFIED, FINAL: approved by a radiologist
  kAmended,      // as kFinal, after a final report was changed
};

struct MeasurementReportInput {
  // One source image of the study: a complete Part-10 file (pixel data may
  // be present; it is not used). Patient, study and equipment context come
  // from here, and it is the default series of the source images.
  std::string_view source_instance_part10;

  // Report identity. The series UID is derived from (study, report_key); the
  // SOP Instance UID from (study, report_key, completion, revision), so the
  // preliminary, final and each amendment are distinct instances of one
  // series, and a retry gives the same UIDs.
  std::string report_key;  // e.g. the analysis id; required, no patient data
  int revision = 0;        // amendment number (0 for the first of each completion)
  int series_number = 9002;
  int instance_number = 1;
  std::string series_description = "Parallax AI measurement report";
  // Content Date (YYYYMMDD) and Time (HHMMSS[.FFFFFF]); empty: now (local time).
  std::string content_date;
  std::string content_time;

  ReportCompletion completion = ReportCompletion::kPreliminary;
  // For kFinal / kAmended: who verified it (PN, e.g. "Doe^Jane"), their
  // organisation, and when (YYYYMMDDHHMMSS; empty: content date and time).
  std::string verifying_observer_name;
  std::string verifying_organization;
  std::string verification_datetime;
  // For kAmended: the report it replaces (Predecessor Documents Sequence);
  // optional, all three or none.
  std::string predecessor_series_instance_uid;
  std::string predecessor_sop_instance_uid;
  std::string predecessor_sop_class_uid = kComprehensive3DSrStorage;

  // The observer device: the model (IHE AIR).
  std::string model_id;          // Manufacturer's Model Name, Device Observer Model Name and Name
  std::string model_version;     // Software Versions, Algorithm Version
  std::string model_device_uid;  // Device UID, Device Observer UID; a valid UID, required

  // Procedure reported (CID 100 or the department's code); empty:
  // (363679005, SCT, "Imaging procedure").
  SrCode procedure;

  std::vector<SrFinding> findings;  // at least one
};

// The written object.
struct MeasurementReport {
  std::string part10;  // complete Part-10 file, Explicit VR Little Endian
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string study_instance_uid;
  std::vector<std::string> tracking_uids;  // per finding, in input order
};

// Writes the report described above.
// INVALID_ARGUMENT, naming the problem and never patient data, when the
// source is not parseable DICOM Part-10 or lacks a valid Study Instance UID,
// Series Instance UID, SOP Class UID or SOP Instance UID; when the report
// key is empty; when the device UID, a referenced UID or a predecessor UID is
// malformed; when there is no finding, a finding has no id, no code or no
// source image, a probability outside 0..1, or a negative area or volume;
// when a finding's comparison with a prior has no valid prior Study
// Instance UID (or the report's own), a malformed prior study date, a
// negative or non-finite size, a size without unit "mL" / "cm2", or a prior
// image without valid SOP Class, SOP Instance and Series UIDs;
// when a final or amended report has no
// verifying observer name or organisation; when dates or times are
// malformed; when a text must be converted to UTF-8 and the source's
// character set cannot be. INTERNAL when DCMTK refuses to build or encode
// the document.
absl::StatusOr<MeasurementReport> WriteMeasurementReport(const MeasurementReportInput& input);

}  // namespace parallax::dicom
