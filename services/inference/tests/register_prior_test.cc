// Inference.RegisterPrior on phantom follow-up pairs (libs/phantom
// follow_up.h) whose patient motion is known exactly, written as DICOM and
// read back through a StudySource: the transform the service answers is
// compared with the truth at points of the patient. The head CT pair goes
// through a real in-process gRPC server; the rest calls the service's logic.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "file_study_source.h"
#include "inference_service.h"
#include "loaded_models.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/pixel_reader.h"
#include "parallax/inference/registration_input.h"
#include "parallax/phantom/follow_up.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/testing/temp_dir.h"
#include "phantom_volumes.h"

namespace parallax::inference_service {
namespace {

namespace ph = parallax::phantom;
namespace inf = parallax::inference;
using ingest_client::testing::FileStudySource;
using ingest_client::testing::WrittenPhantom;

// RegisterPrior needs no model.
const std::vector<LoadedModel>& NoModels() {
  static const std::vector<LoadedModel> none;
  return none;
}

ingest_client::Deadline In(std::chrono::seconds s) { return std::chrono::system_clock::now() + s; }

// A follow-up pair with this motion (current = shift.Apply(prior)), both
// studies written as DICOM under `dir` with their own UIDs.
struct WrittenPair {
  ph::FollowUpPair pair;
  WrittenPhantom prior, current;
  std::vector<std::string> files;  // both studies
};

WrittenPair WritePair(const std::string& kind, uint64_t seed, const ph::RigidShift& shift, const std::string& dir) {
  ph::FollowUpOptions o;
  o.kind = kind;
  o.seed = seed;
  o.shift = shift;
  auto pair = ph::MakeFollowUpPair(o);
  if (!pair.ok()) FAIL("follow-up pair: " << pair.status().message());
  WrittenPair w{*std::move(pair), {}, {}, {}};
  w.prior = ingest_client::testing::WritePhantom(w.pair.prior, seed * 2, dir + "/prior");
  w.current = ingest_client::testing::WritePhantom(w.pair.current, seed * 2 + 1, dir + "/current");
  w.files = w.prior.files;
  w.files.insert(w.files.end(), w.current.files.begin(), w.current.files.end());
  return w;
}

inference::v1::RegisterPriorRequest Request(const WrittenPhantom& current, const WrittenPhantom& prior) {
  inference::v1::RegisterPriorRequest r;
  r.mutable_current()->set_study_instance_uid(current.study_uid);
  r.mutable_current()->set_generation(1);
  r.set_current_series_instance_uid(current.series_uid);
  r.mutable_prior()->set_study_instance_uid(prior.study_uid);
  r.mutable_prior()->set_generation(1);
  r.set_prior_series_instance_uid(prior.series_uid);
  return r;
}

inf::Matrix4 MatrixOf(const inference::v1::RegisterPriorResponse& r) {
  REQUIRE(r.current_to_prior_size() == 16);
  inf::Matrix4 m;
  for (int i = 0; i < 16; ++i) m[i / 4][i % 4] = r.current_to_prior(i);
  return m;
}

// Mean and worst error of the answered transform against the pair's truth,
// at points of the patient in the current study (placed as the study
// writer places them, which is what the DICOM geometry says).
struct Errors {
  inf::testing::RegistrationError before, after;
};

Errors ErrorsOf(const ph::FollowUpPair& pair, const inference::v1::RegisterPriorResponse& r) {
  const auto points = inf::testing::PatientPoints(inf::testing::VolumeOf(pair.current));
  REQUIRE(points.size() > 100);
  Errors e{inf::testing::UnregisteredErrorAt(pair.shift, points),
           inf::testing::ErrorAt(pair.shift, MatrixOf(r), points)};
  std::printf("%-10s error before mean %5.2f max %5.2f mm | after mean %5.2f max %5.2f mm | NCC %.4f -> %.4f, "
              "residual %.4f, rms %.1f, overlap %.3f, %.0f ms\n",
              pair.kind.c_str(), e.before.mean_mm, e.before.max_mm, e.after.mean_mm, e.after.max_mm, r.ncc_before(),
              r.ncc_after(), r.residual(), r.rms_difference(), r.overlap_fraction(), r.elapsed_ms());
  std::fflush(stdout);
  return e;
}

ph::RigidShift HeadShift() {
  ph::RigidShift s;
  s.translation_mm = {3.0, -2.5, 2.0};
  s.rotation_deg = {1.2, -1.0, 1.5};
  s.centre_mm = {0, 0, 31 * 5.0 / 2};  // the middle of 32 slices 5 mm apart
  return s;
}

ph::RigidShift FilmShift() {
  ph::RigidShift s;
  s.translation_mm = {3.0, -2.0, 0};
  s.rotation_deg = {0, 0, 2.5};
  return s;
}

TEST_CASE("a head CT pair with a known shift registers through the RegisterPrior RPC within 2 mm",
          "[inference][registration][slow]") {
  parallax::testing::TempDir tmp;
  WrittenPair w = WritePair("head_ct", 41, HeadShift(), tmp.path().string());
  FileStudySource source(w.files);
  InferenceService service(NoModels(), source, {.max_concurrent = 2, .replica = "test-replica"}, nullptr);
  rpc::RpcServer server({});
  server.Register(&service, "parallax.inference.v1.Inference");
  REQUIRE(server.Start().ok());
  auto stub = inference::v1::Inference::NewStub(rpc::MakeChannel("127.0.0.1:" + std::to_string(server.port())));

  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(120)));
  inference::v1::RegisterPriorResponse response;
  const grpc::Status status = stub->RegisterPrior(&context, Request(w.current, w.prior), &response);
  server.Shutdown();
  INFO(status.error_message());
  REQUIRE(status.ok());

  CHECK_FALSE(response.film());
  CHECK(response.replica() == "test-replica");
  const Errors e = ErrorsOf(w.pair, response);
  CHECK(e.before.mean_mm > 3.0);  // doing nothing would fail the check below
  CHECK(e.after.mean_mm <= 2.0);
  CHECK(e.after.max_mm <= 4.0);
  CHECK(response.ncc_after() > response.ncc_before());
  CHECK(response.residual() == Approx(1 - response.ncc_after()));
  CHECK(response.rms_difference() > 0);
  CHECK(response.overlap_fraction() > 0.8);
  CHECK(response.elapsed_ms() > 0);
  const inf::Matrix4 m = MatrixOf(response);
  CHECK(m[3][0] == 0);
  CHECK(m[3][1] == 0);
  CHECK(m[3][2] == 0);
  CHECK(m[3][3] == 1);
}

TEST_CASE("a chest film pair with a known shift registers in detector mm", "[inference][registration][slow]") {
  parallax::testing::TempDir tmp;
  WrittenPair w = WritePair("chest_xray", 42, FilmShift(), tmp.path().string());
  FileStudySource source(w.files);
  InferenceService service(NoModels(), source, {}, nullptr);

  for (auto transform : {inference::v1::REGISTRATION_TRANSFORM_UNSPECIFIED,
                         inference::v1::REGISTRATION_TRANSFORM_RIGID_THEN_AFFINE}) {
    auto request = Request(w.current, w.prior);
    request.set_transform(transform);
    auto r = service.RunRegisterPrior(request, In(std::chrono::seconds(120)));
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(r->film());
    const Errors e = ErrorsOf(w.pair, *r);
    CHECK(e.before.mean_mm > 3.0);
    CHECK(e.after.mean_mm <= 1.0);
    // A film's z row and column are those of the identity.
    const inf::Matrix4 m = MatrixOf(*r);
    CHECK(m[2][2] == 1);
    CHECK(m[2][0] == 0);
    CHECK(m[0][2] == 0);
    CHECK(m[2][3] == 0);
  }
}

TEST_CASE("a translation-only registration leaves the rotation of the head CT pair unexplained",
          "[inference][registration][slow]") {
  // The transform choice reaches the registration: with rotation in the
  // truth, translation alone does worse than rigid on the same pair.
  parallax::testing::TempDir tmp;
  WrittenPair w = WritePair("head_ct", 43, HeadShift(), tmp.path().string());
  FileStudySource source(w.files);
  InferenceService service(NoModels(), source, {}, nullptr);
  auto request = Request(w.current, w.prior);
  auto rigid = service.RunRegisterPrior(request, In(std::chrono::seconds(120)));
  request.set_transform(inference::v1::REGISTRATION_TRANSFORM_TRANSLATION);
  auto translation = service.RunRegisterPrior(request, In(std::chrono::seconds(120)));
  REQUIRE(rigid.ok());
  REQUIRE(translation.ok());
  const Errors r = ErrorsOf(w.pair, *rigid), t = ErrorsOf(w.pair, *translation);
  CHECK(t.after.max_mm > r.after.max_mm + 1.0);
  // A translation-only matrix has the identity as its 3 x 3 part.
  const inf::Matrix4 m = MatrixOf(*translation);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) CHECK(m[i][j] == Approx(i == j ? 1.0 : 0.0).margin(1e-9));
  }
}

TEST_CASE("registration requests naming what ingest does not hold or cannot register are refused with the "
          "documented codes",
          "[inference][registration][slow]") {
  parallax::testing::TempDir tmp;
  WrittenPair ct = WritePair("head_ct", 44, HeadShift(), (tmp.path() / "ct").string());
  WrittenPair film = WritePair("chest_xray", 45, FilmShift(), (tmp.path() / "film").string());
  std::vector<std::string> files = ct.files;
  files.insert(files.end(), film.files.begin(), film.files.end());
  FileStudySource source(files);
  InferenceService service(NoModels(), source, {}, nullptr);
  const auto deadline = In(std::chrono::seconds(60));
  const auto code = [&](const inference::v1::RegisterPriorRequest& r) {
    auto out = service.RunRegisterPrior(r, deadline);
    if (!out.ok()) UNSCOPED_INFO(out.status().message());
    return out.status().code();
  };

  auto missing_series = Request(ct.current, ct.prior);
  missing_series.set_prior_series_instance_uid("1.2.826.0.1.3680043.99.1");
  CHECK(code(missing_series) == absl::StatusCode::kNotFound);
  auto missing_study = Request(ct.current, ct.prior);
  missing_study.mutable_prior()->set_study_instance_uid("1.2.826.0.1.3680043.99.2");
  CHECK(code(missing_study) == absl::StatusCode::kNotFound);
  auto missing_instance = Request(film.current, film.prior);
  missing_instance.set_prior_sop_instance_uid("1.2.826.0.1.3680043.99.3");
  CHECK(code(missing_instance) == absl::StatusCode::kNotFound);

  auto no_uid = Request(ct.current, ct.prior);
  no_uid.clear_prior_series_instance_uid();
  CHECK(code(no_uid) == absl::StatusCode::kInvalidArgument);
  auto no_study = Request(ct.current, ct.prior);
  no_study.clear_current();
  CHECK(code(no_study) == absl::StatusCode::kInvalidArgument);
  auto bad_transform = Request(ct.current, ct.prior);
  bad_transform.set_transform(static_cast<inference::v1::RegistrationTransform>(99));
  CHECK(code(bad_transform) == absl::StatusCode::kInvalidArgument);

  // A film against a CT, either way round.
  auto film_vs_ct = Request(film.current, ct.prior);
  auto out = service.RunRegisterPrior(film_vs_ct, deadline);
  CHECK(out.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(out.status().message()).find("a film registers only with a film") != std::string::npos);
  CHECK(code(Request(ct.current, film.prior)) == absl::StatusCode::kFailedPrecondition);

  // Pixel data that cannot be decoded.
  auto manifest = source.GetStudy(film.prior.study_uid, deadline);
  REQUIRE(manifest.ok());
  std::ifstream in(film.prior.files.front(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  source.Override(manifest->series(0).instances(0).sop_instance_uid(), bytes.substr(0, bytes.size() / 2));
  out = service.RunRegisterPrior(Request(film.current, film.prior), deadline);
  CHECK(out.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(out.status().message()).find(film.prior.series_uid) != std::string::npos);
}

TEST_CASE("registration shares the replica's concurrency limit and ends when its deadline passes",
          "[inference][registration][slow]") {
  parallax::testing::TempDir tmp;
  WrittenPair w = WritePair("chest_xray", 46, FilmShift(), tmp.path().string());
  FileStudySource source(w.files);
  InferenceService service(NoModels(), source, {.max_concurrent = 1, .instance_read_parallelism = 4, .replica = "t"},
                           nullptr);
  source.Hold();
  auto blocked = std::async(std::launch::async, [&] {
    return service.RunRegisterPrior(Request(w.current, w.prior), In(std::chrono::seconds(60)));
  });
  while (source.reads() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  auto refused = service.RunRegisterPrior(Request(w.current, w.prior), In(std::chrono::seconds(60)));
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  source.Release();
  CHECK(blocked.get().ok());

  source.Hold();
  auto late = service.RunRegisterPrior(Request(w.current, w.prior),
                                       std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  source.Release();
  CHECK(late.status().code() == absl::StatusCode::kDeadlineExceeded);
}

// VolumeFromInstances / VolumeFromSeries (libs/inference registration_input.h)
// on the same DICOM files.
std::vector<inf::StudyInstance> Instances(const std::vector<std::string>& files) {
  std::vector<inf::StudyInstance> out;
  for (const auto& f : files) out.push_back({f, {}});
  return out;
}

TEST_CASE("a head CT written as DICOM becomes the volume the study writer placed, whatever the file order",
          "[inference][registration][slow]") {
  ph::FollowUpOptions o;
  o.kind = "head_ct";
  o.seed = 47;
  o.shift = HeadShift();
  auto pair = ph::MakeFollowUpPair(o);
  REQUIRE(pair.ok());
  parallax::testing::TempDir tmp;
  WrittenPhantom written = ingest_client::testing::WritePhantom(pair->current, 47, tmp.path().string());
  std::vector<std::string> files = written.files;
  std::shuffle(files.begin(), files.end(), std::mt19937(7));

  auto v = inf::VolumeFromInstances(Instances(files));
  INFO(v.status().message());
  REQUIRE(v.ok());
  const inf::Volume truth = inf::testing::VolumeOf(pair->current);
  CHECK(v->nx == truth.nx);
  CHECK(v->ny == truth.ny);
  CHECK(v->nz == truth.nz);
  for (int a = 0; a < 3; ++a) {
    CHECK(v->spacing_mm[a] == Approx(truth.spacing_mm[a]).margin(1e-4));
    CHECK(v->origin_mm[a] == Approx(truth.origin_mm[a]).margin(1e-3));
    for (int b = 0; b < 3; ++b) CHECK(v->direction[a][b] == Approx(truth.direction[a][b]).margin(1e-9));
  }
  // Voxels in slice order: HU = stored * slope + intercept of the phantom.
  const ph::SeriesInfo& info = pair->current.series.at(0).info;
  REQUIRE(v->voxels.size() == truth.voxels.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < truth.voxels.size(); i += 97) {
    const double hu = truth.voxels[i] * info.rescale_slope + info.rescale_intercept;
    if (std::abs(v->voxels[i] - hu) > 1e-3) ++mismatches;
  }
  CHECK(mismatches == 0);

  SECTION("a missing slice in the middle is refused: a Volume is a regular grid") {
    // Drop the slice in the middle of the stack by position.
    files = written.files;
    std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
      return dicom::ReadInstanceHeaderFromFile(a)->image_position_patient.at(2) <
             dicom::ReadInstanceHeaderFromFile(b)->image_position_patient.at(2);
    });
    files.erase(files.begin() + static_cast<long>(files.size() / 2));
    auto gap = inf::VolumeFromInstances(Instances(files));
    REQUIRE_FALSE(gap.ok());
    CHECK(gap.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(gap.status().message()).find("evenly spaced") != std::string::npos);
  }
  SECTION("a series of several images without patient geometry is refused, naming what is missing") {
    std::vector<dicom::InstanceHeader> headers;
    std::vector<dicom::PixelImage> frames;
    for (size_t i = 0; i < 2; ++i) {
      headers.push_back(*dicom::ReadInstanceHeaderFromFile(written.files[i]));
      frames.push_back(dicom::ReadPixels(written.files[i])->front());
    }
    headers[1].image_position_patient.clear();
    auto two = inf::VolumeFromSeries(headers, frames);
    REQUIRE_FALSE(two.ok());
    CHECK(std::string(two.status().message()).find("ImagePositionPatient") != std::string::npos);
  }
}

TEST_CASE("a chest film written as DICOM becomes a 2-D image in detector mm about its centre",
          "[inference][registration][slow]") {
  ph::FollowUpOptions o;
  o.kind = "chest_xray";
  o.seed = 48;
  auto pair = ph::MakeFollowUpPair(o);
  REQUIRE(pair.ok());
  parallax::testing::TempDir tmp;
  WrittenPhantom written = ingest_client::testing::WritePhantom(pair->current, 48, tmp.path().string());
  REQUIRE(written.files.size() == 1);
  auto v = inf::VolumeFromInstances(Instances(written.files));
  INFO(v.status().message());
  REQUIRE(v.ok());
  const inf::Volume truth = inf::testing::VolumeOf(pair->current);
  CHECK(v->IsFilm());
  CHECK(v->nx == truth.nx);
  CHECK(v->ny == truth.ny);
  for (int a = 0; a < 2; ++a) {
    CHECK(v->spacing_mm[a] == Approx(truth.spacing_mm[a]).margin(1e-6));
    CHECK(v->origin_mm[a] == Approx(truth.origin_mm[a]).margin(1e-3));
  }
  // Without any pixel spacing the size in mm is unknown: refused.
  std::vector<dicom::InstanceHeader> headers{*dicom::ReadInstanceHeaderFromFile(written.files[0])};
  std::vector<dicom::PixelImage> frames{dicom::ReadPixels(written.files[0])->front()};
  headers[0].pixel_spacing.clear();
  frames[0].pixel_spacing_mm = {0, 0};
  auto unknown = inf::VolumeFromSeries(headers, frames);
  REQUIRE_FALSE(unknown.ok());
  CHECK(std::string(unknown.status().message()).find("PixelSpacing") != std::string::npos);
}

}  // namespace
}  // namespace parallax::inference_service
