// ImagingStudy, Observation and DiagnosticReport: the clinical content of a
// Parallax report.
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fhir_common.h"
#include "parallax/fhir/resources.h"

namespace parallax::fhir {

using namespace internal;  // NOLINT: private helpers of this library

namespace {

// SNOMED CT body structures for the DICOM Body Part Examined defined terms
// Parallax's models read (DICOM PS3.16 CID 4031 mappings); others are
// carried as display text only.
const std::map<std::string, std::pair<const char*, const char*>>& BodyPartCodes() {
  static const auto* codes = new std::map<std::string, std::pair<const char*, const char*>>{
      {"CHEST", {"51185008", "Thoracic structure"}},
      {"HEAD", {"69536005", "Head structure"}},
      {"BRAIN", {"12738006", "Brain structure"}},
      {"SKULL", {"89546000", "Bone structure of cranium"}},
      {"ABDOMEN", {"113345001", "Abdominal structure"}},
      {"PELVIS", {"12921003", "Pelvic structure"}},
      {"FOREARM", {"14975008", "Forearm structure"}},
      {"WRIST", {"8205005", "Wrist region structure"}},
      {"HAND", {"85562004", "Hand structure"}},
      {"KNEE", {"72696002", "Knee region structure"}},
  };
  return *codes;
}

Json SeriesLaterality(const std::string& dicom) {
  if (dicom == "L") return Coding(kSnomed, "7771000", "Left");
  if (dicom == "R") return Coding(kSnomed, "24028007", "Right");
  return Json();
}

const char* ObservationStatus(v1::ReportStatus status) {
  switch (status) {
    case v1::REPORT_STATUS_PRELIMINARY:
      return "preliminary";
    case v1::REPORT_STATUS_FINAL:
      return "final";
    case v1::REPORT_STATUS_AMENDED:
      return "amended";
    default:
      return "unknown";
  }
}

std::string StudyUid(const v1::PublishReportRequest& report) {
  return report.study().study_instance_uid().empty() ? report.manifest().study_instance_uid()
                                                     : report.study().study_instance_uid();
}

// The ImagingStudy a report is about: literal reference when its logical id
// is known, and always the Study Instance UID so the EHR can resolve it
// without the ImagingStudy resource.
Json ImagingStudyReference(const std::string& study_uid, const ReportIds& ids) {
  Json ref = Json::object();
  if (!ids.imaging_study.empty()) ref["reference"] = "ImagingStudy/" + ids.imaging_study;
  ref["type"] = "ImagingStudy";
  if (!study_uid.empty()) ref["identifier"] = DicomUidIdentifier(study_uid);
  return ref;
}

Json OrganisationReference(const Settings& settings) {
  return Json{{"type", "Organization"}, {"display", settings.organisation_name}};
}

// The Organization that produced the result, then every verifying user.
Json Performers(const google::protobuf::RepeatedPtrField<std::string>& users, const Settings& settings) {
  Json performers = Json::array({OrganisationReference(settings)});
  for (const std::string& user : users) {
    if (!user.empty()) performers.push_back(UserReference(user, settings));
  }
  return performers;
}

// The model as a contained Device (IHE AIR: model name, version, device UID).
Json ModelDevice(const common::v1::ModelRef& model, const Settings& settings) {
  Json device{{"resourceType", "Device"}, {"id", "model"}};
  if (!model.device_uid().empty()) {
    Json identifier = DicomUidIdentifier(model.device_uid());
    identifier["type"] = Json{{"text", "Device UID (DICOM Device UID of the trained model)"}};
    device["identifier"] = Json::array({identifier});
  }
  device["status"] = "active";
  device["manufacturer"] = settings.organisation_name;
  if (!model.model_id().empty()) {
    device["deviceName"] = Json::array({Json{{"name", model.model_id()}, {"type", "model-name"}}});
    device["modelNumber"] = model.model_id();
  }
  device["type"] = Json{{"text", "AI model (machine learning inference software)"}};
  if (!model.model_version().empty()) device["version"] = Json::array({Json{{"value", model.model_version()}}});
  return device;
}

Json QuantityComponent(Json code, double value, int decimals, const std::string& ucum) {
  auto rounded = Rounded(value, decimals);
  if (!rounded) return Json();
  return Json{{"code", std::move(code)}, {"valueQuantity", UcumQuantity(*rounded, ucum)}};
}

std::string QualityFlagCode(common::v1::QualityFlag flag) {
  // QUALITY_FLAG_MOTION_ARTEFACT -> motion-artefact
  const std::string& name = common::v1::QualityFlag_Name(flag);
  std::string code;
  for (char c : name.substr(std::string_view("QUALITY_FLAG_").size())) {
    code.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return code;
}

// The prior study a finding was compared with, by its Study Instance UID;
// null Json when the finding carries no comparison with a prior.
Json PriorStudyReference(const common::v1::Finding& f) {
  if (!f.has_prior_comparison() || f.prior_comparison().prior_study_instance_uid().empty()) return Json();
  const common::v1::PriorComparison& c = f.prior_comparison();
  Json ref{{"type", "ImagingStudy"}, {"identifier", DicomUidIdentifier(c.prior_study_instance_uid())}};
  const std::string date = FhirDateOfDicomDate(c.prior_study_date());
  ref["display"] = date.empty() ? std::string("Prior study compared") : "Prior study of " + date + " compared";
  return ref;
}

// The change since the prior study: the class (kParallaxChange), the size
// at both times in the comparison's unit, and the interval in days. Empty
// when no comparison was made (change UNSPECIFIED).
std::vector<Json> ChangeComponents(const common::v1::Finding& f) {
  std::vector<Json> out;
  if (!f.has_prior_comparison()) return out;
  const common::v1::PriorComparison& c = f.prior_comparison();
  Json change = ChangeConcept(c);
  if (change.is_null()) return out;
  out.push_back(Json{{"code", Concept(kParallaxMeasurement, "change-since-prior", "Change since the prior study")},
                     {"valueCodeableConcept", change}});
  const bool known_unit = c.unit() == "mL" || c.unit() == "cm2";
  const int decimals = c.unit() == "cm2" ? 2 : 1;
  if (known_unit && c.has_prior_size()) {
    Json q = QuantityComponent(Concept(kParallaxMeasurement, "prior-size", "Size at the prior study"), c.prior_size(),
                               decimals, c.unit());
    if (!q.is_null()) out.push_back(std::move(q));
  }
  if (known_unit && c.has_current_size()) {
    Json q = QuantityComponent(Concept(kParallaxMeasurement, "current-size", "Size at the current study"),
                               c.current_size(), decimals, c.unit());
    if (!q.is_null()) out.push_back(std::move(q));
  }
  if (c.change() != common::v1::CHANGE_CLASS_NO_PRIOR && c.interval_days() >= 0) {
    Json q = QuantityComponent(Concept(kParallaxMeasurement, "interval-since-prior", "Interval since the prior study"),
                               c.interval_days(), 0, "d");
    if (!q.is_null()) out.push_back(std::move(q));
  }
  return out;
}

Json Components(const common::v1::Finding& f) {
  Json components = Json::array();
  auto add = [&components](Json c) {
    if (!c.is_null()) components.push_back(std::move(c));
  };
  add(QuantityComponent(Concept(kParallaxMeasurement, "probability", "AI model calibrated probability"),
                        f.probability() * 100.0, 1, "%"));
  if (f.operating_point() > 0.0) {
    add(QuantityComponent(Concept(kParallaxMeasurement, "operating-point", "AI model operating point"),
                          f.operating_point() * 100.0, 1, "%"));
  }
  Json side = LateralityConcept(f.laterality());
  if (!side.is_null()) {
    add(Json{{"code", Concept(kSnomed, "272741003", "Laterality")}, {"valueCodeableConcept", side}});
  }
  if (f.has_area_cm2()) add(QuantityComponent(Concept(kSnomed, "42798000", "Area"), f.area_cm2(), 2, "cm2"));
  if (f.has_volume_ml()) add(QuantityComponent(Concept(kSnomed, "118565006", "Volume"), f.volume_ml(), 1, "mL"));
  for (const auto& m : f.measurements()) {
    Json code = ConceptOf(m.code(), m.name());
    if (code.is_null()) continue;
    if (m.unit().empty()) {
      auto v = Rounded(m.value(), 3);
      if (v) add(Json{{"code", code}, {"valueQuantity", Json{{"value", *v}}}});
    } else {
      add(QuantityComponent(code, m.value(), 3, m.unit()));
    }
  }
  if (!f.subtype().empty()) {
    add(Json{{"code", Concept(kParallaxMeasurement, "subtype", "Finding subtype")}, {"valueString", f.subtype()}});
  }
  for (int flag : f.quality_flags()) {
    auto q = static_cast<common::v1::QualityFlag>(flag);
    if (q == common::v1::QUALITY_FLAG_UNSPECIFIED || !common::v1::QualityFlag_IsValid(flag)) continue;
    add(Json{{"code", Concept(kParallaxMeasurement, "quality-flag", "Image quality flag")},
             {"valueCodeableConcept", Concept(kParallaxQualityFlag, QualityFlagCode(q), "")}});
  }
  for (Json& c : ChangeComponents(f)) add(std::move(c));
  return components;
}

bool IsHttpUrl(const std::string& uri) {
  if (uri.rfind("http://", 0) != 0 && uri.rfind("https://", 0) != 0) return false;
  for (char c : uri) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) return false;
  }
  return true;
}

std::string WadoRsUrl(const Settings& settings, const std::string& study, const std::string& series,
                      const std::string& sop) {
  std::string base = settings.dicomweb_base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/studies/" + study + "/series/" + series + "/instances/" + sop;
}

const char* EvidenceTitle(common::v1::EvidenceKind kind) {
  switch (kind) {
    case common::v1::EVIDENCE_KIND_HEATMAP_PNG:
      return "Heatmap";
    case common::v1::EVIDENCE_KIND_SECONDARY_CAPTURE:
      return "Heatmap overlay (DICOM Secondary Capture)";
    case common::v1::EVIDENCE_KIND_SEGMENTATION:
      return "Region (DICOM Segmentation)";
    case common::v1::EVIDENCE_KIND_STRUCTURED_REPORT:
      return "Structured report (DICOM SR)";
    default:
      return "Evidence";
  }
}

// Observation `index`'s logical id: the one the caller chose, else derived
// from the report id and the finding id.
std::string ObservationId(const v1::PublishReportRequest& report, int index, const ReportIds& ids) {
  if (static_cast<size_t>(index) < ids.observations.size() && !ids.observations[index].empty()) {
    return ids.observations[index];
  }
  const std::string& finding_id = report.observations(index).finding().finding_id();
  return LogicalId("obs", report.report_id() + "/" + (finding_id.empty() ? std::to_string(index) : finding_id));
}

}  // namespace

Json BuildImagingStudy(const common::v1::StudyManifest& manifest, const std::string& id, const Settings& settings) {
  Json study{{"resourceType", "ImagingStudy"}, {"id", id}};
  Json identifiers = Json::array();
  if (!manifest.study_instance_uid().empty()) identifiers.push_back(DicomUidIdentifier(manifest.study_instance_uid()));
  if (!manifest.accession_number().empty()) {
    identifiers.push_back(Json{{"type", Concept(kV2_0203, "ACSN", "Accession ID")},
                               {"system", settings.accession_identifier_system},
                               {"value", manifest.accession_number()}});
  }
  if (!identifiers.empty()) study["identifier"] = identifiers;
  study["status"] = "available";

  Json modalities = Json::array();
  std::set<std::string> seen_modalities;
  for (const auto& s : manifest.series()) {
    if (!s.modality().empty() && seen_modalities.insert(s.modality()).second) {
      modalities.push_back(Coding(kDcm, s.modality(), ""));
    }
  }
  if (!modalities.empty()) study["modality"] = modalities;

  Json subject = PatientReference(manifest, settings);
  // ImagingStudy.subject is mandatory; a study without PatientID still gets one.
  study["subject"] = subject.is_null() ? Json{{"type", "Patient"}, {"display", "Patient ID not recorded in DICOM"}}
                                       : subject;
  SetIfNotEmpty(study, "started", StudyDateTime(manifest, settings));
  if (!manifest.referring_physician().empty()) {
    std::string name = manifest.referring_physician();
    for (char& c : name) {
      if (c == '^') c = ' ';
    }
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (!name.empty()) study["referrer"] = Json{{"type", "Practitioner"}, {"display", name}};
  }
  study["numberOfSeries"] = manifest.series_size();
  int instances = 0;
  for (const auto& s : manifest.series()) instances += s.instances_size();
  study["numberOfInstances"] = instances;
  SetIfNotEmpty(study, "description", manifest.study_description());

  Json series = Json::array();
  for (const auto& s : manifest.series()) {
    Json js{{"uid", s.series_instance_uid()}};
    if (s.series_number() > 0) js["number"] = s.series_number();
    js["modality"] = Coding(kDcm, s.modality().empty() ? "OT" : s.modality(), "");
    SetIfNotEmpty(js, "description", s.series_description());
    js["numberOfInstances"] = s.instances_size();
    if (!s.body_part_examined().empty()) {
      auto it = BodyPartCodes().find(s.body_part_examined());
      js["bodySite"] = it == BodyPartCodes().end() ? Json{{"display", s.body_part_examined()}}
                                                   : Coding(kSnomed, it->second.first, it->second.second);
    }
    Json laterality = SeriesLaterality(s.laterality());
    if (!laterality.is_null()) js["laterality"] = laterality;
    Json instances_json = Json::array();
    for (const auto& i : s.instances()) {
      Json ji{{"uid", i.sop_instance_uid()},
              {"sopClass", i.sop_class_uid().empty() ? Json{{"display", "SOP Class UID not recorded"}}
                                                     : Coding(kRfc3986, UrnOid(i.sop_class_uid()), "")}};
      if (i.instance_number() > 0) ji["number"] = i.instance_number();
      instances_json.push_back(ji);
    }
    if (!instances_json.empty()) js["instance"] = instances_json;
    series.push_back(js);
  }
  if (!series.empty()) study["series"] = series;
  return study;
}

Json BuildObservation(const v1::PublishReportRequest& report, int index, const ReportIds& ids,
                      const Settings& settings) {
  if (index < 0 || index >= report.observations_size()) return Json();
  const v1::ObservationInput& input = report.observations(index);
  const common::v1::Finding& f = input.finding();
  Json obs{{"resourceType", "Observation"}, {"id", ObservationId(report, index, ids)}};
  bool has_model = !f.model().model_id().empty() || !f.model().device_uid().empty();
  if (has_model) obs["contained"] = Json::array({ModelDevice(f.model(), settings)});
  if (!f.finding_id().empty()) {
    obs["identifier"] = Json::array({Json{{"system", settings.parallax_identifier_system}, {"value", f.finding_id()}}});
  }
  obs["status"] = ObservationStatus(report.status());
  obs["category"] = Json::array(
      {Concept("http://terminology.hl7.org/CodeSystem/observation-category", "imaging", "Imaging")});
  Json code = ConceptOf(f.code(), f.label());
  obs["code"] = code.is_null() ? Json{{"text", "AI finding"}} : code;
  Json subject = PatientReference(report.manifest(), settings);
  if (!subject.is_null()) obs["subject"] = subject;
  SetIfNotEmpty(obs, "effectiveDateTime", StudyDateTime(report.manifest(), settings));
  SetIfNotEmpty(obs, "issued", FhirInstant(report.issued()));
  obs["performer"] = Performers(input.performer_user_ids(), settings);
  obs["valueCodeableConcept"] =
      f.positive() ? Concept(kSnomed, "52101004", "Present") : Concept(kSnomed, "2667000", "Absent");
  obs["interpretation"] = Json::array(
      {f.positive() ? Concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "POS", "Positive")
                    : Concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "NEG", "Negative")});
  if (!input.note().empty()) obs["note"] = Json::array({Json{{"text", input.note()}}});
  Json site = ConceptOf(f.site(), f.zone());
  if (!site.is_null()) obs["bodySite"] = site;
  obs["method"] = Concept(kParallaxMethod, "ai-inference", "Artificial intelligence model inference",
                          "AI second opinion (machine learning model)");
  if (has_model) {
    std::string display = f.model().model_id();
    if (!f.model().model_version().empty()) display += (display.empty() ? "" : " ") + f.model().model_version();
    obs["device"] = Json{{"reference", "#model"}};
    SetIfNotEmpty(obs["device"], "display", display);
  }
  std::string study_uid = StudyUid(report);
  Json derived = Json::array();
  if (!study_uid.empty() || !ids.imaging_study.empty()) derived.push_back(ImagingStudyReference(study_uid, ids));
  // The prior study the change was measured against, by its UID.
  if (Json prior = PriorStudyReference(f);
      !prior.is_null() && f.prior_comparison().prior_study_instance_uid() != study_uid) {
    derived.push_back(std::move(prior));
  }
  if (!derived.empty()) obs["derivedFrom"] = derived;
  Json components = Components(f);
  if (!components.empty()) obs["component"] = components;
  return obs;
}

Json BuildDiagnosticReport(const v1::PublishReportRequest& report, const ReportIds& ids, const Settings& settings) {
  Json dr{{"resourceType", "DiagnosticReport"}, {"id", ids.diagnostic_report}};
  Json identifiers = Json::array();
  if (!report.report_id().empty()) {
    identifiers.push_back(
        Json{{"use", "official"}, {"system", settings.parallax_identifier_system}, {"value", report.report_id()}});
  }
  // The DICOM SR sent to the PACS is the same report in DICOM.
  if (!report.sr_sop_instance_uid().empty()) {
    Json sr = DicomUidIdentifier(report.sr_sop_instance_uid());
    sr["use"] = "secondary";
    sr["type"] = Json{{"text", "DICOM SR SOP Instance UID"}};
    identifiers.push_back(sr);
  }
  if (!identifiers.empty()) dr["identifier"] = identifiers;
  if (!report.manifest().accession_number().empty()) {
    Json accession{{"type", Concept(kV2_0203, "ACSN", "Accession ID")},
                   {"system", settings.accession_identifier_system},
                   {"value", report.manifest().accession_number()}};
    dr["basedOn"] = Json::array({Json{{"type", "ServiceRequest"}, {"identifier", accession}}});
  }
  dr["status"] = ObservationStatus(report.status());
  dr["category"] = Json::array({Concept(kV2_0074, "RAD", "Radiology")});
  dr["code"] = Concept(kLoinc, "18748-4", "Diagnostic imaging study", "AI second opinion");
  Json subject = PatientReference(report.manifest(), settings);
  if (!subject.is_null()) dr["subject"] = subject;
  SetIfNotEmpty(dr, "effectiveDateTime", StudyDateTime(report.manifest(), settings));
  SetIfNotEmpty(dr, "issued", FhirInstant(report.issued()));
  dr["performer"] = Json::array({OrganisationReference(settings)});
  Json interpreters = Json::array();
  for (const std::string& user : report.results_interpreter_user_ids()) {
    if (!user.empty()) interpreters.push_back(UserReference(user, settings));
  }
  if (!interpreters.empty()) dr["resultsInterpreter"] = interpreters;

  Json results = Json::array();
  for (int i = 0; i < report.observations_size(); ++i) {
    results.push_back(LiteralReference("Observation", ObservationId(report, i, ids)));
  }
  if (!results.empty()) dr["result"] = results;
  std::string study_uid = StudyUid(report);
  Json studies = Json::array();
  if (!study_uid.empty() || !ids.imaging_study.empty()) studies.push_back(ImagingStudyReference(study_uid, ids));
  // Then each prior study a finding was compared with (once each).
  std::set<std::string> priors;
  for (const auto& input : report.observations()) {
    Json prior = PriorStudyReference(input.finding());
    const std::string& uid = input.finding().prior_comparison().prior_study_instance_uid();
    if (!prior.is_null() && uid != study_uid && priors.insert(uid).second) studies.push_back(std::move(prior));
  }
  if (!studies.empty()) dr["imagingStudy"] = studies;
  SetIfNotEmpty(dr, "conclusion", report.conclusion());
  Json conclusion_codes = Json::array();
  for (const auto& c : report.conclusion_codes()) {
    Json coded = ConceptOf(c);
    if (!coded.is_null()) conclusion_codes.push_back(coded);
  }
  if (!conclusion_codes.empty()) dr["conclusionCode"] = conclusion_codes;

  // Visual evidence: heatmap PNGs by their http(s) URL; DICOM evidence by its
  // WADO-RS URL when a DICOMweb base is configured.
  Json forms = Json::array();
  std::set<std::string> urls;
  for (const auto& input : report.observations()) {
    const common::v1::Finding& f = input.finding();
    std::string label = f.code().display().empty() ? f.label() : f.code().display();
    for (const auto& e : f.evidence()) {
      std::string url;
      std::string content_type;
      static constexpr std::string_view kTriageEvidence = "parallax:triage/evidence/";
      if (e.kind() == common::v1::EVIDENCE_KIND_HEATMAP_PNG && IsHttpUrl(e.uri())) {
        url = e.uri();
        content_type = "image/png";
      } else if (e.kind() == common::v1::EVIDENCE_KIND_HEATMAP_PNG && !settings.evidence_base_url.empty() &&
                 e.uri().rfind(kTriageEvidence, 0) == 0 && e.uri().size() > kTriageEvidence.size()) {
        std::string base = settings.evidence_base_url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        url = base + "/" + e.uri().substr(kTriageEvidence.size()) + ".png";
        content_type = "image/png";
      } else if (e.kind() != common::v1::EVIDENCE_KIND_HEATMAP_PNG && !settings.dicomweb_base_url.empty() &&
                 !study_uid.empty() && !e.series_instance_uid().empty() && !e.sop_instance_uid().empty()) {
        url = WadoRsUrl(settings, study_uid, e.series_instance_uid(), e.sop_instance_uid());
        content_type = "application/dicom";
      }
      if (url.empty() || !urls.insert(url).second) continue;
      std::string title = EvidenceTitle(e.kind());
      if (!label.empty()) title += ": " + label;
      Json attachment{{"contentType", content_type}, {"url", url}, {"title", title}};
      SetIfNotEmpty(attachment, "creation", FhirInstant(report.issued()));
      forms.push_back(attachment);
    }
  }
  if (!forms.empty()) dr["presentedForm"] = forms;
  return dr;
}

}  // namespace parallax::fhir
