#include "parallax/dicom/sr_writer.h"

#include "dataset_copy.h"
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
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

// --- Small helpers (the same conventions as evidence_writer.cc).

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).good()) return std::string(value.c_str());
  return {};
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string TruncateUtf8(std::string_view s, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (chars == max_chars) return std::string(s.substr(0, i));
      ++chars;
    }
  }
  return std::string(s);
}

// A decimal string that fits VR DS (16 bytes).
std::string DecimalDs(double v) {
  for (int precision = 10; precision >= 1; --precision) {
    char text[40];
    std::snprintf(text, sizeof text, "%.*g", precision, v);
    if (std::string_view(text).size() <= 16) return text;
  }
  return "0";
}

bool Digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
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

// YYYYMMDD[HH[MM[SS[.FFFFFF]]]] without a UTC offset.
bool ValidDateTime(std::string_view dt) {
  if (dt.size() < 8 || !ValidDate(dt.substr(0, 8))) return false;
  return dt.size() == 8 || ValidTime(dt.substr(8));
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

// --- Codes used in the content tree (PS3.16).

DSRCodedEntryValue Code(const char* value, const char* scheme, const char* meaning) {
  return DSRCodedEntryValue(value, scheme, meaning);
}
DSRCodedEntryValue Code(const SrCode& c) { return DSRCodedEntryValue(c.value, c.scheme, c.meaning); }

const SrCode kDefaultProcedure{"SCT", "363679005", "Imaging procedure"};

DSRCodedEntryValue LateralityCode(SrLaterality l) {
  switch (l) {
    case SrLaterality::kLeft:
      return Code("7771000", "SCT", "Left");
    case SrLaterality::kRight:
      return Code("24028007", "SCT", "Right");
    case SrLaterality::kBilateral:
      return Code("51440002", "SCT", "Right and left");
    case SrLaterality::kNone:
      break;
  }
  return DSRCodedEntryValue();
}

// The change since the prior study: Parallax's private codes (sr_writer.h).
DSRCodedEntryValue ParallaxCode(const char* value, const char* meaning) {
  return DSRCodedEntryValue(value, kParallaxCodingScheme, meaning);
}

DSRCodedEntryValue ChangeCode(SrChange c) {
  switch (c) {
    case SrChange::kNoPrior:
      return ParallaxCode("NO-PRIOR", "No prior study available");
    case SrChange::kNew:
      return ParallaxCode("NEW", "New since prior study");
    case SrChange::kLarger:
      return ParallaxCode("LARGER", "Larger than at prior study");
    case SrChange::kStable:
      return ParallaxCode("STABLE", "Stable since prior study");
    case SrChange::kSmaller:
      return ParallaxCode("SMALLER", "Smaller than at prior study");
    case SrChange::kResolved:
      return ParallaxCode("RESOLVED", "Resolved since prior study");
    case SrChange::kNotCompared:
      break;
  }
  return DSRCodedEntryValue();
}

bool AgainstPrior(SrChange c) { return c != SrChange::kNotCompared && c != SrChange::kNoPrior; }

DSRCodedEntryValue SizeUnit(const std::string& unit) {
  return unit == "cm2" ? Code("cm2", "UCUM", "square centimeter") : Code("ml", "UCUM", "milliliter");
}

// Builds the content tree: each Add puts a new content item below `parent`
// (after its last child) and leaves the cursor on it, so the caller sets its
// value next. The first DCMTK refusal is kept.
class TreeBuilder {
 public:
  explicit TreeBuilder(DSRDocumentTree& tree) : tree_(tree) {}

  size_t Root(const DSRCodedEntryValue& title) {
    const size_t id = tree_.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container);
    if (id == 0) return Fail("cannot create the root container");
    Note(tree_.getCurrentContentItem().setConceptName(title), "document title");
    Note(tree_.getCurrentContentItem().setContinuityOfContent(DSRTypes::COC_Separate), "continuity");
    return id;
  }

  size_t Add(size_t parent, DSRTypes::E_RelationshipType relationship, DSRTypes::E_ValueType type,
             const DSRCodedEntryValue& name, const char* what) {
    if (!ok_) return 0;
    if (tree_.gotoNode(parent) == 0) return Fail(std::string("lost the parent of ") + what);
    const size_t id = tree_.addContentItem(relationship, type, DSRTypes::AM_belowCurrent);
    if (id == 0) return Fail(std::string("DCMTK refused the content item ") + what);
    if (!name.isEmpty()) Note(tree_.getCurrentContentItem().setConceptName(name), what);
    if (type == DSRTypes::VT_Container) {
      Note(tree_.getCurrentContentItem().setContinuityOfContent(DSRTypes::COC_Separate), what);
    }
    return id;
  }

  void Text(size_t parent, DSRTypes::E_RelationshipType rel, const DSRCodedEntryValue& name,
            const std::string& value, const char* what) {
    if (Add(parent, rel, DSRTypes::VT_Text, name, what) == 0) return;
    Note(tree_.getCurrentContentItem().setStringValue(value), what);
  }
  void Uid(size_t parent, DSRTypes::E_RelationshipType rel, const DSRCodedEntryValue& name,
           const std::string& value, const char* what) {
    if (Add(parent, rel, DSRTypes::VT_UIDRef, name, what) == 0) return;
    Note(tree_.getCurrentContentItem().setStringValue(value), what);
  }
  void Date(size_t parent, DSRTypes::E_RelationshipType rel, const DSRCodedEntryValue& name,
            const std::string& value, const char* what) {
    if (Add(parent, rel, DSRTypes::VT_Date, name, what) == 0) return;
    Note(tree_.getCurrentContentItem().setStringValue(value), what);
  }
  size_t CodeItem(size_t parent, DSRTypes::E_RelationshipType rel, const DSRCodedEntryValue& name,
                  const DSRCodedEntryValue& value, const char* what) {
    const size_t id = Add(parent, rel, DSRTypes::VT_Code, name, what);
    if (id == 0) return 0;
    Note(tree_.getCurrentContentItem().setCodeValue(value), what);
    return id;
  }
  size_t Num(size_t parent, const DSRCodedEntryValue& name, double value, const DSRCodedEntryValue& unit,
             const char* what, DSRTypes::E_RelationshipType rel = DSRTypes::RT_contains) {
    const size_t id = Add(parent, rel, DSRTypes::VT_Num, name, what);
    if (id == 0) return 0;
    Note(tree_.getCurrentContentItem().setNumericValue(DSRNumericMeasurementValue(DecimalDs(value), unit)), what);
    return id;
  }
  void Image(size_t parent, DSRTypes::E_RelationshipType rel, const DSRCodedEntryValue& name,
             const SrInstanceReference& ref, const char* what) {
    if (Add(parent, rel, DSRTypes::VT_Image, name, what) == 0) return;
    Note(tree_.getCurrentContentItem().setImageReference(
             DSRImageReferenceValue(ref.sop_class_uid, ref.sop_instance_uid)),
         what);
  }

  void Note(const OFCondition& cond, const std::string& what) {
    if (cond.bad() && ok_) {
      ok_ = false;
      error_ = what + ": " + cond.text();
    }
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  size_t Fail(const std::string& message) {
    if (ok_) {
      ok_ = false;
      error_ = message;
    }
    return 0;
  }

  DSRDocumentTree& tree_;
  bool ok_ = true;
  std::string error_;
};

std::string CompletionName(ReportCompletion c) {
  switch (c) {
    case ReportCompletion::kPreliminary:
      return "preliminary";
    case ReportCompletion::kFinal:
      return "final";
    case ReportCompletion::kAmended:
      return "amended";
  }
  return "unknown";
}

absl::Status ValidateReference(const SrInstanceReference& ref, bool series_required, const std::string& what) {
  if (!IsValidUid(ref.sop_class_uid)) return absl::InvalidArgumentError(what + " has no valid SOP Class UID");
  if (!IsValidUid(ref.sop_instance_uid)) return absl::InvalidArgumentError(what + " has no valid SOP Instance UID");
  if (series_required || !ref.series_instance_uid.empty()) {
    if (!IsValidUid(ref.series_instance_uid)) {
      return absl::InvalidArgumentError(what + " has no valid Series Instance UID");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateInput(const MeasurementReportInput& r) {
  auto bad = [](const std::string& m) { return absl::InvalidArgumentError(m); };
  if (r.report_key.empty()) return bad("the report key is empty");
  if (r.revision < 0 || r.series_number < 0 || r.instance_number < 0) {
    return bad("revision, series and instance numbers must not be negative");
  }
  if (!IsValidUid(r.model_device_uid)) return bad("the model's device UID is missing or malformed");
  if (r.model_id.empty()) return bad("the model id is empty");
  if (!r.content_date.empty() && !ValidDate(r.content_date)) return bad("content date is not YYYYMMDD");
  if (!r.content_time.empty() && !ValidTime(r.content_time)) return bad("content time is not HHMMSS[.FFFFFF]");
  if (r.completion != ReportCompletion::kPreliminary) {
    if (r.verifying_observer_name.empty() || r.verifying_organization.empty()) {
      return bad("a " + CompletionName(r.completion) +
                 " report needs the verifying observer's name and organisation");
    }
    if (!r.verification_datetime.empty() && !ValidDateTime(r.verification_datetime)) {
      return bad("verification date and time is not YYYYMMDD[HHMMSS[.FFFFFF]]");
    }
  }
  const bool any_predecessor = !r.predecessor_sop_instance_uid.empty() || !r.predecessor_series_instance_uid.empty();
  if (any_predecessor) {
    if (!IsValidUid(r.predecessor_sop_instance_uid) || !IsValidUid(r.predecessor_series_instance_uid) ||
        !IsValidUid(r.predecessor_sop_class_uid)) {
      return bad("the predecessor report's UIDs are incomplete or malformed");
    }
  }
  if (!r.procedure.empty() && (r.procedure.scheme.empty() || r.procedure.meaning.empty())) {
    return bad("the procedure code needs a scheme and a meaning");
  }
  if (r.findings.empty()) return bad("the report has no finding");
  for (size_t i = 0; i < r.findings.size(); ++i) {
    const SrFinding& f = r.findings[i];
    const std::string which = "finding " + std::to_string(i + 1);
    if (f.finding_id.empty()) return bad(which + " has no id");
    if (f.code.value.empty() || f.code.scheme.empty() || f.code.meaning.empty()) {
      return bad(which + " has no complete code (scheme, value, meaning)");
    }
    if (!f.site.empty() && (f.site.scheme.empty() || f.site.meaning.empty())) {
      return bad(which + " has an incomplete finding site code");
    }
    if (!(f.probability >= 0.0 && f.probability <= 1.0)) return bad(which + " has a probability outside 0..1");
    if (f.area_cm2 && !(*f.area_cm2 >= 0.0 && std::isfinite(*f.area_cm2))) return bad(which + " has a negative area");
    if (f.volume_ml && !(*f.volume_ml >= 0.0 && std::isfinite(*f.volume_ml))) {
      return bad(which + " has a negative volume");
    }
    if (f.source_images.empty()) return bad(which + " references no source image");
    for (const auto& ref : f.source_images) {
      if (absl::Status s = ValidateReference(ref, false, which + "'s source image"); !s.ok()) return s;
    }
    for (const auto& ref : f.evidence) {
      if (absl::Status s = ValidateReference(ref, true, which + "'s evidence"); !s.ok()) return s;
    }
    const SrPriorComparison& c = f.prior_comparison;
    if (AgainstPrior(c.change)) {
      if (!IsValidUid(c.prior_study_instance_uid)) {
        return bad(which + "'s comparison has no valid prior Study Instance UID");
      }
      if (!c.prior_study_date.empty() && !ValidDate(c.prior_study_date)) {
        return bad(which + "'s prior study date is not YYYYMMDD");
      }
      for (const auto& ref : c.prior_images) {
        if (absl::Status s = ValidateReference(ref, true, which + "'s prior image"); !s.ok()) return s;
      }
    }
    if (c.change != SrChange::kNotCompared) {
      for (const std::optional<double>& size : {c.prior_size, c.current_size}) {
        if (size && !(*size >= 0.0 && std::isfinite(*size))) return bad(which + "'s comparison has a negative size");
      }
      if ((c.prior_size || c.current_size) && c.unit != "mL" && c.unit != "cm2") {
        return bad(which + "'s comparison sizes need the unit mL or cm2");
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MeasurementReport> Write(const MeasurementReportInput& r) {
  if (absl::Status s = ValidateInput(r); !s.ok()) return s;

  // --- Parse the source.
  DcmFileFormat source_file;
  if (absl::Status parsed = ParsePart10(r.source_instance_part10, source_file); !parsed.ok()) return parsed;
  DcmDataset& s = *source_file.getDataset();
  const std::string study_uid = GetString(s, DCM_StudyInstanceUID);
  const std::string source_series = GetString(s, DCM_SeriesInstanceUID);
  if (!IsValidUid(study_uid)) return absl::InvalidArgumentError("source has no valid StudyInstanceUID (0020,000D)");
  if (!IsValidUid(source_series)) {
    return absl::InvalidArgumentError("source has no valid SeriesInstanceUID (0020,000E)");
  }
  if (!IsValidUid(GetString(s, DCM_SOPClassUID)) || !IsValidUid(GetString(s, DCM_SOPInstanceUID))) {
    return absl::InvalidArgumentError("source has no valid SOPClassUID or SOPInstanceUID");
  }

  for (const SrFinding& f : r.findings) {
    if (AgainstPrior(f.prior_comparison.change) && f.prior_comparison.prior_study_instance_uid == study_uid) {
      return absl::InvalidArgumentError("finding " + f.finding_id +
                                        "'s prior study is the report's own study: compare with an earlier one");
    }
  }

  // --- Identity.
  MeasurementReport out;
  out.sop_class_uid = kComprehensive3DSrStorage;
  out.study_instance_uid = study_uid;
  out.series_instance_uid = NameBasedUid("parallax/sr/series|" + study_uid + "|" + r.report_key);
  out.sop_instance_uid = NameBasedUid("parallax/sr/instance|" + study_uid + "|" + r.report_key + "|" +
                                      CompletionName(r.completion) + "|" + std::to_string(r.revision));
  if (out.series_instance_uid == source_series) {
    return absl::InvalidArgumentError("the report must not reuse the source's series UID");
  }
  std::string content_date = r.content_date;
  std::string content_time = r.content_time;
  if (content_date.empty() || content_time.empty()) {
    auto [date, time] = NowDateTime();
    if (content_date.empty()) content_date = date;
    if (content_time.empty()) content_time = time;
  }

  const std::string model_id = TruncateUtf8(r.model_id, 64);
  const std::string model_version = TruncateUtf8(r.model_version, 64);
  const std::string series_description = TruncateUtf8(r.series_description, 64);

  // Parallax's own text: is it all ASCII?
  bool own_ascii = IsAscii(model_id) && IsAscii(model_version) && IsAscii(series_description) &&
                   IsAscii(r.verifying_observer_name) && IsAscii(r.verifying_organization) &&
                   IsAscii(r.procedure.meaning) && IsAscii(r.report_key);
  for (const SrFinding& f : r.findings) {
    own_ascii = own_ascii && IsAscii(f.code.meaning) && IsAscii(f.site.meaning) && IsAscii(f.subtype) &&
                IsAscii(f.finding_id);
  }
  const std::string source_charset = GetString(s, DCM_SpecificCharacterSet);
  const bool to_utf8 = !own_ascii && source_charset != "ISO_IR 192";

  // --- The document and its content tree.
  DSRDocument doc(DSRTypes::DT_Comprehensive3DSR);
  TreeBuilder b(doc.getTree());
  using T = DSRTypes;

  const size_t root = b.Root(Code("126000", "DCM", "Imaging Measurement Report"));
  b.Note(doc.getTree().setTemplateIdentification("1500", "DCMR"), "template identification");
  // TID 1204: language of the content.
  b.CodeItem(root, T::RT_hasConceptMod, Code("121049", "DCM", "Language of Content Item and Descendants"),
             Code("en-US", "RFC5646", "English (United States)"), "language");
  // TID 1001 / 1004: the device observer is the model.
  b.CodeItem(root, T::RT_hasObsContext, Code("121005", "DCM", "Observer Type"), Code("121007", "DCM", "Device"),
             "observer type");
  b.Uid(root, T::RT_hasObsContext, Code("121012", "DCM", "Device Observer UID"), r.model_device_uid,
        "device observer UID");
  b.Text(root, T::RT_hasObsContext, Code("121013", "DCM", "Device Observer Name"), model_id, "device observer name");
  b.Text(root, T::RT_hasObsContext, Code("121014", "DCM", "Device Observer Manufacturer"), "Parallax",
         "device observer manufacturer");
  b.Text(root, T::RT_hasObsContext, Code("121015", "DCM", "Device Observer Model Name"), model_id,
         "device observer model name");
  // Procedure reported.
  b.CodeItem(root, T::RT_hasConceptMod, Code("121058", "DCM", "Procedure reported"),
             Code(r.procedure.empty() ? kDefaultProcedure : r.procedure), "procedure reported");

  // TID 1600: every source image once.
  std::vector<SrInstanceReference> source_images;
  for (const SrFinding& f : r.findings) {
    for (SrInstanceReference ref : f.source_images) {
      if (ref.series_instance_uid.empty()) ref.series_instance_uid = source_series;
      const bool seen = std::any_of(source_images.begin(), source_images.end(), [&](const SrInstanceReference& x) {
        return x.sop_instance_uid == ref.sop_instance_uid;
      });
      if (!seen) source_images.push_back(ref);
    }
  }
  const size_t library = b.Add(root, T::RT_contains, T::VT_Container, Code("111028", "DCM", "Image Library"),
                               "image library");
  const size_t library_group = b.Add(library, T::RT_contains, T::VT_Container,
                                     Code("126200", "DCM", "Image Library Group"), "image library group");
  for (const SrInstanceReference& ref : source_images) {
    b.Image(library_group, T::RT_contains, DSRCodedEntryValue(), ref, "image library entry");
  }

  // Imaging measurements: one TID 1501 group per finding.
  const size_t measurements = b.Add(root, T::RT_contains, T::VT_Container,
                                    Code("126010", "DCM", "Imaging Measurements"), "imaging measurements");
  for (const SrFinding& f : r.findings) {
    const std::string tracking_uid = NameBasedUid("parallax/sr/tracking|" + f.finding_id);
    out.tracking_uids.push_back(tracking_uid);
    const size_t group = b.Add(measurements, T::RT_contains, T::VT_Container,
                               Code("125007", "DCM", "Measurement Group"), "measurement group");
    b.Text(group, T::RT_hasObsContext, Code("112039", "DCM", "Tracking Identifier"), f.finding_id,
           "tracking identifier");
    b.Uid(group, T::RT_hasObsContext, Code("112040", "DCM", "Tracking Unique Identifier"), tracking_uid,
          "tracking UID");
    const size_t finding =
        b.CodeItem(group, T::RT_contains, Code("121071", "DCM", "Finding"), Code(f.code), "finding");
    if (f.site.empty() && f.laterality != SrLaterality::kNone) {
      // No site to qualify: the side qualifies the finding itself (TID 1501
      // is extensible; CODE HAS CONCEPT MOD CODE is a permitted relationship).
      b.CodeItem(finding, T::RT_hasConceptMod, Code("272741003", "SCT", "Laterality"), LateralityCode(f.laterality),
                 "laterality");
    }
    if (!f.site.empty()) {
      const size_t site =
          b.CodeItem(group, T::RT_hasConceptMod, Code("363698007", "SCT", "Finding Site"), Code(f.site), "finding site");
      if (f.laterality != SrLaterality::kNone) {
        b.CodeItem(site, T::RT_hasConceptMod, Code("272741003", "SCT", "Laterality"), LateralityCode(f.laterality),
                   "laterality");
      }
    }
    // TID 4019: which algorithm.
    b.Text(group, T::RT_hasConceptMod, Code("111001", "DCM", "Algorithm Name"), model_id, "algorithm name");
    b.Text(group, T::RT_hasConceptMod, Code("111003", "DCM", "Algorithm Version"),
           model_version.empty() ? std::string("unknown") : model_version, "algorithm version");
    // TID 300 measurements, each inferred from the source images.
    auto measurement = [&](const DSRCodedEntryValue& name, double value, const DSRCodedEntryValue& unit,
                           const char* what) {
      const size_t num = b.Num(group, name, value, unit, what);
      for (SrInstanceReference ref : f.source_images) {
        b.Image(num, T::RT_inferredFrom, Code("121112", "DCM", "Source of Measurement"), ref, "source of measurement");
      }
    };
    measurement(Code("122157", "DCM", "Probability"), f.probability, Code("1", "UCUM", "no units"), "probability");
    if (f.area_cm2) measurement(Code("42798000", "SCT", "Area"), *f.area_cm2, Code("cm2", "UCUM", "square centimeter"), "area");
    if (f.volume_ml) {
      measurement(Code("118565006", "SCT", "Volume"), *f.volume_ml, Code("ml", "UCUM", "milliliter"), "volume");
    }
    // Qualitative evaluation: present or absent.
    b.CodeItem(group, T::RT_contains, Code("705057003", "SCT", "Presence"),
               f.present ? Code("52101004", "SCT", "Present") : Code("2667000", "SCT", "Absent"), "presence");
    if (!f.subtype.empty()) {
      b.Text(group, T::RT_contains, Code("121106", "DCM", "Comment"), "Subtype: " + f.subtype, "subtype");
    }
    if (const SrPriorComparison& c = f.prior_comparison; c.change != SrChange::kNotCompared) {
      const size_t change = b.CodeItem(group, T::RT_contains, ParallaxCode("CHANGE", "Change since prior study"),
                                       ChangeCode(c.change), "change since prior");
      if (AgainstPrior(c.change)) {
        b.Uid(change, T::RT_hasProperties, Code("110180", "DCM", "Study Instance UID"), c.prior_study_instance_uid,
              "prior study UID");
        if (!c.prior_study_date.empty()) {
          b.Date(change, T::RT_hasProperties, Code("111060", "DCM", "Study Date"), c.prior_study_date,
                 "prior study date");
        }
        if (c.interval_days >= 0) {
          b.Num(change, ParallaxCode("INTERVAL", "Interval since prior study"), c.interval_days,
                Code("d", "UCUM", "day"), "interval since prior", T::RT_hasProperties);
        }
        if (c.prior_size) {
          b.Num(change, ParallaxCode("PRIOR-SIZE", "Size at prior study"), *c.prior_size, SizeUnit(c.unit),
                "size at prior", T::RT_hasProperties);
        }
      }
      if (!c.comment.empty()) {
        b.Text(group, T::RT_contains, Code("121106", "DCM", "Comment"), "Change since prior: " + c.comment,
               "change comment");
      }
    }
    for (const SrInstanceReference& ref : f.evidence) {
      b.Image(group, T::RT_contains, Code("121080", "DCM", "Best illustration of finding"), ref, "evidence");
    }
  }
  if (!b.ok()) return absl::InternalError("cannot build the measurement report: " + b.error());

  // --- Document-level attributes.
  auto note = [&](const OFCondition& cond, const char* what) { b.Note(cond, what); };
  if (to_utf8 || source_charset == "ISO_IR 192") note(doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8), "charset");
  note(doc.createNewSeriesInStudy(study_uid.c_str()), "study");
  note(doc.setSeriesNumber(std::to_string(r.series_number).c_str()), "series number");
  note(doc.setInstanceNumber(std::to_string(r.instance_number).c_str()), "instance number");
  if (!series_description.empty()) note(doc.setSeriesDescription(series_description.c_str()), "series description");
  note(doc.setContentDate(content_date.c_str()), "content date");
  note(doc.setContentTime(content_time.c_str()), "content time");
  note(doc.setManufacturer("Parallax"), "manufacturer");
  note(doc.setManufacturerModelName(model_id.c_str()), "model name");
  if (!model_version.empty()) note(doc.setSoftwareVersions(model_version.c_str()), "software versions");
  if (r.completion == ReportCompletion::kPreliminary) {
    note(doc.setPreliminaryFlag(DSRTypes::PF_Preliminary), "preliminary flag");
  } else {
    note(doc.setPreliminaryFlag(DSRTypes::PF_Final), "preliminary flag");
    note(doc.completeDocument(), "completion");
    const std::string verified_at =
        r.verification_datetime.empty() ? content_date + content_time : r.verification_datetime;
    note(doc.verifyDocument(r.verifying_observer_name.c_str(), r.verifying_organization.c_str(),
                            verified_at.c_str()),
         "verification");
    if (!r.predecessor_sop_instance_uid.empty()) {
      note(doc.getPredecessorDocuments().addItem(study_uid.c_str(), r.predecessor_series_instance_uid.c_str(),
                                                 r.predecessor_sop_class_uid.c_str(),
                                                 r.predecessor_sop_instance_uid.c_str()),
           "predecessor");
    }
  }
  for (const SrInstanceReference& ref : source_images) {
    note(doc.getCurrentRequestedProcedureEvidence().addItem(study_uid.c_str(), ref.series_instance_uid.c_str(),
                                                            ref.sop_class_uid.c_str(), ref.sop_instance_uid.c_str()),
         "evidence of a source image");
  }
  bool any_change = false;
  for (const SrFinding& f : r.findings) {
    for (const SrInstanceReference& ref : f.evidence) {
      note(doc.getCurrentRequestedProcedureEvidence().addItem(study_uid.c_str(), ref.series_instance_uid.c_str(),
                                                              ref.sop_class_uid.c_str(), ref.sop_instance_uid.c_str()),
           "evidence of a heatmap");
    }
    const SrPriorComparison& c = f.prior_comparison;
    any_change = any_change || c.change != SrChange::kNotCompared;
    if (!AgainstPrior(c.change)) continue;
    // The prior study's images (PS3.3 C.17.2.3: evidence of another
    // Requested Procedure), each instance once.
    for (const SrInstanceReference& ref : c.prior_images) {
      note(doc.getPertinentOtherEvidence().addItem(c.prior_study_instance_uid.c_str(),
                                                   ref.series_instance_uid.c_str(), ref.sop_class_uid.c_str(),
                                                   ref.sop_instance_uid.c_str()),
           "pertinent other evidence of a prior image");
    }
  }
  if (any_change) {
    note(doc.getCodingSchemeIdentification().addItem(kParallaxCodingScheme, "", "Parallax local codes", "Parallax"),
         "coding scheme identification");
  }
  if (!b.ok()) return absl::InternalError("cannot build the measurement report: " + b.error());

  DcmFileFormat file;
  DcmDataset& d = *file.getDataset();
  if (OFCondition cond = doc.write(d); cond.bad()) {
    return absl::InternalError(std::string("DCMTK refused the measurement report: ") + cond.text());
  }

  // --- Patient and study context copied from the source, in UTF-8 when our
  // own text needs it.
  DcmDataset context;
  CopyIfPresent(s, context, DCM_SpecificCharacterSet);
  for (const DcmTagKey& tag : {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex,
                               DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID,
                               DCM_AccessionNumber}) {
    CopyOrEmpty(s, context, tag);
  }
  for (const DcmTagKey& tag :
       {DCM_IssuerOfPatientID, DCM_IssuerOfPatientIDQualifiersSequence, DCM_PatientBirthTime,
        DCM_OtherPatientIDsSequence, DCM_PatientIdentityRemoved, DCM_DeidentificationMethod, DCM_StudyInstanceUID,
        DCM_IssuerOfAccessionNumberSequence, DCM_StudyDescription, DCM_PatientAge, DCM_PatientSize,
        DCM_PatientWeight, DCM_InstitutionName, DCM_InstitutionAddress, DCM_InstitutionalDepartmentName}) {
    CopyIfPresent(s, context, tag);
  }
  // The source's acquisition equipment, kept for Contributing Equipment.
  DcmItem acquisition;
  for (const DcmTagKey& tag : {DCM_Manufacturer, DCM_InstitutionName, DCM_StationName, DCM_ManufacturerModelName,
                               DCM_DeviceSerialNumber, DCM_SoftwareVersions, DCM_DeviceUID}) {
    CopyIfPresent(s, acquisition, tag);
  }
  if (to_utf8) {
    if (!source_charset.empty()) {
      OFCondition cond = context.convertToUTF8();
      if (cond.good()) cond = acquisition.convertCharacterSet(source_charset.c_str(), "ISO_IR 192");
      if (cond.bad()) {
        return absl::InvalidArgumentError(std::string("report text is not ASCII and the source's character set "
                                                      "cannot be converted to UTF-8: ") +
                                          cond.text());
      }
    }
    context.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  }
  while (DcmElement* element = context.remove(static_cast<unsigned long>(0))) {
    d.insert(element, /*replaceOld=*/true);
  }

  // --- Identity, dates and equipment (IHE AIR).
  d.putAndInsertString(DCM_SOPInstanceUID, out.sop_instance_uid.c_str());
  d.putAndInsertString(DCM_SeriesInstanceUID, out.series_instance_uid.c_str());
  d.putAndInsertString(DCM_InstanceCreationDate, content_date.c_str());
  d.putAndInsertString(DCM_InstanceCreationTime, content_time.c_str());
  d.putAndInsertString(DCM_SeriesDate, content_date.c_str());
  d.putAndInsertString(DCM_SeriesTime, content_time.c_str());
  d.findAndDeleteElement(DCM_InstanceCreatorUID);
  // The model's Device UID goes into Contributing Equipment (below), not the
  // top-level General Equipment: the Comprehensive 3D SR IOD dciodvfy knows
  // has no Device UID there and would call the object Standard Extended.
  d.findAndDeleteElement(DCM_ContributingEquipmentSequence);
  auto add_equipment = [&](const char* code, const char* meaning) -> DcmItem* {
    DcmItem* item = nullptr;
    b.Note(d.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, item, -2), "contributing equipment");
    if (item == nullptr) return nullptr;
    DcmItem* purpose = nullptr;
    b.Note(item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2), "purpose of reference");
    if (purpose != nullptr) {
      purpose->putAndInsertString(DCM_CodeValue, code);
      purpose->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      purpose->putAndInsertString(DCM_CodeMeaning, meaning);
    }
    return item;
  };
  if (DcmItem* model = add_equipment("109102", "Processing Equipment")) {
    b.Note(model->putAndInsertString(DCM_Manufacturer, "Parallax"), "equipment manufacturer");
    b.Note(model->putAndInsertString(DCM_ManufacturerModelName, model_id.c_str()), "equipment model");
    if (!model_version.empty()) {
      b.Note(model->putAndInsertString(DCM_SoftwareVersions, model_version.c_str()), "equipment version");
    }
    b.Note(model->putAndInsertString(DCM_DeviceUID, r.model_device_uid.c_str()), "equipment device UID");
    b.Note(model->putAndInsertString(DCM_ContributionDateTime, (content_date + content_time).c_str()),
           "contribution date time");
    b.Note(model->putAndInsertString(DCM_ContributionDescription, "AI model that produced the findings"),
           "contribution description");
  }
  if (acquisition.tagExists(DCM_Manufacturer)) {
    if (DcmItem* item = add_equipment("109101", "Acquisition Equipment")) {
      while (DcmElement* element = acquisition.remove(static_cast<unsigned long>(0))) {
        item->insert(element, /*replaceOld=*/true);
      }
    }
  }
  if (!b.ok()) return absl::InternalError("cannot build the measurement report: " + b.error());

  absl::StatusOr<std::string> bytes = EncodePart10(file, EXS_LittleEndianExplicit, "measurement report");
  if (!bytes.ok()) return bytes.status();
  out.part10 = *std::move(bytes);
  return out;
}

}  // namespace

absl::StatusOr<SrCode> SrCodeFromFhir(std::string_view system, std::string_view code, std::string_view display) {
  struct Mapping {
    std::string_view system;
    const char* scheme;
  };
  static constexpr Mapping kMappings[] = {
      {"http://snomed.info/sct", "SCT"},
      {"http://loinc.org", "LN"},
      {"http://dicom.nema.org/resources/ontology/DCM", "DCM"},
      {"http://radlex.org", "RADLEX"},
      {"http://www.radlex.org", "RADLEX"},
      {"http://unitsofmeasure.org", "UCUM"},
  };
  if (code.empty()) return absl::InvalidArgumentError("the coding has no code");
  for (const Mapping& m : kMappings) {
    if (m.system == system) return SrCode{m.scheme, std::string(code), std::string(display.empty() ? code : display)};
  }
  return absl::InvalidArgumentError("no DICOM coding scheme is known for the FHIR system '" + std::string(system) +
                                    "'");
}

absl::StatusOr<MeasurementReport> WriteMeasurementReport(const MeasurementReportInput& input) {
  try {
    return Write(input);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory writing the measurement report");
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("cannot write the measurement report: ") + e.what());
  }
}

}  // namespace parallax::dicom
