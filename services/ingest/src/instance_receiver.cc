#include "instance_receiver.h"

#include <sys/stat.h>

#include <chrono>
#include <functional>

#include "parallax/dicom/sop_classes.h"
#include "parallax/log/log.h"
#include "parallax/status/dicom_status.h"

namespace parallax::ingest {
namespace {

constexpr char kDimse[] = "dimse";
constexpr char kStow[] = "stow";

// The metric label for a refusal, from its status.
std::string ReasonOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return status::ToDicom(s) == status::kDicomDataSetDoesNotMatchSopClass ? "invalid_identifiers" : "unparseable";
    case absl::StatusCode::kUnimplemented: return "sop_class_not_accepted";
    case absl::StatusCode::kResourceExhausted: return "no_space";
    case absl::StatusCode::kUnavailable: return "index_unavailable";
    default: return "internal_error";
  }
}

// Missing or malformed identifiers are "Data Set does not match SOP Class"
// (A900); anything else DCMTK could not parse is "Cannot understand" (C000).
absl::Status ClassifyHeaderError(const absl::Status& s) {
  const std::string msg(s.message());
  if (msg.find("instance has no") == 0 || msg.find("instance has a malformed") == 0) {
    return status::WithDicomStatus(s, status::kDicomDataSetDoesNotMatchSopClass);
  }
  return status::WithDicomStatus(s, status::kDicomCannotUnderstand);
}

}  // namespace

std::mutex& InstanceReceiver::StripeFor(const std::string& sop_instance_uid) {
  return stripes_[std::hash<std::string>{}(sop_instance_uid) % stripes_.size()];
}

absl::Status InstanceReceiver::CheckCapacity() { return store_->CheckCapacity(); }

std::string InstanceReceiver::StagingPathFor(const std::string& sop_instance_uid) {
  return store_->StagingPathFor(sop_instance_uid);
}

void InstanceReceiver::OnRefused(const absl::Status& s) {
  metrics_->Received(kDimse);
  metrics_->Rejected(kDimse, ReasonOf(s));
  log::Warning("instance refused", {{"source", kDimse}, {"reason", ReasonOf(s)}, {"error", std::string(s.message())}});
}

void InstanceReceiver::OnAssociationCountChanged(int open) { metrics_->SetOpenAssociations(open); }

void InstanceReceiver::OnAssociationRefused(const std::string& calling_ae, const std::string& peer_address,
                                            const std::string& reason) {
  if (refusals_ != nullptr) refusals_->OnRefused(calling_ae, peer_address, reason);
}

absl::Status InstanceReceiver::OnReceived(const dicom::ReceivedInstance& in) {
  metrics_->Received(kDimse);
  auto header = dicom::ReadInstanceHeaderFromFile(in.staging_path);
  absl::Status refused;
  if (!header.ok()) {
    refused = ClassifyHeaderError(header.status());
  } else if (header->sop_instance_uid != in.affected_sop_instance_uid ||
             header->sop_class_uid != in.affected_sop_class_uid) {
    refused = status::WithDicomStatus(
        absl::InvalidArgumentError("the data set's SOP Class or Instance UID differs from the C-STORE request"),
        status::kDicomDataSetDoesNotMatchSopClass);
  }
  if (!refused.ok()) {
    store_->Discard(in.staging_path);
    metrics_->Rejected(kDimse, ReasonOf(refused));
    log::Warning("instance refused", {{"source", kDimse},
                                      {"sop_instance_uid", in.affected_sop_instance_uid},
                                      {"calling_ae", in.calling_ae},
                                      {"error", std::string(refused.message())}});
    return refused;
  }
  struct stat st {};
  ::stat(in.staging_path.c_str(), &st);
  bool duplicate = false;
  return Persist(*header, kDimse, in.calling_ae, in.staging_path, static_cast<int64_t>(st.st_size), &duplicate);
}

StoreOutcome InstanceReceiver::StoreBytes(std::string_view part10, const std::string& expected_study_uid) {
  metrics_->Received(kStow);
  StoreOutcome outcome;
  auto header = dicom::ReadInstanceHeaderFromBuffer(part10.data(), part10.size());
  if (!header.ok()) {
    outcome.status = ClassifyHeaderError(header.status());
  } else {
    outcome.header = *header;
    if (!expected_study_uid.empty() && header->study_instance_uid != expected_study_uid) {
      outcome.status = status::WithDicomStatus(
          absl::InvalidArgumentError("the instance belongs to another study than the request URL names"),
          status::kDicomDataSetDoesNotMatchSopClass);
    } else if (!dicom::IsAcceptedStorageSopClass(header->sop_class_uid)) {
      outcome.status = absl::UnimplementedError("SOP class not accepted: " + header->sop_class_uid);
    } else {
      outcome.status = store_->CheckCapacity();
    }
  }
  if (!outcome.status.ok()) {
    metrics_->Rejected(kStow, ReasonOf(outcome.status));
    log::Warning("instance refused", {{"source", kStow}, {"error", std::string(outcome.status.message())}});
    return outcome;
  }
  auto staging = store_->WriteStaging(part10, header->sop_instance_uid);
  if (!staging.ok()) {
    outcome.status = staging.status();
    metrics_->Rejected(kStow, ReasonOf(outcome.status));
    log::Error("instance not stored", {{"source", kStow}, {"sop_instance_uid", header->sop_instance_uid},
                                       {"error", std::string(outcome.status.message())}});
    return outcome;
  }
  outcome.status =
      Persist(*header, kStow, "", *staging, static_cast<int64_t>(part10.size()), &outcome.duplicate);
  return outcome;
}

absl::Status InstanceReceiver::StoreRetrieved(std::string_view part10, const std::string& expected_study_uid,
                                              const std::string& sop_instance_uid, const std::string& from_ae) {
  auto header = dicom::ReadInstanceHeaderFromBuffer(part10.data(), part10.size());
  absl::Status st = header.ok() ? absl::OkStatus() : ClassifyHeaderError(header.status());
  if (st.ok() && header->study_instance_uid != expected_study_uid) {
    st = absl::InvalidArgumentError("the PACS sent an instance of another study than the one asked for");
  } else if (st.ok() && header->sop_instance_uid != sop_instance_uid) {
    st = absl::InvalidArgumentError("the data set's SOP Instance UID differs from the one the PACS announced");
  } else if (st.ok() && !dicom::IsAcceptedStorageSopClass(header->sop_class_uid)) {
    st = absl::UnimplementedError("SOP class not accepted: " + header->sop_class_uid);
  }
  if (st.ok()) st = store_->CheckCapacity();
  if (!st.ok()) {
    metrics_->Rejected(kSourceCGet, ReasonOf(st));
    log::Warning("retrieved instance refused", {{"source", kSourceCGet}, {"error", std::string(st.message())}});
    return st;
  }
  auto staging = store_->WriteStaging(part10, header->sop_instance_uid);
  if (!staging.ok()) return staging.status();
  bool duplicate = false;
  return Persist(*header, kSourceCGet, from_ae, *staging, static_cast<int64_t>(part10.size()), &duplicate,
                 kStudyOriginPriorRetrieval);
}

absl::Status InstanceReceiver::Persist(const dicom::InstanceHeader& header, const std::string& source,
                                       const std::string& calling_ae, const std::string& staging_path,
                                       int64_t size_bytes, bool* duplicate, const std::string& study_origin) {
  const auto started = std::chrono::steady_clock::now();
  const std::string& sop = header.sop_instance_uid;
  std::lock_guard lock(StripeFor(sop));

  auto fail = [&](const absl::Status& s, const char* what) {
    metrics_->Rejected(source, ReasonOf(s));
    log::Error(what, {{"source", source}, {"sop_instance_uid", sop}, {"error", std::string(s.message())}});
    return s;
  };

  // File first: fsync, rename into place (never over another file), fsync
  // the directory. A file already in place is a resend when it is indexed,
  // or the leftover of an interrupted store (never acknowledged) otherwise.
  absl::StatusOr<std::string> relative = store_->Commit(staging_path, sop);
  if (relative.status().code() == absl::StatusCode::kAlreadyExists) {
    auto known = index_->Contains(sop);
    if (!known.ok()) {
      store_->Discard(staging_path);
      return fail(absl::UnavailableError("study index unavailable: " + std::string(known.status().message())),
                  "instance not stored");
    }
    if (*known) {
      store_->Discard(staging_path);
      metrics_->Duplicate(source);
      log::Info("duplicate instance acknowledged", {{"source", source}, {"sop_instance_uid", sop}});
      *duplicate = true;
      return absl::OkStatus();
    }
    relative = store_->Replace(staging_path, sop);
  }
  if (!relative.ok()) return fail(relative.status(), "instance not stored");
  const auto t_durable = std::chrono::steady_clock::now();

  // Then the index row; only after its commit is Success answered.
  auto added = index_->Add(header, IndexedInstance{*relative, size_bytes, source, calling_ae}, study_origin);
  if (!added.ok()) {
    // The file stays in place, unindexed; the sender's retry finds it, sees
    // it is not indexed, replaces it and indexes it.
    return fail(absl::UnavailableError("study index unavailable: " + std::string(added.status().message())),
                "instance not indexed");
  }
  *duplicate = !*added;
  const auto done = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(done - started).count();
  metrics_->Stored(source, dicom::SopClassLabel(header.sop_class_uid), static_cast<double>(size_bytes), seconds);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  log::Debug("instance stored", {{"source", source}, {"sop_instance_uid", sop}, {"bytes", size_bytes},
                                 {"durable_ms", ms(started, t_durable)}, {"index_ms", ms(t_durable, done)}});
  return absl::OkStatus();
}

}  // namespace parallax::ingest
