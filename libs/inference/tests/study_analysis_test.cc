// StudyAnalyzer end to end on phantom studies written as DICOM, with the
// probe models of tests/data (make_probe_models.py): a per-slice head CT
// model and a two-series brain MRI model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "parallax/dicom/pixel_reader.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/inference/model.h"
#include "parallax/inference/preprocess.h"
#include "parallax/inference/study_analysis.h"
#include "parallax/phantom/brain_mri.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "parallax/testing/temp_dir.h"
#include "test_data.h"

namespace {

namespace inf = parallax::inference;
namespace ph = parallax::phantom;
using inf::test::DataPath;
using inf::test::ReadText;

std::unique_ptr<inf::Model> LoadProbe(const std::string& name) {
  auto manifest = inf::ParseModelManifest(ReadText(DataPath(name + ".json")));
  REQUIRE(manifest.ok());
  auto model = inf::Model::Load(DataPath(name + ".pt"), *manifest);
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  return std::move(*model);
}

std::vector<std::string> Write(const ph::Study& study, uint64_t seed, const std::filesystem::path& dir) {
  parallax::dicom::StudyIdentity id;
  id.uid_seed = seed;
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir.string());
  REQUIRE(written.ok());
  return written->files;
}

std::vector<inf::StudyInstance> AsPaths(std::vector<std::string> files, uint64_t shuffle_seed) {
  std::shuffle(files.begin(), files.end(), std::mt19937_64(shuffle_seed));
  std::vector<inf::StudyInstance> out;
  for (auto& f : files) {
    inf::StudyInstance i;
    i.path = f;
    out.push_back(i);
  }
  return out;
}

std::vector<parallax::dicom::PixelImage> Frames(const std::vector<std::string>& files) {
  std::vector<parallax::dicom::PixelImage> out;
  for (const auto& f : files) {
    auto frames = parallax::dicom::ReadPixels(f);
    REQUIRE(frames.ok());
    out.push_back(frames->front());
  }
  return out;
}

ph::Study SmallHeadCt(uint64_t seed) {
  ph::HeadCtOptions o;
  o.seed = seed;
  o.size = 128;
  o.slices = 12;
  o.findings = {"Intraparenchymal"};
  o.difficulty = 0.1;
  return ph::MakeHeadCt(o);
}

}  // namespace

TEST_CASE("a head CT is analysed per slice in position order, whatever the batch size", "[inference]") {
  parallax::testing::TempDir dir;
  const auto model = LoadProbe("probe_ct");
  const auto files = Write(SmallHeadCt(31), 31, dir.path());
  const auto instances = AsPaths(files, 5);  // file order is not slice order

  // Reference: the model on each slice alone, slices in acquisition order
  // (the writer names files in slice order, z increasing).
  const auto slices = Frames(files);
  std::vector<std::vector<float>> expected;
  for (const auto& s : slices) {
    auto x = inf::PreprocessFrame(s, model->manifest().input);
    REQUIRE(x.ok());
    auto p = model->Probabilities(*x);
    REQUIRE(p.ok());
    expected.push_back(*p);
  }

  for (int batch : {1, 5, 16}) {
    inf::AnalyzerOptions options;
    options.batch_size = batch;
    inf::StudyAnalyzer analyzer(*model, options);
    auto r = analyzer.Analyze(instances);
    INFO("batch " << batch << ": " << r.status().ToString());
    REQUIRE(r.ok());
    REQUIRE(r->applies);
    CHECK(r->reason.empty());
    CHECK(r->body_part_source == "BodyPartExamined");
    REQUIRE(r->series.size() == 1);
    REQUIRE(r->series[0].sop_instance_uids.size() == 12);
    CHECK(std::is_sorted(r->series[0].positions_mm.begin(), r->series[0].positions_mm.end()));
    CHECK(r->series[0].slice_spacing_mm == Approx(5.0));
    REQUIRE(r->labels.size() == 6);
    for (size_t l = 0; l < r->labels.size(); ++l) {
      const auto& label = r->labels[l];
      REQUIRE(label.item_probabilities.size() == 12);
      float max = 0;
      for (size_t k = 0; k < 12; ++k) {
        CHECK(label.item_probabilities[k] == Approx(expected[k][l]).margin(1e-5));
        max = std::max(max, expected[k][l]);
      }
      CHECK(label.probability == Approx(max).margin(1e-5));
      CHECK(label.item_probabilities[static_cast<size_t>(label.max_item)] == Approx(label.probability));
      CHECK(label.positive == (label.probability >= label.operating_point));
    }
    REQUIRE(r->measurements.size() == 1);
    CHECK(r->measurements[0].name == "ich_volume");
    // Measured only when the study is positive for the "any" label.
    const auto any = std::find_if(r->labels.begin(), r->labels.end(),
                                  [](const inf::LabelResult& l) { return l.name.rfind("any", 0) == 0; });
    REQUIRE(any != r->labels.end());
    CHECK(r->measurements[0].available == any->positive);
    CHECK(r->measurements[0].value >= 0);
  }
}

TEST_CASE("instances given as bytes give the same analysis as files", "[inference]") {
  parallax::testing::TempDir dir;
  const auto model = LoadProbe("probe_ct");
  const auto files = Write(SmallHeadCt(32), 32, dir.path());
  std::vector<std::string> buffers;
  for (const auto& f : files) buffers.push_back(ReadText(f));
  std::vector<inf::StudyInstance> in_memory;
  for (const auto& b : buffers) {
    inf::StudyInstance i;
    i.bytes = b;
    in_memory.push_back(i);
  }
  inf::StudyAnalyzer analyzer(*model);
  auto from_files = analyzer.Analyze(AsPaths(files, 9));
  auto from_bytes = analyzer.Analyze(in_memory);
  REQUIRE(from_files.ok());
  INFO(from_bytes.status().ToString());
  REQUIRE(from_bytes.ok());
  CHECK(from_bytes->series[0].sop_instance_uids == from_files->series[0].sop_instance_uids);
  for (size_t l = 0; l < from_files->labels.size(); ++l) {
    CHECK(from_bytes->labels[l].item_probabilities == from_files->labels[l].item_probabilities);
  }
  CHECK(from_bytes->measurements[0].value == from_files->measurements[0].value);
}

TEST_CASE("a model that does not apply says why instead of returning nothing", "[inference]") {
  parallax::testing::TempDir dir;
  const auto model = LoadProbe("probe_ct");
  ph::ChestXrayOptions o;
  o.seed = 3;
  o.size = 256;
  const auto files = Write(ph::MakeChestXray(o), 3, dir.path());
  auto r = inf::StudyAnalyzer(*model).Analyze(AsPaths(files, 1));
  REQUIRE(r.ok());
  CHECK_FALSE(r->applies);
  CHECK(r->reason == "modality DX not in [CT]");
  CHECK(r->labels.empty());
}

TEST_CASE("an undecodable slice is named by its SOP Instance UID", "[inference]") {
  parallax::testing::TempDir dir;
  const auto model = LoadProbe("probe_ct");
  const auto files = Write(SmallHeadCt(33), 33, dir.path());
  const std::string broken = files[4];
  const auto header = parallax::dicom::ReadInstanceHeaderFromFile(broken);
  REQUIRE(header.ok());
  std::filesystem::resize_file(broken, std::filesystem::file_size(broken) - 4000);  // cut into the pixel data
  auto r = inf::StudyAnalyzer(*model).Analyze(AsPaths(files, 2));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()).find(header->sop_instance_uid) != std::string::npos);
}

TEST_CASE("a brain MRI feeds T1 POST to channel 0 and FLAIR to channel 1, z-scored per volume", "[inference]") {
  parallax::testing::TempDir dir;
  const auto model = LoadProbe("probe_mri");
  ph::BrainMriOptions o;
  o.seed = 12;
  o.size = 64;
  o.slices = 8;
  o.findings = {"Enhancing tumour"};
  const auto files = Write(ph::MakeBrainMri(o), 12, dir.path());
  REQUIRE(files.size() == 16);  // series 1 (T1 POST) then series 2 (FLAIR), slice order
  const std::vector<std::string> t1_files(files.begin(), files.begin() + 8);
  const std::vector<std::string> flair_files(files.begin() + 8, files.end());
  std::vector<std::vector<parallax::dicom::PixelImage>> volumes = {Frames(t1_files), Frames(flair_files)};
  auto expected = inf::PreprocessVolumes(volumes, 0, 8, model->manifest().input);
  REQUIRE(expected.ok());
  auto expected_p = model->Probabilities(*expected);
  REQUIRE(expected_p.ok());
  std::swap(volumes[0], volumes[1]);
  auto swapped = model->Probabilities(*inf::PreprocessVolumes(volumes, 0, 8, model->manifest().input));
  REQUIRE(swapped.ok());

  inf::AnalyzerOptions options;
  options.batch_size = 3;
  auto r = inf::StudyAnalyzer(*model, options).Analyze(AsPaths(files, 4));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  REQUIRE(r->applies);
  REQUIRE(r->series.size() == 2);
  CHECK(r->series[0].role == "T1_POST_CONTRAST");
  CHECK(r->series[1].role == "FLAIR");
  double swapped_difference = 0;
  for (size_t l = 0; l < r->labels.size(); ++l) {
    for (size_t k = 0; k < 8; ++k) {
      CHECK(r->labels[l].item_probabilities[k] == Approx((*expected_p)[k * 4 + l]).margin(1e-5));
      swapped_difference += std::abs(r->labels[l].item_probabilities[k] - (*swapped)[k * 4 + l]);
    }
  }
  CHECK(swapped_difference > 0.1);  // the channel order matters, so the check above means something

  auto t1_only = inf::StudyAnalyzer(*model).Analyze(AsPaths(t1_files, 1));
  REQUIRE(t1_only.ok());
  CHECK_FALSE(t1_only->applies);
  CHECK(t1_only->reason == "no FLAIR series");
}
