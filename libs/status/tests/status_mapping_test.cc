#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "parallax/status/dicom_status.h"
#include "parallax/status/grpc_status.h"
#include "parallax/status/http_status.h"

using namespace parallax::status;

TEST_CASE("malformed input maps to C000, 400 and INVALID_ARGUMENT", "[status]") {
  absl::Status bad = absl::InvalidArgumentError("no SOP Instance UID");
  CHECK(ToDicom(bad) == 0xC000);
  CHECK(ToHttp(bad) == 400);
  grpc::Status g = ToGrpc(bad);
  CHECK(g.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(g.error_message() == "no SOP Instance UID");
}

TEST_CASE("a full disk or queue maps to A700 and 503", "[status]") {
  absl::Status full = absl::ResourceExhaustedError("store below its free-space reserve");
  CHECK(ToDicom(full) == 0xA700);
  CHECK(ToHttp(full) == 503);
}

TEST_CASE("an unsupported SOP class maps to 0122", "[status]") {
  CHECK(ToDicom(absl::UnimplementedError("SOP class not accepted")) == 0x0122);
}

TEST_CASE("an attached DICOM code wins over the table", "[status]") {
  absl::Status s = WithDicomStatus(absl::InvalidArgumentError("SOP Instance UID differs"), 0xA900);
  CHECK(ToDicom(s) == 0xA900);
  CHECK(ToHttp(s) == 400);
  CHECK(ToDicom(WithDicomStatus(absl::OkStatus(), 0xA900)) == 0x0000);
}

TEST_CASE("gRPC status round-trips code and message", "[status]") {
  absl::Status s = FromGrpc(grpc::Status(grpc::StatusCode::UNAVAILABLE, "triage down"));
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK(s.message() == "triage down");
  CHECK(FromGrpc(grpc::Status::OK).ok());
}

TEST_CASE("every error becomes an OperationOutcome naming the problem", "[status]") {
  auto j = nlohmann::json::parse(ToOperationOutcome(absl::NotFoundError("no such study")));
  CHECK(j["resourceType"] == "OperationOutcome");
  CHECK(j["issue"][0]["severity"] == "error");
  CHECK(j["issue"][0]["code"] == "not-found");
  CHECK(j["issue"][0]["diagnostics"] == "no such study");
}
