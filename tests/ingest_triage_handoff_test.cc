// Stable studies reach triage through the outbox, also across a triage outage.
#include <catch2/catch.hpp>

#include <thread>

#include "ingest_fixture.h"
#include "running_triage.h"

using namespace parallax::ingest::testing;
using namespace std::chrono_literals;

using parallax::testing::RunningTriage;
using parallax::testing::StudyUid;
using parallax::testing::WaitFor;


TEST_CASE("a study is submitted to triage once it has been quiet for the stability period", "[ingest][db]") {
  IngestFixture f;
  f.config().stable_after = 1500ms;
  f.config().stability_sweep_interval = 100ms;
  RunningTriage triage(f.config().triage_address);
  f.Start();
  auto files = f.WriteStudy(4);
  REQUIRE(f.StoreScu(files).exit_code == 0);
  const std::string study = StudyUid(f);
  // Not before the quiet period has passed...
  std::this_thread::sleep_for(700ms);
  CHECK(triage.Submissions(study).empty());
  // ...and then exactly once, with every instance.
  REQUIRE(WaitFor([&] { return !triage.Submissions(study).empty(); }, 5s));
  std::this_thread::sleep_for(500ms);
  auto subs = triage.Submissions(study);
  REQUIRE(subs.size() == 1);
  CHECK(subs[0] == std::make_pair<int64_t, int64_t>(1, 4));
}

TEST_CASE("new instances after a study was stable submit it again as a new generation", "[ingest][db]") {
  IngestFixture f;
  f.config().stable_after = 300ms;
  f.config().stability_sweep_interval = 50ms;
  RunningTriage triage(f.config().triage_address);
  f.Start();
  auto files = f.WriteStudy(3);
  REQUIRE(f.StoreScu({files[0], files[1]}).exit_code == 0);
  const std::string study = StudyUid(f);
  REQUIRE(WaitFor([&] { return triage.Submissions(study).size() == 1; }, 5s));
  REQUIRE(f.StoreScu({files[2]}).exit_code == 0);
  REQUIRE(WaitFor([&] { return triage.Submissions(study).size() == 2; }, 5s));
  auto subs = triage.Submissions(study);
  CHECK(subs[0] == std::make_pair<int64_t, int64_t>(1, 2));
  CHECK(subs[1] == std::make_pair<int64_t, int64_t>(2, 3));
}

TEST_CASE("a triage outage delays a stable study and never loses it", "[ingest][db]") {
  IngestFixture f;
  f.config().stable_after = 200ms;
  f.config().stability_sweep_interval = 50ms;
  f.config().outbox_max_backoff = 500ms;
  f.config().triage_deadline = 500ms;
  f.Start();
  auto files = f.WriteStudy(2);
  REQUIRE(f.StoreScu(files).exit_code == 0);
  const std::string study = StudyUid(f);
  // Triage is down: the outbox keeps the study and counts the attempts.
  REQUIRE(WaitFor(
      [&] {
        auto rows = f.db().Exec("SELECT attempts FROM ingest.triage_outbox WHERE sent_at IS NULL AND attempts >= 2");
        return rows.ok() && !rows->empty();
      },
      10s));
  {
    RunningTriage triage(f.config().triage_address);
    REQUIRE(WaitFor([&] { return triage.Submissions(study).size() == 1; }, 10s));
    CHECK(triage.Submissions(study)[0].second == 2);
  }
  auto rows = f.db().Exec("SELECT count(*) FROM ingest.triage_outbox WHERE sent_at IS NULL");
  REQUIRE(rows.ok());
  CHECK(*(*rows)[0].GetInt64(0) == 0);
}
