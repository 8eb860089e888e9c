#pragma once
// The Ingest gRPC service: lets other services read the index and the
// stored bytes. SendToPacs answers UNIMPLEMENTED until the results issue.
// Thread-safe.
#include "instance_store.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "study_index.h"

namespace parallax::ingest {

class IngestGrpc final : public ingest::v1::Ingest::Service {
 public:
  IngestGrpc(StudyIndex* index, InstanceStore* store) : index_(index), store_(store) {}

  grpc::Status GetStudy(grpc::ServerContext* ctx, const ingest::v1::GetStudyRequest* request,
                        ingest::v1::GetStudyResponse* response) override;
  grpc::Status ReadInstance(grpc::ServerContext* ctx, const ingest::v1::ReadInstanceRequest* request,
                            grpc::ServerWriter<ingest::v1::ReadInstanceChunk>* writer) override;
  grpc::Status SendToPacs(grpc::ServerContext* ctx, const ingest::v1::SendToPacsRequest* request,
                          ingest::v1::SendToPacsResponse* response) override;

 private:
  StudyIndex* index_;
  InstanceStore* store_;
};

}  // namespace parallax::ingest
