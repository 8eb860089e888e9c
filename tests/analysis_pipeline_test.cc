// From a stable study in ingest to its stored analysis with evidence: real
// storescu into the real ingest service, real triage with its PostgreSQL
// queue, the real inference and explainability services on the shipped
// models, and the alert-routing recorder.
#include <catch2/catch.hpp>

#include <filesystem>

#include "parallax/dicom/study_writer.h"
#include "parallax/phantom/chest_xray.h"
#include "parallax/phantom/head_ct.h"
#include "running_triage.h"

using parallax::ingest::testing::IngestFixture;
using parallax::ingest::testing::Run;
using parallax::testing::FindingOf;
using parallax::testing::RunningTriage;
using parallax::testing::WaitFor;
using namespace std::chrono_literals;

namespace {

namespace ph = parallax::phantom;
namespace common = parallax::common::v1;

struct Sent {
  std::string study_uid;
  std::string dir;
  std::vector<std::string> files;
};

Sent Write(IngestFixture& f, const ph::Study& study, uint64_t seed) {
  parallax::dicom::StudyIdentity id;
  id.uid_seed = seed;
  id.patient_id = "E2E-" + std::to_string(seed);
  const std::string dir = f.NewDir("study");
  auto written = parallax::dicom::WritePhantomStudy(study, id, dir);
  REQUIRE(written.ok());
  return {written->study_instance_uid, dir, written->files};
}

void Send(IngestFixture& f, const Sent& s) { parallax::testing::SendFolder(f, s.dir); }

common::Laterality Expected(ph::Laterality side) {
  switch (side) {
    case ph::Laterality::kLeft: return common::LATERALITY_LEFT;
    case ph::Laterality::kRight: return common::LATERALITY_RIGHT;
    case ph::Laterality::kBilateral: return common::LATERALITY_BILATERAL;
    default: return common::LATERALITY_UNSPECIFIED;
  }
}

bool HasEvidence(const common::Finding& f, common::EvidenceKind kind) {
  for (const auto& e : f.evidence()) {
    if (e.kind() == kind) return true;
  }
  return false;
}

int64_t EvidenceRows(RunningTriage& t, const std::string& finding_id) {
  auto rows = t.db().Exec("SELECT count(*) FROM triage.evidence WHERE finding_id = $1 AND (png IS NOT NULL OR "
                          "dicom_part10 IS NOT NULL)",
                          {finding_id});
  REQUIRE(rows.ok());
  return *(*rows)[0].GetInt64(0);
}

struct Pipeline {
  IngestFixture f;
  std::unique_ptr<RunningTriage> triage;
  Pipeline() {
    f.config().stable_after = 500ms;
    f.config().stability_sweep_interval = 100ms;
    triage = std::make_unique<RunningTriage>(f.config().triage_address);
    f.Start();
    triage->StartAnalysis(f.config().grpc_address, 2);
  }
};

}  // namespace

TEST_CASE("a pneumothorax film and a subdural head CT are analysed end to end with side, zone, size and heatmap",
          "[pipeline][db][slow]") {
  Pipeline p;
  ph::ChestXrayOptions film;
  film.seed = 900011;
  film.difficulty = 0.05;
  film.findings = {"Pneumothorax"};
  const ph::Study chest = ph::MakeChestXray(film);
  ph::HeadCtOptions head;
  head.seed = 900003;
  head.difficulty = 0.05;
  head.findings = {"Subdural"};
  const ph::Study ct = ph::MakeHeadCt(head);
  const Sent chest_sent = Write(p.f, chest, 700001);
  const Sent ct_sent = Write(p.f, ct, 700002);
  Send(p.f, chest_sent);
  Send(p.f, ct_sent);

  {  // the chest film
    auto status = p.triage->WaitForOutcome(chest_sent.study_uid, 120s);
    INFO("reason: " << status.reason());
    REQUIRE(status.state() == parallax::triage::v1::ANALYSIS_STATE_ANALYSED);
    CHECK(status.decision() == "positive");
    auto analysis = p.triage->store().Analysis(chest_sent.study_uid, 1);
    REQUIRE(analysis.ok());
    const common::Finding& ptx = FindingOf(*analysis, "Pneumothorax");
    CHECK(ptx.positive());
    CHECK(ptx.probability() >= ptx.operating_point());
    INFO("side " << ptx.laterality() << " zone " << ptx.zone());
    CHECK(ptx.laterality() == Expected(chest.findings.at(0).laterality));
    CHECK(ptx.zone().find("zone") != std::string::npos);
    CHECK(ptx.has_area_cm2());
    CHECK(HasEvidence(ptx, common::EVIDENCE_KIND_HEATMAP_PNG));
    CHECK(HasEvidence(ptx, common::EVIDENCE_KIND_SECONDARY_CAPTURE));
    CHECK(EvidenceRows(*p.triage, ptx.finding_id()) >= 2);
    REQUIRE(WaitFor([&] { return p.triage->Routed(chest_sent.study_uid) == 1; }, 10s));
  }
  {  // the head CT
    auto status = p.triage->WaitForOutcome(ct_sent.study_uid, 180s);
    INFO("reason: " << status.reason());
    REQUIRE(status.state() == parallax::triage::v1::ANALYSIS_STATE_ANALYSED);
    CHECK(status.decision() == "positive");
    auto analysis = p.triage->store().Analysis(ct_sent.study_uid, 1);
    REQUIRE(analysis.ok());
    const common::Finding& ich = FindingOf(*analysis, "Intracranial haemorrhage");
    CHECK(ich.positive());
    CHECK(ich.probability() >= ich.operating_point());
    CHECK(ich.subtype() == "subdural");
    REQUIRE(ich.has_volume_ml());
    const double truth = ct.findings.at(0).volume_ml;
    INFO("volume " << ich.volume_ml() << " mL, truth " << truth << "; side " << ich.laterality() << " zone "
                   << ich.zone());
    CHECK(std::abs(ich.volume_ml() - truth) <= 0.3 * truth);
    CHECK(ich.laterality() == Expected(ct.findings.at(0).laterality));
    CHECK(ich.zone() == "extra-axial");
    CHECK(HasEvidence(ich, common::EVIDENCE_KIND_HEATMAP_PNG));
    CHECK(EvidenceRows(*p.triage, ich.finding_id()) >= 1);
    // The emergency-grade score of a bleeding head CT outranks the film.
    auto film_status = p.triage->WaitForOutcome(chest_sent.study_uid, 60s);
    CHECK(status.urgency() > film_status.urgency());
  }
}

TEST_CASE("a normal film yields no positive finding, a broken image fails and an unsupported study is not "
          "applicable, each with its reason",
          "[pipeline][db][slow]") {
  Pipeline p;
  ph::ChestXrayOptions film;
  film.seed = 900021;
  film.difficulty = 0.05;
  const Sent normal = Write(p.f, ph::MakeChestXray(film), 700011);

  film.seed = 900022;
  const Sent broken = Write(p.f, ph::MakeChestXray(film), 700012);
  // Rows doubled: the header now promises twice the pixels the data holds.
  auto modified = Run("dcmodify -nb -m '(0028,0010)=" + std::to_string(2 * 1024) + "' " + broken.files.at(0));
  INFO(modified.output);
  REQUIRE(modified.exit_code == 0);

  film.seed = 900023;
  const Sent ultrasound = Write(p.f, ph::MakeChestXray(film), 700013);
  REQUIRE(Run("dcmodify -nb -m '(0008,0060)=US' " + ultrasound.files.at(0)).exit_code == 0);

  for (const Sent* s : {&normal, &broken, &ultrasound}) Send(p.f, *s);

  auto n = p.triage->WaitForOutcome(normal.study_uid, 120s);
  CHECK(n.state() == parallax::triage::v1::ANALYSIS_STATE_ANALYSED);
  CHECK(n.decision() == "negative");
  CHECK(n.positive_labels().empty());

  auto b = p.triage->WaitForOutcome(broken.study_uid, 120s);
  INFO("broken: " << b.reason());
  CHECK(b.state() == parallax::triage::v1::ANALYSIS_STATE_FAILED);
  CHECK(b.reason().find("parallax.cxr") != std::string::npos);

  auto u = p.triage->WaitForOutcome(ultrasound.study_uid, 60s);
  INFO("ultrasound: " << u.reason());
  CHECK(u.state() == parallax::triage::v1::ANALYSIS_STATE_NOT_APPLICABLE);
  CHECK(u.reason().find("modality US") != std::string::npos);
}
