#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sop_classes.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::dicom;

namespace {
std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("the header of a CT slice gives what triage needs", "[dicom]") {
  parallax::testing::TempDir dir;
  testing::SampleInstance sample;
  sample.instance_number = 7;
  sample.study_uid = "1.2.826.0.1.3680043.8.498.1";
  std::string path = (dir.path() / "ct.dcm").string();
  REQUIRE(testing::WriteSampleInstance(sample, path).ok());

  auto h = ReadInstanceHeaderFromFile(path);
  REQUIRE(h.ok());
  CHECK(h->study_instance_uid == "1.2.826.0.1.3680043.8.498.1");
  CHECK(h->sop_class_uid == "1.2.840.10008.5.1.4.1.1.2");
  CHECK(h->transfer_syntax_uid == "1.2.840.10008.1.2.1");
  CHECK(h->modality == "CT");
  CHECK(h->body_part_examined == "HEAD");
  CHECK(h->instance_number == 7);
  CHECK(h->rows == 64);
  CHECK(h->columns == 64);
  CHECK(h->bits_stored == 12);
  CHECK(h->slice_thickness == Approx(5.0));
  REQUIRE(h->pixel_spacing.size() == 2);
  CHECK(h->pixel_spacing[0] == Approx(0.5));
  REQUIRE(h->image_orientation_patient.size() == 6);
  REQUIRE(h->image_position_patient.size() == 3);
  CHECK(h->image_position_patient[2] == Approx(35.0));
  CHECK(h->image_type == std::vector<std::string>{"ORIGINAL", "PRIMARY", "AXIAL"});

  std::string bytes = ReadAll(path);
  auto from_buffer = ReadInstanceHeaderFromBuffer(bytes.data(), bytes.size());
  REQUIRE(from_buffer.ok());
  CHECK(from_buffer->sop_instance_uid == h->sop_instance_uid);
}

TEST_CASE("an instance without its Study Instance UID is refused naming the attribute", "[dicom]") {
  parallax::testing::TempDir dir;
  testing::SampleInstance sample;
  sample.omit_study_uid = true;
  std::string path = (dir.path() / "nostudy.dcm").string();
  REQUIRE(testing::WriteSampleInstance(sample, path).ok());
  auto h = ReadInstanceHeaderFromFile(path);
  REQUIRE(h.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(h.status().message()).find("StudyInstanceUID") != std::string::npos);
}

TEST_CASE("truncated or foreign bytes are refused as unparseable", "[dicom]") {
  parallax::testing::TempDir dir;
  std::string path = (dir.path() / "ct.dcm").string();
  REQUIRE(testing::WriteSampleInstance({}, path).ok());
  std::string bytes = ReadAll(path);
  std::string truncated = bytes.substr(0, bytes.size() - 1000);
  CHECK_FALSE(ReadInstanceHeaderFromBuffer(truncated.data(), truncated.size()).ok());
  std::string garbage(4096, '\x7f');
  CHECK_FALSE(ReadInstanceHeaderFromBuffer(garbage.data(), garbage.size()).ok());
  std::string png = "\x89PNG\r\n\x1a\n" + std::string(600, 'x');
  CHECK_FALSE(ReadInstanceHeaderFromBuffer(png.data(), png.size()).ok());
}

TEST_CASE("UIDs that are unsafe as file names are not valid UIDs", "[dicom]") {
  CHECK(IsValidUid("1.2.840.10008.5.1.4.1.1.2"));
  CHECK_FALSE(IsValidUid(""));
  CHECK_FALSE(IsValidUid("../../etc/passwd"));
  CHECK_FALSE(IsValidUid("1..2"));
  CHECK_FALSE(IsValidUid(".1.2"));
  CHECK_FALSE(IsValidUid(std::string(65, '1')));
}

TEST_CASE("the radiology storage classes are accepted and others are not", "[dicom]") {
  CHECK(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.1"));      // CR
  CHECK(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.1.1"));    // DX for presentation
  CHECK(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.2.1"));    // enhanced CT
  CHECK(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.4.1"));    // enhanced MR
  CHECK(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.66.4"));   // segmentation
  CHECK(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.88.34"));  // comprehensive 3D SR
  CHECK_FALSE(IsAcceptedStorageSopClass("1.2.840.10008.5.1.4.1.1.481.1"));  // RT image
  CHECK(SopClassLabel("1.2.840.10008.5.1.4.1.1.2") == "CTImageStorage");
  CHECK(SopClassLabel("9.9") == "other");
}
