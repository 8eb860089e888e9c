// kill -9 while a PACS is sending: nothing that was answered Success is lost.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "ingest_fixture.h"
#include "instance_store.h"
#include "parallax/testing/environment.h"

using namespace parallax::ingest;
using namespace parallax::ingest::testing;
using namespace std::chrono_literals;

namespace {

// Files storescu -v reported as answered Success, in order.
std::vector<std::string> AcknowledgedFiles(const std::string& output) {
  std::vector<std::string> acked;
  std::string current;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("I: Sending file: ", 0) == 0) current = line.substr(17);
    if (line.find("Received Store Response (Success)") != std::string::npos && !current.empty()) {
      acked.push_back(current);
      current.clear();
    }
  }
  return acked;
}

std::string SopOf(const std::string& file) {
  auto r = Run("dcmdump -q +P 0008,0018 " + file);
  auto open = r.output.find('[');
  auto close = r.output.find(']');
  REQUIRE(open != std::string::npos);
  return r.output.substr(open + 1, close - open - 1);
}

}  // namespace

TEST_CASE("ingest killed with SIGKILL mid-send keeps every instance it answered Success", "[ingest][db][slow]") {
  IngestFixture f;
  const std::string series = f.NewDir("ct");
  auto gen = Run(parallax::testing::BinDir() + "/libs/dicom/tools/parallax-make-ct-series --slices 120 --seed 7 --out " +
                 series);
  REQUIRE(gen.exit_code == 0);
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(series)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());

  int pid = f.SpawnBinary();
  auto sender = std::async(std::launch::async, [&] { return f.StoreScu(files); });
  // Let part of the series through, then kill the service without warning.
  for (int i = 0; i < 200 && f.CountInstances() < 15; ++i) std::this_thread::sleep_for(10ms);
  IngestFixture::KillBinary(pid, SIGKILL);
  CommandResult sent = sender.get();
  std::vector<std::string> acked = AcknowledgedFiles(sent.output);
  INFO("acknowledged before the kill: " << acked.size());
  REQUIRE(acked.size() >= 15);
  REQUIRE(acked.size() < files.size());  // the kill really interrupted the transfer

  // After a restart, every acknowledged instance is in the index and in the
  // store, byte for byte; no staging file survives.
  pid = f.SpawnBinary();
  for (const auto& file : acked) {
    const std::string sop = SopOf(file);
    auto rows = f.db().Exec("SELECT relative_path FROM ingest.instances WHERE sop_instance_uid = $1", {sop});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    const std::string stored = f.config().store_root + "/" + *(*rows)[0].Get(0);
    REQUIRE(std::filesystem::exists(stored));
    CHECK(DataSetBytes(stored) == DataSetBytes(file));
  }
  int staging = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(f.config().store_root)) {
    if (e.path().filename().string().rfind(".incoming-", 0) == 0) ++staging;
  }
  CHECK(staging == 0);

  // The PACS resends the whole series: everything is stored exactly once.
  CommandResult resent = f.StoreScu(files);
  CHECK(resent.exit_code == 0);
  CHECK(f.CountInstances() == static_cast<int64_t>(files.size()));
  IngestFixture::KillBinary(pid, SIGTERM);

  // The logs name instances by UID, never the patient.
  const std::string logs = f.SpawnedLogs();
  CHECK(logs.find("instance stored") == std::string::npos);  // debug lines are off by default
  CHECK(logs.find("PHANTOM") == std::string::npos);
  CHECK(logs.find("BENCH") == std::string::npos);
}
