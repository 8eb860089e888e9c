// The Query/Retrieve SCU against a real PACS: a private Orthanc started by
// scripts/lib/orthanc.sh, holding phantom studies of two patients sent with
// StoreInstances. C-MOVE sends to Parallax's own Storage SCP, in process.
#include <catch2/catch.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/scp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <atomic>
#include <vector>

#include "parallax/dicom/query_retrieve.h"
#include "parallax/dicom/storage_scp.h"
#include "parallax/dicom/store_scu.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/dicom/uid.h"
#include "parallax/phantom/phantom.h"
#include "parallax/testing/environment.h"
#include "parallax/testing/private_orthanc.h"
#include "parallax/testing/silent_listener.h"
#include "parallax/testing/temp_dir.h"

namespace dicom = parallax::dicom;
namespace phantom = parallax::phantom;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kPatientA[] = "PX-QR-A";
constexpr char kPatientB[] = "PX-QR-B";
constexpr char kOurAe[] = "PARALLAX";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The data set of a Part-10 file written by DCMTK: what follows the file
// meta information, whose length is in (0002,0000) (explicit VR UL, value
// at byte 140). Empty when the file is not of that shape.
std::string DataSetBytes(const std::string& part10) {
  if (part10.size() < 144 || part10.compare(128, 4, "DICM") != 0) return {};
  if (part10.compare(132, 6, std::string("\x02\x00\x00\x00UL", 6)) != 0) return {};
  uint32_t group_length = 0;
  for (int i = 3; i >= 0; --i) group_length = (group_length << 8) | static_cast<unsigned char>(part10[140 + i]);
  if (144 + static_cast<size_t>(group_length) > part10.size()) return {};
  return part10.substr(144 + group_length);
}

// Re-encodes a Part-10 file in RLE Lossless (DCMTK's encoder); true on success.
bool RewriteAsRle(const std::string& path) {
  static const bool registered = [] {
    DcmRLEEncoderRegistration::registerCodecs();
    return true;
  }();
  (void)registered;
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return false;
  DcmDataset* ds = file.getDataset();
  if (ds->chooseRepresentation(EXS_RLELossless, nullptr).bad() || !ds->canWriteXfer(EXS_RLELossless)) return false;
  return file.saveFile(path.c_str(), EXS_RLELossless).good();
}

// A private Orthanc for one test, stopped by the destructor. It knows our AE
// title as a modality (needed for C-FIND/C-GET and as C-MOVE destination).
class QrOrthanc {
 public:
  QrOrthanc(const std::string& workdir, int our_scp_port, bool check_called_ae = false) {
    std::string error;
    orthanc_ = parallax::testing::PrivateOrthanc::Start(
        workdir,
        std::string(R"({"DicomModalities": {"parallax": [")") + kOurAe + R"(", "127.0.0.1", )" +
            std::to_string(our_scp_port) + R"(]}, "DicomCheckCalledAet": )" + (check_called_ae ? "true" : "false") +
            "}",
        &error);
    INFO(error);
    REQUIRE(orthanc_ != nullptr);
  }
  int dicom_port() const { return orthanc_->dicom_port(); }
  std::string LogTail() const { return orthanc_->LogTail(); }

 private:
  std::unique_ptr<parallax::testing::PrivateOrthanc> orthanc_;
};

// A small phantom study of one series: `count` images of 32x32.
phantom::Study SmallStudy(const std::string& modality, const std::string& body_part, int count, int seed) {
  phantom::Study study;
  study.kind = modality == "DX" ? "chest_xray" : (modality == "MR" ? "brain_mri" : "head_ct");
  study.seed = static_cast<uint64_t>(seed);
  phantom::Series series;
  series.info.modality = modality;
  series.info.body_part = body_part;
  series.info.series_description = modality + " " + body_part;
  series.info.slice_thickness_mm = 5;
  series.info.slice_spacing_mm = 5;
  if (modality == "DX") series.info.view_position = "PA";
  for (int i = 0; i < count; ++i) {
    phantom::Image image;
    image.rows = 32;
    image.columns = 32;
    image.pixels.resize(32 * 32);
    for (size_t p = 0; p < image.pixels.size(); ++p) {
      image.pixels[p] = static_cast<int16_t>((p * 7 + static_cast<size_t>(seed) * 131 + i * 17) % 4000);
    }
    series.images.push_back(std::move(image));
  }
  study.series.push_back(std::move(series));
  return study;
}

struct StoredStudy {
  std::string patient_id;
  std::string modality;
  std::string body_part;
  std::string date;
  std::string description;
  dicom::WrittenStudy written;
  std::map<std::string, std::string> files_by_sop_uid;  // SOP Instance UID -> Part-10 bytes as written
};

// SOP Instance UID of a Part-10 file written by WritePhantomStudy: looked up
// from the deterministic UIDs (seed, "instance", index).
std::string SopUidOf(uint64_t seed, size_t index) { return dicom::DerivedUid(seed, "instance", index); }

// Orthanc with five studies: patient A has two head CTs (2024-01-10 and
// 2025-06-20) and a chest radiograph (2025-03-01); patient B has a brain MR
// (2025-06-20) and a head CT (2024-01-10).
struct PacsWithPriors {
  explicit PacsWithPriors(bool check_called_ae = false)
      : scp_port(parallax::testing::FreeTcpPort()),
        orthanc((dir.path() / "orthanc").string(), scp_port, check_called_ae) {
    pacs.name = "archive";
    pacs.ae_title = "ORTHANC";
    pacs.host = "127.0.0.1";
    pacs.port = orthanc.dicom_port();
    options.calling_ae_title = kOurAe;
    options.connect_timeout_seconds = 3;
    options.acse_timeout_seconds = 5;
    options.dimse_timeout_seconds = 20;

    Add("a-ct-2024", kPatientA, "CT", "HEAD", "20240110", "CT HEAD WITHOUT CONTRAST", 3, 101);
    Add("a-ct-2025", kPatientA, "CT", "HEAD", "20250620", "CT HEAD WITHOUT CONTRAST", 4, 102);
    Add("a-dx-2025", kPatientA, "DX", "CHEST", "20250301", "CHEST PA", 1, 103);
    Add("b-mr-2025", kPatientB, "MR", "BRAIN", "20250620", "MR BRAIN", 2, 104);
    Add("b-ct-2024", kPatientB, "CT", "HEAD", "20240110", "CT HEAD WITHOUT CONTRAST", 2, 105);
  }

  void Add(const std::string& key, const std::string& patient, const std::string& modality,
           const std::string& body_part, const std::string& date, const std::string& description, int count,
           int seed, bool rle = false) {
    dicom::StudyIdentity identity;
    identity.uid_seed = static_cast<uint64_t>(seed) * 7919;
    identity.patient_id = patient;
    identity.patient_name = "PHANTOM^" + std::string(patient == kPatientA ? "ALPHA" : "BRAVO");
    identity.study_date = date;
    identity.accession_number = "ACC" + std::to_string(seed);
    identity.study_description = description;
    auto written = dicom::WritePhantomStudy(SmallStudy(modality, body_part, count, seed), identity,
                                            (dir.path() / key).string());
    REQUIRE(written.ok());
    StoredStudy stored{patient, modality, body_part, date, description, *written, {}};
    std::vector<std::string> bytes;
    for (size_t i = 0; i < written->files.size(); ++i) {
      if (rle) REQUIRE(RewriteAsRle(written->files[i]));
      bytes.push_back(ReadAll(written->files[i]));
      stored.files_by_sop_uid[SopUidOf(identity.uid_seed, i)] = bytes.back();
    }
    std::vector<std::string_view> views(bytes.begin(), bytes.end());
    dicom::StoreScuOptions store_options;
    store_options.calling_ae_title = kOurAe;
    auto results = dicom::StoreInstances(pacs, store_options, views);
    INFO(results.status().message());
    REQUIRE(results.ok());
    for (const auto& r : *results) {
      INFO(r.error);
      REQUIRE(r.stored());
      REQUIRE(stored.files_by_sop_uid.count(r.sop_instance_uid) == 1);
    }
    studies[key] = std::move(stored);
  }

  std::set<std::string> Uids(const dicom::StudyFindResult& found) const {
    std::set<std::string> uids;
    for (const auto& s : found.studies) uids.insert(s.study_instance_uid);
    return uids;
  }
  std::set<std::string> UidsOf(std::initializer_list<const char*> keys) const {
    std::set<std::string> uids;
    for (const char* k : keys) uids.insert(studies.at(k).written.study_instance_uid);
    return uids;
  }

  parallax::testing::TempDir dir;
  int scp_port;
  QrOrthanc orthanc;
  dicom::StoreDestination pacs;
  dicom::QueryRetrieveOptions options;
  std::map<std::string, StoredStudy> studies;
};

// Keeps what a Storage SCP received, by SOP Instance UID.
class KeepingHandler : public dicom::StoreHandler {
 public:
  explicit KeepingHandler(std::string dir) : dir_(std::move(dir)) {}
  absl::Status CheckCapacity() override { return absl::OkStatus(); }
  std::string StagingPathFor(const std::string& uid) override { return dir_ + "/" + uid + ".dcm"; }
  absl::Status OnReceived(const dicom::ReceivedInstance& instance) override {
    std::lock_guard<std::mutex> lock(mu_);
    received_[instance.affected_sop_instance_uid] = ReadAll(instance.staging_path);
    calling_aes_.insert(instance.calling_ae);
    return absl::OkStatus();
  }
  void OnRefused(const absl::Status&) override {}
  void OnAssociationCountChanged(int) override {}

  std::map<std::string, std::string> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::set<std::string> calling_aes() {
    std::lock_guard<std::mutex> lock(mu_);
    return calling_aes_;
  }

 private:
  std::string dir_;
  std::mutex mu_;
  std::map<std::string, std::string> received_;
  std::set<std::string> calling_aes_;
};

using parallax::testing::SilentListener;

// A DICOM peer (DCMTK's DcmSCP) that accepts a Study Root C-FIND
// association and then never answers the C-FIND: a PACS stuck mid-query.
class HangingFindScp : public DcmSCP {
 public:
  explicit HangingFindScp(int port) {
    setPort(static_cast<Uint16>(port));
    setAETitle("HANGING");
    setConnectionBlockingMode(DUL_NOBLOCK);
    setConnectionTimeout(1);
    OFList<OFString> syntaxes;
    syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
    syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
    addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, syntaxes);
    thread_ = std::thread([this] { listen(); });
  }
  ~HangingFindScp() override {
    stop_ = true;
    thread_.join();
  }
  OFCondition handleIncomingCommand(T_DIMSE_Message*, const DcmPresentationContextInfo&) override {
    for (int i = 0; i < 100 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return DIMSE_BADCOMMANDTYPE;  // ends the association without an answer
  }
  OFBool stopAfterConnectionTimeout() override { return stop_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("FindStudies returns exactly the patient's studies and filters by modality, date range, body part and "
          "description",
          "[dicom][qr][pacs]") {
  PacsWithPriors f;

  dicom::StudyQuery query;
  query.patient_id = kPatientA;
  auto all = dicom::FindStudies(f.pacs, f.options, query);
  INFO(all.status().message() << "\n" << f.orthanc.LogTail());
  REQUIRE(all.ok());
  CHECK_FALSE(all->truncated);
  CHECK(f.Uids(*all) == f.UidsOf({"a-ct-2024", "a-ct-2025", "a-dx-2025"}));
  REQUIRE(all->studies.size() == 3);
  for (const auto& study : all->studies) {
    const auto it = std::find_if(f.studies.begin(), f.studies.end(), [&](const auto& kv) {
      return kv.second.written.study_instance_uid == study.study_instance_uid;
    });
    REQUIRE(it != f.studies.end());
    const StoredStudy& stored = it->second;
    CHECK(study.study_date == stored.date);
    CHECK(study.study_time == "101500");
    CHECK(study.modalities_in_study == std::vector<std::string>{stored.modality});
    CHECK(study.study_description == stored.description);
    CHECK(study.accession_number.rfind("ACC", 0) == 0);
    CHECK(study.number_of_instances == static_cast<int>(stored.files_by_sop_uid.size()));
  }

  SECTION("the other patient's studies are the other patient's") {
    query.patient_id = kPatientB;
    auto b = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(b.ok());
    CHECK(f.Uids(*b) == f.UidsOf({"b-mr-2025", "b-ct-2024"}));
  }
  SECTION("by modality") {
    query.modalities = {"CT"};
    auto ct = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(ct.ok());
    CHECK(f.Uids(*ct) == f.UidsOf({"a-ct-2024", "a-ct-2025"}));
    query.modalities = {"DX", "MR"};
    auto dx = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(dx.ok());
    CHECK(f.Uids(*dx) == f.UidsOf({"a-dx-2025"}));
    query.modalities = {"US"};
    auto none = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(none.ok());
    CHECK(none->studies.empty());
  }
  SECTION("by date range, open or closed") {
    query.study_date_from = "20250101";
    auto recent = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(recent.ok());
    CHECK(f.Uids(*recent) == f.UidsOf({"a-ct-2025", "a-dx-2025"}));
    query.study_date_from = "20240101";
    query.study_date_to = "20250301";  // inclusive
    auto window = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(window.ok());
    CHECK(f.Uids(*window) == f.UidsOf({"a-ct-2024", "a-dx-2025"}));
    query.study_date_from.clear();
    query.study_date_to = "20240110";
    auto before = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(before.ok());
    CHECK(f.Uids(*before) == f.UidsOf({"a-ct-2024"}));
    // Prior CTs of patient A before the current study.
    query.modalities = {"CT"};
    query.study_date_to = "20250619";
    auto priors = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(priors.ok());
    CHECK(f.Uids(*priors) == f.UidsOf({"a-ct-2024"}));
  }
  SECTION("by body part at series level, and by description") {
    query.body_part = "HEAD";
    auto head = dicom::FindStudies(f.pacs, f.options, query);
    INFO(head.status().message());
    REQUIRE(head.ok());
    CHECK(f.Uids(*head) == f.UidsOf({"a-ct-2024", "a-ct-2025"}));
    query.body_part = "CHEST";
    auto chest = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(chest.ok());
    CHECK(f.Uids(*chest) == f.UidsOf({"a-dx-2025"}));
    query.body_part = "CHEST";
    query.modalities = {"CT"};  // CT of the chest: none
    auto ct_chest = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(ct_chest.ok());
    CHECK(ct_chest->studies.empty());
    query.body_part.clear();
    query.modalities.clear();
    query.study_description = "*CHEST*";
    auto described = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(described.ok());
    CHECK(f.Uids(*described) == f.UidsOf({"a-dx-2025"}));
  }
  SECTION("a patient without studies gets an empty list, not an error") {
    query.patient_id = "PX-QR-NOBODY";
    auto none = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(none.ok());
    CHECK(none->studies.empty());
    CHECK_FALSE(none->truncated);
    query.patient_id = "PX-QR";  // a prefix of real ids is not a wildcard
    auto prefix = dicom::FindStudies(f.pacs, f.options, query);
    REQUIRE(prefix.ok());
    CHECK(prefix->studies.empty());
  }
}

TEST_CASE("FindStudies stops at max_results and FindSeries lists the series of a study", "[dicom][qr][pacs]") {
  PacsWithPriors f;
  dicom::StudyQuery query;
  query.patient_id = kPatientA;
  query.max_results = 2;
  auto capped = dicom::FindStudies(f.pacs, f.options, query);
  INFO(capped.status().message() << "\n" << f.orthanc.LogTail());
  REQUIRE(capped.ok());
  CHECK(capped->truncated);
  CHECK(capped->studies.size() == 2);
  query.max_results = 3;
  auto exact = dicom::FindStudies(f.pacs, f.options, query);
  REQUIRE(exact.ok());
  CHECK_FALSE(exact->truncated);
  CHECK(exact->studies.size() == 3);

  // The association is usable again after a cancelled C-FIND: a new call works.
  const StoredStudy& ct = f.studies.at("a-ct-2025");
  auto series = dicom::FindSeries(f.pacs, f.options, ct.written.study_instance_uid);
  INFO(series.status().message());
  REQUIRE(series.ok());
  REQUIRE(series->size() == 1);
  CHECK((*series)[0].series_instance_uid == ct.written.series_instance_uids[0]);
  CHECK((*series)[0].modality == "CT");
  CHECK((*series)[0].body_part_examined == "HEAD");
  CHECK((*series)[0].series_description == "CT HEAD");
  CHECK((*series)[0].series_number == 1);
  CHECK((*series)[0].number_of_instances == 4);

  auto unknown = dicom::FindSeries(f.pacs, f.options, "1.2.826.0.1.3680043.8.498.1");
  REQUIRE(unknown.ok());
  CHECK(unknown->empty());
}

TEST_CASE("RetrieveStudy by C-GET receives every instance of the study byte for byte", "[dicom][qr][pacs]") {
  PacsWithPriors f;
  const StoredStudy& ct = f.studies.at("a-ct-2025");

  std::map<std::string, dicom::RetrievedInstance> got;
  auto result = dicom::RetrieveStudy(f.pacs, f.options, ct.written.study_instance_uid,
                                     [&](const dicom::RetrievedInstance& instance) {
                                       got[instance.sop_instance_uid] = instance;
                                       return absl::OkStatus();
                                     });
  INFO(result.status().message() << "\n" << f.orthanc.LogTail());
  REQUIRE(result.ok());
  CHECK(result->counts.completed == 4);
  CHECK(result->counts.failed == 0);
  CHECK(result->counts.warning == 0);
  CHECK(result->counts.status == 0x0000);
  CHECK(result->first_instance_error.ok());
  CHECK(result->received_sop_instance_uids.size() == 4);
  REQUIRE(got.size() == ct.files_by_sop_uid.size());
  for (const auto& [uid, original] : ct.files_by_sop_uid) {
    INFO(uid);
    REQUIRE(got.count(uid) == 1);
    const dicom::RetrievedInstance& instance = got.at(uid);
    CHECK(instance.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2");
    CHECK(instance.transfer_syntax_uid == "1.2.840.10008.1.2.1");
    const std::string sent = DataSetBytes(original);
    REQUIRE_FALSE(sent.empty());
    CHECK(DataSetBytes(instance.part10) == sent);  // the whole data set, pixels included
  }

  SECTION("into a directory, and a failing sink is counted") {
    const std::string out = (f.dir.path() / "retrieved").string();
    auto to_dir = dicom::RetrieveStudyToDirectory(f.pacs, f.options, f.studies.at("b-mr-2025").written.study_instance_uid,
                                                  out);
    INFO(to_dir.status().message());
    REQUIRE(to_dir.ok());
    CHECK(to_dir->counts.completed == 2);
    for (const auto& [uid, original] : f.studies.at("b-mr-2025").files_by_sop_uid) {
      const std::string path = out + "/" + uid + ".dcm";
      REQUIRE(std::filesystem::exists(path));
      CHECK(DataSetBytes(ReadAll(path)) == DataSetBytes(original));
    }
    CHECK(std::distance(std::filesystem::directory_iterator(out), std::filesystem::directory_iterator()) == 2);

    int calls = 0;
    auto refusing = dicom::RetrieveStudy(f.pacs, f.options, ct.written.study_instance_uid,
                                         [&](const dicom::RetrievedInstance&) {
                                           return ++calls == 2 ? absl::ResourceExhaustedError("disk full")
                                                               : absl::OkStatus();
                                         });
    INFO(refusing.status().message());
    REQUIRE(refusing.ok());  // warning B000: some sub-operations failed
    CHECK(calls == 4);
    CHECK(refusing->counts.completed == 3);
    CHECK(refusing->counts.failed == 1);
    CHECK(refusing->counts.status != 0x0000);
    CHECK(refusing->received_sop_instance_uids.size() == 3);
    CHECK(refusing->first_instance_error.code() == absl::StatusCode::kResourceExhausted);
  }
  SECTION("a compressed study arrives in its own transfer syntax, not transcoded") {
    f.Add("c-ct-rle", "PX-QR-C", "CT", "HEAD", "20230505", "CT HEAD RLE", 2, 106, /*rle=*/true);
    const StoredStudy& rle = f.studies.at("c-ct-rle");
    std::map<std::string, dicom::RetrievedInstance> rle_got;
    auto r = dicom::RetrieveStudy(f.pacs, f.options, rle.written.study_instance_uid,
                                  [&](const dicom::RetrievedInstance& instance) {
                                    rle_got[instance.sop_instance_uid] = instance;
                                    return absl::OkStatus();
                                  });
    INFO(r.status().message() << "\n" << f.orthanc.LogTail());
    REQUIRE(r.ok());
    CHECK(r->counts.completed == 2);
    REQUIRE(rle_got.size() == 2);
    for (const auto& [uid, original] : rle.files_by_sop_uid) {
      INFO(uid);
      REQUIRE(rle_got.count(uid) == 1);
      CHECK(rle_got.at(uid).transfer_syntax_uid == "1.2.840.10008.1.2.5");
      CHECK(DataSetBytes(rle_got.at(uid).part10) == DataSetBytes(original));
    }
  }
  SECTION("a study the PACS does not have is a failure status from Orthanc, and nothing arrives") {
    int calls = 0;
    auto none = dicom::RetrieveStudy(f.pacs, f.options, "1.2.826.0.1.3680043.8.498.2",
                                     [&](const dicom::RetrievedInstance&) {
                                       ++calls;
                                       return absl::OkStatus();
                                     });
    INFO(none.status().message());
    CHECK(calls == 0);
    CHECK(none.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(Contains(std::string(none.status().message()), "C-GET status C000"));
  }
}

TEST_CASE("MoveStudy sends every instance of the study to Parallax's Storage SCP", "[dicom][qr][pacs]") {
  PacsWithPriors f;
  std::filesystem::create_directories(f.dir.path() / "staging");
  KeepingHandler handler((f.dir.path() / "staging").string());
  dicom::StorageScpOptions scp_options;
  scp_options.ae_title = kOurAe;
  scp_options.port = f.scp_port;
  dicom::StorageScp scp(scp_options, &handler);
  REQUIRE(scp.Start().ok());

  const StoredStudy& ct = f.studies.at("a-ct-2024");
  auto moved = dicom::MoveStudy(f.pacs, f.options, ct.written.study_instance_uid, kOurAe);
  INFO(moved.status().message() << "\n" << f.orthanc.LogTail());
  REQUIRE(moved.ok());
  CHECK(moved->completed == 3);
  CHECK(moved->failed == 0);
  CHECK(moved->warning == 0);
  CHECK(moved->status == 0x0000);
  const auto received = handler.received();
  REQUIRE(received.size() == ct.files_by_sop_uid.size());
  for (const auto& [uid, original] : ct.files_by_sop_uid) {
    INFO(uid);
    REQUIRE(received.count(uid) == 1);
    CHECK(DataSetBytes(received.at(uid)) == DataSetBytes(original));
  }
  CHECK(handler.calling_aes() == std::set<std::string>{"ORTHANC"});

  SECTION("a destination the PACS does not know is a failure status, in hex") {
    auto unknown = dicom::MoveStudy(f.pacs, f.options, ct.written.study_instance_uid, "NOWHERE");
    REQUIRE_FALSE(unknown.ok());
    INFO(unknown.status().message());
    CHECK(unknown.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(Contains(std::string(unknown.status().message()), "C-MOVE"));
    // The standard says A801 (move destination unknown); Orthanc answers C000.
    CHECK(std::regex_search(std::string(unknown.status().message()), std::regex("status [0-9A-F]{4} \\(")));
    CHECK(Contains(std::string(unknown.status().message()), "NOWHERE"));
    CHECK(handler.received().size() == 3);  // nothing more arrived
  }
  scp.Stop();
}

TEST_CASE("an unreachable PACS is UNAVAILABLE quickly, a silent or stuck one DEADLINE_EXCEEDED, and a wrong "
          "called AE title is refused with a clear message",
          "[dicom][qr][pacs]") {
  dicom::QueryRetrieveOptions options;
  options.connect_timeout_seconds = 3;
  options.acse_timeout_seconds = 2;
  options.dimse_timeout_seconds = 5;
  dicom::StudyQuery query;
  query.patient_id = kPatientA;

  SECTION("nothing listens") {
    dicom::StoreDestination nowhere{"archive", "ORTHANC", "127.0.0.1", parallax::testing::FreeTcpPort()};
    const auto start = Clock::now();
    auto found = dicom::FindStudies(nowhere, options, query);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    REQUIRE_FALSE(found.ok());
    const std::string message(found.status().message());
    INFO(message);
    CHECK(found.status().code() == absl::StatusCode::kUnavailable);
    CHECK(Contains(message, "ORTHANC@127.0.0.1:" + std::to_string(nowhere.port)));
    CHECK_FALSE(Contains(message, kPatientA));
    CHECK(seconds < 2.0);
    auto got = dicom::RetrieveStudy(nowhere, options, "1.2.3", [](const dicom::RetrievedInstance&) {
      return absl::OkStatus();
    });
    CHECK(got.status().code() == absl::StatusCode::kUnavailable);
    auto moved = dicom::MoveStudy(nowhere, options, "1.2.3", kOurAe);
    CHECK(moved.status().code() == absl::StatusCode::kUnavailable);
  }
  SECTION("the port accepts but never answers") {
    SilentListener silent;
    dicom::StoreDestination hung{"archive", "ORTHANC", "127.0.0.1", silent.port()};
    const auto start = Clock::now();
    auto found = dicom::FindStudies(hung, options, query);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    REQUIRE_FALSE(found.ok());
    const std::string message(found.status().message());
    INFO(message);
    CHECK(found.status().code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(Contains(message, "127.0.0.1:" + std::to_string(silent.port())));
    CHECK(seconds < 10.0);
  }
  SECTION("the PACS associates but never answers the C-FIND") {
    const int port = parallax::testing::FreeTcpPort();
    HangingFindScp hanging(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it listen
    dicom::StoreDestination stuck{"archive", "HANGING", "127.0.0.1", port};
    options.dimse_timeout_seconds = 1;
    const auto start = Clock::now();
    auto found = dicom::FindStudies(stuck, options, query);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    REQUIRE_FALSE(found.ok());
    const std::string message(found.status().message());
    INFO(message);
    CHECK(found.status().code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(Contains(message, "HANGING@127.0.0.1:" + std::to_string(port)));
    CHECK(Contains(message, "C-FIND"));
    CHECK_FALSE(Contains(message, kPatientA));
    CHECK(seconds < 4.0);
  }
  SECTION("a PACS that checks the called AE title refuses another one") {
    PacsWithPriors f(/*check_called_ae=*/true);
    auto right = dicom::FindStudies(f.pacs, f.options, query);
    INFO(right.status().message() << "\n" << f.orthanc.LogTail());
    REQUIRE(right.ok());
    CHECK(right->studies.size() == 3);
    dicom::StoreDestination wrong = f.pacs;
    wrong.ae_title = "NOT_ORTHANC";
    auto refused = dicom::FindStudies(wrong, f.options, query);
    REQUIRE_FALSE(refused.ok());
    const std::string message(refused.status().message());
    INFO(message);
    CHECK(refused.status().code() == absl::StatusCode::kUnavailable);
    CHECK(Contains(message, "rejected the association"));
    CHECK(Contains(message, "NOT_ORTHANC"));
    CHECK_FALSE(Contains(message, kPatientA));
  }
}

TEST_CASE("malformed queries are INVALID_ARGUMENT before any connection and never echo the patient id",
          "[dicom][qr]") {
  // Nothing listens here: an INVALID_ARGUMENT proves no connection was tried first.
  dicom::StoreDestination pacs{"archive", "ORTHANC", "127.0.0.1", parallax::testing::FreeTcpPort()};
  dicom::QueryRetrieveOptions options;
  auto invalid = [&](const dicom::StudyQuery& q) {
    auto r = dicom::FindStudies(pacs, options, q);
    INFO(r.status().message());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(Contains(std::string(r.status().message()), "SECRET"));
  };
  dicom::StudyQuery q;
  invalid(q);  // no patient id
  q.patient_id = "SECRET*";
  invalid(q);
  q.patient_id = "SECRET\\OTHER";
  invalid(q);
  q.patient_id = std::string(65, 'S');
  invalid(q);
  q.patient_id = "SECRET-1";
  q.modalities = {"ct"};
  invalid(q);
  q.modalities = {"CT"};
  q.study_date_from = "2025-01-01";
  invalid(q);
  q.study_date_from = "20251301";
  invalid(q);
  q.study_date_from = "20250601";
  q.study_date_to = "20250101";
  invalid(q);
  q.study_date_to.clear();
  q.body_part = "HEAD*";
  invalid(q);
  q.body_part.clear();
  q.max_results = 0;
  invalid(q);
  q.max_results = 10;
  dicom::StoreDestination bad_ae = pacs;
  bad_ae.ae_title = "AN_AE_TITLE_TOO_LONG";
  CHECK(dicom::FindStudies(bad_ae, options, q).status().code() == absl::StatusCode::kInvalidArgument);
  auto sink = [](const dicom::RetrievedInstance&) { return absl::OkStatus(); };
  CHECK(dicom::RetrieveStudy(pacs, options, "not a uid", sink).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dicom::RetrieveStudy(pacs, options, "1.2.3", nullptr).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dicom::MoveStudy(pacs, options, "1.2.3", "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(dicom::MoveStudy(pacs, options, "1.2.3.", "PARALLAX").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dicom::FindSeries(pacs, options, "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(dicom::RetrieveStudyToDirectory(pacs, options, "1.2.3", "").status().code() ==
        absl::StatusCode::kInvalidArgument);
}
