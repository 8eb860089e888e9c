#pragma once
// ROC curves drawn as a 512x512 RGB PNG: white background, light grid every
// 0.1, black axes (x = 1 - specificity, y = sensitivity, both 0..1), the
// chance diagonal dashed in grey, and one 3-pixel-wide polyline per curve in the
// colours of RocCurveColourName, in order (the plot carries no text; put the
// colour-to-label key beside it, e.g. in the Markdown report).
//
// Thread-safe (pure functions).
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "parallax/evaluation/metrics.h"

namespace parallax::evaluation {

inline constexpr int kRocPlotSize = 512;

// The PNG file bytes (8-bit RGB, non-interlaced, uncompressed deflate). The
// label strings are not drawn; points with a non-finite rate are skipped.
std::string RocCurvesPng(const std::vector<std::pair<std::string, std::vector<RocPoint>>>& curves);

// The name of the colour of the curve at `index` ("blue", "orange", ...);
// colours repeat after ten curves.
std::string RocCurveColourName(size_t index);

}  // namespace parallax::evaluation
