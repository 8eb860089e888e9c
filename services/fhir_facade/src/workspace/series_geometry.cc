#include "workspace/series_geometry.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace parallax::fhir_facade::workspace {
namespace {

using Vec3 = std::array<double, 3>;

bool HasGeometry(const common::v1::InstanceManifest& i) {
  return i.image_position_patient_size() == 3 && i.image_orientation_patient_size() == 6;
}

Vec3 Normal(const common::v1::InstanceManifest& i) {
  const auto& o = i.image_orientation_patient();
  return {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
}

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

Vec3 Position(const common::v1::InstanceManifest& i) {
  const auto& p = i.image_position_patient();
  return {p[0], p[1], p[2]};
}

// The patient position (mm) of the centre of the image.
Vec3 Centre(const common::v1::InstanceManifest& i) {
  const auto& o = i.image_orientation_patient();
  const double row_spacing = i.pixel_spacing_size() == 2 ? i.pixel_spacing(0) : 1.0;
  const double column_spacing = i.pixel_spacing_size() == 2 ? i.pixel_spacing(1) : 1.0;
  const double across = (std::max(1, i.columns()) - 1) / 2.0 * column_spacing;  // along the row direction
  const double down = (std::max(1, i.rows()) - 1) / 2.0 * row_spacing;          // along the column direction
  Vec3 c = Position(i);
  for (int a = 0; a < 3; ++a) c[a] += o[a] * across + o[3 + a] * down;
  return c;
}

}  // namespace

std::vector<const common::v1::InstanceManifest*> Ordered(const common::v1::SeriesManifest& series) {
  std::vector<const common::v1::InstanceManifest*> out;
  for (const auto& i : series.instances()) out.push_back(&i);
  auto depth = [](const common::v1::InstanceManifest* i) -> double {
    return HasGeometry(*i) ? Dot(Normal(*i), Position(*i)) : 0;
  };
  std::stable_sort(out.begin(), out.end(), [&](auto* a, auto* b) {
    const double da = depth(a), db = depth(b);
    if (da != db) return da < db;
    return a->instance_number() < b->instance_number();
  });
  return out;
}

std::vector<const common::v1::SeriesManifest*> ImageSeries(const common::v1::StudyManifest& m) {
  std::vector<const common::v1::SeriesManifest*> out;
  for (const auto& s : m.series()) {
    const bool image = s.modality() != "SR" && s.modality() != "PR" && s.modality() != "KO" && s.instances_size() > 0;
    if (image) out.push_back(&s);
  }
  return out;
}

std::vector<int> MatchPriorSlices(const std::vector<const common::v1::InstanceManifest*>& current,
                                  const std::vector<const common::v1::InstanceManifest*>& prior,
                                  const std::vector<double>& m) {
  std::vector<int> out;
  if (current.empty() || prior.empty() || m.size() != 16) return out;
  const int last = static_cast<int>(prior.size()) - 1;
  const bool volumes = current.size() > 1 && prior.size() > 1 &&
                       std::all_of(current.begin(), current.end(), [](auto* i) { return HasGeometry(*i); }) &&
                       std::all_of(prior.begin(), prior.end(), [](auto* i) { return HasGeometry(*i); });
  if (!volumes) {
    for (size_t i = 0; i < current.size(); ++i) out.push_back(std::min(static_cast<int>(i), last));
    return out;
  }
  const Vec3 normal = Normal(*prior.front());
  std::vector<double> depth;
  for (const auto* p : prior) depth.push_back(Dot(normal, Position(*p)));
  for (const auto* c : current) {
    const Vec3 x = Centre(*c);
    Vec3 y{};
    for (int r = 0; r < 3; ++r) y[r] = m[r * 4] * x[0] + m[r * 4 + 1] * x[1] + m[r * 4 + 2] * x[2] + m[r * 4 + 3];
    const double d = Dot(normal, y);
    int best = 0;
    double best_distance = std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < depth.size(); ++k) {
      const double distance = std::abs(depth[k] - d);
      if (distance < best_distance) {
        best_distance = distance;
        best = static_cast<int>(k);
      }
    }
    out.push_back(best);
  }
  return out;
}

}  // namespace parallax::fhir_facade::workspace
