#pragma once
// The real (thin) triage service on its own database and port, for tests
// that follow a study from ingest to triage; and small waiting helpers.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ingest_fixture.h"
#include "parallax/rpc/rpc_server.h"
#include "parallax/store/testing/fresh_database.h"
#include "submission_recorder.h"

namespace parallax::testing {

using namespace std::chrono_literals;
using parallax::ingest::testing::IngestFixture;

inline std::string DecodeBase64(const std::string& in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// The real (thin) triage service on its own database and port.
class RunningTriage {
 public:
  explicit RunningTriage(const std::string& address) {
    auto db = parallax::store::Database::Open({parallax::store::testing::FreshDatabaseUrl("triage"), 2});
    REQUIRE(db.ok());
    db_ = std::move(*db);
    recorder_ = std::make_unique<parallax::triage::SubmissionRecorder>(db_.get());
    REQUIRE(recorder_->Migrate().ok());
    server_ = std::make_unique<parallax::rpc::RpcServer>(parallax::rpc::RpcServerOptions{address});
    server_->Register(recorder_.get(), "parallax.triage.v1.Triage");
    REQUIRE(server_->Start().ok());
  }
  ~RunningTriage() { server_->Shutdown(); }

  // The manifest triage received for the latest generation of `study_uid`.
  parallax::common::v1::StudyManifest LatestManifest(const std::string& study_uid) {
    auto rows = db_->Exec(
        "SELECT encode(manifest, 'base64') FROM triage.submissions WHERE study_uid = $1 "
        "ORDER BY generation DESC LIMIT 1",
        {study_uid});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    std::string b64 = *(*rows)[0].Get(0);
    std::string clean;
    for (char c : b64) if (c != '\n') clean += c;
    std::string bytes = DecodeBase64(clean);
    parallax::common::v1::StudyManifest m;
    REQUIRE(m.ParseFromString(bytes));
    return m;
  }

  // (generation, instance_count) of each submission of `study_uid`.
  std::vector<std::pair<int64_t, int64_t>> Submissions(const std::string& study_uid) {
    auto rows = db_->Exec(
        "SELECT generation, instance_count FROM triage.submissions WHERE study_uid = $1 ORDER BY generation",
        {study_uid});
    REQUIRE(rows.ok());
    std::vector<std::pair<int64_t, int64_t>> out;
    for (auto& r : *rows) out.emplace_back(*r.GetInt64(0), *r.GetInt64(1));
    return out;
  }

 private:
  std::unique_ptr<parallax::store::Database> db_;
  std::unique_ptr<parallax::triage::SubmissionRecorder> recorder_;
  std::unique_ptr<parallax::rpc::RpcServer> server_;
};

inline std::string StudyUid(IngestFixture& f) {
  auto rows = f.db().Exec("SELECT study_uid FROM ingest.studies");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return *(*rows)[0].Get(0);
}

template <class Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}


}  // namespace parallax::testing
