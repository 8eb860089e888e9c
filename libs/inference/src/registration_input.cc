#include "parallax/inference/registration_input.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <absl/strings/str_cat.h>

namespace parallax::inference {
namespace {

using Vec3 = std::array<double, 3>;

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double Norm(const Vec3& a) { return std::sqrt(Dot(a, a)); }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3 Scale(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }

std::string Name(const dicom::InstanceHeader& h, size_t index) {
  return h.sop_instance_uid.empty() ? absl::StrCat("image ", index + 1) : absl::StrCat("instance ", h.sop_instance_uid);
}

// Row, then column spacing (mm): the header's PixelSpacing (which the header
// reader already falls back to ImagerPixelSpacing for), else the decoder's.
absl::StatusOr<std::array<double, 2>> SpacingOf(const dicom::InstanceHeader& h, const dicom::PixelImage& f,
                                               size_t index) {
  std::array<double, 2> s{0, 0};
  if (h.pixel_spacing.size() >= 2) {
    s = {h.pixel_spacing[0], h.pixel_spacing[1]};
  } else {
    s = f.pixel_spacing_mm;
  }
  if (s[0] == 0 && s[1] == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Name(h, index), " has neither PixelSpacing nor ImagerPixelSpacing, so its size in mm is unknown"));
  }
  if (!(s[0] > 0) || !(s[1] > 0) || !std::isfinite(s[0]) || !std::isfinite(s[1])) {
    return absl::InvalidArgumentError(absl::StrCat(Name(h, index), " has a pixel spacing that is not positive (",
                                                   s[0], " x ", s[1], " mm)"));
  }
  return s;
}

absl::Status CheckFrame(const dicom::InstanceHeader& h, const dicom::PixelImage& f, size_t index) {
  if (f.rows <= 0 || f.columns <= 0 ||
      f.values.size() != static_cast<size_t>(f.rows) * static_cast<size_t>(f.columns)) {
    return absl::InvalidArgumentError(absl::StrCat(Name(h, index), " has a frame of ", f.values.size(),
                                                   " values, not rows x columns (", f.rows, " x ", f.columns, ")"));
  }
  if ((h.rows != 0 && h.rows != f.rows) || (h.columns != 0 && h.columns != f.columns)) {
    return absl::InvalidArgumentError(absl::StrCat(Name(h, index), " decodes to ", f.rows, " x ", f.columns,
                                                   " pixels but its header says ", h.rows, " x ", h.columns));
  }
  return absl::OkStatus();
}

Volume Film(const dicom::PixelImage& f, const std::array<double, 2>& spacing) {
  Volume v;
  v.nx = f.columns;
  v.ny = f.rows;
  v.nz = 1;
  const double sr = spacing[0], sc = spacing[1];
  v.spacing_mm = {sc, sr, 1.0};
  v.origin_mm = {(0.5 - v.nx / 2.0) * sc, (0.5 - v.ny / 2.0) * sr, 0};
  v.voxels = f.values;
  return v;
}

}  // namespace

absl::StatusOr<Volume> VolumeFromSeries(std::span<const dicom::InstanceHeader> headers,
                                        std::span<const dicom::PixelImage> frames) {
  if (headers.empty()) return absl::InvalidArgumentError("the series has no image to register");
  if (headers.size() != frames.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the series has ", headers.size(), " headers but ", frames.size(),
                                                   " decoded frames; one frame per instance is needed"));
  }
  const size_t n = headers.size();
  for (size_t i = 0; i < n; ++i) {
    if (absl::Status s = CheckFrame(headers[i], frames[i], i); !s.ok()) return s;
  }
  absl::StatusOr<std::array<double, 2>> spacing = SpacingOf(headers[0], frames[0], 0);
  if (!spacing.ok()) return spacing.status();
  if (n == 1) return Film(frames[0], *spacing);

  // A volume: every slice needs its place in patient space.
  for (size_t i = 0; i < n; ++i) {
    const dicom::InstanceHeader& h = headers[i];
    if (h.image_position_patient.size() != 3 || h.image_orientation_patient.size() != 6) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the series holds ", n, " images but ", Name(h, i), " lacks ",
          h.image_position_patient.size() != 3 ? "ImagePositionPatient" : "ImageOrientationPatient",
          "; a series of several 2-D images (e.g. two radiograph views) cannot be registered as one image, "
          "name the image to use"));
    }
    if (frames[i].rows != frames[0].rows || frames[i].columns != frames[0].columns) {
      return absl::InvalidArgumentError(absl::StrCat(Name(h, i), " is ", frames[i].rows, " x ", frames[i].columns,
                                                     " pixels but ", Name(headers[0], 0), " is ", frames[0].rows,
                                                     " x ", frames[0].columns, "; the slices of a volume must match"));
    }
  }
  const auto& o = headers[0].image_orientation_patient;
  Vec3 row{o[0], o[1], o[2]}, col{o[3], o[4], o[5]};
  if (std::abs(Norm(row) - 1) > 0.01 || std::abs(Norm(col) - 1) > 0.01 || std::abs(Dot(row, col)) > 0.01) {
    return absl::InvalidArgumentError(absl::StrCat(Name(headers[0], 0),
                                                   " has an ImageOrientationPatient that is not two orthogonal unit "
                                                   "vectors"));
  }
  row = Scale(row, 1 / Norm(row));
  col = Sub(col, Scale(row, Dot(row, col)));
  col = Scale(col, 1 / Norm(col));
  const Vec3 normal = Cross(row, col);

  for (size_t i = 1; i < n; ++i) {
    const auto& oi = headers[i].image_orientation_patient;
    for (int c = 0; c < 6; ++c) {
      if (std::abs(oi[c] - o[c]) > 1e-3) {
        return absl::InvalidArgumentError(absl::StrCat(Name(headers[i], i), " has another ImageOrientationPatient than ",
                                                       Name(headers[0], 0),
                                                       "; the slices of one volume must share their orientation"));
      }
    }
    absl::StatusOr<std::array<double, 2>> si = SpacingOf(headers[i], frames[i], i);
    if (!si.ok()) return si.status();
    for (int c = 0; c < 2; ++c) {
      if (std::abs((*si)[c] - (*spacing)[c]) > 1e-4 * (*spacing)[c] + 1e-6) {
        return absl::InvalidArgumentError(absl::StrCat(Name(headers[i], i), " has a pixel spacing of ", (*si)[0], " x ",
                                                       (*si)[1], " mm but ", Name(headers[0], 0), " has ",
                                                       (*spacing)[0], " x ", (*spacing)[1], " mm"));
      }
    }
  }

  // Slices in order along the normal, evenly spaced along one line.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<Vec3> position(n);
  std::vector<double> along(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& p = headers[i].image_position_patient;
    position[i] = {p[0], p[1], p[2]};
    along[i] = Dot(position[i], normal);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return along[a] < along[b]; });
  for (size_t k = 1; k < n; ++k) {
    if (along[order[k]] - along[order[k - 1]] < 1e-3) {
      return absl::InvalidArgumentError(absl::StrCat(Name(headers[order[k]], order[k]), " and ",
                                                     Name(headers[order[k - 1]], order[k - 1]),
                                                     " lie at the same position; the series holds more than one "
                                                     "stack of slices"));
    }
  }
  const Vec3 first = position[order.front()];
  const Vec3 extent = Sub(position[order.back()], first);
  const double dz = Norm(extent) / static_cast<double>(n - 1);
  const Vec3 axis = Scale(extent, 1 / Norm(extent));
  if (Dot(axis, normal) < 0.5) {
    return absl::InvalidArgumentError(
        "the slices of the series are not stacked along their normal (tilted by more than 60 degrees)");
  }
  const double step_along = (along[order.back()] - along[order.front()]) / static_cast<double>(n - 1);
  for (size_t k = 1; k < n; ++k) {
    const double step = along[order[k]] - along[order[k - 1]];
    const Vec3 expected{first[0] + axis[0] * dz * k, first[1] + axis[1] * dz * k, first[2] + axis[2] * dz * k};
    const double off_line = Norm(Sub(position[order[k]], expected));
    if (std::abs(step - step_along) > 0.1 * step_along || off_line > std::max(0.1 * dz, 0.05)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the slices of the series are not evenly spaced: ", Name(headers[order[k]], order[k]), " is ", step,
          " mm from the slice before it where the series averages ", step_along,
          " mm (missing slices, or several stacks); registration needs a regular grid"));
    }
  }

  Volume v;
  v.nx = frames[0].columns;
  v.ny = frames[0].rows;
  v.nz = static_cast<int>(n);
  v.spacing_mm = {(*spacing)[1], (*spacing)[0], dz};
  v.origin_mm = first;
  for (int r = 0; r < 3; ++r) v.direction[r] = {row[r], col[r], axis[r]};
  v.voxels.reserve(static_cast<size_t>(v.nx) * v.ny * v.nz);
  for (size_t k : order) v.voxels.insert(v.voxels.end(), frames[k].values.begin(), frames[k].values.end());
  return v;
}

absl::StatusOr<Volume> VolumeFromInstances(std::span<const StudyInstance> instances) {
  std::vector<dicom::InstanceHeader> headers;
  std::vector<dicom::PixelImage> frames;
  headers.reserve(instances.size());
  frames.reserve(instances.size());
  for (size_t i = 0; i < instances.size(); ++i) {
    const StudyInstance& in = instances[i];
    const bool memory = !in.bytes.empty();
    absl::StatusOr<dicom::InstanceHeader> h = memory ? dicom::ReadInstanceHeaderFromBuffer(in.bytes.data(), in.bytes.size())
                                                     : dicom::ReadInstanceHeaderFromFile(in.path);
    if (!h.ok()) {
      return absl::Status(h.status().code(), absl::StrCat("instance ", i + 1, " of the series: ", h.status().message()));
    }
    absl::StatusOr<std::vector<dicom::PixelImage>> px =
        memory ? dicom::ReadPixelsFromBuffer(in.bytes.data(), in.bytes.size()) : dicom::ReadPixels(in.path);
    if (!px.ok()) {
      return absl::Status(px.status().code(),
                          absl::StrCat("instance ", h->sop_instance_uid, ": ", px.status().message()));
    }
    if (px->size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("instance ", h->sop_instance_uid, " has ", px->size(),
                                                     " frames; registration reads single-frame images only"));
    }
    headers.push_back(*std::move(h));
    frames.push_back(std::move(px->front()));
  }
  return VolumeFromSeries(headers, frames);
}

}  // namespace parallax::inference
