#include "prior_registration.h"

#include <chrono>
#include <string>
#include <vector>

#include <absl/strings/str_cat.h>

#include "parallax/inference/registration.h"
#include "parallax/inference/registration_input.h"
#include "parallax/ingest_client/manifest_headers.h"

namespace parallax::inference_service {
namespace {

using Clock = std::chrono::steady_clock;

// One side of the request.
struct Side {
  const char* role;  // "current" or "prior"
  const common::v1::StudyRef& study;
  const std::string& series_uid;
  const std::string& sop_uid;
};

struct ReadSeries {
  inference::Volume volume;
  std::string modality;
};

absl::Status Prefixed(const absl::Status& s, const std::string& prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

bool IsImage(const common::v1::InstanceManifest& i) { return i.rows() > 0 && i.columns() > 0; }

absl::StatusOr<ReadSeries> Read(const Side& side, ingest_client::StudySource& source,
                                ingest_client::Deadline deadline, int parallelism) {
  const std::string& study_uid = side.study.study_instance_uid();
  absl::StatusOr<common::v1::StudyManifest> manifest = source.GetStudy(study_uid, deadline);
  if (!manifest.ok()) return Prefixed(manifest.status(), absl::StrCat("the ", side.role, " study: "));
  const common::v1::SeriesManifest* series = ingest_client::FindSeries(*manifest, side.series_uid);
  if (series == nullptr) {
    return absl::NotFoundError(absl::StrCat("series ", side.series_uid, " is not part of the ", side.role, " study ",
                                            study_uid, " as ingest holds it"));
  }
  std::vector<std::string> uids;
  for (const common::v1::InstanceManifest& i : series->instances()) {
    if (side.sop_uid.empty() ? IsImage(i) : i.sop_instance_uid() == side.sop_uid) uids.push_back(i.sop_instance_uid());
  }
  if (uids.empty()) {
    return absl::NotFoundError(side.sop_uid.empty()
                                   ? absl::StrCat("the ", side.role, " series ", side.series_uid,
                                                  " holds no image instance")
                                   : absl::StrCat("instance ", side.sop_uid, " is not part of the ", side.role,
                                                  " series ", side.series_uid));
  }
  absl::StatusOr<std::vector<std::string>> bytes = source.ReadInstances(uids, deadline, parallelism);
  if (!bytes.ok()) return Prefixed(bytes.status(), absl::StrCat("reading the ", side.role, " series: "));
  std::vector<inference::StudyInstance> instances(bytes->size());
  for (size_t i = 0; i < bytes->size(); ++i) instances[i].bytes = (*bytes)[i];
  absl::StatusOr<inference::Volume> volume = inference::VolumeFromInstances(instances);
  if (!volume.ok()) {
    // The request was well formed; what is stored cannot be registered.
    const std::string prefix = absl::StrCat("the ", side.role, " series ", side.series_uid, " cannot be registered: ");
    if (volume.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::FailedPreconditionError(absl::StrCat(prefix, volume.status().message()));
    }
    return Prefixed(volume.status(), prefix);
  }
  return ReadSeries{*std::move(volume), series->modality()};
}

std::string Describe(const inference::Volume& v) {
  return v.IsFilm() ? absl::StrCat("a 2-D image (", v.nx, " x ", v.ny, ")")
                    : absl::StrCat("a volume of ", v.nz, " slices");
}

}  // namespace

absl::Status ValidateRegisterPriorRequest(const inference::v1::RegisterPriorRequest& request) {
  if (request.current().study_instance_uid().empty()) {
    return absl::InvalidArgumentError("RegisterPriorRequest.current.study_instance_uid is empty");
  }
  if (request.current_series_instance_uid().empty()) {
    return absl::InvalidArgumentError("RegisterPriorRequest.current_series_instance_uid is empty");
  }
  if (request.prior().study_instance_uid().empty()) {
    return absl::InvalidArgumentError("RegisterPriorRequest.prior.study_instance_uid is empty");
  }
  if (request.prior_series_instance_uid().empty()) {
    return absl::InvalidArgumentError("RegisterPriorRequest.prior_series_instance_uid is empty");
  }
  if (!inference::v1::RegistrationTransform_IsValid(request.transform())) {
    return absl::InvalidArgumentError(
        absl::StrCat("RegisterPriorRequest.transform ", static_cast<int>(request.transform()), " is unknown"));
  }
  return absl::OkStatus();
}

absl::StatusOr<inference::v1::RegisterPriorResponse> RegisterPrior(const inference::v1::RegisterPriorRequest& request,
                                                                    ingest_client::StudySource& source,
                                                                    ingest_client::Deadline deadline,
                                                                    const PriorRegistrationOptions& options,
                                                                    const std::function<bool()>& cancelled) {
  const auto started = Clock::now();
  if (absl::Status s = ValidateRegisterPriorRequest(request); !s.ok()) return s;
  inference::RegistrationOptions reg;
  reg.threads = options.threads;
  switch (request.transform()) {
    case inference::v1::REGISTRATION_TRANSFORM_TRANSLATION: reg.transform = inference::TransformKind::kTranslation; break;
    case inference::v1::REGISTRATION_TRANSFORM_RIGID_THEN_AFFINE:
      reg.transform = inference::TransformKind::kRigidThenAffine;
      break;
    default: reg.transform = inference::TransformKind::kRigid; break;
  }

  const Side current{"current", request.current(), request.current_series_instance_uid(),
                     request.current_sop_instance_uid()};
  const Side prior{"prior", request.prior(), request.prior_series_instance_uid(), request.prior_sop_instance_uid()};
  absl::StatusOr<ReadSeries> cur = Read(current, source, deadline, options.instance_read_parallelism);
  if (!cur.ok()) return cur.status();
  if (std::chrono::system_clock::now() > deadline || (cancelled && cancelled())) {
    return absl::DeadlineExceededError("deadline passed before the prior series was read");
  }
  absl::StatusOr<ReadSeries> pri = Read(prior, source, deadline, options.instance_read_parallelism);
  if (!pri.ok()) return pri.status();

  if (cur->volume.IsFilm() != pri->volume.IsFilm()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the current series ", current.series_uid, " is ", Describe(cur->volume), " but the prior series ",
        prior.series_uid, " is ", Describe(pri->volume),
        "; a film registers only with a film and a volume only with a volume"));
  }
  if (!cur->volume.IsFilm() && cur->modality != pri->modality) {
    return absl::FailedPreconditionError(absl::StrCat("the current series ", current.series_uid, " is ",
                                                      cur->modality, " but the prior series ", prior.series_uid,
                                                      " is ", pri->modality,
                                                      "; registration compares images of one modality"));
  }
  if (std::chrono::system_clock::now() > deadline || (cancelled && cancelled())) {
    return absl::DeadlineExceededError("deadline passed before the registration started");
  }

  absl::StatusOr<inference::RegistrationResult> result = inference::Register(cur->volume, pri->volume, reg);
  if (!result.ok()) {
    // Our options are valid, so INVALID_ARGUMENT means an image that cannot
    // be registered (constant, not finite): a property of what is stored.
    const std::string prefix = absl::StrCat("registering prior series ", prior.series_uid, " onto current series ",
                                            current.series_uid, ": ");
    if (result.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::FailedPreconditionError(absl::StrCat(prefix, result.status().message()));
    }
    return Prefixed(result.status(), prefix);
  }

  inference::v1::RegisterPriorResponse response;
  for (const auto& row : result->current_to_prior) {
    for (double x : row) response.add_current_to_prior(x);
  }
  response.set_ncc_before(result->ncc_before);
  response.set_ncc_after(result->ncc_after);
  response.set_residual(result->residual);
  response.set_rms_difference(result->rms_difference);
  response.set_film(cur->volume.IsFilm());
  response.set_overlap_fraction(result->overlap_fraction);
  response.set_converged(result->converged);
  response.set_elapsed_ms(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  return response;
}

}  // namespace parallax::inference_service
