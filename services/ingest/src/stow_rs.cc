#include "stow_rs.h"

#include <nlohmann/json.hpp>

#include "parallax/dicom/instance_header.h"
#include "parallax/http/multipart.h"
#include "parallax/log/log.h"
#include "parallax/status/dicom_status.h"

namespace parallax::ingest {
namespace {

using nlohmann::json;

json Ui(const std::string& v) { return {{"vr", "UI"}, {"Value", json::array({v})}}; }

http::Response Problem(int status, const std::string& message) {
  return http::Response::Make(status, message + "\n");
}

bool IsDicomMediaType(std::string_view content_type) {
  auto parsed = http::ParseContentType(content_type);
  return parsed.ok() && parsed->media_type == "application/dicom";
}

}  // namespace

void StowRs::Register(http::Router& router) {
  router.Add("POST", "/dicomweb/studies", [this](const http::Request& r) { return Store(r); });
  router.Add("POST", "/dicomweb/studies/{study}", [this](const http::Request& r) { return Store(r); });
}

http::Response StowRs::Store(const http::Request& request) {
  const std::string target_study(request.PathParam("study"));
  if (!target_study.empty() && !dicom::IsValidUid(target_study)) {
    return Problem(400, "the Study Instance UID in the URL is not a valid UID");
  }
  auto content_type = http::ParseContentType(request.Header("Content-Type"));
  if (!content_type.ok()) return Problem(400, "malformed Content-Type: " + std::string(content_type.status().message()));
  if (content_type->media_type != "multipart/related") {
    return Problem(415, "STOW-RS expects multipart/related; type=\"application/dicom\"");
  }
  auto type = content_type->Param("type");
  if (type && !IsDicomMediaType(*type)) {
    return Problem(415, "only application/dicom parts are supported (metadata and bulk data requests are not)");
  }
  auto boundary = content_type->Param("boundary");
  if (!boundary || boundary->empty()) return Problem(400, "multipart/related without a boundary parameter");
  auto parts = http::ParseMultipart(request.body, *boundary);
  if (!parts.ok()) return Problem(400, "malformed multipart body: " + std::string(parts.status().message()));

  json referenced = json::array();
  json failed = json::array();
  for (const http::Part& part : *parts) {
    if (!part.content_type.empty() && !IsDicomMediaType(part.content_type)) {
      failed.push_back({{"00081197", {{"vr", "US"}, {"Value", json::array({status::kDicomSopClassNotSupported})}}}});
      continue;
    }
    StoreOutcome outcome = receiver_->StoreBytes(part.body, target_study);
    json entry = json::object();
    if (outcome.header) {
      entry["00081150"] = Ui(outcome.header->sop_class_uid);
      entry["00081155"] = Ui(outcome.header->sop_instance_uid);
    }
    if (outcome.status.ok()) {
      referenced.push_back(entry);
      continue;
    }
    entry["00081197"] = {{"vr", "US"}, {"Value", json::array({status::ToDicom(outcome.status)})}};
    failed.push_back(entry);
  }

  json body = json::object();
  if (!referenced.empty()) body["00081199"] = {{"vr", "SQ"}, {"Value", referenced}};
  if (!failed.empty()) body["00081198"] = {{"vr", "SQ"}, {"Value", failed}};
  int status = failed.empty() ? 200 : (referenced.empty() ? 409 : 202);
  log::Info("STOW-RS request", {{"parts", static_cast<int>(parts->size())},
                                {"stored", static_cast<int>(referenced.size())},
                                {"failed", static_cast<int>(failed.size())}});
  return http::Response::Make(status, body.dump(), "application/dicom+json");
}

}  // namespace parallax::ingest
