#pragma once
// The Ingest gRPC service: lets other services read the index and the
// stored bytes, and sends Parallax-made objects (SR, heatmaps) to a
// configured PACS by C-STORE (SendToPacs), and finds (and fetches) a
// study's priors (FindPriorStudies, prior_finder.h).
// Like the other Ingest RPCs, FindPriorStudies checks no caller identity:
// the Ingest gRPC endpoint is for Parallax's own services.
// Thread-safe: SendToPacs and FindPriorStudies calls run concurrently, each
// on its own associations.
#include <memory>

#include "ingest_config.h"
#include "instance_store.h"
#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "prior_finder.h"
#include "study_index.h"

namespace parallax::ingest {

class IngestGrpc final : public ingest::v1::Ingest::Service {
 public:
  // Without PACS settings, SendToPacs answers FAILED_PRECONDITION and
  // FindPriorStudies searches the index only; with them, FindPriorStudies
  // also searches pacs.priors when enabled.
  // `receiver` stores the priors FindPriorStudies retrieves.
  // `audit` (may be null) records the priors FindPriorStudies retrieves.
  IngestGrpc(StudyIndex* index, InstanceStore* store, InstanceReceiver* receiver, PacsSettings pacs = {},
             audit_client::AuditRecorder* audit = nullptr)
      : index_(index),
        store_(store),
        pacs_(std::move(pacs)),
        priors_(std::make_unique<PriorFinder>(index, receiver, pacs_.priors, audit)) {}

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
  // PriorFinder::Find: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE (index) as
  // documented there and in ingest.proto; PACS and retrieval problems are
  // OK with pacs_note.
  grpc::Status FindPriorStudies(grpc::ServerContext* ctx, const ingest::v1::FindPriorStudiesRequest* request,
                                ingest::v1::FindPriorStudiesResponse* response) override;

 private:
  StudyIndex* index_;
  InstanceStore* store_;
  PacsSettings pacs_;
  std::unique_ptr<PriorFinder> priors_;
};

}  // namespace parallax::ingest
