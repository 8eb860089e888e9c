#pragma once
// Private building blocks shared by the resource builders: codings, dates,
// references by identifier. Pure functions, thread-safe.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "parallax/common/v1/finding.pb.h"
#include "parallax/common/v1/study.pb.h"
#include "parallax/fhir/resources.h"

namespace parallax::fhir::internal {

inline constexpr char kSnomed[] = "http://snomed.info/sct";
inline constexpr char kLoinc[] = "http://loinc.org";
inline constexpr char kUcum[] = "http://unitsofmeasure.org";
inline constexpr char kDcm[] = "http://dicom.nema.org/resources/ontology/DCM";
inline constexpr char kDicomUidSystem[] = "urn:dicom:uid";
inline constexpr char kRfc3986[] = "urn:ietf:rfc:3986";
inline constexpr char kV2_0074[] = "http://terminology.hl7.org/CodeSystem/v2-0074";
inline constexpr char kV2_0203[] = "http://terminology.hl7.org/CodeSystem/v2-0203";
// Parallax's own code systems for concepts no standard terminology names
// (AI probability, operating point, quality flags, method).
inline constexpr char kParallaxMeasurement[] = "urn:parallax:measurement";
inline constexpr char kParallaxQualityFlag[] = "urn:parallax:quality-flag";
inline constexpr char kParallaxMethod[] = "urn:parallax:method";
inline constexpr char kParallaxAuditEventType[] = "urn:parallax:audit-event-type";
inline constexpr char kParallaxRole[] = "urn:parallax:role";
// A finding's change since the patient's prior study (PriorComparison's
// class): no-prior, new, larger, stable, smaller, resolved.
inline constexpr char kParallaxChange[] = "urn:parallax:change-since-prior";

// {"system", "code", "display"} with empty parts left out.
Json Coding(std::string_view system, std::string_view code, std::string_view display);
// CodeableConcept of one coding, plus text when non-empty.
Json Concept(std::string_view system, std::string_view code, std::string_view display,
             std::string_view text = {});
// CodeableConcept of a ClinicalCode; text used when given or when the code
// is empty (so the concept is never empty). Null Json when both are empty.
Json ConceptOf(const common::v1::ClinicalCode& code, std::string_view text = {});

// "urn:oid:<uid>" for a DICOM UID.
std::string UrnOid(std::string_view uid);
// Identifier {system: urn:dicom:uid, value: urn:oid:<uid>}.
Json DicomUidIdentifier(std::string_view uid);

// Reference to the patient of `manifest` by identifier (type Patient), or
// null Json when the manifest has no patient id.
Json PatientReference(const common::v1::StudyManifest& manifest, const Settings& settings);
// Reference by identifier with a type and a display.
Json IdentifierReference(std::string_view type, std::string_view system, std::string_view value,
                         std::string_view display = {});
// Practitioner by Parallax user id.
Json UserReference(std::string_view user_id, const Settings& settings);
// Literal reference "Type/id" (id must already be a FHIR id).
Json LiteralReference(std::string_view type, std::string_view id);

// FHIR dateTime of a study's DICOM StudyDate (YYYYMMDD) and StudyTime
// (HHMMSS[.ffffff]); the time is used only when settings carry the UTC
// offset of the DICOM times. Empty when the date is absent or malformed.
std::string StudyDateTime(const common::v1::StudyManifest& manifest, const Settings& settings);

// A finite value rounded to `decimals` places; nullopt for NaN / infinity.
std::optional<double> Rounded(double value, int decimals);

// Quantity with a UCUM unit (unit = code = ucum).
Json UcumQuantity(double value, std::string_view ucum);

// Adds key = value to `object` only when value is a non-empty string.
void SetIfNotEmpty(Json& object, const char* key, std::string_view value);

// Laterality as a SNOMED CT qualifier (Left 7771000, Right 24028007,
// Bilateral 51440002; Midline as text only); null Json for unspecified /
// not applicable.
Json LateralityConcept(common::v1::Laterality laterality);

// The comparison's class as a CodeableConcept of kParallaxChange (code
// no-prior / new / larger / stable / smaller / resolved, a display, and
// ChangeSincePriorText as text); null Json for CHANGE_CLASS_UNSPECIFIED (no
// comparison made) or an unknown value.
Json ChangeConcept(const common::v1::PriorComparison& comparison);

// The change in words, e.g. "new since prior of 2026-06-01 (92 days)",
// "stable since prior of 2026-06-01 (92 days): 12.1 mL -> 11.8 mL", "no
// prior available"; "" for CHANGE_CLASS_UNSPECIFIED. Dates and sizes only.
std::string ChangeSincePriorText(const common::v1::PriorComparison& comparison);

// FHIR date "YYYY-MM-DD" of a DICOM DA "YYYYMMDD"; "" when malformed.
std::string FhirDateOfDicomDate(std::string_view dicom_date);

}  // namespace parallax::fhir::internal
