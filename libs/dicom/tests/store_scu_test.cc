// The C-STORE SCU against Parallax's own Storage SCP (real DCMTK on both
// ends, in process). The test against a real PACS (Orthanc) is in
// services/ingest/tests/send_to_pacs_test.cc.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/storage_scp.h"
#include "parallax/dicom/store_scu.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/testing/temp_dir.h"

using namespace parallax::dicom;
using parallax::dicom::testing::SampleInstance;
using parallax::dicom::testing::WriteSampleInstance;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Keeps what arrived: the transfer syntax negotiated per instance.
class RecordingHandler : public StoreHandler {
 public:
  explicit RecordingHandler(std::string dir) : dir_(std::move(dir)) {}
  absl::Status CheckCapacity() override { return absl::OkStatus(); }
  std::string StagingPathFor(const std::string& uid) override { return dir_ + "/" + uid + ".dcm"; }
  absl::Status OnReceived(const ReceivedInstance& instance) override {
    std::lock_guard<std::mutex> lock(mu_);
    received.push_back(instance);
    return absl::OkStatus();
  }
  void OnRefused(const absl::Status&) override {}
  void OnAssociationCountChanged(int) override {}

  std::mutex mu_;
  std::vector<ReceivedInstance> received;

 private:
  std::string dir_;
};

std::string Sample(const parallax::testing::TempDir& dir, const std::string& name, SampleInstance sample) {
  const std::string path = (dir.path() / name).string();
  REQUIRE(WriteSampleInstance(sample, path).ok());
  return ReadAll(path);
}

}  // namespace

TEST_CASE("PACS destinations are parsed from name=AET@host:port", "[dicom][scu]") {
  auto d = ParseStoreDestination("pacs=ORTHANC@127.0.0.1:4242");
  REQUIRE(d.ok());
  CHECK(d->name == "pacs");
  CHECK(d->ae_title == "ORTHANC");
  CHECK(d->host == "127.0.0.1");
  CHECK(d->port == 4242);
  CHECK_FALSE(ParseStoreDestination("ORTHANC@127.0.0.1:4242").ok());
  CHECK_FALSE(ParseStoreDestination("pacs=@127.0.0.1:4242").ok());
  CHECK_FALSE(ParseStoreDestination("pacs=A_TITLE_LONGER_THAN_16@h:1").ok());
  CHECK_FALSE(ParseStoreDestination("pacs=ORTHANC@127.0.0.1:0").ok());
  CHECK_FALSE(ParseStoreDestination("pacs=ORTHANC@127.0.0.1:http").ok());
  CHECK_FALSE(ParseStoreDestination("pacs=ORTHANC@:4242").ok());
}

TEST_CASE("objects in explicit and implicit little endian reach a Storage SCP on one association", "[dicom][scu]") {
  parallax::testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "staging");
  RecordingHandler handler((dir.path() / "staging").string());
  StorageScpOptions scp_options;
  scp_options.ae_title = "TESTPACS";
  scp_options.port = parallax::testing::FreeTcpPort();
  StorageScp scp(scp_options, &handler);
  REQUIRE(scp.Start().ok());

  SampleInstance sc;
  sc.sop_class_uid = "1.2.840.10008.5.1.4.1.1.7";
  sc.modality = "OT";
  SampleInstance implicit_ct;
  implicit_ct.transfer_syntax_uid = "1.2.840.10008.1.2";
  const std::string a = Sample(dir, "a.dcm", sc);
  const std::string b = Sample(dir, "b.dcm", implicit_ct);
  auto a_header = ReadInstanceHeaderFromBuffer(a.data(), a.size());
  auto b_header = ReadInstanceHeaderFromBuffer(b.data(), b.size());
  REQUIRE(a_header.ok());
  REQUIRE(b_header.ok());

  const StoreDestination destination{"test", "TESTPACS", "127.0.0.1", scp_options.port};
  auto results = StoreInstances(destination, {}, {a, b});
  INFO((results.ok() ? std::string() : std::string(results.status().message())));
  REQUIRE(results.ok());
  REQUIRE(results->size() == 2);
  CHECK((*results)[0].sop_instance_uid == a_header->sop_instance_uid);
  CHECK((*results)[0].status == 0x0000);
  CHECK((*results)[0].stored());
  CHECK((*results)[1].sop_instance_uid == b_header->sop_instance_uid);
  CHECK((*results)[1].status == 0x0000);
  scp.Stop();
  std::lock_guard<std::mutex> lock(handler.mu_);
  REQUIRE(handler.received.size() == 2);
  CHECK(handler.received[0].affected_sop_instance_uid == a_header->sop_instance_uid);
  CHECK(handler.received[0].calling_ae == "PARALLAX");
  CHECK(handler.received[0].transfer_syntax_uid == "1.2.840.10008.1.2.1");
  // The implicit object went in its own syntax (proposed alone in its own
  // presentation context, which the SCP accepts).
  CHECK(handler.received[1].affected_sop_class_uid == "1.2.840.10008.5.1.4.1.1.2");
  CHECK(handler.received[1].transfer_syntax_uid == "1.2.840.10008.1.2");
}

TEST_CASE("a PACS that cannot be reached is UNAVAILABLE and a bad object is refused before connecting",
          "[dicom][scu]") {
  parallax::testing::TempDir dir;
  const std::string a = Sample(dir, "a.dcm", SampleInstance{});
  const int port = parallax::testing::FreeTcpPort();  // nobody listens
  StoreScuOptions options;
  options.connect_timeout_seconds = 3;
  auto down = StoreInstances({"archive", "NOBODY", "127.0.0.1", port}, options, {a});
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == absl::StatusCode::kUnavailable);
  const std::string message(down.status().message());
  CHECK(message.find("archive") != std::string::npos);
  CHECK(message.find("NOBODY@127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(message.find("PHANTOM") == std::string::npos);

  const std::string not_dicom = "this is not DICOM at all";
  auto bad = StoreInstances({"archive", "NOBODY", "127.0.0.1", port}, options, {a, not_dicom});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("object 2") != std::string::npos);
  CHECK(StoreInstances({"archive", "NOBODY", "127.0.0.1", port}, options, {}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}
