#pragma once
// Phantom images as the pixel reader would decode them (shared by the
// calibration tool and the tests): radiographs are MONOCHROME2 with slope 1
// and intercept 0, so values = stored values; CT has intercept -1024, so
// values = stored - 1024 HU. tests/ checks this equivalence through DICOM.
#include <vector>

#include "parallax/dicom/pixel_reader.h"
#include "parallax/phantom/phantom.h"

namespace parallax::quality {

inline dicom::PixelImage ToPixelImage(const phantom::Image& in, const phantom::SeriesInfo& info) {
  dicom::PixelImage out;
  out.rows = in.rows;
  out.columns = in.columns;
  out.pixel_spacing_mm = in.pixel_spacing_mm;
  out.values.resize(in.pixels.size());
  for (size_t i = 0; i < in.pixels.size(); ++i) {
    out.values[i] = static_cast<float>(in.pixels[i] * info.rescale_slope + info.rescale_intercept);
  }
  return out;
}

struct PhantomVolume {
  std::vector<dicom::PixelImage> slices;
  std::vector<double> positions_mm;
  double thickness_mm = 0;
};

inline PhantomVolume ToVolume(const phantom::Study& study) {
  PhantomVolume v;
  const auto& s = study.series.at(0);
  v.thickness_mm = s.info.slice_thickness_mm;
  for (size_t i = 0; i < s.images.size(); ++i) {
    v.slices.push_back(ToPixelImage(s.images[i], s.info));
    const int index = s.images[i].slice_index >= 0 ? s.images[i].slice_index : static_cast<int>(i);
    v.positions_mm.push_back(index * s.info.slice_spacing_mm);
  }
  return v;
}

}  // namespace parallax::quality
