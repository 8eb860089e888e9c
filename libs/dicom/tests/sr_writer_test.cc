// The TID 1500 measurement report: validated with dciodvfy (dicom3tools),
// read back with DCMTK's DSRDocument, and deterministic.
#include <catch2/catch.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "parallax/dicom/evidence_writer.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sr_writer.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/dicom/uid.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::dicom;

namespace {

constexpr char kDeviceUid[] = "2.25.987654321098765432109876543210";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `bytes` to `path`; with PARALLAX_EVIDENCE_OUT set, also into that
// directory, to look at the report with other tools.
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (const char* keep = std::getenv("PARALLAX_EVIDENCE_OUT"); keep != nullptr && *keep != '\0') {
    const std::string copy = std::string(keep) + "/" + path.substr(path.find_last_of('/') + 1);
    std::ofstream(copy, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult Run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::vector<std::string> Lines(const std::string& text, const std::string& containing) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(containing) != std::string::npos) out.push_back(line);
  }
  return out;
}

// dciodvfy must find no error; its whole report is shown as a warning.
void RequireValidIod(const std::string& path) {
  if (Run("command -v dciodvfy").exit_code != 0) {
    FAIL("dciodvfy not found on PATH: install dicom3tools (scripts/bootstrap does)");
  }
  const CommandResult result = Run("dciodvfy '" + path + "'");
  INFO("dciodvfy report:\n" << result.output);
  CHECK(Lines(result.output, "Error").empty());
  // The one expected warning: IHE AIR puts Device UID (0018,1002) into the
  // Contributing Equipment Sequence, which the dicom3tools release in Debian
  // 12 (2022) does not know there yet, so it calls the object Standard
  // Extended. The other expected one: Parallax's private coding scheme
  // "99PARALLAX" (the change since the prior) is not among the designators
  // dciodvfy knows as defined terms; PS3.3 8.2 allows private designators
  // that begin with "99", and the SR declares it in the Coding Scheme
  // Identification Sequence. Any other warning fails.
  std::vector<std::string> other_warnings;
  for (const std::string& line : Lines(result.output, "Warning")) {
    if (line.find("(0x0018,0x1002)") != std::string::npos) continue;
    if (line.find("Standard Extended SOP Class") != std::string::npos) continue;
    if (line.find("Unrecognized defined term <99PARALLAX> for value 1 of attribute <Coding Scheme Designator>") !=
        std::string::npos) {
      continue;
    }
    other_warnings.push_back(line);
  }
  CHECK(other_warnings.empty());
  WARN("dciodvfy report for " << path << ":\n" << result.output);
}

void Parse(const std::string& bytes, DcmFileFormat& file) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  file.transferInit();
  REQUIRE(file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength).good());
  file.transferEnd();
}

std::string Get(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

struct Source {
  std::string bytes;
  InstanceHeader header;
  parallax::phantom::Image image;
};

Source ChestSource(const parallax::testing::TempDir& dir, const StudyIdentity& identity = {}) {
  parallax::phantom::ChestXrayOptions options;
  options.seed = 11;
  options.size = 128;
  options.findings = {"Pneumothorax:right"};
  const parallax::phantom::Study study = parallax::phantom::MakeChestXray(options);
  auto written = WritePhantomStudy(study, identity, (dir.path() / "chest").string());
  REQUIRE(written.ok());
  Source source{ReadAll(written->files[0]), {}, study.series[0].images[0]};
  auto header = ReadInstanceHeaderFromBuffer(source.bytes.data(), source.bytes.size());
  REQUIRE(header.ok());
  source.header = *header;
  return source;
}

Source HeadSource(const parallax::testing::TempDir& dir) {
  parallax::phantom::HeadCtOptions options;
  options.seed = 5;
  options.size = 64;
  options.slices = 6;
  options.findings = {"Subdural"};
  const parallax::phantom::Study study = parallax::phantom::MakeHeadCt(options);
  auto written = WritePhantomStudy(study, {}, (dir.path() / "head").string());
  REQUIRE(written.ok());
  Source source{ReadAll(written->files[3]), {}, study.series[0].images[3]};
  auto header = ReadInstanceHeaderFromBuffer(source.bytes.data(), source.bytes.size());
  REQUIRE(header.ok());
  source.header = *header;
  return source;
}

// The heatmap Secondary Capture of a finding, as explainability makes it.
EvidenceImage Heatmap(const Source& source, const std::string& label) {
  std::vector<uint8_t> rgb(32 * 32 * 3, 128);
  EvidenceImageRequest request;
  request.source_part10 = source.bytes;
  request.rgb_pixels = rgb;
  request.rows = 32;
  request.columns = 32;
  request.finding_label = label;
  request.model_name = "parallax-test-model";
  request.model_version = "2026.12.1";
  request.model_device_uid = kDeviceUid;
  request.content_date = "20261204";
  request.content_time = "101700";
  auto evidence = WriteSecondaryCaptureEvidence(request);
  REQUIRE(evidence.ok());
  return *evidence;
}

SrInstanceReference SourceRef(const Source& source) {
  return {source.header.sop_class_uid, source.header.sop_instance_uid, source.header.series_instance_uid};
}

SrInstanceReference EvidenceRef(const EvidenceImage& e) {
  return {e.sop_class_uid, e.sop_instance_uid, e.series_instance_uid};
}

MeasurementReportInput BaseInput(const Source& source, const std::string& model) {
  MeasurementReportInput in;
  in.source_instance_part10 = source.bytes;
  in.report_key = "analysis-0001";
  in.content_date = "20261204";
  in.content_time = "103000";
  in.model_id = model;
  in.model_version = "2026.12.1";
  in.model_device_uid = kDeviceUid;
  return in;
}

MeasurementReportInput ChestInput(const Source& source, const EvidenceImage& heatmap) {
  MeasurementReportInput in = BaseInput(source, "parallax-chest-xray");
  in.procedure = {"LN", "36643-5", "XR Chest 2V"};
  SrFinding ptx;
  ptx.finding_id = "finding-ptx-1";
  auto code = SrCodeFromFhir("http://snomed.info/sct", "36118008", "Pneumothorax");
  REQUIRE(code.ok());
  ptx.code = *code;
  ptx.present = true;
  ptx.laterality = SrLaterality::kRight;
  ptx.site = {"SCT", "39607008", "Lung structure"};
  ptx.probability = 0.93;
  ptx.area_cm2 = 12.5;
  ptx.subtype = "simple";
  ptx.source_images = {SourceRef(source)};
  ptx.evidence = {EvidenceRef(heatmap)};
  SrFinding effusion;
  effusion.finding_id = "finding-eff-1";
  effusion.code = {"SCT", "60046008", "Pleural effusion"};
  effusion.present = false;
  effusion.probability = 0.04;
  effusion.source_images = {{source.header.sop_class_uid, source.header.sop_instance_uid, ""}};
  in.findings = {ptx, effusion};
  return in;
}

MeasurementReportInput HeadInput(const Source& source, const EvidenceImage& heatmap) {
  MeasurementReportInput in = BaseInput(source, "parallax-head-ct");
  SrFinding sdh;
  sdh.finding_id = "finding-sdh-1";
  sdh.code = {"SCT", "35486000", "Subdural hemorrhage"};
  sdh.present = true;
  sdh.laterality = SrLaterality::kLeft;
  sdh.site = {"SCT", "12738006", "Brain structure"};
  sdh.probability = 0.88;
  sdh.volume_ml = 42.5;
  sdh.subtype = "subdural";
  sdh.source_images = {SourceRef(source)};
  sdh.evidence = {EvidenceRef(heatmap)};
  in.findings = {sdh};
  return in;
}

// One content item as read back: where it is and what it says.
struct Item {
  std::string path;  // concept_code code values from the root, e.g. "126000/126010/125007/121071"
  std::string value_type;
  std::string code;  // coded value "SCHEME:VALUE"
  std::string text;  // TEXT / UIDREF value, or the numeric value
  std::string unit;  // NUM unit "SCHEME:VALUE"
  std::string image_instance;
};

std::vector<Item> ReadItems(DSRDocument& doc) {
  std::vector<Item> items;
  DSRDocumentTree& tree = doc.getTree();
  std::map<std::string, std::string> path_of;  // position -> path
  if (tree.gotoRoot() == 0) return items;
  do {
    const DSRContentItem& ci = tree.getCurrentContentItem();
    OFString position;
    tree.getPosition(position);
    const std::string pos = position.c_str();
    const size_t dot = pos.find_last_of('.');
    const std::string parent = dot == std::string::npos ? "" : path_of[pos.substr(0, dot)];
    const std::string concept_code = ci.getConceptName().getCodeValue().c_str();
    const std::string path = parent.empty() ? concept_code : parent + "/" + concept_code;
    path_of[pos] = path;
    Item item;
    item.path = path;
    item.value_type = DSRTypes::valueTypeToDefinedTerm(ci.getValueType());
    switch (ci.getValueType()) {
      case DSRTypes::VT_Code:
        item.code = std::string(ci.getCodeValue().getCodingSchemeDesignator().c_str()) + ":" +
                    ci.getCodeValue().getCodeValue().c_str();
        break;
      case DSRTypes::VT_Num:
        item.text = ci.getNumericValue().getNumericValue().c_str();
        item.unit = std::string(ci.getNumericValue().getMeasurementUnit().getCodingSchemeDesignator().c_str()) + ":" +
                    ci.getNumericValue().getMeasurementUnit().getCodeValue().c_str();
        break;
      case DSRTypes::VT_Text:
      case DSRTypes::VT_UIDRef:
        item.text = ci.getStringValue().c_str();
        break;
      case DSRTypes::VT_Image:
        item.image_instance = ci.getImageReference().getSOPInstanceUID().c_str();
        break;
      default:
        break;
    }
    items.push_back(item);
  } while (tree.iterate() != 0);
  return items;
}

// The measurement groups' items, keyed by tracking identifier.
std::map<std::string, std::vector<Item>> Groups(const std::vector<Item>& items) {
  const std::string group = "126000/126010/125007";
  std::map<std::string, std::vector<Item>> out;
  std::string current;
  for (const Item& i : items) {
    if (i.path == group) current.clear();
    if (i.path == group + "/112039") current = i.text;
    if (i.path.rfind(group + "/", 0) == 0) out[current].push_back(i);
  }
  return out;
}

std::string One(const std::vector<Item>& items, const std::string& suffix, std::string Item::*field) {
  std::string found;
  int n = 0;
  for (const Item& i : items) {
    if (i.path.size() >= suffix.size() && i.path.compare(i.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      found = i.*field;
      ++n;
    }
  }
  INFO("items ending in " << suffix << ": " << n);
  CHECK(n == 1);
  return found;
}

int Count(const std::vector<Item>& items, const std::string& suffix) {
  int n = 0;
  for (const Item& i : items) {
    if (i.path.size() >= suffix.size() && i.path.compare(i.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      ++n;
    }
  }
  return n;
}

void ReadDocument(const std::string& bytes, DcmFileFormat& file, DSRDocument& doc) {
  Parse(bytes, file);
  const OFCondition cond = doc.read(*file.getDataset(), DSRTypes::RF_readDigitalSignatures);
  INFO(cond.text());
  REQUIRE(cond.good());
}

// The IHE AIR Contributing Equipment item describing the model.
void CheckContributingEquipment(DcmDataset& ds, const std::string& model) {
  DcmSequenceOfItems* sequence = nullptr;
  REQUIRE(ds.findAndGetSequence(DCM_ContributingEquipmentSequence, sequence).good());
  REQUIRE(sequence != nullptr);
  bool found = false;
  for (unsigned long i = 0; i < sequence->card(); ++i) {
    DcmItem* item = sequence->getItem(i);
    DcmItem* purpose = nullptr;
    REQUIRE(item->findAndGetSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0).good());
    if (Get(*purpose, DCM_CodeValue) != "109102") continue;
    found = true;
    CHECK(Get(*purpose, DCM_CodingSchemeDesignator) == "DCM");
    CHECK(Get(*purpose, DCM_CodeMeaning) == "Processing Equipment");
    CHECK(Get(*item, DCM_Manufacturer) == "Parallax");
    CHECK(Get(*item, DCM_ManufacturerModelName) == model);
    CHECK(Get(*item, DCM_SoftwareVersions) == "2026.12.1");
    CHECK(Get(*item, DCM_DeviceUID) == kDeviceUid);
  }
  CHECK(found);
}

}  // namespace

TEST_CASE("a chest measurement report is a valid TID 1500 Comprehensive 3D SR with the model as observer",
          "[dicom][sr]") {
  parallax::testing::TempDir dir;
  const Source source = ChestSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Pneumothorax");
  const MeasurementReportInput input = ChestInput(source, heatmap);
  auto report = WriteMeasurementReport(input);
  INFO((report.ok() ? std::string() : std::string(report.status().message())));
  REQUIRE(report.ok());
  CHECK(report->sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.34");
  CHECK(report->study_instance_uid == source.header.study_instance_uid);

  // (1) dciodvfy finds no error.
  const std::string path = (dir.path() / "chest-sr.dcm").string();
  WriteAll(path, report->part10);
  RequireValidIod(path);

  // (2) DCMTK reads it back as the same content.
  DcmFileFormat file;
  DSRDocument doc;
  ReadDocument(report->part10, file, doc);
  DcmDataset& ds = *file.getDataset();
  CHECK(doc.getDocumentType() == DSRTypes::DT_Comprehensive3DSR);
  OFString tid;
  OFString resource;
  REQUIRE(doc.getTree().getTemplateIdentification(tid, resource).good());
  CHECK(tid == "1500");
  CHECK(resource == "DCMR");
  CHECK(Get(ds, DCM_SOPClassUID) == kComprehensive3DSrStorage);
  CHECK(Get(ds, DCM_SOPInstanceUID) == report->sop_instance_uid);
  CHECK(Get(ds, DCM_SeriesInstanceUID) == report->series_instance_uid);
  CHECK(Get(ds, DCM_Modality) == "SR");
  CHECK(Get(ds, DCM_StudyInstanceUID) == source.header.study_instance_uid);
  CHECK(Get(ds, DCM_PatientID) == source.header.patient_id);
  CHECK(Get(ds, DCM_PatientName) == "PHANTOM^ONE");
  CHECK(Get(ds, DCM_AccessionNumber) == source.header.accession_number);
  CHECK(Get(ds, DCM_StudyDate) == source.header.study_date);
  CHECK(Get(ds, DCM_CompletionFlag) == "PARTIAL");
  CHECK(Get(ds, DCM_VerificationFlag) == "UNVERIFIED");
  CHECK(Get(ds, DCM_PreliminaryFlag) == "PRELIMINARY");
  CHECK(Get(ds, DCM_Manufacturer) == "Parallax");
  CHECK(Get(ds, DCM_ManufacturerModelName) == "parallax-chest-xray");
  CHECK(Get(ds, DCM_SoftwareVersions) == "2026.12.1");
  CHECK(Get(ds, DCM_ContentDate) == "20261204");
  CheckContributingEquipment(ds, "parallax-chest-xray");

  // Evidence: the source image and the heatmap.
  std::vector<std::string> evidence;
  {
    DSRSOPInstanceReferenceList& list = doc.getCurrentRequestedProcedureEvidence();
    REQUIRE(list.gotoFirstItem().good());
    do {
      OFString uid;
      list.getSOPInstanceUID(uid);
      evidence.push_back(uid.c_str());
    } while (list.gotoNextItem().good());
  }
  CHECK(evidence.size() == 2);
  CHECK(std::count(evidence.begin(), evidence.end(), source.header.sop_instance_uid) == 1);
  CHECK(std::count(evidence.begin(), evidence.end(), heatmap.sop_instance_uid) == 1);

  const std::vector<Item> items = ReadItems(doc);
  // Observation context: the model is the device observer.
  CHECK(One(items, "126000/121005", &Item::code) == "DCM:121007");
  CHECK(One(items, "126000/121012", &Item::text) == kDeviceUid);
  CHECK(One(items, "126000/121014", &Item::text) == "Parallax");
  CHECK(One(items, "126000/121015", &Item::text) == "parallax-chest-xray");
  CHECK(One(items, "126000/121058", &Item::code) == "LN:36643-5");
  CHECK(One(items, "126000/121049", &Item::code) == "RFC5646:en-US");
  // The image library lists the source image once (its entries have no concept_code name).
  CHECK(One(items, "126000/111028/126200/", &Item::image_instance) == source.header.sop_instance_uid);

  const auto groups = Groups(items);
  REQUIRE(groups.count("finding-ptx-1") == 1);
  REQUIRE(groups.count("finding-eff-1") == 1);
  const std::vector<Item>& ptx = groups.at("finding-ptx-1");
  CHECK(One(ptx, "/112040", &Item::text) == report->tracking_uids[0]);
  CHECK(IsValidUid(report->tracking_uids[0]));
  CHECK(One(ptx, "/121071", &Item::code) == "SCT:36118008");
  CHECK(One(ptx, "/363698007", &Item::code) == "SCT:39607008");
  CHECK(One(ptx, "/363698007/272741003", &Item::code) == "SCT:24028007");  // right
  CHECK(One(ptx, "/42798000", &Item::text) == "12.5");
  CHECK(One(ptx, "/42798000", &Item::unit) == "UCUM:cm2");
  CHECK(One(ptx, "/42798000/121112", &Item::image_instance) == source.header.sop_instance_uid);
  CHECK(One(ptx, "/122157", &Item::text) == "0.93");
  CHECK(One(ptx, "/122157", &Item::unit) == "UCUM:1");
  CHECK(One(ptx, "/705057003", &Item::code) == "SCT:52101004");  // present
  CHECK(One(ptx, "/121080", &Item::image_instance) == heatmap.sop_instance_uid);
  CHECK(One(ptx, "/111001", &Item::text) == "parallax-chest-xray");
  CHECK(One(ptx, "/111003", &Item::text) == "2026.12.1");
  CHECK(One(ptx, "/121106", &Item::text) == "Subtype: simple");
  CHECK(Count(ptx, "/118565006") == 0);

  const std::vector<Item>& effusion = groups.at("finding-eff-1");
  CHECK(One(effusion, "/121071", &Item::code) == "SCT:60046008");
  CHECK(One(effusion, "/705057003", &Item::code) == "SCT:2667000");  // absent
  CHECK(One(effusion, "/122157", &Item::text) == "0.04");
  CHECK(Count(effusion, "/42798000") == 0);
  CHECK(Count(effusion, "/363698007") == 0);
  CHECK(Count(effusion, "/121080") == 0);
  // The source's series was filled in for the reference without one.
  CHECK(One(effusion, "/122157/121112", &Item::image_instance) == source.header.sop_instance_uid);

  // Without a finding site the side qualifies the finding itself, and the
  // report still validates.
  MeasurementReportInput no_site = input;
  no_site.findings[0].site = {};
  auto sided = WriteMeasurementReport(no_site);
  REQUIRE(sided.ok());
  const std::string sided_path = (dir.path() / "chest-sr-no-site.dcm").string();
  WriteAll(sided_path, sided->part10);
  RequireValidIod(sided_path);
  DcmFileFormat sided_file;
  DSRDocument sided_doc;
  ReadDocument(sided->part10, sided_file, sided_doc);
  const auto sided_groups = Groups(ReadItems(sided_doc));
  REQUIRE(sided_groups.count("finding-ptx-1") == 1);
  CHECK(One(sided_groups.at("finding-ptx-1"), "/121071/272741003", &Item::code) == "SCT:24028007");
  CHECK(Count(sided_groups.at("finding-ptx-1"), "/363698007") == 0);
}

TEST_CASE("a head CT report carries the haemorrhage volume in ml with its side and validates", "[dicom][sr]") {
  parallax::testing::TempDir dir;
  const Source source = HeadSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Subdural haemorrhage");
  MeasurementReportInput input = HeadInput(source, heatmap);
  input.completion = ReportCompletion::kFinal;
  input.verifying_observer_name = "Radiologist^Senior";
  input.verifying_organization = "Parallax General Hospital";
  input.verification_datetime = "20261204110000";
  auto report = WriteMeasurementReport(input);
  INFO((report.ok() ? std::string() : std::string(report.status().message())));
  REQUIRE(report.ok());
  const std::string path = (dir.path() / "head-sr.dcm").string();
  WriteAll(path, report->part10);
  RequireValidIod(path);

  DcmFileFormat file;
  DSRDocument doc;
  ReadDocument(report->part10, file, doc);
  DcmDataset& ds = *file.getDataset();
  CHECK(Get(ds, DCM_CompletionFlag) == "COMPLETE");
  CHECK(Get(ds, DCM_VerificationFlag) == "VERIFIED");
  CHECK(Get(ds, DCM_PreliminaryFlag) == "FINAL");
  DcmItem* verifier = nullptr;
  REQUIRE(ds.findAndGetSequenceItem(DCM_VerifyingObserverSequence, verifier, 0).good());
  CHECK(Get(*verifier, DCM_VerifyingObserverName) == "Radiologist^Senior");
  CHECK(Get(*verifier, DCM_VerifyingOrganization) == "Parallax General Hospital");
  CHECK(Get(*verifier, DCM_VerificationDateTime) == "20261204110000");
  CHECK(Get(ds, DCM_Modality) == "SR");
  CheckContributingEquipment(ds, "parallax-head-ct");

  const auto groups = Groups(ReadItems(doc));
  REQUIRE(groups.count("finding-sdh-1") == 1);
  const std::vector<Item>& sdh = groups.at("finding-sdh-1");
  CHECK(One(sdh, "/121071", &Item::code) == "SCT:35486000");
  CHECK(One(sdh, "/118565006", &Item::text) == "42.5");
  CHECK(One(sdh, "/118565006", &Item::unit) == "UCUM:ml");
  CHECK(One(sdh, "/363698007/272741003", &Item::code) == "SCT:7771000");  // left
  CHECK(One(sdh, "/705057003", &Item::code) == "SCT:52101004");
  CHECK(One(sdh, "/122157", &Item::text) == "0.88");
  CHECK(Count(sdh, "/42798000") == 0);
}

constexpr char kPriorStudyUid[] = "1.2.826.0.1.3680043.10.1187.1";
constexpr char kPriorSeriesUid[] = "1.2.826.0.1.3680043.10.1187.1.2";
constexpr char kCtImageStorage[] = "1.2.840.10008.5.1.4.1.1.2";

// The head CT's haemorrhage compared with a prior head CT of 2026-09-03,
// 92 days before: `change`, 12.1 mL then, 42.5 mL now; with the prior's two
// images when `with_images`.
MeasurementReportInput FollowUpInput(const Source& source, const EvidenceImage& heatmap, SrChange change,
                                     bool with_images) {
  MeasurementReportInput in = HeadInput(source, heatmap);
  SrPriorComparison& c = in.findings[0].prior_comparison;
  c.change = change;
  c.unit = "mL";
  c.current_size = 42.5;
  if (change == SrChange::kNoPrior) {
    c.comment = "no prior available";
    return in;
  }
  c.prior_study_instance_uid = kPriorStudyUid;
  c.prior_study_date = "20260903";
  c.interval_days = 92;
  c.prior_size = 12.1;
  c.comment = "larger since prior of 2026-09-03 (92 days): 12.1 mL -> 42.5 mL";
  if (with_images) {
    c.prior_images = {{kCtImageStorage, std::string(kPriorSeriesUid) + ".7", kPriorSeriesUid},
                      {kCtImageStorage, std::string(kPriorSeriesUid) + ".8", kPriorSeriesUid}};
  }
  return in;
}

TEST_CASE("a haemorrhage larger since the prior lists the prior study as other evidence and states the change",
          "[dicom][sr][change]") {
  parallax::testing::TempDir dir;
  const Source source = HeadSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Subdural haemorrhage");
  auto report = WriteMeasurementReport(FollowUpInput(source, heatmap, SrChange::kLarger, true));
  INFO((report.ok() ? std::string() : std::string(report.status().message())));
  REQUIRE(report.ok());
  const std::string path = (dir.path() / "followup-sr.dcm").string();
  WriteAll(path, report->part10);
  RequireValidIod(path);

  DcmFileFormat file;
  DSRDocument doc;
  ReadDocument(report->part10, file, doc);
  DcmDataset& ds = *file.getDataset();
  // Pertinent Other Evidence: the prior study, its series and both images.
  DcmItem* other = nullptr;
  REQUIRE(ds.findAndGetSequenceItem(DCM_PertinentOtherEvidenceSequence, other, 0).good());
  CHECK(Get(*other, DCM_StudyInstanceUID) == kPriorStudyUid);
  DcmItem* series = nullptr;
  REQUIRE(other->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, series, 0).good());
  CHECK(Get(*series, DCM_SeriesInstanceUID) == kPriorSeriesUid);
  DcmSequenceOfItems* sops = nullptr;
  REQUIRE(series->findAndGetSequence(DCM_ReferencedSOPSequence, sops).good());
  REQUIRE(sops->card() == 2);
  CHECK(Get(*sops->getItem(0), DCM_ReferencedSOPInstanceUID) == std::string(kPriorSeriesUid) + ".7");
  CHECK(Get(*sops->getItem(0), DCM_ReferencedSOPClassUID) == kCtImageStorage);
  // Only the prior study there; the current study's evidence is apart.
  DcmSequenceOfItems* others = nullptr;
  REQUIRE(ds.findAndGetSequence(DCM_PertinentOtherEvidenceSequence, others).good());
  CHECK(others->card() == 1);
  DcmItem* current = nullptr;
  REQUIRE(ds.findAndGetSequenceItem(DCM_CurrentRequestedProcedureEvidenceSequence, current, 0).good());
  CHECK(Get(*current, DCM_StudyInstanceUID) == source.header.study_instance_uid);
  // The private coding scheme is declared.
  DcmItem* scheme = nullptr;
  REQUIRE(ds.findAndGetSequenceItem(DCM_CodingSchemeIdentificationSequence, scheme, 0).good());
  CHECK(Get(*scheme, DCM_CodingSchemeDesignator) == "99PARALLAX");

  // The measurement group states the change, the prior, the interval and the prior size.
  const auto groups = Groups(ReadItems(doc));
  REQUIRE(groups.count("finding-sdh-1") == 1);
  const std::vector<Item>& sdh = groups.at("finding-sdh-1");
  CHECK(One(sdh, "/CHANGE", &Item::code) == "99PARALLAX:LARGER");
  CHECK(One(sdh, "/CHANGE/110180", &Item::text) == kPriorStudyUid);
  CHECK(One(sdh, "/CHANGE/111060", &Item::value_type) == "DATE");
  CHECK(One(sdh, "/CHANGE/INTERVAL", &Item::text) == "92");
  CHECK(One(sdh, "/CHANGE/INTERVAL", &Item::unit) == "UCUM:d");
  CHECK(One(sdh, "/CHANGE/PRIOR-SIZE", &Item::text) == "12.1");
  CHECK(One(sdh, "/CHANGE/PRIOR-SIZE", &Item::unit) == "UCUM:ml");
  CHECK(One(sdh, "/118565006", &Item::text) == "42.5");  // the current volume as before
  int comments = 0;
  for (const Item& i : sdh) {
    if (i.path.size() > 7 && i.path.compare(i.path.size() - 7, 7, "/121106") == 0 &&
        i.text == "Change since prior: larger since prior of 2026-09-03 (92 days): 12.1 mL -> 42.5 mL") {
      ++comments;
    }
  }
  CHECK(comments == 1);

  // dsrdump (DCMTK) reads the tree back and shows the change and the prior
  // study; dcmdump shows the Pertinent Other Evidence (dsrdump's header
  // does not print the evidence sequences).
  const CommandResult dump = Run("dsrdump +Pl '" + path + "'");
  INFO(dump.output);
  REQUIRE(dump.exit_code == 0);
  CHECK(dump.output.find("<contains CODE:(,,\"Change since prior study\")=(LARGER,99PARALLAX,\"Larger than at prior "
                         "study\")>") != std::string::npos);
  CHECK(dump.output.find("<has properties UIDREF:(,,\"Study Instance UID\")=\"" + std::string(kPriorStudyUid) + "\">") !=
        std::string::npos);
  CHECK(dump.output.find("<has properties DATE:(,,\"Study Date\")=\"20260903\">") != std::string::npos);
  CHECK(dump.output.find("<has properties NUM:(,,\"Interval since prior study\")=\"92\" (d,UCUM,\"day\")>") !=
        std::string::npos);
  CHECK(dump.output.find("<has properties NUM:(,,\"Size at prior study\")=\"12.1\" (ml,UCUM,\"milliliter\")>") !=
        std::string::npos);
  CHECK(dump.output.find("Change since prior: larger since prior of 2026-09-03 (92 days): 12.1 mL -> 42.5 mL") !=
        std::string::npos);
  const CommandResult header = Run("dcmdump '" + path + "'");
  REQUIRE(header.exit_code == 0);
  const size_t evidence = header.output.find("(0040,a385) SQ");
  REQUIRE(evidence != std::string::npos);
  CHECK(header.output.find("[" + std::string(kPriorStudyUid) + "]", evidence) != std::string::npos);
  CHECK(header.output.find("[" + std::string(kPriorSeriesUid) + "]", evidence) != std::string::npos);
}

TEST_CASE("without the prior's images the prior study is named in the content tree only and the SR stays valid",
          "[dicom][sr][change]") {
  parallax::testing::TempDir dir;
  const Source source = HeadSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Subdural haemorrhage");
  auto report = WriteMeasurementReport(FollowUpInput(source, heatmap, SrChange::kStable, false));
  INFO((report.ok() ? std::string() : std::string(report.status().message())));
  REQUIRE(report.ok());
  const std::string path = (dir.path() / "followup-noimages-sr.dcm").string();
  WriteAll(path, report->part10);
  RequireValidIod(path);
  DcmFileFormat file;
  DSRDocument doc;
  ReadDocument(report->part10, file, doc);
  CHECK_FALSE(file.getDataset()->tagExists(DCM_PertinentOtherEvidenceSequence));
  const auto groups = Groups(ReadItems(doc));
  const std::vector<Item>& sdh = groups.at("finding-sdh-1");
  CHECK(One(sdh, "/CHANGE", &Item::code) == "99PARALLAX:STABLE");
  CHECK(One(sdh, "/CHANGE/110180", &Item::text) == kPriorStudyUid);
}

TEST_CASE("a first study says no prior is available and an uncompared finding says nothing about priors",
          "[dicom][sr][change]") {
  parallax::testing::TempDir dir;
  const Source source = HeadSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Subdural haemorrhage");
  auto first = WriteMeasurementReport(FollowUpInput(source, heatmap, SrChange::kNoPrior, false));
  REQUIRE(first.ok());
  const std::string path = (dir.path() / "first-sr.dcm").string();
  WriteAll(path, first->part10);
  RequireValidIod(path);
  DcmFileFormat file;
  DSRDocument doc;
  ReadDocument(first->part10, file, doc);
  const std::vector<Item> sdh = Groups(ReadItems(doc)).at("finding-sdh-1");
  CHECK(One(sdh, "/CHANGE", &Item::code) == "99PARALLAX:NO-PRIOR");
  CHECK(Count(sdh, "/CHANGE/110180") == 0);
  CHECK(Count(sdh, "/CHANGE/INTERVAL") == 0);
  CHECK_FALSE(file.getDataset()->tagExists(DCM_PertinentOtherEvidenceSequence));
  CHECK(Run("dsrdump '" + path + "'").output.find("No prior study available") != std::string::npos);

  auto plain = WriteMeasurementReport(HeadInput(source, heatmap));
  REQUIRE(plain.ok());
  DcmFileFormat plain_file;
  DSRDocument plain_doc;
  ReadDocument(plain->part10, plain_file, plain_doc);
  CHECK(Count(Groups(ReadItems(plain_doc)).at("finding-sdh-1"), "/CHANGE") == 0);
  CHECK_FALSE(plain_file.getDataset()->tagExists(DCM_CodingSchemeIdentificationSequence));
}

TEST_CASE("a comparison the writer cannot report is refused naming the problem", "[dicom][sr][change]") {
  parallax::testing::TempDir dir;
  const Source source = HeadSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Subdural haemorrhage");
  const MeasurementReportInput good = FollowUpInput(source, heatmap, SrChange::kSmaller, true);
  REQUIRE(WriteMeasurementReport(good).ok());
  auto refused = [](const MeasurementReportInput& input, const std::string& expected) {
    auto result = WriteMeasurementReport(input);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    INFO(result.status().message());
    CHECK(std::string(result.status().message()).find(expected) != std::string::npos);
  };
  MeasurementReportInput r = good;
  r.findings[0].prior_comparison.prior_study_instance_uid = "";
  refused(r, "no valid prior Study Instance UID");
  r = good;
  r.findings[0].prior_comparison.prior_study_instance_uid = source.header.study_instance_uid;
  refused(r, "the report's own study");
  r = good;
  r.findings[0].prior_comparison.prior_study_date = "3 Sep 2026";
  refused(r, "prior study date");
  r = good;
  r.findings[0].prior_comparison.unit = "ml3";
  refused(r, "unit mL or cm2");
  r = good;
  r.findings[0].prior_comparison.prior_size = -2;
  refused(r, "negative size");
  r = good;
  r.findings[0].prior_comparison.prior_images[1].series_instance_uid.clear();
  refused(r, "prior image has no valid Series");
}

TEST_CASE("the same report input gives the same UIDs and bytes and another report key gives others",
          "[dicom][sr]") {
  parallax::testing::TempDir dir;
  const Source source = ChestSource(dir);
  const EvidenceImage heatmap = Heatmap(source, "Pneumothorax");
  const MeasurementReportInput input = ChestInput(source, heatmap);
  auto first = WriteMeasurementReport(input);
  auto second = WriteMeasurementReport(input);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->sop_instance_uid == second->sop_instance_uid);
  CHECK(first->series_instance_uid == second->series_instance_uid);
  CHECK(first->tracking_uids == second->tracking_uids);
  CHECK(first->part10 == second->part10);
  CHECK(IsValidUid(first->sop_instance_uid));
  CHECK(IsValidUid(first->series_instance_uid));
  CHECK(first->series_instance_uid != source.header.series_instance_uid);

  MeasurementReportInput other = input;
  other.report_key = "analysis-0002";
  auto third = WriteMeasurementReport(other);
  REQUIRE(third.ok());
  CHECK(third->sop_instance_uid != first->sop_instance_uid);
  CHECK(third->series_instance_uid != first->series_instance_uid);
  CHECK(third->tracking_uids == first->tracking_uids);  // the same findings keep their tracking UIDs

  // The final report of the same analysis: same series, another instance.
  MeasurementReportInput final_input = input;
  final_input.completion = ReportCompletion::kFinal;
  final_input.verifying_observer_name = "Doe^Jane";
  final_input.verifying_organization = "Radiology";
  auto final_report = WriteMeasurementReport(final_input);
  REQUIRE(final_report.ok());
  CHECK(final_report->series_instance_uid == first->series_instance_uid);
  CHECK(final_report->sop_instance_uid != first->sop_instance_uid);

  // An amendment names the final report it replaces and validates.
  MeasurementReportInput amended = final_input;
  amended.completion = ReportCompletion::kAmended;
  amended.revision = 1;
  amended.predecessor_series_instance_uid = final_report->series_instance_uid;
  amended.predecessor_sop_instance_uid = final_report->sop_instance_uid;
  auto amendment = WriteMeasurementReport(amended);
  REQUIRE(amendment.ok());
  CHECK(amendment->sop_instance_uid != final_report->sop_instance_uid);
  DcmFileFormat file;
  Parse(amendment->part10, file);
  DcmItem* study = nullptr;
  REQUIRE(file.getDataset()->findAndGetSequenceItem(DCM_PredecessorDocumentsSequence, study, 0).good());
  DcmItem* series = nullptr;
  REQUIRE(study->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, series, 0).good());
  DcmItem* instance = nullptr;
  REQUIRE(series->findAndGetSequenceItem(DCM_ReferencedSOPSequence, instance, 0).good());
  CHECK(Get(*instance, DCM_ReferencedSOPInstanceUID) == final_report->sop_instance_uid);
  const std::string path = (dir.path() / "amended-sr.dcm").string();
  WriteAll(path, amendment->part10);
  RequireValidIod(path);
}

TEST_CASE("non-ASCII report text moves a Latin-1 source's patient data to UTF-8", "[dicom][sr]") {
  parallax::testing::TempDir dir;
  StudyIdentity identity;
  identity.patient_name = "M\xDCLLER^ANNA";  // ISO_IR 100
  const Source source = ChestSource(dir, identity);
  const EvidenceImage heatmap = Heatmap(source, "Pneumothorax");
  MeasurementReportInput input = ChestInput(source, heatmap);
  input.completion = ReportCompletion::kFinal;
  input.verifying_observer_name = "G\xC3\xBCnther^J\xC3\xB6rg";  // UTF-8
  input.verifying_organization = "Klinikum S\xC3\xBC" "d";
  auto report = WriteMeasurementReport(input);
  REQUIRE(report.ok());
  DcmFileFormat file;
  Parse(report->part10, file);
  DcmDataset& ds = *file.getDataset();
  CHECK(Get(ds, DCM_SpecificCharacterSet) == "ISO_IR 192");
  CHECK(Get(ds, DCM_PatientName) == "M\xC3\x9CLLER^ANNA");
  DcmItem* verifier = nullptr;
  REQUIRE(ds.findAndGetSequenceItem(DCM_VerifyingObserverSequence, verifier, 0).good());
  CHECK(Get(*verifier, DCM_VerifyingObserverName) == input.verifying_observer_name);
  const std::string path = (dir.path() / "utf8-sr.dcm").string();
  WriteAll(path, report->part10);
  RequireValidIod(path);
}

TEST_CASE("a report the writer cannot make is refused naming the problem, not the patient", "[dicom][sr]") {
  parallax::testing::TempDir dir;
  StudyIdentity identity;
  identity.patient_id = "SECRET-PID-4711";
  const Source source = ChestSource(dir, identity);
  const EvidenceImage heatmap = Heatmap(source, "Pneumothorax");
  const MeasurementReportInput good = ChestInput(source, heatmap);
  REQUIRE(WriteMeasurementReport(good).ok());

  auto refused = [](const MeasurementReportInput& input, const std::string& expected) {
    auto result = WriteMeasurementReport(input);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(result.status().message());
    INFO(message);
    CHECK(message.find(expected) != std::string::npos);
    CHECK(message.find("SECRET-PID-4711") == std::string::npos);
    CHECK(message.find("PHANTOM") == std::string::npos);
  };
  MeasurementReportInput r = good;
  const std::string png = "\x89PNG\r\n\x1a\n" + std::string(600, 'x');
  r.source_instance_part10 = png;
  refused(r, "not a DICOM");
  r = good;
  r.findings.clear();
  refused(r, "no finding");
  r = good;
  r.findings[0].probability = 1.5;
  refused(r, "probability");
  r = good;
  r.findings[0].site = {"SCT", "39607008", ""};
  refused(r, "incomplete finding site");
  r = good;
  r.findings[0].volume_ml = -1;
  refused(r, "negative volume");
  r = good;
  r.findings[1].source_images.clear();
  refused(r, "no source image");
  r = good;
  r.findings[0].evidence[0].series_instance_uid.clear();
  refused(r, "evidence has no valid Series");
  r = good;
  r.model_device_uid = "not-a-uid";
  refused(r, "device UID");
  r = good;
  r.completion = ReportCompletion::kFinal;
  refused(r, "verifying observer");
  r = good;
  r.report_key.clear();
  refused(r, "report key");

  CHECK(SrCodeFromFhir("http://snomed.info/sct", "36118008", "Pneumothorax")->scheme == "SCT");
  CHECK(SrCodeFromFhir("http://loinc.org", "36643-5", "XR Chest 2V")->scheme == "LN");
  CHECK(SrCodeFromFhir("urn:example:local", "x", "y").status().code() == absl::StatusCode::kInvalidArgument);
}
