// DICOMweb STOW-RS over real HTTP into a running ingest service.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "ingest_fixture.h"
#include "parallax/dicom/testing/sample_instance.h"
#include "parallax/http/client.h"
#include "parallax/http/multipart.h"

using namespace parallax::ingest::testing;
using nlohmann::json;

namespace {

parallax::http::Response Post(IngestFixture& f, const std::string& path, const std::vector<std::string>& bodies,
                              const std::string& content_type =
                                  "multipart/related; type=\"application/dicom\"; boundary=px-boundary-42") {
  std::vector<parallax::http::Part> parts;
  for (const auto& b : bodies) {
    parallax::http::Part p;
    p.headers = {{"Content-Type", "application/dicom"}};
    p.content_type = "application/dicom";
    p.body = b;
    parts.push_back(p);
  }
  std::string body = parallax::http::BuildMultipart("px-boundary-42", parts);
  auto r = parallax::http::Fetch("POST", "http://127.0.0.1:" + std::to_string(f.config().http_port) + path,
                                 {{"Content-Type", content_type}, {"Accept", "application/dicom+json"}}, body,
                                 std::chrono::seconds(30));
  REQUIRE(r.ok());
  return *r;
}

size_t SequenceSize(const json& j, const char* tag) {
  if (!j.contains(tag)) return 0;
  return j[tag]["Value"].size();
}

}  // namespace

TEST_CASE("STOW-RS stores every part and answers the PS3.18 store response", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(3);
  std::vector<std::string> bodies;
  for (auto& file : files) bodies.push_back(ReadFile(file));
  auto r = Post(f, "/dicomweb/studies", bodies);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.Header("Content-Type") == "application/dicom+json");
  json j = json::parse(r.body);
  CHECK(SequenceSize(j, "00081199") == 3);
  CHECK(SequenceSize(j, "00081198") == 0);
  CHECK(j["00081199"]["Value"][0]["00081155"]["vr"] == "UI");
  CHECK(f.CountInstances() == 3);
}

TEST_CASE("STOW-RS refuses bad parts one by one with their FailureReason and keeps the good ones",
          "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(2);
  std::string good = ReadFile(files[0]);
  std::string truncated = ReadFile(files[1]).substr(0, 700);
  std::string garbage(2048, '\x42');
  parallax::dicom::testing::SampleInstance rt;
  rt.sop_class_uid = "1.2.840.10008.5.1.4.1.1.481.1";  // RT Image: not a class Parallax accepts
  rt.modality = "RTIMAGE";
  std::string rt_path = f.NewDir("rt") + "/rt.dcm";
  REQUIRE(parallax::dicom::testing::WriteSampleInstance(rt, rt_path).ok());
  parallax::dicom::testing::SampleInstance nostudy;
  nostudy.omit_study_uid = true;
  std::string nostudy_path = f.NewDir("nostudy") + "/n.dcm";
  REQUIRE(parallax::dicom::testing::WriteSampleInstance(nostudy, nostudy_path).ok());

  auto r = Post(f, "/dicomweb/studies", {good, truncated, garbage, ReadFile(rt_path), ReadFile(nostudy_path), ""});
  INFO(r.body);
  REQUIRE(r.status == 202);
  json j = json::parse(r.body);
  CHECK(SequenceSize(j, "00081199") == 1);
  REQUIRE(SequenceSize(j, "00081198") == 5);
  std::vector<int> reasons;
  for (auto& failed : j["00081198"]["Value"]) reasons.push_back(failed["00081197"]["Value"][0].get<int>());
  CHECK(reasons == std::vector<int>{0xC000, 0xC000, 0x0122, 0xA900, 0xC000});
  CHECK(f.CountInstances() == 1);
}

TEST_CASE("STOW-RS to a study URL refuses instances of another study", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(1);
  auto r = Post(f, "/dicomweb/studies/1.2.3.4.5", {ReadFile(files[0])});
  INFO(r.body);
  REQUIRE(r.status == 409);
  json j = json::parse(r.body);
  CHECK(j["00081198"]["Value"][0]["00081197"]["Value"][0] == 0xA900);
  CHECK(f.CountInstances() == 0);
}

TEST_CASE("STOW-RS answers 415 for another media type and 400 for a malformed body", "[ingest][db]") {
  IngestFixture f;
  f.Start();
  auto files = f.WriteStudy(1);
  auto r = Post(f, "/dicomweb/studies", {ReadFile(files[0])}, "application/json");
  CHECK(r.status == 415);
  r = Post(f, "/dicomweb/studies", {ReadFile(files[0])},
           "multipart/related; type=\"application/dicom+json\"; boundary=px-boundary-42");
  CHECK(r.status == 415);
  auto raw = parallax::http::Fetch("POST", "http://127.0.0.1:" + std::to_string(f.config().http_port) +
                                               "/dicomweb/studies",
                                   {{"Content-Type", "multipart/related; type=\"application/dicom\"; boundary=zz"}},
                                   "--zz\r\nContent-Type: application/dicom\r\n\r\nno closing delimiter",
                                   std::chrono::seconds(5));
  REQUIRE(raw.ok());
  CHECK(raw->status == 400);
  CHECK(f.CountInstances() == 0);
}

TEST_CASE("STOW-RS answers A700 per instance when the store is below its reserve", "[ingest][db]") {
  IngestFixture f;
  f.config().min_free_bytes = int64_t{1} << 60;
  f.Start();
  auto files = f.WriteStudy(1);
  auto r = Post(f, "/dicomweb/studies", {ReadFile(files[0])});
  REQUIRE(r.status == 409);
  json j = json::parse(r.body);
  CHECK(j["00081198"]["Value"][0]["00081197"]["Value"][0] == 0xA700);
}
