// Ingest.FindPriorStudies with a PACS: a private Orthanc
// (scripts/lib/orthanc.sh) holding the patient's older studies, a real
// ingest service (PostgreSQL, C-STORE SCP, gRPC), C-FIND and C-GET between
// them. Also a PACS that is not there, and one that never answers.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ingest_fixture.h"
#include "prior_test_support.h"
#include "parallax/audit/v1/audit.pb.h"
#include "parallax/dicom/instance_header.h"
#include "parallax/store/bytea.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/private_orthanc.h"
#include "parallax/testing/silent_listener.h"

using namespace parallax::ingest::testing;
namespace v1 = parallax::ingest::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kPatient[] = "PX-PRIOR-PACS-7";

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A private Orthanc that knows ingest's AE title (PARALLAX) as a modality.
class PrivateOrthanc {
 public:
  PrivateOrthanc(const std::string& workdir, int parallax_dicom_port) : workdir_(workdir) {
    std::string error;
    orthanc_ = parallax::testing::PrivateOrthanc::Start(
        workdir,
        R"({"DicomModalities": {"parallax": ["PARALLAX", "127.0.0.1", )" + std::to_string(parallax_dicom_port) + "]}}",
        &error);
    INFO(error);
    REQUIRE(orthanc_ != nullptr);
  }
  int dicom_port() const { return orthanc_->dicom_port(); }

  // Uploads Part-10 files by REST.
  void Upload(const std::vector<std::string>& files) const {
    for (const std::string& f : files) {
      auto up = parallax::testing::RunCommand("curl -sf -X POST --data-binary @" + f + " " + orthanc_->base_url() +
                                              "/instances");
      INFO(up.output);
      REQUIRE(up.exit_code == 0);
    }
  }
  // The file Orthanc holds for a SOP Instance UID.
  std::string FileOf(const std::string& sop_instance_uid) const {
    const std::string id = orthanc_->Lookup(sop_instance_uid);
    REQUIRE_FALSE(id.empty());
    const std::string path = workdir_ + "-" + sop_instance_uid + ".dcm";
    auto got = parallax::testing::RunCommand("curl -sf -o " + path + " " + orthanc_->base_url() + "/instances/" + id +
                                             "/file");
    REQUIRE(got.exit_code == 0);
    return ReadBytes(path);
  }
  std::string LogTail() const { return orthanc_->LogTail(); }

 private:
  std::string workdir_;
  std::unique_ptr<parallax::testing::PrivateOrthanc> orthanc_;
};

using parallax::testing::SilentListener;

// Polls `query` (a single count) until it equals `want` or 10 s pass; returns the last value.
int64_t WaitForCount(IngestFixture& f, const std::string& query, int64_t want) {
  int64_t got = -1;
  for (int i = 0; i < 200; ++i) {
    auto rows = f.db().Exec(query);
    REQUIRE(rows.ok());
    got = (*rows)[0].GetInt64(0).value_or(-1);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

// A head CT of kPatient (2026-12-01, phantom seed `seed`) and its prior
// (2025-10-10, seed + 1), stored through ingest's C-STORE SCP.
std::pair<PhantomWritten, PhantomWritten> StoreCurrentAndPrior(IngestFixture& f, int seed) {
  PhantomWritten current = WritePhantom(Spec(kPatient, "CT", "HEAD", "20261201", seed, 1), f.NewDir("s"));
  PhantomWritten prior = WritePhantom(Spec(kPatient, "CT", "HEAD", "20251010", seed + 1, 1), f.NewDir("s"));
  for (const PhantomWritten* w : {&current, &prior}) {
    auto sent = f.StoreScu(w->files);
    INFO(sent.output);
    REQUIRE(sent.exit_code == 0);
  }
  return {std::move(current), std::move(prior)};
}

}  // namespace

TEST_CASE("FindPriorStudies merges the PACS's priors with the local ones and retrieve=true fetches the most "
          "relevant one into ingest without handing it to triage",
          "[ingest][db][pacs]") {
  IngestFixture f;
  f.config().stable_after = std::chrono::milliseconds(300);
  f.config().stability_sweep_interval = std::chrono::milliseconds(50);
  PrivateOrthanc orthanc(f.NewDir("orthanc"), f.config().dicom_port);
  f.config().pacs_destinations = {"archive=ORTHANC@127.0.0.1:" + std::to_string(orthanc.dicom_port())};
  f.config().prior_pacs = "archive";
  f.config().prior_pacs_connect_timeout_seconds = 3;
  f.config().prior_pacs_query_timeout_seconds = 10;
  f.Start();
  IngestClient client(f.config().grpc_address);

  // Ingest holds the current study and one prior; Orthanc holds the priors
  // (that one too) and studies that are not priors of the current one.
  const PhantomWritten current = WritePhantom(Spec(kPatient, "CT", "HEAD", "20261201", 101, 3), f.NewDir("s"));
  const PhantomWritten q1 = WritePhantom(Spec(kPatient, "CT", "HEAD", "20260315", 102, 3), f.NewDir("s"));
  const PhantomWritten q2 = WritePhantom(Spec(kPatient, "CT", "HEAD", "20250601", 103, 2), f.NewDir("s"));
  const PhantomWritten q3 = WritePhantom(Spec(kPatient, "CT", "HEAD", "20240110", 104, 2), f.NewDir("s"));
  for (const PhantomWritten* w : {&current, &q2}) {
    auto sent = f.StoreScu(w->files);
    INFO(sent.output);
    REQUIRE(sent.exit_code == 0);
  }
  orthanc.Upload(q1.files);
  orthanc.Upload(q2.files);
  orthanc.Upload(q3.files);
  orthanc.Upload(WritePhantom(Spec(kPatient, "DX", "CHEST", "20260301", 105, 1), f.NewDir("s")).files);
  orthanc.Upload(WritePhantom(Spec(kPatient, "CT", "CHEST", "20260201", 106, 1), f.NewDir("s")).files);
  orthanc.Upload(WritePhantom(Spec(kPatient, "CT", "HEAD", "20261205", 107, 1), f.NewDir("s")).files);
  orthanc.Upload(WritePhantom(Spec("PX-PRIOR-PACS-8", "CT", "HEAD", "20260401", 108, 1), f.NewDir("s")).files);
  orthanc.Upload(WritePhantom(Spec(kPatient, "CT", "HEAD", "20190101", 109, 1), f.NewDir("s")).files);

  // 1. Found and merged, nothing fetched.
  v1::FindPriorStudiesResponse found;
  grpc::Status status = client.FindPriors(current.study_instance_uid, &found);
  INFO(status.error_message() << "\n" << orthanc.LogTail());
  REQUIRE(status.ok());
  INFO("note: " << found.pacs_note());
  CHECK(found.pacs_configured());
  CHECK(found.pacs_consulted());
  CHECK(found.pacs_note().empty());
  REQUIRE(UidsOf(found) ==
          std::vector<std::string>{q1.study_instance_uid, q2.study_instance_uid, q3.study_instance_uid});
  CHECK(found.priors(0).source() == v1::PRIOR_STUDY_SOURCE_PACS);
  CHECK_FALSE(found.priors(0).held_locally());
  CHECK(found.priors(0).instance_count() == 3);  // as the PACS counts them
  CHECK(found.priors(0).interval_days() == 261);
  CHECK(found.priors(0).study_date() == "20260315");
  CHECK(std::vector<std::string>(found.priors(0).body_parts().begin(), found.priors(0).body_parts().end()) ==
        std::vector<std::string>{"HEAD"});
  CHECK(found.priors(1).source() == v1::PRIOR_STUDY_SOURCE_LOCAL);  // both local and on the PACS
  CHECK(found.priors(1).held_locally());
  CHECK(found.priors(1).instance_count() == 2);
  CHECK(found.priors(1).interval_days() == 548);
  CHECK(found.priors(2).source() == v1::PRIOR_STUDY_SOURCE_PACS);
  CHECK_FALSE(found.priors(2).held_locally());
  CHECK(found.priors(2).interval_days() == 1056);
  v1::GetStudyResponse absent;
  CHECK(client.GetStudy(q1.study_instance_uid, &absent).error_code() == grpc::StatusCode::NOT_FOUND);

  // 2. retrieve=true: the most relevant prior, q1, comes into ingest's store.
  v1::FindPriorStudiesResponse fetched;
  status = client.FindPriors(current.study_instance_uid, &fetched, /*retrieve=*/true);
  INFO(status.error_message() << "\n" << orthanc.LogTail());
  REQUIRE(status.ok());
  INFO("note: " << fetched.pacs_note());
  REQUIRE(fetched.priors_size() == 3);
  CHECK(fetched.priors(0).study_instance_uid() == q1.study_instance_uid);
  CHECK(fetched.priors(0).held_locally());
  CHECK(fetched.priors(0).instance_count() == 3);
  CHECK(Contains(fetched.pacs_note(), "retrieved prior " + q1.study_instance_uid));
  CHECK_FALSE(Contains(fetched.pacs_note(), kPatient));
  CHECK_FALSE(fetched.priors(2).held_locally());  // only the most relevant one is fetched

  v1::GetStudyResponse study;
  status = client.GetStudy(q1.study_instance_uid, &study);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(study.study().patient_id() == kPatient);
  CHECK(study.study().study_date() == "20260315");
  REQUIRE(study.study().series_size() == 1);
  REQUIRE(study.study().series(0).instances_size() == 3);
  std::set<std::string> seen;
  for (const std::string& file : q1.files) {
    const std::string original = ReadBytes(file);
    auto header = parallax::dicom::ReadInstanceHeaderFromBuffer(original.data(), original.size());
    REQUIRE(header.ok());
    INFO(header->sop_instance_uid);
    const std::string stored = client.ReadInstance(header->sop_instance_uid);
    const std::string in_orthanc = orthanc.FileOf(header->sop_instance_uid);
    REQUIRE_FALSE(DataSetOf(stored).empty());
    CHECK(DataSetOf(stored) == DataSetOf(in_orthanc));  // byte for byte, pixels included
    CHECK(DataSetOf(stored) == DataSetOf(original));
    seen.insert(header->sop_instance_uid);
  }
  CHECK(seen.size() == 3);
  auto origin = f.db().Exec("SELECT s.origin, (SELECT string_agg(DISTINCT i.source, ',') FROM ingest.instances i"
                            " WHERE i.study_uid = s.study_uid) FROM ingest.studies s WHERE s.study_uid = $1",
                            {q1.study_instance_uid});
  REQUIRE(origin.ok());
  REQUIRE(origin->size() == 1);
  CHECK((*origin)[0].Get(0) == "prior_retrieval");
  CHECK((*origin)[0].Get(1) == "c-get");

  // The sweep (300 ms of quiet) marks every study stable: the current one
  // goes to the triage outbox, the retrieved prior never does.
  CHECK(WaitForCount(f, "SELECT count(*) FROM ingest.studies WHERE state = 'stable'", 3) == 3);
  CHECK(WaitForCount(f, "SELECT count(*) FROM ingest.triage_outbox WHERE study_uid = '" +
                            current.study_instance_uid + "'",
                     1) == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few more sweeps
  auto outbox = f.db().Exec("SELECT count(*) FROM ingest.triage_outbox WHERE study_uid = $1",
                            {q1.study_instance_uid});
  REQUIRE(outbox.ok());
  CHECK((*outbox)[0].GetInt64(0).value_or(-1) == 0);

  // 3. Asked again, the fetched prior is local and nothing is fetched.
  v1::FindPriorStudiesResponse again;
  REQUIRE(client.FindPriors(current.study_instance_uid, &again, true).ok());
  REQUIRE(again.priors_size() == 3);
  CHECK(again.priors(0).study_instance_uid() == q1.study_instance_uid);
  CHECK(again.priors(0).source() == v1::PRIOR_STUDY_SOURCE_LOCAL);
  CHECK(again.priors(0).held_locally());
  CHECK(again.priors(0).instance_count() == 3);
  CHECK(again.pacs_note().empty());
  CHECK(f.CountInstances() == 3 + 2 + 3);

  // 4. The retrieval is in the audit trail (here still in ingest's audit
  // outbox: this ingest has no audit service), once, without the patient id.
  auto rows = f.db().Exec("SELECT event FROM ingest.audit_outbox ORDER BY id");
  REQUIRE(rows.ok());
  std::vector<parallax::audit::v1::AuditEvent> retrieved;
  for (const auto& row : *rows) {
    auto bytes = parallax::store::FromByteaHex(row.Get(0).value_or(""), "ingest.audit_outbox.event");
    REQUIRE(bytes.ok());
    parallax::audit::v1::AuditEvent e;
    REQUIRE(e.ParseFromString(*bytes));
    if (e.type() == parallax::audit::v1::EVENT_TYPE_PRIOR_RETRIEVED) retrieved.push_back(e);
  }
  REQUIRE(retrieved.size() == 1);
  const auto& event = retrieved.front();
  CHECK(event.subject().study_instance_uid() == q1.study_instance_uid);
  CHECK(event.outcome() == parallax::audit::v1::OUTCOME_SUCCESS);
  std::map<std::string, std::string> attributes;
  for (const auto& a : event.attributes()) attributes[a.key()] = a.value();
  CHECK(attributes["for_study"] == current.study_instance_uid);
  CHECK(attributes["pacs"] == "archive");
  CHECK(attributes["instances"] == "3");
  CHECK_FALSE(Contains(event.DebugString(), kPatient));
}

TEST_CASE("an unreachable or silent PACS gives the local priors quickly with a note and no patient id",
          "[ingest][db][pacs]") {
  IngestFixture f;
  SilentListener silent;
  const int nowhere = parallax::testing::FreeTcpPort();
  f.config().pacs_destinations = {"archive=ORTHANC@127.0.0.1:" + std::to_string(nowhere),
                                  "hung=HUNG@127.0.0.1:" + std::to_string(silent.port())};
  f.config().default_pacs = "archive";
  f.config().prior_pacs = "archive";
  f.config().prior_pacs_connect_timeout_seconds = 2;
  f.config().prior_pacs_query_timeout_seconds = 1;

  SECTION("nothing listens") {}
  SECTION("the PACS accepts the connection and never answers") { f.config().prior_pacs = "hung"; }
  f.Start();
  IngestClient client(f.config().grpc_address);
  const auto [current, prior] = StoreCurrentAndPrior(f, 201);

  v1::FindPriorStudiesResponse response;
  const auto start = Clock::now();
  grpc::Status status = client.FindPriors(current.study_instance_uid, &response, /*retrieve=*/true);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  INFO(status.error_message() << "\nnote: " << response.pacs_note() << "\nseconds: " << seconds);
  REQUIRE(status.ok());
  CHECK(UidsOf(response) == std::vector<std::string>{prior.study_instance_uid});
  CHECK(response.priors(0).source() == v1::PRIOR_STUDY_SOURCE_LOCAL);
  CHECK(response.pacs_configured());
  CHECK_FALSE(response.pacs_consulted());
  CHECK(Contains(response.pacs_note(), "local priors only"));
  CHECK_FALSE(Contains(response.pacs_note(), kPatient));
  CHECK_FALSE(Contains(response.pacs_note(), "PX-PRIOR"));
  if (f.config().prior_pacs == "archive") {
    CHECK(Contains(response.pacs_note(), "unreachable (UNAVAILABLE"));
    CHECK(Contains(response.pacs_note(), "ORTHANC@127.0.0.1:" + std::to_string(nowhere)));
    CHECK(seconds < 2.0);
  } else {
    CHECK(Contains(response.pacs_note(), "did not answer in time (DEADLINE_EXCEEDED"));
    CHECK(seconds < 4.0);
  }
}

TEST_CASE("a caller's deadline shorter than the PACS timeouts still gets the local priors in time, with a note",
          "[ingest][db][pacs]") {
  IngestFixture f;
  SilentListener silent;
  f.config().pacs_destinations = {"hung=HUNG@127.0.0.1:" + std::to_string(silent.port())};
  f.config().default_pacs = "hung";
  f.config().prior_pacs = "hung";
  f.config().prior_pacs_connect_timeout_seconds = 10;
  f.config().prior_pacs_query_timeout_seconds = 30;  // far beyond the caller's patience
  f.Start();
  IngestClient client(f.config().grpc_address);
  const auto [current, prior] = StoreCurrentAndPrior(f, 211);

  struct Case {
    std::chrono::milliseconds deadline;
    const char* note;
  };
  // 3 s: the PACS is asked and given what is left; 1 s: too little to ask it.
  for (const Case& c : {Case{std::chrono::milliseconds(3000), "did not answer in time (DEADLINE_EXCEEDED"},
                        Case{std::chrono::milliseconds(1000), "the caller's deadline left no time to ask PACS hung"}}) {
    v1::FindPriorStudiesResponse response;
    const auto start = Clock::now();
    grpc::Status status = client.FindPriors(current.study_instance_uid, &response, /*retrieve=*/true, 0, 0, c.deadline);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    INFO("deadline " << c.deadline.count() << " ms: " << status.error_message() << "\nnote: " << response.pacs_note()
                     << "\nseconds: " << seconds);
    REQUIRE(status.ok());  // not DEADLINE_EXCEEDED: the local prior arrives
    CHECK(UidsOf(response) == std::vector<std::string>{prior.study_instance_uid});
    CHECK(response.pacs_configured());
    CHECK_FALSE(response.pacs_consulted());
    CHECK(Contains(response.pacs_note(), c.note));
    CHECK(seconds < c.deadline.count() / 1000.0);
  }
}
