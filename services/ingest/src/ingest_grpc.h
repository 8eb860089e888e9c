#pragma once
// The Ingest gRPC service: lets other services read the index and the
// stored bytes, and sends Parallax-made objects (SR, heatmaps) to a
// configured PACS by C-STORE (SendToPacs).
// Thread-safe: SendToPacs calls run concurrently, each on its own association.
#include "ingest_config.h"
#include "instance_store.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "study_index.h"

namespace parallax::ingest {

class IngestGrpc final : public ingest::v1::Ingest::Service {
 public:
  // Without PACS settings, SendToPacs answers FAILED_PRECONDITION.
  IngestGrpc(StudyIndex* index, InstanceStore* store) : index_(index), store_(store) {}
  IngestGrpc(StudyIndex* index, InstanceStore* store, PacsSettings pacs)
      : index_(index), store_(store), pacs_(std::move(pacs)) {}

  grpc::Status GetStudy(grpc::ServerContext* ctx, const ingest::v1::GetStudyRequest* request,
                        ingest::v1::GetStudyResponse* response) override;
  grpc::Status ReadInstance(grpc::ServerContext* ctx, const ingest::v1::ReadInstanceRequest* request,
                            grpc::ServerWriter<ingest::v1::ReadInstanceChunk>* writer) override;
  // Sends request->instances() to the destination named by
  // request->destination() (a configured name or AE title; empty = the
  // default PACS) on one association; one SendResult per instance, in order,
  // with the PACS's C-STORE status (0 = stored; an error text otherwise).
  // INVALID_ARGUMENT for an unknown destination, no instances, or an
  // instance that is not DICOM Part-10; FAILED_PRECONDITION when no PACS is
  // configured; UNAVAILABLE naming the destination when the association
  // cannot be established or breaks (safe to retry: resends are duplicates).
  grpc::Status SendToPacs(grpc::ServerContext* ctx, const ingest::v1::SendToPacsRequest* request,
                          ingest::v1::SendToPacsResponse* response) override;

 private:
  StudyIndex* index_;
  InstanceStore* store_;
  PacsSettings pacs_;
};

}  // namespace parallax::ingest
