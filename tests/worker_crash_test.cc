// A triage worker process killed in the middle of an analysis: its lease
// expires, another worker takes the job over and finishes it, and exactly
// one analysis is stored. The killed worker is the real parallax-triage
// binary; inference is the real service, held mid-read so the kill lands
// while the analysis is in progress.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/testing/temp_dir.h"
#include "running_triage.h"

using parallax::ingest::testing::IngestFixture;
using parallax::ingest::testing::ReadFile;
using parallax::ingest::testing::Run;
using parallax::testing::RunningTriage;
using parallax::testing::WaitFor;
using namespace std::chrono_literals;

namespace {

// Ingest reads that wait while held, so an analysis can be caught mid-way.
class HeldSource final : public parallax::ingest_client::StudySource {
 public:
  explicit HeldSource(parallax::ingest_client::StudySource& inner) : inner_(inner) {}
  absl::StatusOr<parallax::common::v1::StudyManifest> GetStudy(const std::string& uid,
                                                               parallax::ingest_client::Deadline d) override {
    return inner_.GetStudy(uid, d);
  }
  absl::StatusOr<std::string> ReadInstance(const std::string& uid, parallax::ingest_client::Deadline d) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++waiting_;
      cv_.wait_until(lock, d, [this] { return !held_; });
      --waiting_;
    }
    return inner_.ReadInstance(uid, d);
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  int waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }

 private:
  parallax::ingest_client::StudySource& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = true;
  int waiting_ = 0;
};

int64_t JobAttempts(RunningTriage& t, const std::string& study) {
  auto rows = t.db().Exec("SELECT attempts FROM triage.jobs WHERE study_instance_uid = $1", {study});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return *(*rows)[0].GetInt64(0);
}

}  // namespace

TEST_CASE("a worker killed mid-analysis loses its lease and another stores exactly one analysis",
          "[pipeline][db][slow]") {
  IngestFixture f;
  f.config().stable_after = 300ms;
  f.config().stability_sweep_interval = 100ms;
  RunningTriage triage(f.config().triage_address);
  f.Start();
  parallax::ingest_client::IngestStudySource ingest(parallax::rpc::MakeChannel(f.config().grpc_address));
  HeldSource held(ingest);
  triage.StartAnalysis(f.config().grpc_address, /*workers=*/0, &held);

  // Worker A: the parallax-triage binary on the same database, one worker, a short lease.
  const std::string dir = f.NewDir("worker-a");
  const std::string config = dir + "/triage.json";
  {
    std::ofstream out(config);
    out << "{\"grpc_address\": \"127.0.0.1:" << parallax::testing::FreeTcpPort() << "\", "
        << "\"metrics_address\": \"127.0.0.1:" << parallax::testing::FreeTcpPort() << "\", "
        << "\"database_url\": \"" << triage.db_url() << "\", "
        << "\"model_dir\": \"" << RunningTriage::ModelsDir() << "\", "
        << "\"inference_address\": \"" << triage.services_address() << "\", "
        << "\"explainability_address\": \"" << triage.services_address() << "\", "
        << "\"alert_routing_address\": \"\", \"workers\": 1, \"worker_name\": \"worker-a\", "
        << "\"lease\": \"1500ms\", \"analyze_timeout\": \"60s\"}";
  }
  const std::string log = dir + "/triage.log";
  const std::string binary = parallax::testing::BinDir() + "/services/triage/parallax-triage";
  pid_t a = ::fork();
  REQUIRE(a >= 0);
  if (a == 0) {
    FILE* err = std::freopen(log.c_str(), "w", stderr);
    (void)err;
    ::execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }

  parallax::phantom::ChestXrayOptions film;
  film.seed = 900031;
  film.difficulty = 0.05;
  film.findings = {"Pneumothorax"};
  parallax::dicom::StudyIdentity id;
  id.uid_seed = 700031;
  const std::string study_dir = f.NewDir("study");
  auto written = parallax::dicom::WritePhantomStudy(parallax::phantom::MakeChestXray(film), id, study_dir);
  REQUIRE(written.ok());
  auto sent = Run("TCP_NODELAY=1 storescu -aec PARALLAX +sd +sp '*.dcm' 127.0.0.1 " +
                  std::to_string(f.config().dicom_port) + " " + study_dir);
  REQUIRE(sent.exit_code == 0);

  // A has the job and is inside Inference.Analyze: kill it there.
  INFO(ReadFile(log));
  REQUIRE(WaitFor([&] { return held.waiting() > 0; }, 60s));
  REQUIRE(JobAttempts(triage, written->study_instance_uid) == 1);
  ::kill(a, SIGKILL);
  int status = 0;
  ::waitpid(a, &status, 0);
  auto before = triage.store().CountAnalyses(written->study_instance_uid);
  REQUIRE(before.ok());
  CHECK(*before == 0);  // A died before storing anything
  held.Release();

  // B, in process, takes the job over once A's lease has expired.
  triage.AddWorker();
  auto outcome = triage.WaitForOutcome(written->study_instance_uid, 120s);
  INFO("reason: " << outcome.reason());
  CHECK(outcome.state() == parallax::triage::v1::ANALYSIS_STATE_ANALYSED);
  CHECK(JobAttempts(triage, written->study_instance_uid) == 2);
  auto analyses = triage.store().CountAnalyses(written->study_instance_uid);
  REQUIRE(analyses.ok());
  CHECK(*analyses == 1);
  // Nothing later adds a second one.
  std::this_thread::sleep_for(2s);
  CHECK(*triage.store().CountAnalyses(written->study_instance_uid) == 1);
}
