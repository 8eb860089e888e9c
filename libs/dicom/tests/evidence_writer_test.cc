#include <catch2/catch.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sys/wait.h>
#include <sstream>
#include <string>
#include <vector>

#include "parallax/dicom/evidence_writer.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/dicom/uid.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::dicom;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `bytes` to `path`; with PARALLAX_EVIDENCE_OUT set, also into that
// directory, to look at the objects in a viewer or run other validators.
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (const char* keep = std::getenv("PARALLAX_EVIDENCE_OUT"); keep != nullptr && *keep != '\0') {
    const std::string copy = std::string(keep) + "/" + path.substr(path.find_last_of('/') + 1);
    std::ofstream(copy, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
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

bool OnPath(const std::string& tool) { return Run("command -v " + tool).exit_code == 0; }

// dciodvfy (dicom3tools) is a real part these tests need; CI installs it
// through scripts/bootstrap. Missing is a failure, never a skip.
void RequireTool(const std::string& tool, const std::string& package) {
  if (!OnPath(tool)) FAIL(tool + " not found on PATH: install " + package + " (scripts/bootstrap does)");
}

// The lines of dciodvfy's report that are errors (it prints "Error - ...").
std::vector<std::string> Lines(const std::string& text, const std::string& containing) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(containing) != std::string::npos) out.push_back(line);
  }
  return out;
}

// A Grad-CAM-like picture: the image in grey (windowed from 12 bits) with a
// red-to-yellow blob blended at (cy, cx), rows x columns (nearest-neighbour
// resampled from the source when the size differs).
std::vector<uint8_t> BlendOverlay(const parallax::phantom::Image& image, int rows, int columns, int cy, int cx,
                                  int radius) {
  std::vector<uint8_t> rgb(static_cast<size_t>(rows) * columns * 3);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < columns; ++x) {
      const int sy = y * image.rows / rows;
      const int sx = x * image.columns / columns;
      const int v = std::clamp<int>(image.pixels[static_cast<size_t>(sy) * image.columns + sx], 0, 4095);
      const double grey = v * 255.0 / 4095.0;
      const double d2 = static_cast<double>((y - cy) * (y - cy) + (x - cx) * (x - cx));
      const double heat = d2 < radius * radius ? 1.0 - d2 / (radius * radius) : 0.0;
      const double alpha = 0.5 * heat;
      uint8_t* p = &rgb[(static_cast<size_t>(y) * columns + x) * 3];
      p[0] = static_cast<uint8_t>((1 - alpha) * grey + alpha * 255.0);
      p[1] = static_cast<uint8_t>((1 - alpha) * grey + alpha * 255.0 * heat);
      p[2] = static_cast<uint8_t>((1 - alpha) * grey);
    }
  }
  return rgb;
}

struct SourceInstance {
  std::string bytes;
  parallax::phantom::Image image;
  std::string sop_instance_uid;
};

SourceInstance ChestSource(const parallax::testing::TempDir& dir, const StudyIdentity& identity = {}) {
  parallax::phantom::ChestXrayOptions options;
  options.seed = 7;
  options.size = 256;
  options.findings = {"Pneumothorax:right"};
  const parallax::phantom::Study study = parallax::phantom::MakeChestXray(options);
  auto written = WritePhantomStudy(study, identity, (dir.path() / "chest").string());
  REQUIRE(written.ok());
  REQUIRE(written->files.size() == 1);
  SourceInstance source{ReadAll(written->files[0]), study.series[0].images[0], ""};
  auto header = ReadInstanceHeaderFromBuffer(source.bytes.data(), source.bytes.size());
  REQUIRE(header.ok());
  source.sop_instance_uid = header->sop_instance_uid;
  return source;
}

EvidenceImageRequest ChestRequest(const SourceInstance& source, const std::vector<uint8_t>& rgb, int rows,
                                  int columns) {
  EvidenceImageRequest request;
  request.source_part10 = source.bytes;
  request.rgb_pixels = rgb;
  request.rows = rows;
  request.columns = columns;
  request.finding_label = "Pneumothorax";
  request.model_name = "parallax-chest-xray";
  request.model_version = "2026.12.1";
  request.model_device_uid = "2.25.123456789012345678901234567890";
  request.content_date = "20261204";
  request.content_time = "101700";
  return request;
}

// Runs dciodvfy on `path`; requires that no line reports an error and
// returns its whole report (warnings are shown by the caller).
std::string RequireValidIod(const std::string& path) {
  RequireTool("dciodvfy", "dicom3tools");
  const CommandResult result = Run("dciodvfy '" + path + "'");
  INFO("dciodvfy report:\n" << result.output);
  CHECK(Lines(result.output, "Error").empty());
  WARN("dciodvfy report for " << path << ":\n" << result.output);
  return result.output;
}

// Decodes `path` with DCMTK's dcm2pnm, as a viewer would, and returns the PPM
// pixels (empty on failure).
std::vector<uint8_t> DecodeWithDcm2pnm(const std::string& path, int& rows, int& columns) {
  RequireTool("dcm2pnm", "dcmtk");
  const std::string ppm = path + ".ppm";
  const CommandResult result = Run("dcm2pnm +op '" + path + "' '" + ppm + "'");
  INFO("dcm2pnm:\n" << result.output);
  REQUIRE(result.exit_code == 0);
  const std::string bytes = ReadAll(ppm);
  std::istringstream in(bytes);
  std::string magic;
  int max_value = 0;
  in >> magic >> columns >> rows >> max_value;
  in.get();  // the single whitespace before the raster
  REQUIRE(magic == "P6");
  REQUIRE(max_value == 255);
  const size_t offset = static_cast<size_t>(in.tellg());
  return std::vector<uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end());
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

}  // namespace

TEST_CASE("Grad-CAM evidence on a chest radiograph is a valid Secondary Capture in the source's study",
          "[dicom][evidence]") {
  parallax::testing::TempDir dir;
  const SourceInstance source = ChestSource(dir);
  const std::vector<uint8_t> rgb = BlendOverlay(source.image, 256, 256, 100, 70, 30);
  auto evidence = WriteSecondaryCaptureEvidence(ChestRequest(source, rgb, 256, 256));
  REQUIRE(evidence.ok());
  CHECK(evidence->sop_class_uid == "1.2.840.10008.5.1.4.1.1.7");
  CHECK(evidence->referenced_sop_instance_uids == std::vector<std::string>{source.sop_instance_uid});

  // (a) Read back as ingest would.
  auto header = ReadInstanceHeaderFromBuffer(evidence->part10.data(), evidence->part10.size());
  REQUIRE(header.ok());
  auto source_header = ReadInstanceHeaderFromBuffer(source.bytes.data(), source.bytes.size());
  REQUIRE(source_header.ok());
  CHECK(header->sop_class_uid == kSecondaryCaptureImageStorage);
  CHECK(header->transfer_syntax_uid == "1.2.840.10008.1.2.1");
  CHECK(header->study_instance_uid == source_header->study_instance_uid);
  CHECK(header->patient_id == source_header->patient_id);
  CHECK(header->accession_number == source_header->accession_number);
  CHECK(header->sop_instance_uid == evidence->sop_instance_uid);
  CHECK(header->series_instance_uid == evidence->series_instance_uid);
  CHECK(header->series_instance_uid != source_header->series_instance_uid);
  CHECK(header->modality == "DX");
  CHECK(header->rows == 256);
  CHECK(header->columns == 256);
  CHECK(header->photometric_interpretation == "RGB");
  CHECK(header->instance_number == 1);
  CHECK(header->patient_orientation == source_header->patient_orientation);
  CHECK(header->image_type == std::vector<std::string>{"DERIVED", "SECONDARY"});
  REQUIRE(header->pixel_spacing.size() == 2);
  CHECK(header->pixel_spacing[0] == Approx(source_header->pixel_spacing[0]));

  DcmFileFormat file;
  Parse(evidence->part10, file);
  DcmDataset& ds = *file.getDataset();
  for (const DcmTagKey& sequence : {DCM_SourceImageSequence, DCM_ReferencedImageSequence}) {
    DcmItem* ref = nullptr;
    REQUIRE(ds.findAndGetSequenceItem(sequence, ref, 0).good());
    CHECK(Get(*ref, DCM_ReferencedSOPClassUID) == source_header->sop_class_uid);
    CHECK(Get(*ref, DCM_ReferencedSOPInstanceUID) == source.sop_instance_uid);
  }
  CHECK(Get(ds, DCM_Manufacturer) == "Parallax");
  CHECK(Get(ds, DCM_ManufacturerModelName) == "parallax-chest-xray");
  CHECK(Get(ds, DCM_SoftwareVersions) == "2026.12.1");
  CHECK(Get(ds, DCM_DeviceUID) == "2.25.123456789012345678901234567890");
  CHECK(Get(ds, DCM_ConversionType) == "WSD");
  CHECK(Get(ds, DCM_BurnedInAnnotation) == "NO");
  CHECK(Get(ds, DCM_SpecificCharacterSet) == "ISO_IR 100");
  CHECK(Get(ds, DCM_PatientName) == "PHANTOM^ONE");
  CHECK(Get(ds, DCM_ContentDate) == "20261204");
  CHECK(Get(ds, DCM_DerivationDescription).find("Pneumothorax") != std::string::npos);

  // (b) dciodvfy finds no error.
  const std::string path = (dir.path() / "evidence.dcm").string();
  WriteAll(path, evidence->part10);
  RequireValidIod(path);

  // (c) A viewer decodes exactly the pixels given.
  int rows = 0;
  int columns = 0;
  const std::vector<uint8_t> decoded = DecodeWithDcm2pnm(path, rows, columns);
  CHECK(rows == 256);
  CHECK(columns == 256);
  CHECK(decoded == rgb);
  const CommandResult dump = Run("dcmdump +E '" + path + "'");
  CHECK(dump.exit_code == 0);
  CHECK(dump.output.find("(0028,0004) CS [RGB]") != std::string::npos);
  CHECK(Lines(dump.output, "E: ").empty());
}

TEST_CASE("a retried explanation gives the same evidence object, byte for byte", "[dicom][evidence]") {
  parallax::testing::TempDir dir;
  const SourceInstance source = ChestSource(dir);
  const std::vector<uint8_t> rgb = BlendOverlay(source.image, 128, 128, 50, 35, 15);
  const EvidenceImageRequest request = ChestRequest(source, rgb, 128, 128);
  auto first = WriteSecondaryCaptureEvidence(request);
  auto second = WriteSecondaryCaptureEvidence(request);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->sop_instance_uid == second->sop_instance_uid);
  CHECK(first->part10 == second->part10);
  CHECK(IsValidUid(first->sop_instance_uid));
  CHECK(IsValidUid(first->series_instance_uid));

  // Another finding of the same model: same series, another instance.
  EvidenceImageRequest other = request;
  other.finding_label = "Effusion";
  auto third = WriteSecondaryCaptureEvidence(other);
  REQUIRE(third.ok());
  CHECK(third->series_instance_uid == first->series_instance_uid);
  CHECK(third->sop_instance_uid != first->sop_instance_uid);

  // Given UIDs are used as they are.
  other.series_instance_uid = "1.2.826.0.1.3680043.8.498.77";
  other.sop_instance_uid = "1.2.826.0.1.3680043.8.498.77.1";
  auto given = WriteSecondaryCaptureEvidence(other);
  REQUIRE(given.ok());
  CHECK(given->series_instance_uid == "1.2.826.0.1.3680043.8.498.77");
  CHECK(given->sop_instance_uid == "1.2.826.0.1.3680043.8.498.77.1");

  // A picture smaller than the source: Pixel Spacing scales with it.
  auto header = ReadInstanceHeaderFromBuffer(first->part10.data(), first->part10.size());
  auto source_header = ReadInstanceHeaderFromBuffer(source.bytes.data(), source.bytes.size());
  REQUIRE(header.ok());
  REQUIRE(source_header.ok());
  REQUIRE(header->pixel_spacing.size() == 2);
  CHECK(header->pixel_spacing[0] == Approx(source_header->pixel_spacing[0] * 2));
  CHECK(header->pixel_spacing[1] == Approx(source_header->pixel_spacing[1] * 2));
}

TEST_CASE("evidence on a head CT slice takes its orientation from the slice and validates", "[dicom][evidence]") {
  parallax::testing::TempDir dir;
  parallax::phantom::HeadCtOptions options;
  options.seed = 3;
  options.size = 128;
  options.slices = 8;
  options.findings = {"Subdural"};
  const parallax::phantom::Study study = parallax::phantom::MakeHeadCt(options);
  auto written = WritePhantomStudy(study, {}, (dir.path() / "ct").string());
  REQUIRE(written.ok());
  const size_t slice = 4;
  const std::string bytes = ReadAll(written->files[slice]);

  parallax::phantom::Image windowed = study.series[0].images[slice];
  // Roughly a brain window, to 12 bits.
  for (int16_t& v : windowed.pixels) v = static_cast<int16_t>(std::clamp((v - 1000) * 50, 0, 4095));
  const std::vector<uint8_t> rgb = BlendOverlay(windowed, 96, 96, 40, 30, 12);

  EvidenceImageRequest request;
  request.source_part10 = bytes;
  request.rgb_pixels = rgb;
  request.rows = 96;
  request.columns = 96;
  request.finding_label = "Subdural haemorrhage";
  request.model_name = "parallax-head-ct";
  request.model_version = "2026.12.1";
  request.content_date = "20261204";
  request.content_time = "101800.250000";
  auto evidence = WriteSecondaryCaptureEvidence(request);
  REQUIRE(evidence.ok());
  auto header = ReadInstanceHeaderFromBuffer(evidence->part10.data(), evidence->part10.size());
  REQUIRE(header.ok());
  CHECK(header->modality == "CT");
  CHECK(header->study_instance_uid == written->study_instance_uid);
  CHECK(header->patient_orientation == "L\\P");  // axial, from Image Orientation (Patient) 1\0\0\0\1\0
  CHECK(header->rows == 96);
  CHECK(header->columns == 96);

  const std::string path = (dir.path() / "ct-evidence.dcm").string();
  WriteAll(path, evidence->part10);
  RequireValidIod(path);
  int rows = 0;
  int columns = 0;
  CHECK(DecodeWithDcm2pnm(path, rows, columns) == rgb);
}

TEST_CASE("non-ASCII evidence text moves a Latin-1 source's text to UTF-8", "[dicom][evidence]") {
  parallax::testing::TempDir dir;
  StudyIdentity identity;
  identity.patient_name = "M\xDCLLER^ANNA";  // ISO_IR 100 (Latin-1), as the phantom writer declares
  const SourceInstance source = ChestSource(dir, identity);
  const std::vector<uint8_t> rgb = BlendOverlay(source.image, 64, 64, 20, 20, 8);
  EvidenceImageRequest request = ChestRequest(source, rgb, 64, 64);
  request.series_description = "Parallax AI evidence \xE2\x80\x94 Grad-CAM, not for primary diagnosis";
  auto evidence = WriteSecondaryCaptureEvidence(request);
  REQUIRE(evidence.ok());
  DcmFileFormat file;
  Parse(evidence->part10, file);
  DcmDataset& ds = *file.getDataset();
  CHECK(Get(ds, DCM_SpecificCharacterSet) == "ISO_IR 192");
  CHECK(Get(ds, DCM_PatientName) == "M\xC3\x9CLLER^ANNA");
  CHECK(Get(ds, DCM_SeriesDescription) == request.series_description);
  const std::string path = (dir.path() / "utf8.dcm").string();
  WriteAll(path, evidence->part10);
  RequireValidIod(path);
}

TEST_CASE("evidence the writer cannot make is refused naming the problem, not the patient", "[dicom][evidence]") {
  parallax::testing::TempDir dir;
  StudyIdentity identity;
  identity.patient_id = "SECRET-PID-4711";
  const SourceInstance source = ChestSource(dir, identity);
  const std::vector<uint8_t> rgb = BlendOverlay(source.image, 32, 32, 10, 10, 4);
  const EvidenceImageRequest good = ChestRequest(source, rgb, 32, 32);

  auto refused = [](const EvidenceImageRequest& request, const std::string& expected) {
    auto result = WriteSecondaryCaptureEvidence(request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(result.status().message());
    INFO(message);
    CHECK(message.find(expected) != std::string::npos);
    CHECK(message.find("SECRET-PID-4711") == std::string::npos);
    CHECK(message.find("PHANTOM") == std::string::npos);
  };

  EvidenceImageRequest r = good;
  const std::string png = "\x89PNG\r\n\x1a\n" + std::string(600, 'x');
  r.source_part10 = png;
  refused(r, "not a DICOM");

  r = good;
  const std::string truncated = source.bytes.substr(0, source.bytes.size() / 2);
  r.source_part10 = truncated;
  refused(r, "unparseable");

  r = good;
  r.rows = 31;
  refused(r, "pixel buffer");

  r = good;
  r.rgb_pixels = {};
  r.rows = 0;
  r.columns = 0;
  refused(r, "zero size");

  r = good;
  r.model_device_uid = "not-a-uid";
  refused(r, "device UID");

  r = good;
  r.content_date = "4.12.2026";
  refused(r, "content date");

  testing::SampleInstance sample;
  sample.omit_study_uid = true;
  sample.patient_id = "SECRET-PID-4711";
  const std::string path = (dir.path() / "nostudy.dcm").string();
  REQUIRE(testing::WriteSampleInstance(sample, path).ok());
  const std::string no_study = ReadAll(path);
  r = good;
  r.source_part10 = no_study;
  refused(r, "StudyInstanceUID");
}
