#include "ingest_grpc.h"

#include <fstream>

#include "parallax/dicom/instance_header.h"
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

grpc::Status IngestGrpc::SendToPacs(grpc::ServerContext*, const ingest::v1::SendToPacsRequest*,
                                    ingest::v1::SendToPacsResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "C-STORE SCU to the PACS is not built yet");
}

}  // namespace parallax::ingest
