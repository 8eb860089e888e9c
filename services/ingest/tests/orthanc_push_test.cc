// Orthanc, as the hospital's PACS, pushes a study to Parallax (a modality of its).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "ingest_fixture.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::ingest::testing;

TEST_CASE("Orthanc pushes a study to Parallax with POST /modalities/{id}/store", "[ingest][db][pacs]") {
  IngestFixture f;
  f.config().allowed_calling_aes = {"ORTHANC"};
  f.Start();
  const std::string scripts = parallax::testing::SourceDir() + "/scripts/lib/orthanc.sh";
  const int http = parallax::testing::FreeTcpPort();
  const int dicom = parallax::testing::FreeTcpPort();
  const std::string workdir = f.NewDir("orthanc");
  const std::string modalities =
      "{\"parallax\": [\"PARALLAX\", \"127.0.0.1\", " + std::to_string(f.config().dicom_port) + "]}";
  auto started = Run("ORTHANC_DICOM_MODALITIES='" + modalities + "' " + scripts + " start " + workdir + " " +
                     std::to_string(http) + " " + std::to_string(dicom));
  INFO(started.output);
  REQUIRE(started.exit_code == 0);
  struct StopOrthanc {
    std::string cmd;
    ~StopOrthanc() { Run(cmd); }
  } stop{scripts + " stop " + workdir};

  const std::string base = "http://127.0.0.1:" + std::to_string(http);
  auto files = f.WriteStudy(6, "CR");
  std::string study_id;
  for (const auto& file : files) {
    auto up = Run("curl -sf -X POST --data-binary @" + file + " " + base + "/instances");
    REQUIRE(up.exit_code == 0);
    study_id = nlohmann::json::parse(up.output)["ParentStudy"].get<std::string>();
  }
  auto push = Run("curl -sf -X POST -d '{\"Resources\": [\"" + study_id + "\"], \"Synchronous\": true}' " + base +
                  "/modalities/parallax/store");
  INFO(push.output);
  REQUIRE(push.exit_code == 0);
  CHECK(f.CountInstances() == 6);
  auto rows = f.db().Exec("SELECT DISTINCT calling_ae, source FROM ingest.instances");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].Get(0) == "ORTHANC");
  CHECK((*rows)[0].Get(1) == "dimse");
  auto modality = f.db().Exec("SELECT modality, body_part_examined FROM ingest.series");
  REQUIRE(modality.ok());
  CHECK((*modality)[0].Get(0) == "CR");
  CHECK((*modality)[0].Get(1) == "CHEST");
}
