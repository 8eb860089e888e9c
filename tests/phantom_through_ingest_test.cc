// Labelled phantom studies (parallax-synth) go through ingest to triage with
// the headers triage needs to pick the series a model applies to.
#include <catch2/catch.hpp>

#include <filesystem>

#include "ingest_fixture.h"
#include "parallax/phantom/ground_truth.h"
#include "parallax/testing/environment.h"
#include "running_triage.h"

using namespace parallax::ingest::testing;
using parallax::testing::RunningTriage;
using parallax::testing::WaitFor;
using namespace std::chrono_literals;

namespace {

std::string Synth(IngestFixture& f, const std::string& args) {
  const std::string out = f.NewDir("synth");
  auto r = Run(parallax::testing::BinDir() + "/libs/phantom/tools/parallax-synth --out " + out + " " + args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return out;
}

std::string OnlyStudyDir(const std::string& out) {
  for (auto& e : std::filesystem::directory_iterator(out)) {
    if (e.is_directory()) return e.path().string();
  }
  FAIL("no study written under " + out);
  return "";
}

}  // namespace

TEST_CASE("a phantom chest film and head CT reach triage with what triage needs", "[ingest][db][phantom]") {
  IngestFixture f;
  f.config().stable_after = 300ms;
  f.config().stability_sweep_interval = 50ms;
  RunningTriage triage(f.config().triage_address);
  f.Start();

  const std::string cxr = OnlyStudyDir(Synth(f, "--kind chest_xray --seed 11 --findings Pneumothorax"));
  const std::string ct = OnlyStudyDir(Synth(f, "--kind head_ct --seed 12 --findings Subdural"));
  for (const auto& dir : {cxr, ct}) {
    auto sent = Run("TCP_NODELAY=1 storescu -aec PARALLAX +sd +sp '*.dcm' 127.0.0.1 " + std::to_string(f.config().dicom_port) +
                    " " + dir);
    INFO(sent.output);
    REQUIRE(sent.exit_code == 0);
  }
  auto cxr_truth = parallax::phantom::ParseGroundTruth(ReadFile(cxr + "/truth.json"));
  auto ct_truth = parallax::phantom::ParseGroundTruth(ReadFile(ct + "/truth.json"));
  REQUIRE(cxr_truth.ok());
  REQUIRE(ct_truth.ok());
  CHECK(cxr_truth->labels == std::vector<std::string>{"Pneumothorax"});
  CHECK(ct_truth->labels == std::vector<std::string>{"Subdural"});

  REQUIRE(WaitFor([&] { return triage.Submissions(cxr_truth->study_instance_uid).size() == 1; }, 10s));
  REQUIRE(WaitFor([&] { return triage.Submissions(ct_truth->study_instance_uid).size() == 1; }, 10s));

  auto film = triage.LatestManifest(cxr_truth->study_instance_uid);
  REQUIRE(film.series_size() == 1);
  CHECK(film.series(0).modality() == "DX");
  CHECK(film.series(0).body_part_examined() == "CHEST");
  REQUIRE(film.series(0).instances_size() == 1);
  const auto& image = film.series(0).instances(0);
  CHECK((image.view_position() == "PA" || image.view_position() == "AP"));
  CHECK(image.rows() >= 512);
  CHECK(image.pixel_spacing_size() == 2);
  CHECK(image.patient_orientation() == "L\\F");

  auto head = triage.LatestManifest(ct_truth->study_instance_uid);
  REQUIRE(head.series_size() == 1);
  CHECK(head.series(0).modality() == "CT");
  CHECK(head.series(0).body_part_examined() == "HEAD");
  CHECK(head.series(0).instances_size() >= 28);
  const auto& slice = head.series(0).instances(0);
  CHECK(slice.slice_thickness() == Approx(5.0));
  CHECK(slice.image_orientation_patient_size() == 6);
  CHECK(slice.image_position_patient_size() == 3);
  CHECK(slice.sop_class_uid() == "1.2.840.10008.5.1.4.1.1.2");
}
