#include "ingest_grpc.h"

#include <chrono>
#include <fstream>
#include <string_view>
#include <vector>

#include "parallax/dicom/instance_header.h"
#include "parallax/dicom/store_scu.h"
#include "parallax/log/log.h"
#include "parallax/status/grpc_status.h"

namespace parallax::ingest {

grpc::Status IngestGrpc::GetStudy(grpc::ServerContext*, const ingest::v1::GetStudyRequest* request,
                                  ingest::v1::GetStudyResponse* response) {
  if (!dicom::IsValidUid(request->study_instance_uid())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "study_instance_uid is not a valid UID");
  }
  auto manifest = index_->LoadManifest(request->study_instance_uid());
  if (!manifest.ok()) return status::ToGrpc(manifest.status());
  *response->mutable_study() = std::move(*manifest);
  return grpc::Status::OK;
}

grpc::Status IngestGrpc::ReadInstance(grpc::ServerContext* ctx, const ingest::v1::ReadInstanceRequest* request,
                                      grpc::ServerWriter<ingest::v1::ReadInstanceChunk>* writer) {
  if (!dicom::IsValidUid(request->sop_instance_uid())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "sop_instance_uid is not a valid UID");
  }
  auto found = index_->FindInstance(request->sop_instance_uid());
  if (!found.ok()) return status::ToGrpc(found.status());
  std::ifstream in(store_->AbsolutePath(found->relative_path), std::ios::binary);
  if (!in) return grpc::Status(grpc::StatusCode::INTERNAL, "indexed instance file cannot be read");
  constexpr size_t kChunk = 1 << 20;
  std::string buffer(kChunk, '\0');
  int64_t offset = 0;
  while (in && !ctx->IsCancelled()) {
    in.read(buffer.data(), static_cast<std::streamsize>(kChunk));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    ingest::v1::ReadInstanceChunk chunk;
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    chunk.set_offset(offset);
    chunk.set_total_size(found->size_bytes);
    offset += n;
    if (!writer->Write(chunk)) break;
  }
  return grpc::Status::OK;
}

grpc::Status IngestGrpc::SendToPacs(grpc::ServerContext*, const ingest::v1::SendToPacsRequest* request,
                                    ingest::v1::SendToPacsResponse* response) {
  if (pacs_.destinations.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no PACS destination is configured (pacs_destinations)");
  }
  const std::string& wanted = request->destination().empty() ? pacs_.default_destination : request->destination();
  const dicom::StoreDestination* destination = nullptr;
  for (const auto& d : pacs_.destinations) {
    if (d.name == wanted) destination = &d;
  }
  if (destination == nullptr) {  // the AE title of a configured destination also names it
    for (const auto& d : pacs_.destinations) {
      if (d.ae_title == wanted) destination = &d;
    }
  }
  if (destination == nullptr) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "unknown PACS destination '" + wanted + "'; configured: see pacs_destinations");
  }
  if (request->instances().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no instances to send");
  }
  std::vector<std::string_view> objects(request->instances().begin(), request->instances().end());
  absl::StatusOr<std::vector<dicom::StoreResult>> sent = dicom::StoreInstances(*destination, pacs_.scu, objects);
  if (!sent.ok()) {
    log::Warning("send to PACS failed", {{"destination", destination->name},
                                         {"instances", static_cast<int>(objects.size())},
                                         {"error", std::string(sent.status().message())}});
    return status::ToGrpc(sent.status());
  }
  int failed = 0;
  for (const dicom::StoreResult& r : *sent) {
    ingest::v1::SendResult* out = response->add_results();
    out->set_sop_instance_uid(r.sop_instance_uid);
    out->set_dicom_status(r.status);
    out->set_error(r.error);
    if (!r.stored()) ++failed;
  }
  log::Info("sent to PACS", {{"destination", destination->name},
                             {"instances", static_cast<int>(sent->size())},
                             {"failed", failed}});
  return grpc::Status::OK;
}

grpc::Status IngestGrpc::FindPriorStudies(grpc::ServerContext* context,
                                          const ingest::v1::FindPriorStudiesRequest* request,
                                          ingest::v1::FindPriorStudiesResponse* response) {
  PriorSearch search;
  // The caller's deadline, on the steady clock (none: gRPC's infinite future).
  const auto left = context->deadline() - std::chrono::system_clock::now();
  if (left < std::chrono::hours(24 * 365)) search.deadline = std::chrono::steady_clock::now() + left;
  search.study_instance_uid = request->study_instance_uid();
  search.max_results = request->max_results();
  search.lookback_days = request->lookback_days();
  search.retrieve = request->retrieve();
  absl::StatusOr<PriorSearchResult> found = priors_->Find(search);
  if (!found.ok()) return status::ToGrpc(found.status());
  for (const Prior& p : found->priors) {
    ingest::v1::PriorStudy* out = response->add_priors();
    out->set_study_instance_uid(p.study_instance_uid);
    out->set_study_date(p.study_date);
    for (const std::string& m : p.modalities) out->add_modalities(m);
    for (const std::string& b : p.body_parts) out->add_body_parts(b);
    out->set_source(p.source == PriorSource::kLocal ? ingest::v1::PRIOR_STUDY_SOURCE_LOCAL
                                                    : ingest::v1::PRIOR_STUDY_SOURCE_PACS);
    out->set_held_locally(p.held_locally);
    out->set_instance_count(p.instance_count);
    out->set_interval_days(p.interval_days);
  }
  response->set_pacs_configured(found->pacs_configured);
  response->set_pacs_consulted(found->pacs_consulted);
  response->set_pacs_note(found->pacs_note);
  return grpc::Status::OK;
}

}  // namespace parallax::ingest
