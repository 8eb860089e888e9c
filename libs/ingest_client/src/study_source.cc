#include "parallax/ingest_client/study_source.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <absl/strings/str_cat.h>
#include <grpcpp/grpcpp.h>

#include "parallax/ingest/v1/ingest.grpc.pb.h"
#include "parallax/status/grpc_status.h"

namespace parallax::ingest_client {

absl::StatusOr<std::vector<std::string>> StudySource::ReadInstances(
    const std::vector<std::string>& sop_instance_uids, Deadline deadline, int parallel) {
  std::vector<std::string> out(sop_instance_uids.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status first_error;
  auto work = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= sop_instance_uids.size()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error.ok()) return;
      }
      absl::StatusOr<std::string> bytes = ReadInstance(sop_instance_uids[i], deadline);
      if (!bytes.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = bytes.status();
        return;
      }
      out[i] = *std::move(bytes);
    }
  };
  const int threads = std::clamp<int>(parallel, 1, static_cast<int>(std::max<size_t>(1, sop_instance_uids.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (!first_error.ok()) return first_error;
  return out;
}

struct IngestStudySource::Stub {
  std::unique_ptr<ingest::v1::Ingest::Stub> stub;
};

IngestStudySource::IngestStudySource(std::shared_ptr<grpc::Channel> channel)
    : stub_(std::make_unique<Stub>(Stub{ingest::v1::Ingest::NewStub(std::move(channel))})) {}

IngestStudySource::~IngestStudySource() = default;

absl::StatusOr<common::v1::StudyManifest> IngestStudySource::GetStudy(const std::string& study_instance_uid,
                                                                      Deadline deadline) {
  grpc::ClientContext context;
  context.set_deadline(deadline);
  ingest::v1::GetStudyRequest request;
  request.set_study_instance_uid(study_instance_uid);
  ingest::v1::GetStudyResponse response;
  grpc::Status s = stub_->stub->GetStudy(&context, request, &response);
  if (!s.ok()) {
    absl::Status st = status::FromGrpc(s);
    return absl::Status(st.code(), absl::StrCat("ingest GetStudy ", study_instance_uid, ": ", st.message()));
  }
  return std::move(*response.mutable_study());
}

absl::StatusOr<std::string> IngestStudySource::ReadInstance(const std::string& sop_instance_uid,
                                                             Deadline deadline) {
  grpc::ClientContext context;
  context.set_deadline(deadline);
  ingest::v1::ReadInstanceRequest request;
  request.set_sop_instance_uid(sop_instance_uid);
  std::unique_ptr<grpc::ClientReader<ingest::v1::ReadInstanceChunk>> reader =
      stub_->stub->ReadInstance(&context, request);
  std::string bytes;
  int64_t total = -1;
  ingest::v1::ReadInstanceChunk chunk;
  while (reader->Read(&chunk)) {
    if (total < 0) {
      total = chunk.total_size();
      if (total > 0) bytes.reserve(static_cast<size_t>(total));
    }
    if (chunk.offset() != static_cast<int64_t>(bytes.size())) {
      context.TryCancel();
      reader->Finish();
      return absl::DataLossError(absl::StrCat("ingest ReadInstance ", sop_instance_uid, ": chunk at offset ",
                                              chunk.offset(), " after ", bytes.size(), " bytes"));
    }
    bytes += chunk.data();
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) {
    absl::Status st = status::FromGrpc(s);
    return absl::Status(st.code(), absl::StrCat("ingest ReadInstance ", sop_instance_uid, ": ", st.message()));
  }
  if (total >= 0 && static_cast<int64_t>(bytes.size()) != total) {
    return absl::DataLossError(absl::StrCat("ingest ReadInstance ", sop_instance_uid, ": ", bytes.size(),
                                            " of ", total, " bytes arrived"));
  }
  return bytes;
}

}  // namespace parallax::ingest_client
