#pragma once
// Test support for FindPriorStudies: small phantom studies of a chosen
// patient, date, modality and body part written as Part-10 files, and an
// Ingest gRPC client. Synthetic identities only.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ingest_fixture.h"
#include "parallax/dicom/study_writer.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "parallax/phantom/phantom.h"
#include "parallax/rpc/rpc_server.h"

namespace parallax::ingest::testing {

struct PhantomSpec {
  std::string patient_id = "PX-PRIOR-A";
  std::string issuer;         // Issuer of Patient ID; empty = none
  std::string modality = "CT";
  std::string body_part = "HEAD";
  std::string date;           // YYYYMMDD
  int count = 2;              // images of its one series
  uint64_t seed = 1;          // drives its UIDs; distinct per study
};

// A PhantomSpec in one line: which patient, what kind, when.
inline PhantomSpec Spec(const std::string& patient, const std::string& modality, const std::string& body_part,
                        const std::string& date, uint64_t seed, int count = 2) {
  PhantomSpec s;
  s.patient_id = patient;
  s.modality = modality;
  s.body_part = body_part;
  s.date = date;
  s.seed = seed;
  s.count = count;
  return s;
}

struct PhantomWritten {
  std::string study_instance_uid;
  std::vector<std::string> files;
};

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The data set of a Part-10 file written by DCMTK (what follows the file
// meta information, whose length is in (0002,0000)); empty when the bytes
// are not of that shape.
inline std::string DataSetOf(const std::string& part10) {
  if (part10.size() < 144 || part10.compare(128, 4, "DICM") != 0) return {};
  if (part10.compare(132, 6, std::string("\x02\x00\x00\x00UL", 6)) != 0) return {};
  uint32_t group_length = 0;
  for (int i = 3; i >= 0; --i) group_length = (group_length << 8) | static_cast<unsigned char>(part10[140 + i]);
  if (144 + static_cast<size_t>(group_length) > part10.size()) return {};
  return part10.substr(144 + group_length);
}

// Writes the study under `directory`.
inline PhantomWritten WritePhantom(const PhantomSpec& spec, const std::string& directory) {
  phantom::Study study;
  study.kind = spec.modality == "DX" ? "chest_xray" : (spec.modality == "MR" ? "brain_mri" : "head_ct");
  study.seed = spec.seed;
  phantom::Series series;
  series.info.modality = spec.modality;
  series.info.body_part = spec.body_part;
  series.info.series_description = spec.modality + " " + spec.body_part;
  series.info.slice_thickness_mm = 5;
  series.info.slice_spacing_mm = 5;
  if (spec.modality == "DX") series.info.view_position = "PA";
  for (int i = 0; i < spec.count; ++i) {
    phantom::Image image;
    image.rows = 32;
    image.columns = 32;
    image.pixels.resize(32 * 32);
    for (size_t p = 0; p < image.pixels.size(); ++p) {
      image.pixels[p] = static_cast<int16_t>((p * 7 + spec.seed * 131 + static_cast<size_t>(i) * 17) % 4000);
    }
    series.images.push_back(std::move(image));
  }
  study.series.push_back(std::move(series));
  dicom::StudyIdentity identity;
  identity.uid_seed = spec.seed * 7919 + 17;
  identity.patient_id = spec.patient_id;
  identity.patient_name = "PHANTOM^PRIOR";
  identity.study_date = spec.date;
  identity.accession_number = "PXACC" + std::to_string(spec.seed);
  auto written = dicom::WritePhantomStudy(study, identity, directory);
  INFO(written.status().message());
  REQUIRE(written.ok());
  if (!spec.issuer.empty()) {
    for (const std::string& f : written->files) {
      auto r = Run("dcmodify -nb -i '(0010,0021)=" + spec.issuer + "' " + f);
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
    }
  }
  return {written->study_instance_uid, written->files};
}

// An Ingest gRPC client.
class IngestClient {
 public:
  explicit IngestClient(const std::string& address) : stub_(ingest::v1::Ingest::NewStub(rpc::MakeChannel(address))) {}

  grpc::Status FindPriors(const std::string& study_uid, ingest::v1::FindPriorStudiesResponse* response,
                          bool retrieve = false, int max_results = 0, int lookback_days = 0,
                          std::chrono::milliseconds deadline = std::chrono::seconds(120)) {
    ingest::v1::FindPriorStudiesRequest request;
    request.set_study_instance_uid(study_uid);
    request.set_retrieve(retrieve);
    request.set_max_results(max_results);
    request.set_lookback_days(lookback_days);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    return stub_->FindPriorStudies(&ctx, request, response);
  }

  grpc::Status GetStudy(const std::string& study_uid, ingest::v1::GetStudyResponse* response) {
    ingest::v1::GetStudyRequest request;
    request.set_study_instance_uid(study_uid);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->GetStudy(&ctx, request, response);
  }

  // The whole stored file of one instance; REQUIREs success.
  std::string ReadInstance(const std::string& sop_instance_uid) {
    ingest::v1::ReadInstanceRequest request;
    request.set_sop_instance_uid(sop_instance_uid);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub_->ReadInstance(&ctx, request);
    ingest::v1::ReadInstanceChunk chunk;
    std::string bytes;
    while (reader->Read(&chunk)) bytes += chunk.data();
    grpc::Status s = reader->Finish();
    INFO(s.error_message());
    REQUIRE(s.ok());
    return bytes;
  }

 private:
  std::unique_ptr<ingest::v1::Ingest::Stub> stub_;
};

// The study UIDs of a response, in order.
inline std::vector<std::string> UidsOf(const ingest::v1::FindPriorStudiesResponse& response) {
  std::vector<std::string> out;
  for (const auto& p : response.priors()) out.push_back(p.study_instance_uid());
  return out;
}

}  // namespace parallax::ingest::testing
