#include "ingest_fixture.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/store/testing/fresh_database.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::ingest::testing {

CommandResult Run(const std::string& command) {
  CommandResult result;
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

IngestFixture::IngestFixture() : dir_("parallax-ingest-test") {
  config_.dicom_port = parallax::testing::FreeTcpPort();
  config_.http_port = parallax::testing::FreeTcpPort();
  config_.grpc_address = "127.0.0.1:" + std::to_string(parallax::testing::FreeTcpPort());
  config_.metrics_address = "127.0.0.1:" + std::to_string(parallax::testing::FreeTcpPort());
  config_.triage_address = "127.0.0.1:" + std::to_string(parallax::testing::FreeTcpPort());
  config_.store_root = (dir_.path() / "store").string();
  config_.database_url = store::testing::FreshDatabaseUrl("ingest");
  config_.min_free_bytes = 0;
  config_.stable_after = std::chrono::milliseconds(60000);
  config_.dimse_timeout_seconds = 10;
  // Audit events stay in ingest.audit_outbox, where the tests read them.
  config_.audit_address = "";
  auto db = store::Database::Open({config_.database_url, 2});
  REQUIRE(db.ok());
  db_ = std::move(*db);
}

IngestFixture::~IngestFixture() { Stop(); }

void IngestFixture::Start() {
  service_ = std::make_unique<IngestService>(config_);
  absl::Status s = service_->Start();
  INFO(s.ToString());
  REQUIRE(s.ok());
}

void IngestFixture::Stop() {
  if (service_) service_->Stop();
  service_.reset();
}

std::string IngestFixture::WriteConfigFile() {
  nlohmann::json j = {
      {"ae_title", config_.ae_title},
      {"dicom_port", config_.dicom_port},
      {"allowed_calling_aes", config_.allowed_calling_aes},
      {"dimse_timeout_seconds", config_.dimse_timeout_seconds},
      {"http_port", config_.http_port},
      {"store_root", config_.store_root},
      {"min_free_bytes", config_.min_free_bytes},
      {"database_url", config_.database_url},
      {"stable_after", static_cast<long long>(config_.stable_after.count())},
      {"grpc_address", config_.grpc_address},
      {"metrics_address", config_.metrics_address},
      {"triage_address", config_.triage_address},
      {"audit_address", config_.audit_address},
  };
  std::string path = (dir_.path() / "ingest.json").string();
  std::ofstream(path) << j.dump(2);
  return path;
}

int IngestFixture::SpawnBinary() {
  const std::string binary = parallax::testing::BinDir() + "/services/ingest/parallax-ingest";
  const std::string config = WriteConfigFile();
  const std::string log = (dir_.path() / ("ingest-" + std::to_string(++folders_) + ".log")).string();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stderr);
    (void)out;
    ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string echo = "TCP_NODELAY=1 echoscu -to 2 -aec " + config_.ae_title + " 127.0.0.1 " +
                           std::to_string(config_.dicom_port) + " >/dev/null 2>&1";
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) FAIL("parallax-ingest exited at start-up: " + ReadFile(log));
    if (std::system(echo.c_str()) == 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  KillBinary(pid, SIGKILL);
  FAIL("parallax-ingest did not answer C-ECHO: " + ReadFile(log));
  return -1;
}

std::string IngestFixture::SpawnedLogs() {
  std::string all;
  for (auto& e : std::filesystem::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("ingest-", 0) == 0 && e.path().extension() == ".log") {
      all += ReadFile(e.path().string());
    }
  }
  return all;
}

std::string IngestFixture::Metrics() {
  auto r = Run("curl -sf http://" + config_.metrics_address + "/metrics");
  REQUIRE(r.exit_code == 0);
  return r.output;
}

void IngestFixture::KillBinary(int pid, int signal) {
  ::kill(pid, signal);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

std::string IngestFixture::NewDir(const std::string& name) {
  auto path = dir_.path() / (name + std::to_string(++folders_));
  std::filesystem::create_directories(path);
  return path.string();
}

std::vector<std::string> IngestFixture::WriteStudy(int count, const std::string& modality) {
  std::string folder = NewDir("study");
  dicom::testing::SampleInstance sample;
  sample.modality = modality;
  if (modality == "CR") {
    sample.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1";
    sample.body_part = "CHEST";
  }
  sample.study_uid = dicom::testing::NewUid();
  sample.series_uid = dicom::testing::NewUid();
  std::vector<std::string> files;
  for (int i = 1; i <= count; ++i) {
    sample.instance_number = i;
    sample.sop_instance_uid = dicom::testing::NewUid();
    std::string path = folder + "/" + std::to_string(i) + ".dcm";
    REQUIRE(dicom::testing::WriteSampleInstance(sample, path).ok());
    files.push_back(path);
  }
  return files;
}

CommandResult IngestFixture::StoreScu(const std::vector<std::string>& files, const std::string& calling_ae) {
  std::string cmd = "TCP_NODELAY=1 storescu -v -aet " + calling_ae + " -aec " + config_.ae_title +
                    " 127.0.0.1 " + std::to_string(config_.dicom_port);
  for (const auto& f : files) cmd += " " + f;
  return Run(cmd);
}

int64_t IngestFixture::CountInstances() {
  auto rows = db_->Exec("SELECT count(*) FROM ingest.instances");
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

int64_t IngestFixture::CountStudies() {
  auto rows = db_->Exec("SELECT count(*) FROM ingest.studies");
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DataSetBytes(const std::string& path) {
  std::string bytes = ReadFile(path);
  REQUIRE(bytes.size() > 144);
  REQUIRE(bytes.compare(128, 4, "DICM") == 0);
  // (0002,0000) UL group length, explicit VR little endian: tag(4) VR(2) len(2) value(4)
  uint32_t group_length = 0;
  std::memcpy(&group_length, bytes.data() + 132 + 8, 4);
  return bytes.substr(132 + 12 + group_length);
}

}  // namespace parallax::ingest::testing
