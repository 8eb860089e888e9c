#include <catch2/catch.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "parallax/dicom/pixel_reader.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::dicom;

namespace {

// A greyscale image written with DCMTK; `stored` holds the stored values of
// every frame, frame after frame, row-major.
struct TestImage {
  int rows = 48;
  int columns = 80;  // not square, so a row/column mix-up shows
  int frames = 1;
  int bits_allocated = 16;
  int bits_stored = 12;
  bool is_signed = false;
  std::string photometric = "MONOCHROME2";
  std::string slope;      // omitted when empty
  std::string intercept;  // omitted when empty
  std::string modality = "CT";
  std::vector<int32_t> stored;
  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
};

std::vector<int32_t> Ramp(size_t count, int32_t modulo, int32_t offset = 0, int32_t step = 37) {
  std::vector<int32_t> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>((i * step) % modulo) + offset;
  return out;
}

void WriteImage(const TestImage& t, const std::string& path) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  char uid[100];
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  ds->putAndInsertString(DCM_StudyInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT));
  ds->putAndInsertString(DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT));
  ds->putAndInsertString(DCM_PatientName, "PHANTOM^SECRET");
  ds->putAndInsertString(DCM_PatientID, "PHANTOM-SECRET-ID");
  ds->putAndInsertString(DCM_Modality, t.modality.c_str());
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(t.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(t.columns));
  if (t.frames != 1) ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(t.frames).c_str());
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, t.photometric.c_str());
  ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(t.bits_allocated));
  ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(t.bits_stored));
  ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(t.bits_stored - 1));
  ds->putAndInsertUint16(DCM_PixelRepresentation, t.is_signed ? 1 : 0);
  ds->putAndInsertString(DCM_PixelSpacing, "0.7\\0.6");
  if (!t.slope.empty()) ds->putAndInsertString(DCM_RescaleSlope, t.slope.c_str());
  if (!t.intercept.empty()) ds->putAndInsertString(DCM_RescaleIntercept, t.intercept.c_str());
  const size_t count = static_cast<size_t>(t.rows) * t.columns * t.frames;
  REQUIRE(t.stored.size() == count);
  if (t.bits_allocated == 8) {
    std::vector<Uint8> px(count);
    for (size_t i = 0; i < count; ++i) px[i] = static_cast<Uint8>(t.stored[i]);
    REQUIRE(ds->putAndInsertUint8Array(DCM_PixelData, px.data(), count).good());
  } else {
    // Two's complement in the word, as scanners write signed data.
    std::vector<Uint16> px(count);
    for (size_t i = 0; i < count; ++i) px[i] = static_cast<Uint16>(static_cast<uint32_t>(t.stored[i]) & 0xFFFF);
    REQUIRE(ds->putAndInsertUint16Array(DCM_PixelData, px.data(), count).good());
  }
  REQUIRE(file.saveFile(path.c_str(), t.xfer).good());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a DCMTK command-line tool; the test fails when it does.
void Run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " 2>&1").c_str()) == 0);
}

// The values every frame should decode to: stored * slope + intercept.
std::vector<float> Expected(const std::vector<int32_t>& stored, double slope, double intercept) {
  std::vector<float> out;
  for (int32_t v : stored) out.push_back(static_cast<float>(v * slope + intercept));
  return out;
}

std::vector<float> AllValues(const std::vector<PixelImage>& frames) {
  std::vector<float> out;
  for (const PixelImage& f : frames) out.insert(out.end(), f.values.begin(), f.values.end());
  return out;
}

}  // namespace

TEST_CASE("a CT slice reads back in exact Hounsfield units in every uncompressed syntax", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.intercept = "-1024";
  t.slope = "1";
  t.stored = Ramp(static_cast<size_t>(t.rows) * t.columns, 4096);
  const std::vector<float> hu = Expected(t.stored, 1, -1024);

  for (E_TransferSyntax xfer : {EXS_LittleEndianExplicit, EXS_LittleEndianImplicit, EXS_BigEndianExplicit}) {
    INFO(DcmXfer(xfer).getXferName());
    t.xfer = xfer;
    const std::string path = (dir.path() / "ct.dcm").string();
    WriteImage(t, path);
    auto frames = ReadPixels(path);
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 1);
    const PixelImage& image = frames->front();
    CHECK(image.rows == 48);
    CHECK(image.columns == 80);
    CHECK_FALSE(image.inverted);
    CHECK(image.pixel_spacing_mm[0] == Approx(0.7));
    CHECK(image.pixel_spacing_mm[1] == Approx(0.6));
    CHECK(image.values == hu);
    CHECK(*std::min_element(image.values.begin(), image.values.end()) == -1024.0f);

    const std::string bytes = ReadAll(path);
    auto from_buffer = ReadPixelsFromBuffer(bytes.data(), bytes.size());
    REQUIRE(from_buffer.ok());
    CHECK(AllValues(*from_buffer) == hu);
  }
}

TEST_CASE("a CT slice compressed losslessly with JPEG, JPEG-LS and RLE decodes to identical values", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.intercept = "-1024";
  t.slope = "1";
  t.stored = Ramp(static_cast<size_t>(t.rows) * t.columns, 4096);
  const std::string source = (dir.path() / "ct.dcm").string();
  WriteImage(t, source);
  const std::vector<float> hu = Expected(t.stored, 1, -1024);

  struct Codec {
    std::string command;
    std::string transfer_syntax;
  };
  for (const Codec& codec : {Codec{"dcmcjpeg +e1", "1.2.840.10008.1.2.4.70"},
                             Codec{"dcmcjpls +el", "1.2.840.10008.1.2.4.80"},
                             Codec{"dcmcrle", "1.2.840.10008.1.2.5"}}) {
    INFO(codec.command);
    const std::string out = (dir.path() / "compressed.dcm").string();
    Run(codec.command + " " + source + " " + out);
    REQUIRE(ReadAll(out).find(codec.transfer_syntax) != std::string::npos);
    auto frames = ReadPixels(out);
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 1);
    CHECK(frames->front().values == hu);
    const std::string bytes = ReadAll(out);
    auto from_buffer = ReadPixelsFromBuffer(bytes.data(), bytes.size());
    REQUIRE(from_buffer.ok());
    CHECK(AllValues(*from_buffer) == hu);
  }
}

TEST_CASE("signed 16-bit pixels read with their sign, also after lossless compression", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.bits_stored = 16;
  t.is_signed = true;
  t.slope = "2";
  t.intercept = "-5";
  t.stored = Ramp(static_cast<size_t>(t.rows) * t.columns, 65536, -32768, 1231);
  t.stored[0] = -32768;
  t.stored[1] = 32767;
  t.stored[2] = -1;
  t.stored[3] = 0;
  const std::string source = (dir.path() / "signed.dcm").string();
  WriteImage(t, source);
  const std::vector<float> expected = Expected(t.stored, 2, -5);
  CHECK(expected[0] == -65541.0f);

  auto frames = ReadPixels(source);
  REQUIRE(frames.ok());
  CHECK(frames->front().values == expected);
  for (std::string tool : {"dcmcjpeg +e1", "dcmcjpls +el", "dcmcrle"}) {
    INFO(tool);
    const std::string out = (dir.path() / "compressed.dcm").string();
    Run(tool + " " + source + " " + out);
    auto decoded = ReadPixels(out);
    REQUIRE(decoded.ok());
    CHECK(decoded->front().values == expected);
  }
}

TEST_CASE("signed 12-bit pixels are sign-extended from BitsStored", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.is_signed = true;
  t.stored = Ramp(static_cast<size_t>(t.rows) * t.columns, 4096, -2048);
  t.stored[0] = -2048;
  t.stored[1] = 2047;
  const std::string path = (dir.path() / "signed12.dcm").string();
  WriteImage(t, path);
  auto frames = ReadPixels(path);
  REQUIRE(frames.ok());
  CHECK(frames->front().values == Expected(t.stored, 1, 0));
  CHECK(frames->front().values[0] == -2048.0f);
}

TEST_CASE("a MONOCHROME1 radiograph is inverted so bright is dense, and flagged", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.modality = "DX";
  t.photometric = "MONOCHROME1";
  t.stored = Ramp(static_cast<size_t>(t.rows) * t.columns, 4096);
  t.stored[0] = 0;
  t.stored[1] = 4095;
  t.stored[2] = 100;
  const std::string path = (dir.path() / "mono1.dcm").string();
  WriteImage(t, path);
  auto frames = ReadPixels(path);
  REQUIRE(frames.ok());
  const PixelImage& image = frames->front();
  CHECK(image.inverted);
  CHECK(image.values[0] == 4095.0f);
  CHECK(image.values[1] == 0.0f);
  CHECK(image.values[2] == 3995.0f);
  for (size_t i = 0; i < t.stored.size(); ++i) REQUIRE(image.values[i] == static_cast<float>(4095 - t.stored[i]));

  SECTION("8-bit MONOCHROME1 is inverted over its 8-bit range") {
    TestImage e = t;
    e.bits_allocated = 8;
    e.bits_stored = 8;
    e.stored = Ramp(static_cast<size_t>(e.rows) * e.columns, 256);
    WriteImage(e, path);
    auto eight = ReadPixels(path);
    REQUIRE(eight.ok());
    for (size_t i = 0; i < e.stored.size(); ++i) REQUIRE(eight->front().values[i] == static_cast<float>(255 - e.stored[i]));
  }
}

TEST_CASE("a three-frame image gives three frames, also when RLE or JPEG compressed", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.frames = 3;
  t.intercept = "-1024";
  const size_t per_frame = static_cast<size_t>(t.rows) * t.columns;
  for (int f = 0; f < 3; ++f) {
    auto ramp = Ramp(per_frame, 1000, 1000 * f);
    t.stored.insert(t.stored.end(), ramp.begin(), ramp.end());
  }
  const std::string source = (dir.path() / "multi.dcm").string();
  WriteImage(t, source);

  auto check = [&](const std::string& path) {
    auto frames = ReadPixels(path);
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 3);
    for (int f = 0; f < 3; ++f) {
      const std::vector<int32_t> stored(t.stored.begin() + f * per_frame, t.stored.begin() + (f + 1) * per_frame);
      CHECK((*frames)[f].values == Expected(stored, 1, -1024));
    }
  };
  check(source);
  for (std::string tool : {"dcmcrle", "dcmcjpeg +e1", "dcmcjpls +el"}) {
    INFO(tool);
    const std::string out = (dir.path() / "compressed.dcm").string();
    Run(tool + " " + source + " " + out);
    check(out);
  }
}

TEST_CASE("8-bit unsigned pixels read exactly, also from lossless JPEG", "[dicom]") {
  parallax::testing::TempDir dir;
  TestImage t;
  t.modality = "DX";
  t.bits_allocated = 8;
  t.bits_stored = 8;
  t.stored = Ramp(static_cast<size_t>(t.rows) * t.columns, 256);
  const std::string source = (dir.path() / "eight.dcm").string();
  WriteImage(t, source);
  auto frames = ReadPixels(source);
  REQUIRE(frames.ok());
  CHECK(frames->front().values == Expected(t.stored, 1, 0));
  const std::string out = (dir.path() / "eight-jpeg.dcm").string();
  Run("dcmcjpeg +e1 " + source + " " + out);
  auto decoded = ReadPixels(out);
  REQUIRE(decoded.ok());
  CHECK(decoded->front().values == Expected(t.stored, 1, 0));
}

TEST_CASE("a structured report has no pixels and is refused without patient data in the message", "[dicom]") {
  parallax::testing::TempDir dir;
  testing::SampleInstance sr;
  sr.modality = "SR";
  sr.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.11";  // Basic Text SR
  const std::string path = (dir.path() / "sr.dcm").string();
  REQUIRE(testing::WriteSampleInstance(sr, path).ok());
  auto frames = ReadPixels(path);
  REQUIRE_FALSE(frames.ok());
  CHECK(frames.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string message(frames.status().message());
  CHECK(message.find("Pixel Data") != std::string::npos);
  CHECK(message.find("1.2.840.10008.1.2.1") != std::string::npos);
  CHECK(message.find("PHANTOM") == std::string::npos);
}

TEST_CASE("a transfer syntax without a decoder is refused naming its UID", "[dicom]") {
  parallax::testing::TempDir dir;
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  char uid[100];
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  ds->putAndInsertString(DCM_PatientID, "PHANTOM-SECRET-ID");
  ds->putAndInsertUint16(DCM_Rows, 8);
  ds->putAndInsertUint16(DCM_Columns, 8);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 12);
  ds->putAndInsertUint16(DCM_HighBit, 11);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  auto* sequence = new DcmPixelSequence(DCM_PixelSequenceTag);
  sequence->insert(new DcmPixelItem(DCM_PixelItemTag));  // empty offset table
  auto* fragment = new DcmPixelItem(DCM_PixelItemTag);
  Uint8 junk[16] = {0xFF, 0x4F, 0xFF, 0x51};
  fragment->putUint8Array(junk, sizeof junk);
  sequence->insert(fragment);
  auto* pixels = new DcmPixelData(DCM_PixelData);
  pixels->putOriginalRepresentation(EXS_JPEG2000LosslessOnly, nullptr, sequence);
  ds->insert(pixels);
  const std::string path = (dir.path() / "j2k.dcm").string();
  REQUIRE(file.saveFile(path.c_str(), EXS_JPEG2000LosslessOnly).good());

  auto frames = ReadPixels(path);
  REQUIRE_FALSE(frames.ok());
  CHECK(frames.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string message(frames.status().message());
  CHECK(message.find("1.2.840.10008.1.2.4.90") != std::string::npos);
  CHECK(message.find("SECRET") == std::string::npos);
}

TEST_CASE("colour images are refused", "[dicom]") {
  parallax::testing::TempDir dir;
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  char uid[100];
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  ds->putAndInsertUint16(DCM_Rows, 4);
  ds->putAndInsertUint16(DCM_Columns, 4);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 3);
  ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "RGB");
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  std::vector<Uint8> rgb(4 * 4 * 3, 128);
  ds->putAndInsertUint8Array(DCM_PixelData, rgb.data(), rgb.size());
  const std::string path = (dir.path() / "rgb.dcm").string();
  REQUIRE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  auto frames = ReadPixels(path);
  REQUIRE_FALSE(frames.ok());
  CHECK(frames.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(frames.status().message()).find("colour images are not supported") != std::string::npos);
}

TEST_CASE("a missing file is NOT_FOUND and garbage is INVALID_ARGUMENT", "[dicom]") {
  parallax::testing::TempDir dir;
  auto missing = ReadPixels((dir.path() / "absent.dcm").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);

  const std::string garbage(300, 'x');
  auto from_buffer = ReadPixelsFromBuffer(garbage.data(), garbage.size());
  REQUIRE_FALSE(from_buffer.ok());
  CHECK(from_buffer.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string path = (dir.path() / "garbage.dcm").string();
  std::ofstream(path) << garbage;
  auto from_file = ReadPixels(path);
  REQUIRE_FALSE(from_file.ok());
  CHECK(from_file.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ApplyWindow maps the centre to one half and clamps outside the window", "[dicom]") {
  PixelImage image;
  image.rows = 1;
  image.columns = 6;
  image.values = {-1000, 0, 20, 40, 80, 3000};
  std::vector<float> out(image.values.size(), -1);
  ApplyWindow(image, 40, 80, out.data());
  CHECK(out[0] == 0.0f);
  CHECK(out[1] == 0.0f);
  CHECK(out[2] == Approx(0.25));
  CHECK(out[3] == Approx(0.5));
  CHECK(out[4] == 1.0f);
  CHECK(out[5] == 1.0f);
}

TEST_CASE("a phantom head CT reads with brain in the brain window and air below -900 HU", "[dicom]") {
  parallax::testing::TempDir dir;
  const std::string tool = parallax::testing::BinDir() + "/libs/phantom/tools/parallax-synth";
  Run(tool + " --kind head_ct --out " + dir.path().string() + " --seed 11 --normal-fraction 1 > /dev/null");
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (entry.path().extension() == ".dcm") files.push_back(entry.path().string());
  }
  REQUIRE(files.size() >= 10);
  std::sort(files.begin(), files.end());
  // A slice two thirds of the way up: through the cerebrum, above the skull base.
  const std::string& slice = files[files.size() * 2 / 3];
  INFO(slice);
  auto frames = ReadPixels(slice);
  REQUIRE(frames.ok());
  REQUIRE(frames->size() == 1);
  const PixelImage& image = frames->front();
  REQUIRE(image.rows == 512);
  REQUIRE(image.columns == 512);
  CHECK(image.pixel_spacing_mm[0] > 0.2);
  CHECK_FALSE(image.inverted);
  auto at = [&](int r, int c) { return image.values[static_cast<size_t>(r) * image.columns + c]; };

  // Air: the image corners.
  for (auto [r, c] : {std::pair{2, 2}, std::pair{2, 509}, std::pair{509, 2}, std::pair{509, 509}}) {
    CHECK(at(r, c) < -900.0f);
  }
  // Brain: the median of the central 40 x 40 mm, which is soft tissue
  // (ventricles are a minority), lies in the grey/white matter range.
  const int half = static_cast<int>(20.0 / image.pixel_spacing_mm[0]);
  std::vector<float> centre;
  for (int r = 256 - half; r < 256 + half; ++r) {
    for (int c = 256 - half; c < 256 + half; ++c) centre.push_back(at(r, c));
  }
  std::nth_element(centre.begin(), centre.begin() + centre.size() / 2, centre.end());
  const float median = centre[centre.size() / 2];
  CHECK(median > 20.0f);
  CHECK(median < 45.0f);
}

TEST_CASE("lossy JPEG baseline (8-bit) and extended (12-bit) decode close to the source", "[dicom]") {
  parallax::testing::TempDir dir;
  struct Case {
    std::string command;
    int bits;
  };
  for (const Case& c : {Case{"dcmcjpeg +eb", 8}, Case{"dcmcjpeg +ee", 12}}) {
    INFO(c.command);
    TestImage t;
    t.modality = "DX";
    t.bits_allocated = c.bits == 8 ? 8 : 16;
    t.bits_stored = c.bits;
    t.rows = 64;
    t.columns = 64;
    // A smooth gradient, which lossy JPEG keeps within a few levels.
    for (int r = 0; r < t.rows; ++r) {
      for (int col = 0; col < t.columns; ++col) t.stored.push_back(((r + col) * ((1 << c.bits) - 1)) / 126);
    }
    const std::string source = (dir.path() / "smooth.dcm").string();
    const std::string out = (dir.path() / "lossy.dcm").string();
    WriteImage(t, source);
    Run(c.command + " " + source + " " + out);
    auto frames = ReadPixels(out);
    REQUIRE(frames.ok());
    const std::vector<float>& values = frames->front().values;
    REQUIRE(values.size() == t.stored.size());
    double error = 0;
    for (size_t i = 0; i < values.size(); ++i) error += std::abs(values[i] - t.stored[i]);
    CHECK(error / values.size() < (1 << c.bits) / 100.0);
  }
}
