#include "fhir_common.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <ctime>
#include <string>

#include "parallax/comparison/change_words.h"
#include "parallax/crypto/sha256.h"

namespace parallax::fhir {

namespace {

bool IsIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return !s.empty();
}

}  // namespace

std::string LogicalId(std::string_view prefix, std::string_view key) {
  // The prefix is ours (e.g. "report", "obs"): keep it within the id
  // alphabet and short enough that prefix + '-' + 40 hex digits fits 64.
  std::string clean;
  for (char c : prefix) {
    if (clean.size() == 23) break;
    clean.push_back(IsIdChar(c) ? c : '-');
  }
  std::string digest = crypto::Sha256Hex(key).substr(0, 40);
  return clean.empty() ? digest : clean + "-" + digest;
}

bool IsValidFhirId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

std::string FhirInstant(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "";
  // Years 1..9999 (FHIR instants have four-digit years).
  constexpr int64_t kMin = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
  if (timestamp.seconds() < kMin || timestamp.seconds() > kMax) return "";
  std::time_t t = static_cast<std::time_t>(timestamp.seconds());
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "";
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buffer;
  // strftime may print years below 1000 without padding.
  if (tm.tm_year + 1900 < 1000) {
    char year[16];
    std::snprintf(year, sizeof year, "%04d", tm.tm_year + 1900);
    out = std::string(year) + out.substr(out.find('-'));
  }
  int nanos = timestamp.nanos();
  if (nanos > 0 && nanos < 1000000000) {
    char millis[8];
    std::snprintf(millis, sizeof millis, ".%03d", nanos / 1000000);
    out += millis;
  }
  return out + "Z";
}

namespace internal {

Json Coding(std::string_view system, std::string_view code, std::string_view display) {
  Json c = Json::object();
  SetIfNotEmpty(c, "system", system);
  SetIfNotEmpty(c, "code", code);
  SetIfNotEmpty(c, "display", display);
  return c;
}

Json Concept(std::string_view system, std::string_view code, std::string_view display, std::string_view text) {
  Json c = Json::object();
  Json coding = Coding(system, code, display);
  if (!coding.empty()) c["coding"] = Json::array({coding});
  SetIfNotEmpty(c, "text", text);
  return c;
}

Json ConceptOf(const common::v1::ClinicalCode& code, std::string_view text) {
  Json c = Json::object();
  if (!code.code().empty()) c["coding"] = Json::array({Coding(code.system(), code.code(), code.display())});
  if (!text.empty()) {
    c["text"] = std::string(text);
  } else if (code.code().empty() && !code.display().empty()) {
    c["text"] = code.display();
  }
  return c.empty() ? Json() : c;
}

std::string UrnOid(std::string_view uid) { return "urn:oid:" + std::string(uid); }

Json DicomUidIdentifier(std::string_view uid) {
  return Json{{"system", kDicomUidSystem}, {"value", UrnOid(uid)}};
}

Json IdentifierReference(std::string_view type, std::string_view system, std::string_view value,
                         std::string_view display) {
  Json identifier = Json::object();
  SetIfNotEmpty(identifier, "system", system);
  SetIfNotEmpty(identifier, "value", value);
  Json ref = Json::object();
  SetIfNotEmpty(ref, "type", type);
  if (!identifier.empty()) ref["identifier"] = identifier;
  SetIfNotEmpty(ref, "display", display);
  return ref;
}

Json PatientReference(const common::v1::StudyManifest& manifest, const Settings& settings) {
  if (manifest.patient_id().empty()) return Json();
  Json identifier{{"system", settings.patient_identifier_system}, {"value", manifest.patient_id()}};
  // DICOM PatientID is unique only within its issuer (0010,0021).
  if (!manifest.issuer_of_patient_id().empty()) {
    identifier["assigner"] = Json{{"display", manifest.issuer_of_patient_id()}};
  }
  identifier["type"] = Concept(kV2_0203, "MR", "Medical record number");
  return Json{{"type", "Patient"}, {"identifier", identifier}};
}

Json UserReference(std::string_view user_id, const Settings& settings) {
  return IdentifierReference("Practitioner", settings.user_identifier_system, user_id);
}

Json LiteralReference(std::string_view type, std::string_view id) {
  return Json{{"reference", std::string(type) + "/" + std::string(id)}};
}

std::string StudyDateTime(const common::v1::StudyManifest& manifest, const Settings& settings) {
  const std::string& da = manifest.study_date();
  if (da.size() != 8 || !AllDigits(da)) return "";
  int year = std::stoi(da.substr(0, 4));
  int month = std::stoi(da.substr(4, 2));
  int day = std::stoi(da.substr(6, 2));
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > kDays[month - 1]) return "";
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return "";
  std::string out = da.substr(0, 4) + "-" + da.substr(4, 2) + "-" + da.substr(6, 2);

  const std::string& offset = settings.dicom_timezone_offset;
  bool offset_ok = offset == "Z" || (offset.size() == 6 && (offset[0] == '+' || offset[0] == '-') &&
                                     AllDigits(offset.substr(1, 2)) && offset[3] == ':' &&
                                     AllDigits(offset.substr(4, 2)));
  if (!offset_ok) return out;
  // DICOM TM: HH[MM[SS[.F{1,6}]]], possibly with the old HH:MM:SS form.
  std::string tm;
  for (char c : manifest.study_time()) {
    if (c != ':' && c != ' ') tm.push_back(c);
  }
  std::string whole = tm.substr(0, tm.find('.'));
  std::string fraction = tm.find('.') == std::string::npos ? "" : tm.substr(tm.find('.') + 1);
  if (whole.size() < 4 || whole.size() > 6 || whole.size() == 5 || !AllDigits(whole)) return out;
  if (!fraction.empty() && !AllDigits(fraction)) fraction.clear();
  std::string hh = whole.substr(0, 2);
  std::string mm = whole.substr(2, 2);
  std::string ss = whole.size() == 6 ? whole.substr(4, 2) : "00";
  if (std::stoi(hh) > 23 || std::stoi(mm) > 59 || std::stoi(ss) > 59) return out;
  out += "T" + hh + ":" + mm + ":" + ss;
  if (!fraction.empty() && whole.size() == 6) out += "." + fraction;
  return out + offset;
}

std::optional<double> Rounded(double value, int decimals) {
  if (!std::isfinite(value)) return std::nullopt;
  double scale = std::pow(10.0, decimals);
  double r = std::round(value * scale) / scale;
  return r == 0.0 ? 0.0 : r;  // no "-0"
}

Json UcumQuantity(double value, std::string_view ucum) {
  return Json{{"value", value}, {"unit", std::string(ucum)}, {"system", kUcum}, {"code", std::string(ucum)}};
}

void SetIfNotEmpty(Json& object, const char* key, std::string_view value) {
  if (!value.empty()) object[key] = std::string(value);
}

Json LateralityConcept(common::v1::Laterality laterality) {
  using common::v1::Laterality;
  switch (laterality) {
    case Laterality::LATERALITY_LEFT:
      return Concept(kSnomed, "7771000", "Left");
    case Laterality::LATERALITY_RIGHT:
      return Concept(kSnomed, "24028007", "Right");
    case Laterality::LATERALITY_BILATERAL:
      return Concept(kSnomed, "51440002", "Bilateral");
    case Laterality::LATERALITY_MIDLINE:
      return Json{{"text", "Midline"}};
    default:
      return Json();
  }
}

namespace {

struct ChangeTerm {
  const char* code;     // kParallaxChange code
  const char* display;  // the code's display
  const char* word;     // in running text
};

std::optional<ChangeTerm> ChangeTermOf(common::v1::ChangeClass change) {
  switch (change) {
    case common::v1::CHANGE_CLASS_NO_PRIOR: return ChangeTerm{"no-prior", "No prior study available", "no prior"};
    case common::v1::CHANGE_CLASS_NEW: return ChangeTerm{"new", "New since the prior study", "new"};
    case common::v1::CHANGE_CLASS_LARGER: return ChangeTerm{"larger", "Larger than at the prior study", "larger"};
    case common::v1::CHANGE_CLASS_STABLE: return ChangeTerm{"stable", "Stable since the prior study", "stable"};
    case common::v1::CHANGE_CLASS_SMALLER: return ChangeTerm{"smaller", "Smaller than at the prior study", "smaller"};
    case common::v1::CHANGE_CLASS_RESOLVED: return ChangeTerm{"resolved", "Resolved since the prior study", "resolved"};
    default: return std::nullopt;
  }
}


}  // namespace

std::string FhirDateOfDicomDate(std::string_view d) {
  if (d.size() != 8) return "";
  for (char c : d) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return "";
  }
  const int month = (d[4] - '0') * 10 + (d[5] - '0');
  const int day = (d[6] - '0') * 10 + (d[7] - '0');
  if (month < 1 || month > 12 || day < 1 || day > 31) return "";
  return std::string(d.substr(0, 4)) + "-" + std::string(d.substr(4, 2)) + "-" + std::string(d.substr(6, 2));
}

std::string ChangeSincePriorText(const common::v1::PriorComparison& c) {
  return comparison::ChangeSincePriorText(c);
}

Json ChangeConcept(const common::v1::PriorComparison& c) {
  const std::optional<ChangeTerm> term = ChangeTermOf(c.change());
  if (!term) return Json();
  return Concept(kParallaxChange, term->code, term->display, ChangeSincePriorText(c));
}

}  // namespace internal
}  // namespace parallax::fhir
