// Ingest.SendToPacs against a real PACS: a private Orthanc
// (scripts/lib/orthanc.sh), called through a real gRPC server and client.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ingest_config.h"
#include "ingest_fixture.h"
#include "ingest_grpc.h"
#include "parallax/dicom/evidence_writer.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/sr_writer.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/private_orthanc.h"
#include "parallax/testing/temp_dir.h"

using parallax::ingest::testing::Run;
namespace dicom = parallax::dicom;
namespace v1 = parallax::ingest::v1;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A private Orthanc for one test (the PACS), stopped by the destructor.
std::unique_ptr<parallax::testing::PrivateOrthanc> StartOrthanc(const std::string& workdir,
                                                                const std::string& config_json) {
  std::string error;
  auto orthanc = parallax::testing::PrivateOrthanc::Start(workdir, config_json, &error);
  INFO(error);
  REQUIRE(orthanc != nullptr);
  return orthanc;
}

// GET of an Orthanc REST path; the test fails when it does not answer.
std::string Get(const parallax::testing::PrivateOrthanc& orthanc, const std::string& path) {
  bool ok = false;
  std::string body = orthanc.Get(path, &ok);
  INFO(path);
  REQUIRE(ok);
  return body;
}

// Ingest's gRPC service with the given PACS settings on an in-process server.
struct IngestEndpoint {
  explicit IngestEndpoint(parallax::ingest::PacsSettings settings)
      : service(nullptr, nullptr, nullptr, std::move(settings)), server(parallax::rpc::RpcServerOptions{}) {
    server.Register(&service, "parallax.ingest.v1.Ingest");
    REQUIRE(server.Start().ok());
    stub = v1::Ingest::NewStub(parallax::rpc::MakeChannel("127.0.0.1:" + std::to_string(server.port())));
  }
  ~IngestEndpoint() { server.Shutdown(std::chrono::milliseconds(500)); }

  grpc::Status Send(const std::vector<std::string>& objects, const std::string& destination,
                    v1::SendToPacsResponse* response) {
    v1::SendToPacsRequest request;
    for (const auto& o : objects) request.add_instances(o);
    request.set_destination(destination);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub->SendToPacs(&ctx, request, response);
  }

  parallax::ingest::IngestGrpc service;
  parallax::rpc::RpcServer server;
  std::unique_ptr<v1::Ingest::Stub> stub;
};

// A chest radiograph, its heatmap Secondary Capture and its TID 1500 SR, as
// Parallax makes them on approval.
struct Results {
  dicom::EvidenceImage heatmap;
  dicom::MeasurementReport report;
};

Results MakeResults(const parallax::testing::TempDir& dir) {
  parallax::phantom::ChestXrayOptions options;
  options.seed = 21;
  options.size = 128;
  options.findings = {"Pneumothorax:left"};
  auto written = dicom::WritePhantomStudy(parallax::phantom::MakeChestXray(options), {},
                                          (dir.path() / "chest").string());
  REQUIRE(written.ok());
  const std::string source = ReadAll(written->files[0]);
  auto header = dicom::ReadInstanceHeaderFromBuffer(source.data(), source.size());
  REQUIRE(header.ok());

  std::vector<uint8_t> rgb(64 * 64 * 3, 90);
  dicom::EvidenceImageRequest request;
  request.source_part10 = source;
  request.rgb_pixels = rgb;
  request.rows = 64;
  request.columns = 64;
  request.finding_label = "Pneumothorax";
  request.model_name = "parallax-chest-xray";
  request.model_version = "2026.12.1";
  request.model_device_uid = "2.25.111122223333444455556666777788889999";
  auto heatmap = dicom::WriteSecondaryCaptureEvidence(request);
  REQUIRE(heatmap.ok());

  dicom::MeasurementReportInput in;
  in.source_instance_part10 = source;
  in.report_key = "analysis-pacs-1";
  in.model_id = "parallax-chest-xray";
  in.model_version = "2026.12.1";
  in.model_device_uid = "2.25.111122223333444455556666777788889999";
  in.completion = dicom::ReportCompletion::kFinal;
  in.verifying_observer_name = "Doe^Jane";
  in.verifying_organization = "Radiology";
  dicom::SrFinding f;
  f.finding_id = "ptx-1";
  f.code = {"SCT", "36118008", "Pneumothorax"};
  f.present = true;
  f.laterality = dicom::SrLaterality::kLeft;
  f.site = {"SCT", "39607008", "Lung structure"};
  f.probability = 0.91;
  f.area_cm2 = 8.25;
  f.source_images = {{header->sop_class_uid, header->sop_instance_uid, header->series_instance_uid}};
  f.evidence = {{heatmap->sop_class_uid, heatmap->sop_instance_uid, heatmap->series_instance_uid}};
  in.findings = {f};
  auto report = dicom::WriteMeasurementReport(in);
  REQUIRE(report.ok());
  return {*heatmap, *report};
}

parallax::ingest::PacsSettings Settings(int orthanc_port) {
  parallax::ingest::IngestConfig config;
  config.ae_title = "PARALLAX";
  config.pacs_destinations = {"archive=ORTHANC@127.0.0.1:" + std::to_string(orthanc_port),
                              "nowhere=NOBODY@127.0.0.1:" + std::to_string(parallax::testing::FreeTcpPort())};
  config.default_pacs = "archive";
  config.pacs_connect_timeout_seconds = 3;
  config.pacs_dimse_timeout_seconds = 20;
  REQUIRE(parallax::ingest::ValidateIngestConfig(config).ok());
  auto settings = parallax::ingest::PacsSettingsFromConfig(config);
  REQUIRE(settings.ok());
  return *settings;
}

}  // namespace

TEST_CASE("SendToPacs stores the SR and its heatmap in Orthanc and a resend still succeeds", "[ingest][pacs]") {
  parallax::testing::TempDir dir;
  // This Orthanc refuses deflated transfer syntax, so the deflated object
  // below must fall back to explicit little endian.
  auto pacs = StartOrthanc((dir.path() / "orthanc").string(), R"({"DeflatedTransferSyntaxAccepted": false})");
  const parallax::testing::PrivateOrthanc& orthanc = *pacs;
  IngestEndpoint ingest(Settings(orthanc.dicom_port()));
  const Results results = MakeResults(dir);

  dicom::testing::SampleInstance deflated;
  deflated.sop_class_uid = dicom::kSecondaryCaptureImageStorage;
  deflated.modality = "OT";
  deflated.transfer_syntax_uid = "1.2.840.10008.1.2.1.99";
  const std::string deflated_path = (dir.path() / "deflated.dcm").string();
  REQUIRE(dicom::testing::WriteSampleInstance(deflated, deflated_path).ok());
  const std::string deflated_bytes = ReadAll(deflated_path);
  auto deflated_header = dicom::ReadInstanceHeaderFromBuffer(deflated_bytes.data(), deflated_bytes.size());
  REQUIRE(deflated_header.ok());
  REQUIRE(deflated_header->transfer_syntax_uid == "1.2.840.10008.1.2.1.99");

  v1::SendToPacsResponse response;
  grpc::Status status = ingest.Send({results.report.part10, results.heatmap.part10, deflated_bytes}, "", &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(response.results_size() == 3);
  CHECK(response.results(0).sop_instance_uid() == results.report.sop_instance_uid);
  CHECK(response.results(1).sop_instance_uid() == results.heatmap.sop_instance_uid);
  CHECK(response.results(2).sop_instance_uid() == deflated_header->sop_instance_uid);
  for (const auto& r : response.results()) {
    INFO(r.sop_instance_uid() << ": " << r.error());
    CHECK(r.dicom_status() == 0);
    CHECK(r.error().empty());
  }

  // Orthanc has all three, the SR as a Comprehensive 3D SR in the source's study.
  const std::string sr_id = orthanc.Lookup(results.report.sop_instance_uid);
  REQUIRE_FALSE(sr_id.empty());
  CHECK_FALSE(orthanc.Lookup(results.heatmap.sop_instance_uid).empty());
  const std::string deflated_id = orthanc.Lookup(deflated_header->sop_instance_uid);
  REQUIRE_FALSE(deflated_id.empty());
  const auto tags = nlohmann::json::parse(Get(orthanc, "/instances/" + sr_id + "/simplified-tags"));
  CHECK(tags.value("SOPClassUID", "") == dicom::kComprehensive3DSrStorage);
  CHECK(tags.value("StudyInstanceUID", "") == results.report.study_instance_uid);
  CHECK(tags.value("Modality", "") == "SR");
  CHECK(Get(orthanc, "/instances/" + deflated_id + "/metadata/TransferSyntax") == "1.2.840.10008.1.2.1");
  CHECK(Get(orthanc, "/instances/" + sr_id + "/metadata/RemoteAET") == "PARALLAX");
  const auto instances = nlohmann::json::parse(Get(orthanc, "/instances"));
  CHECK(instances.size() == 3);

  // A resend is a duplicate: still success, still one copy.
  v1::SendToPacsResponse again;
  status = ingest.Send({results.report.part10}, "ORTHANC", &again);  // named by AE title this time
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(again.results_size() == 1);
  CHECK(again.results(0).dicom_status() == 0);
  CHECK(nlohmann::json::parse(Get(orthanc, "/instances")).size() == 3);
}

TEST_CASE("SendToPacs answers per object for a refused SOP class, is UNAVAILABLE when the PACS is down, and "
          "refuses unknown destinations and non-DICOM blobs",
          "[ingest][pacs]") {
  parallax::testing::TempDir dir;
  auto pacs = StartOrthanc((dir.path() / "orthanc").string(), R"({"UnknownSopClassAccepted": false})");
  parallax::testing::PrivateOrthanc& orthanc = *pacs;
  IngestEndpoint ingest(Settings(orthanc.dicom_port()));
  const Results results = MakeResults(dir);

  // An object of a SOP class the PACS does not take is answered per object
  // (0x0122), alone or beside one it takes.
  dicom::testing::SampleInstance private_class;
  private_class.sop_class_uid = "1.2.826.0.1.3680043.8.498.424242";
  private_class.modality = "OT";
  const std::string private_path = (dir.path() / "private.dcm").string();
  REQUIRE(dicom::testing::WriteSampleInstance(private_class, private_path).ok());
  const std::string private_bytes = ReadAll(private_path);
  {
    v1::SendToPacsResponse refused;
    grpc::Status alone = ingest.Send({private_bytes}, "", &refused);
    INFO(alone.error_message());
    REQUIRE(alone.ok());
    REQUIRE(refused.results_size() == 1);
    CHECK(refused.results(0).dicom_status() == 0x0122);
    CHECK_FALSE(refused.results(0).error().empty());
    v1::SendToPacsResponse mixed;
    grpc::Status both = ingest.Send({private_bytes, results.heatmap.part10}, "", &mixed);
    INFO(both.error_message());
    REQUIRE(both.ok());
    REQUIRE(mixed.results_size() == 2);
    CHECK(mixed.results(0).dicom_status() == 0x0122);
    CHECK(mixed.results(1).dicom_status() == 0);
    CHECK_FALSE(orthanc.Lookup(results.heatmap.sop_instance_uid).empty());
  }

  v1::SendToPacsResponse response;
  grpc::Status status = ingest.Send({results.report.part10}, "elsewhere", &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("elsewhere") != std::string::npos);

  status = ingest.Send({results.report.part10, "not a DICOM file"}, "", &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("object 2") != std::string::npos);
  CHECK(orthanc.Lookup(results.report.sop_instance_uid).empty());  // nothing was sent

  status = ingest.Send({}, "", &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  // A configured destination where nothing listens.
  status = ingest.Send({results.report.part10}, "nowhere", &response);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(status.error_message().find("nowhere") != std::string::npos);

  // The PACS stops: UNAVAILABLE naming it, and no patient data.
  orthanc.Stop();
  status = ingest.Send({results.report.part10}, "", &response);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(status.error_message().find("archive") != std::string::npos);
  CHECK(status.error_message().find("ORTHANC@127.0.0.1:" + std::to_string(orthanc.dicom_port())) !=
        std::string::npos);
  CHECK(status.error_message().find("PHANTOM") == std::string::npos);
}

TEST_CASE("PACS destinations in the ingest config are validated at start-up", "[ingest]") {
  parallax::ingest::IngestConfig config;
  CHECK(parallax::ingest::ValidateIngestConfig(config).ok());  // none configured is fine
  config.pacs_destinations = {"a=AE1@127.0.0.1:104", "b=AE2@127.0.0.1:105"};
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);  // no default
  config.default_pacs = "b";
  CHECK(parallax::ingest::ValidateIngestConfig(config).ok());
  config.default_pacs = "c";
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);
  config.default_pacs = "a";
  config.pacs_destinations.push_back("a=AE3@127.0.0.1:106");
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);
  config.pacs_destinations = {"broken"};
  config.default_pacs.clear();
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);
  config.pacs_destinations = {"only=AE1@127.0.0.1:104"};
  auto settings = parallax::ingest::PacsSettingsFromConfig(config);
  REQUIRE(settings.ok());
  CHECK(settings->default_destination == "only");
  CHECK(settings->scu.calling_ae_title == config.ae_title);

  // Without PACS settings the service says so.
  parallax::ingest::IngestGrpc bare(nullptr, nullptr, nullptr);
  grpc::ServerContext ctx;
  v1::SendToPacsRequest request;
  v1::SendToPacsResponse response;
  CHECK(bare.SendToPacs(&ctx, &request, &response).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
}
