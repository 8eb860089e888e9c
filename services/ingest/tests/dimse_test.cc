// C-STORE / C-ECHO through the real DCMTK tools into a running ingest service.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "ingest_fixture.h"
#include "instance_store.h"
#include "parallax/dicom/testing/sample_instance.h"

using namespace parallax::ingest;
using namespace parallax::ingest::testing;

namespace {
std::string StoredPath(IngestFixture& f, const std::string& sop) {
  return f.config().store_root + "/" + InstanceStore::RelativePathFor(sop);
}
std::string SopOf(const std::string& file) {
  auto r = Run("dcmdump -q +P 0008,0018 " + file);
  auto open = r.output.find('[');
  auto close = r.output.find(']');
  REQUIRE(open != std::string::npos);
  return r.output.substr(open + 1, close - open - 1);
}
}  // namespace

TEST_CASE("ingest answers Success only after the instance is durable and indexed, stored as received",
          "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(5);
  auto r = f.StoreScu(files);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("Received Store Response (Success)") != std::string::npos);
  CHECK(f.CountInstances() == 5);
  CHECK(f.CountStudies() == 1);
  for (const auto& file : files) {
    std::string stored = StoredPath(f, SopOf(file));
    REQUIRE(std::filesystem::exists(stored));
    // The data set on disk is byte for byte what the sender sent.
    CHECK(DataSetBytes(stored) == DataSetBytes(file));
  }
  auto rows = f.db().Exec(
      "SELECT modality, ingest.series.body_part_examined, rows, columns, slice_thickness, pixel_spacing::text, "
      "transfer_syntax_uid "
      "FROM ingest.instances JOIN ingest.series USING (series_uid) LIMIT 1");
  REQUIRE(rows.ok());
  CHECK((*rows)[0].Get(0) == "CT");
  CHECK((*rows)[0].Get(1) == "HEAD");
  CHECK((*rows)[0].Get(2) == "64");
  CHECK((*rows)[0].Get(4) == "5");
  CHECK((*rows)[0].Get(5) == "{0.5,0.5}");
  CHECK((*rows)[0].Get(6) == "1.2.840.10008.1.2.1");
}

TEST_CASE("a resent SOP Instance UID is answered Success and stored once", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(2);
  REQUIRE(f.StoreScu(files).exit_code == 0);
  auto again = f.StoreScu(files);
  REQUIRE(again.exit_code == 0);
  CHECK(again.output.find("Received Store Response (Success)") != std::string::npos);
  CHECK(f.CountInstances() == 2);
}

TEST_CASE("C-ECHO is answered", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto r = Run("TCP_NODELAY=1 echoscu -aec PARALLAX 127.0.0.1 " + std::to_string(f.config().dicom_port));
  INFO(r.output);
  CHECK(r.exit_code == 0);
}

TEST_CASE("a calling AE outside the allow-list is rejected at association and nothing is stored", "[ingest][db]") {
  IngestFixture f;
  f.config().allowed_calling_aes = {"CT_SCANNER_1", "ORTHANC"};
  f.Start();
  auto files = f.WriteStudy(1);
  auto refused = f.StoreScu(files, "INTRUDER");
  INFO(refused.output);
  CHECK(refused.exit_code != 0);
  CHECK(refused.output.find("Calling AE Title Not Recognized") != std::string::npos);
  CHECK(f.CountInstances() == 0);
  CHECK(f.StoreScu(files, "CT_SCANNER_1").exit_code == 0);
  CHECK(f.CountInstances() == 1);
}

TEST_CASE("an association addressed to another AE title is rejected", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto r = Run("TCP_NODELAY=1 echoscu -aec NOT_PARALLAX 127.0.0.1 " + std::to_string(f.config().dicom_port));
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("Called AE Title Not Recognized") != std::string::npos);
}

TEST_CASE("an instance without its Study Instance UID is refused with A900 and the service keeps running",
          "[ingest][db]") {
  IngestFixture f;
  f.Start();
  parallax::dicom::testing::SampleInstance bad;
  bad.omit_study_uid = true;
  std::string bad_path = f.NewDir("bad") + "/nostudy.dcm";
  REQUIRE(parallax::dicom::testing::WriteSampleInstance(bad, bad_path).ok());
  auto r = f.StoreScu({bad_path});
  INFO(r.output);
  CHECK(r.output.find("Error: DataSetDoesNotMatchSOPClass") != std::string::npos);
  CHECK(f.CountInstances() == 0);
  // No staging file is left behind and the next sender is served.
  auto good = f.WriteStudy(1);
  CHECK(f.StoreScu(good).exit_code == 0);
  CHECK(f.CountInstances() == 1);
  int leftovers = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(f.config().store_root)) {
    if (e.path().filename().string().rfind(".incoming-", 0) == 0) ++leftovers;
  }
  CHECK(leftovers == 0);
  // The refusal is counted by reason.
  const std::string metrics = f.Metrics();
  CHECK(metrics.find("parallax_ingest_instances_rejected_total{reason=\"invalid_identifiers\",source=\"dimse\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("parallax_ingest_instances_stored_total{sop_class=\"CTImageStorage\",source=\"dimse\"} 1") !=
        std::string::npos);
}

TEST_CASE("a store below its free-space reserve answers A700 and stores nothing", "[ingest][db]") {
  IngestFixture f;
  f.config().min_free_bytes = int64_t{1} << 60;  // more than any disk: the store is "full"
  f.Start();
  auto files = f.WriteStudy(1);
  auto r = f.StoreScu(files);
  INFO(r.output);
  CHECK(r.output.find("Refused: OutOfResources") != std::string::npos);
  CHECK(f.CountInstances() == 0);
}

TEST_CASE("compressed, implicit and big-endian instances are stored without transcoding", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(3);
  std::string dir = f.NewDir("encodings");
  std::string jpeg = dir + "/jpeg-lossless.dcm";
  std::string implicit = dir + "/implicit.dcm";
  std::string rle = dir + "/rle.dcm";
  REQUIRE(Run("dcmcjpeg +e1 " + files[0] + " " + jpeg).exit_code == 0);
  REQUIRE(Run("dcmconv +ti " + files[1] + " " + implicit).exit_code == 0);
  REQUIRE(Run("dcmcrle " + files[2] + " " + rle).exit_code == 0);
  // Propose each file's own transfer syntax first, as a PACS does.
  auto r = Run("TCP_NODELAY=1 storescu -aec PARALLAX -R --propose-lossless 127.0.0.1 " +
               std::to_string(f.config().dicom_port) + " " + jpeg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = Run("TCP_NODELAY=1 storescu -aec PARALLAX -xi 127.0.0.1 " + std::to_string(f.config().dicom_port) + " " +
          implicit);
  REQUIRE(r.exit_code == 0);
  r = Run("TCP_NODELAY=1 storescu -aec PARALLAX -R --propose-rle 127.0.0.1 " + std::to_string(f.config().dicom_port) +
          " " + rle);
  REQUIRE(r.exit_code == 0);
  auto rows = f.db().Exec("SELECT transfer_syntax_uid FROM ingest.instances ORDER BY transfer_syntax_uid");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 3);
  CHECK((*rows)[0].Get(0) == "1.2.840.10008.1.2");         // implicit VR little endian
  CHECK((*rows)[1].Get(0) == "1.2.840.10008.1.2.4.70");    // JPEG lossless SV1
  CHECK((*rows)[2].Get(0) == "1.2.840.10008.1.2.5");       // RLE
  CHECK(DataSetBytes(StoredPath(f, SopOf(jpeg))) == DataSetBytes(jpeg));
  CHECK(DataSetBytes(StoredPath(f, SopOf(rle))) == DataSetBytes(rle));
}

TEST_CASE("several associations store at once", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  std::vector<std::vector<std::string>> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(f.WriteStudy(10));
  std::string cmd;
  for (auto& b : batches) {
    cmd += "(TCP_NODELAY=1 storescu -aec PARALLAX 127.0.0.1 " + std::to_string(f.config().dicom_port);
    for (auto& file : b) cmd += " " + file;
    cmd += ") & ";
  }
  cmd += "wait";
  auto r = Run(cmd);
  INFO(r.output);
  CHECK(f.CountInstances() == 40);
  CHECK(f.CountStudies() == 4);
}

TEST_CASE("a file left in place by an interrupted store is replaced when the instance is resent", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(1);
  const std::string stored = StoredPath(f, SopOf(files[0]));
  {
    // What a crash between rename and index commit leaves: a file nobody indexed.
    std::filesystem::create_directories(std::filesystem::path(stored).parent_path());
    std::ofstream(stored) << "torn write";
  }
  auto r = f.StoreScu(files);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(f.CountInstances() == 1);
  CHECK(DataSetBytes(stored) == DataSetBytes(files[0]));
}

TEST_CASE("dcmsend delivers a study", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(4);
  std::string cmd = "TCP_NODELAY=1 dcmsend -aec PARALLAX 127.0.0.1 " + std::to_string(f.config().dicom_port);
  for (auto& file : files) cmd += " " + file;
  auto r = Run(cmd);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(f.CountInstances() == 4);
}
