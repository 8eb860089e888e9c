// Ingest.FindPriorStudies from ingest's own index: a real service (real
// PostgreSQL, real C-STORE by storescu, real gRPC), no PACS configured.
// Also the stability sweep's skip of retrieved priors, and the date helpers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "ingest_fixture.h"
#include "prior_finder.h"
#include "prior_test_support.h"
#include "study_index.h"
#include "parallax/dicom/instance_header.h"

using namespace parallax::ingest::testing;
namespace v1 = parallax::ingest::v1;
using parallax::ingest::FormatStudyDay;
using parallax::ingest::ParseStudyDay;

namespace {

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Writes a study and sends it to the running service by C-STORE.
std::string Send(IngestFixture& f, const PhantomSpec& spec) {
  PhantomWritten w = WritePhantom(spec, f.NewDir("phantom"));
  auto sent = f.StoreScu(w.files);
  INFO(sent.output);
  REQUIRE(sent.exit_code == 0);
  return w.study_instance_uid;
}

}  // namespace

TEST_CASE("study dates parse to days and back, and impossible dates are refused", "[ingest]") {
  int day = 0;
  REQUIRE(ParseStudyDay("19700101", &day));
  CHECK(day == 0);
  REQUIRE(ParseStudyDay("20261201", &day));
  CHECK(day == 20788);
  CHECK(FormatStudyDay(day) == "20261201");
  CHECK(FormatStudyDay(day - 183) == "20260601");
  REQUIRE(ParseStudyDay("20240229", &day));  // a leap day
  CHECK(FormatStudyDay(day + 1) == "20240301");
  CHECK_FALSE(ParseStudyDay("20250229", &day));
  CHECK_FALSE(ParseStudyDay("20251301", &day));
  CHECK_FALSE(ParseStudyDay("2025-01-01", &day));
  CHECK_FALSE(ParseStudyDay("", &day));
  CHECK_FALSE(ParseStudyDay("2025011", &day));
}

TEST_CASE("FindPriorStudies answers the patient's earlier studies of the same kind from the index, most recent "
          "first",
          "[ingest][db]") {
  IngestFixture f;
  f.Start();
  IngestClient client(f.config().grpc_address);

  const std::string current = Send(f, Spec("PX-PRIOR-A", "CT", "HEAD", "20261201", 1, 3));
  const std::string p1 = Send(f, Spec("PX-PRIOR-A", "CT", "HEAD", "20260601", 2, 2));
  const std::string p2 = Send(f, Spec("PX-PRIOR-A", "CT", "HEAD", "20250115", 3, 1));
  const std::string p3 = Send(f, Spec("PX-PRIOR-A", "CT", "", "20240301", 4, 2));  // no body part: still a match
  // None of these is a prior of `current`.
  Send(f, Spec("PX-PRIOR-A", "CT", "HEAD", "20261203", 5));   // later
  Send(f, Spec("PX-PRIOR-A", "CT", "HEAD", "20261201", 6));   // the same day
  Send(f, Spec("PX-PRIOR-A", "MR", "HEAD", "20260101", 7));   // another modality
  Send(f, Spec("PX-PRIOR-A", "CT", "CHEST", "20260301", 8));  // another body part
  Send(f, Spec("PX-PRIOR-B", "CT", "HEAD", "20260701", 9));   // another patient
  const std::string old = Send(f, Spec("PX-PRIOR-A", "CT", "HEAD", "20200101", 10));  // older than 5 years
  PhantomSpec other_issuer = Spec("PX-PRIOR-A", "CT", "HEAD", "20260801", 11);
  other_issuer.issuer = "OTHER-HOSPITAL";  // the same id in another patient-id domain
  Send(f, other_issuer);
  REQUIRE(f.CountStudies() == 11);

  v1::FindPriorStudiesResponse response;
  grpc::Status status = client.FindPriors(current, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(UidsOf(response) == std::vector<std::string>{p1, p2, p3});
  REQUIRE(response.priors_size() == 3);
  const auto& first = response.priors(0);
  CHECK(first.study_date() == "20260601");
  CHECK(first.source() == v1::PRIOR_STUDY_SOURCE_LOCAL);
  CHECK(first.held_locally());
  CHECK(first.instance_count() == 2);
  CHECK(first.interval_days() == 183);
  CHECK(std::vector<std::string>(first.modalities().begin(), first.modalities().end()) ==
        std::vector<std::string>{"CT"});
  CHECK(std::vector<std::string>(first.body_parts().begin(), first.body_parts().end()) ==
        std::vector<std::string>{"HEAD"});
  CHECK(response.priors(1).interval_days() == 685);
  CHECK(response.priors(1).instance_count() == 1);
  CHECK(response.priors(2).interval_days() == 1005);
  CHECK(response.priors(2).body_parts_size() == 0);
  CHECK_FALSE(response.pacs_configured());
  CHECK_FALSE(response.pacs_consulted());
  CHECK(Contains(response.pacs_note(), "no PACS is configured"));
  CHECK_FALSE(Contains(response.pacs_note(), "PX-PRIOR"));

  SECTION("max_results and lookback_days narrow the list") {
    v1::FindPriorStudiesResponse two;
    REQUIRE(client.FindPriors(current, &two, false, 2).ok());
    CHECK(UidsOf(two) == std::vector<std::string>{p1, p2});
    v1::FindPriorStudiesResponse recent;
    REQUIRE(client.FindPriors(current, &recent, false, 0, 400).ok());
    CHECK(UidsOf(recent) == std::vector<std::string>{p1});
    v1::FindPriorStudiesResponse long_ago;  // 7 years back reaches the 2020 study
    REQUIRE(client.FindPriors(current, &long_ago, false, 0, 7 * 365).ok());
    CHECK(UidsOf(long_ago) == std::vector<std::string>{p1, p2, p3, old});
    // retrieve=true without a PACS changes nothing: every prior is held.
    v1::FindPriorStudiesResponse retrieving;
    REQUIRE(client.FindPriors(current, &retrieving, true).ok());
    CHECK(UidsOf(retrieving) == std::vector<std::string>{p1, p2, p3});
  }
  SECTION("the priors of a prior are the older ones") {
    v1::FindPriorStudiesResponse of_p1;
    REQUIRE(client.FindPriors(p1, &of_p1).ok());
    CHECK(UidsOf(of_p1) == std::vector<std::string>{p2, p3});
    v1::FindPriorStudiesResponse of_p3;  // p3 has no body part: any CT of the patient within 5 years before it
    REQUIRE(client.FindPriors(p3, &of_p3).ok());
    CHECK(UidsOf(of_p3) == std::vector<std::string>{old});
    v1::FindPriorStudiesResponse of_old;
    REQUIRE(client.FindPriors(old, &of_old).ok());
    CHECK(of_old.priors_size() == 0);
  }
  SECTION("bad requests are refused with the UID, never the patient") {
    v1::FindPriorStudiesResponse r;
    grpc::Status unknown = client.FindPriors("1.2.826.0.1.3680043.8.498.999", &r);
    CHECK(unknown.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(client.FindPriors("not-a-uid", &r).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(client.FindPriors(current, &r, false, -1).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(client.FindPriors(current, &r, false, 101).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(client.FindPriors(current, &r, false, 0, -5).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_CASE("a patient without priors gets an empty list, and a study without a patient id matches nobody",
          "[ingest][db]") {
  IngestFixture f;
  f.Start();
  IngestClient client(f.config().grpc_address);
  const std::string lonely = Send(f, Spec("PX-PRIOR-LONELY", "CT", "HEAD", "20261201", 21));
  Send(f, Spec("PX-PRIOR-OTHER", "CT", "HEAD", "20250101", 22));
  const std::string anonymous_old = Send(f, Spec("", "CT", "HEAD", "20250101", 23));
  const std::string anonymous = Send(f, Spec("", "CT", "HEAD", "20261201", 24));

  v1::FindPriorStudiesResponse none;
  grpc::Status status = client.FindPriors(lonely, &none);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(none.priors_size() == 0);
  CHECK_FALSE(none.pacs_consulted());

  v1::FindPriorStudiesResponse empty_id;
  REQUIRE(client.FindPriors(anonymous, &empty_id).ok());
  CHECK(empty_id.priors_size() == 0);  // never a match on an empty Patient ID
  CHECK(Contains(empty_id.pacs_note(), "no Patient ID"));
  (void)anonymous_old;
}

TEST_CASE("the stability sweep marks a retrieved prior stable but never enqueues it for triage", "[ingest][db]") {
  IngestFixture f;
  f.Start();  // runs the migrations; its own sweep waits 60 s of quiet, so it stays out of the way
  parallax::ingest::StudyIndex index(&f.db());

  PhantomWritten prior = WritePhantom(Spec("PX-PRIOR-S", "CT", "HEAD", "20250101", 31, 2), f.NewDir("prior"));
  PhantomWritten fresh = WritePhantom(Spec("PX-PRIOR-S", "CT", "HEAD", "20261201", 32, 1), f.NewDir("fresh"));
  auto add = [&](const std::string& file, const std::string& origin, const std::string& source) {
    auto header = parallax::dicom::ReadInstanceHeaderFromFile(file);
    REQUIRE(header.ok());
    auto added = index.Add(*header, parallax::ingest::IndexedInstance{"x/" + header->sop_instance_uid, 10, source, ""},
                           origin);
    INFO(added.status().message());
    REQUIRE(added.ok());
    CHECK(*added);
  };
  add(prior.files[0], parallax::ingest::kStudyOriginPriorRetrieval, parallax::ingest::kSourceCGet);
  add(prior.files[1], parallax::ingest::kStudyOriginPriorRetrieval, parallax::ingest::kSourceCGet);
  add(fresh.files[0], parallax::ingest::kStudyOriginReceived, "dimse");

  int skipped = -1;
  auto marked = index.MarkStableStudies(std::chrono::milliseconds(0), &skipped);
  INFO(marked.status().message());
  REQUIRE(marked.ok());
  CHECK(*marked == 1);  // the fresh study only
  CHECK(skipped == 1);
  auto rows = f.db().Exec("SELECT s.study_uid, s.state, s.origin, (SELECT count(*) FROM ingest.triage_outbox o"
                          " WHERE o.study_uid = s.study_uid) FROM ingest.studies s ORDER BY s.study_date");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].Get(0) == prior.study_instance_uid);
  CHECK((*rows)[0].Get(1) == "stable");
  CHECK((*rows)[0].Get(2) == "prior_retrieval");
  CHECK((*rows)[0].GetInt64(3).value_or(-1) == 0);
  CHECK((*rows)[1].Get(0) == fresh.study_instance_uid);
  CHECK((*rows)[1].Get(2) == "received");
  CHECK((*rows)[1].GetInt64(3).value_or(-1) == 1);
  // No STUDY_RECEIVED for the prior either: one audit event, the fresh study's.
  auto audit = f.db().Exec("SELECT count(*) FROM ingest.audit_outbox");
  REQUIRE(audit.ok());
  CHECK((*audit)[0].GetInt64(0).value_or(-1) == 1);

  // What happens today when the PACS later sends more of that study by
  // C-STORE: the study keeps its origin, so it is again not for triage.
  auto resent = f.StoreScu({WritePhantom(Spec("PX-PRIOR-S", "CT", "HEAD", "20250101", 31, 3), f.NewDir("more"))
                                .files[2]});
  INFO(resent.output);
  REQUIRE(resent.exit_code == 0);
  skipped = -1;
  marked = index.MarkStableStudies(std::chrono::milliseconds(0), &skipped);
  REQUIRE(marked.ok());
  CHECK(*marked == 0);
  CHECK(skipped == 1);
}

TEST_CASE("prior_pacs must name a configured PACS destination and its timeouts are validated", "[ingest]") {
  parallax::ingest::IngestConfig config;
  auto priors = parallax::ingest::PriorPacsSettingsFromConfig(config);
  REQUIRE(priors.ok());
  CHECK_FALSE(priors->enabled);  // no prior_pacs: local priors only

  config.pacs_destinations = {"archive=ORTHANC@127.0.0.1:4242", "results=RESULTS@127.0.0.1:4343"};
  config.default_pacs = "results";
  config.prior_pacs = "elsewhere";
  auto unknown = parallax::ingest::ValidateIngestConfig(config);
  CHECK(unknown.code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(std::string(unknown.message()), "prior_pacs"));

  config.prior_pacs = "archive";
  REQUIRE(parallax::ingest::ValidateIngestConfig(config).ok());
  priors = parallax::ingest::PriorPacsSettingsFromConfig(config);
  REQUIRE(priors.ok());
  CHECK(priors->enabled);
  CHECK(priors->pacs.ae_title == "ORTHANC");
  CHECK(priors->pacs.port == 4242);
  CHECK(priors->query.calling_ae_title == config.ae_title);  // by default our own AE title
  CHECK(priors->query.connect_timeout_seconds == config.prior_pacs_connect_timeout_seconds);
  CHECK(priors->query.dimse_timeout_seconds == config.prior_pacs_query_timeout_seconds);
  CHECK(priors->retrieve.dimse_timeout_seconds == config.prior_pacs_retrieve_timeout_seconds);
  auto settings = parallax::ingest::PacsSettingsFromConfig(config);
  REQUIRE(settings.ok());
  CHECK(settings->priors.enabled);  // what IngestGrpc hands its PriorFinder

  config.prior_calling_ae_title = "PARALLAX_QR";
  priors = parallax::ingest::PriorPacsSettingsFromConfig(config);
  REQUIRE(priors.ok());
  CHECK(priors->query.calling_ae_title == "PARALLAX_QR");
  CHECK(priors->retrieve.calling_ae_title == "PARALLAX_QR");

  config.prior_calling_ae_title = std::string(17, 'A');
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);
  config.prior_calling_ae_title.clear();
  config.prior_pacs_query_timeout_seconds = 0;
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);
  config.prior_pacs_query_timeout_seconds = 5;
  config.prior_pacs_retrieve_timeout_seconds = 0;
  CHECK(parallax::ingest::ValidateIngestConfig(config).code() == absl::StatusCode::kInvalidArgument);
}
