#pragma once
// A running ingest service for tests: real PostgreSQL (a fresh database),
// a temporary store, free ports, real DCMTK tools as senders.
#include <memory>
#include <string>
#include <vector>

#include "ingest_config.h"
#include "ingest_service.h"
#include "parallax/store/database.h"
#include "parallax/testing/temp_dir.h"

namespace parallax::ingest::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command and captures its output.
CommandResult Run(const std::string& command);

class IngestFixture {
 public:
  // Text of GET /metrics from the running service.
  std::string Metrics();

  // A config with free ports, a fresh database and a temporary store.
  IngestFixture();
  ~IngestFixture();

  IngestConfig& config() { return config_; }
  // Starts the in-process service with config(); REQUIREs success.
  void Start();
  void Stop();

  // Writes `count` sample CT instances of one new study into a new folder; returns their paths.
  std::vector<std::string> WriteStudy(int count, const std::string& modality = "CT");

  // storescu to the service (TCP_NODELAY on), calling AE `calling_ae`.
  CommandResult StoreScu(const std::vector<std::string>& files, const std::string& calling_ae = "TESTSCU");

  // Rows of ingest.instances / ingest.studies.
  int64_t CountInstances();
  int64_t CountStudies();

  // Writes config() as a JSON file for the parallax-ingest binary; returns its path.
  std::string WriteConfigFile();

  // Starts the parallax-ingest binary with that file; returns once it answers
  // C-ECHO. Its output goes to <work_dir>/ingest-<n>.log.
  int SpawnBinary();

  // Everything the spawned binaries logged so far.
  std::string SpawnedLogs();

  // Sends `signal` to a spawned binary and reaps it.
  static void KillBinary(int pid, int signal);

  store::Database& db() { return *db_; }
  std::string NewDir(const std::string& name);

 private:
  parallax::testing::TempDir dir_;
  IngestConfig config_;
  std::unique_ptr<IngestService> service_;
  std::unique_ptr<store::Database> db_;
  int folders_ = 0;
};

// The bytes of a Part-10 file after its file meta information: what was
// sent on the wire, to compare a stored instance with its source.
std::string DataSetBytes(const std::string& path);

// Reads a whole file.
std::string ReadFile(const std::string& path);

}  // namespace parallax::ingest::testing
