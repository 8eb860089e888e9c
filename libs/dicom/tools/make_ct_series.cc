// parallax-make-ct-series: writes a synthetic, deterministic CT series for
// benchmarks and tests.
//
// Each slice is a Part-10 file (explicit VR little endian, CT Image Storage)
// of 512x512 signed 16-bit pixels showing a head-like phantom: air outside,
// a scalp layer, a skull ring and brain, plus a little deterministic noise.
// The same --seed (and --study-uid) always yields byte-identical files; all
// UIDs are "2.25." UUID-derived integers computed from the seed, so two
// series made with different seeds never collide.
//
// Usage:
//   parallax-make-ct-series --out DIR [--slices N] [--seed S] [--study-uid UID]
//
// Exit status: 0 on success, 2 on bad arguments, 1 when a file cannot be
// written or the DICOM dictionary is missing.

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include "parallax/dicom/uid.h"
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

constexpr int kRows = 512;
constexpr int kColumns = 512;
constexpr double kPixelSpacingMm = 0.5;
constexpr double kSliceThicknessMm = 1.0;
constexpr int kRescaleIntercept = -1024;

// Hounsfield units of the phantom's materials.
constexpr int kAirHu = -1000;
constexpr int kScalpHu = 40;
constexpr int kSkullHu = 1000;
constexpr int kBrainHu = 30;
constexpr int kNoiseHu = 8;  // noise is uniform in [-kNoiseHu, +kNoiseHu]

// Fixed dates keep the output byte-identical between runs.
constexpr const char* kStudyDate = "20250101";
constexpr const char* kStudyTime = "120000";

struct Options {
  std::string out_dir;
  int slices = 300;
  std::uint64_t seed = 1;
  std::string study_uid;  // empty: derived from the seed
};

// SplitMix64: a tiny, well-mixed generator; good enough for UIDs and noise.
std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t HashString(std::string_view s) {  // FNV-1a
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

void PrintUsage(std::FILE* to) {
  std::fputs(
      "usage: parallax-make-ct-series --out DIR [--slices N] [--seed S] "
      "[--study-uid UID]\n"
      "  Writes N (default 300) CT slices of 512x512 int16 to DIR as\n"
      "  CT000001.dcm ... (explicit VR little endian, ~513 KB each).\n"
      "  Same seed and study UID give byte-identical files.\n",
      to);
}

bool ParseUnsigned(std::string_view text, std::uint64_t& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

// A UID is digits and dots, at most 64 characters, with no empty component
// and no leading zero in a component other than "0" itself (PS3.5 9.1).
bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = uid.find('.', start);
    const std::string_view part = uid.substr(
        start, dot == std::string_view::npos ? std::string_view::npos
                                             : dot - start);
    if (part.empty() || (part.size() > 1 && part.front() == '0')) return false;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Returns 0 when parsed, 2 on a usage error (message already printed), or -1
// when --help was asked for.
int ParseArgs(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string_view& out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "parallax-make-ct-series: %s needs a value\n",
                     argv[i]);
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string_view v;
    if (arg == "-h" || arg == "--help") {
      PrintUsage(stdout);
      return -1;
    } else if (arg == "--out") {
      if (!value(v)) return 2;
      options.out_dir = std::string(v);
    } else if (arg == "--slices") {
      std::uint64_t n = 0;
      if (!value(v)) return 2;
      if (!ParseUnsigned(v, n) || n < 1 || n > 99999) {
        std::fprintf(stderr,
                     "parallax-make-ct-series: --slices must be 1..99999\n");
        return 2;
      }
      options.slices = static_cast<int>(n);
    } else if (arg == "--seed") {
      if (!value(v)) return 2;
      if (!ParseUnsigned(v, options.seed)) {
        std::fprintf(stderr,
                     "parallax-make-ct-series: --seed must be an unsigned "
                     "integer\n");
        return 2;
      }
    } else if (arg == "--study-uid") {
      if (!value(v)) return 2;
      if (!IsValidUid(v)) {
        std::fprintf(stderr,
                     "parallax-make-ct-series: --study-uid is not a valid "
                     "DICOM UID (digits and dots, <= 64 chars)\n");
        return 2;
      }
      options.study_uid = std::string(v);
    } else {
      std::fprintf(stderr, "parallax-make-ct-series: unknown argument '%s'\n",
                   argv[i]);
      PrintUsage(stderr);
      return 2;
    }
  }
  if (options.out_dir.empty()) {
    std::fputs("parallax-make-ct-series: --out DIR is required\n", stderr);
    PrintUsage(stderr);
    return 2;
  }
  return 0;
}

// Fills `pixels` (stored values, i.e. HU - intercept) for slice `index` of
// `count`. The head is an ellipse whose size follows a rounded profile along
// z, so the series looks like a skull from base to vertex.
void RenderSlice(int index, int count, std::uint64_t seed,
                 std::vector<Uint16>& pixels) {
  const double t = (index + 0.5) / count;  // 0 = inferior, 1 = superior
  const double u = (t - 0.45) / 0.6;
  const double profile = std::max(0.35, std::sqrt(std::max(0.0, 1.0 - u * u)));

  // Semi-axes in pixels: 75 mm lateral, 95 mm anterior-posterior at the
  // widest slice; skull 7 mm thick, scalp 3 mm.
  const double outer_a = 150.0 * profile, outer_b = 190.0 * profile;
  const double skull_a = outer_a - 6.0, skull_b = outer_b - 6.0;
  const double brain_a = skull_a - 14.0, brain_b = skull_b - 14.0;
  const double cx = kColumns / 2.0 - 0.5, cy = kRows / 2.0 - 0.5;

  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(index);
  std::uint64_t bits = 0;
  int bits_left = 0;

  for (int y = 0; y < kRows; ++y) {
    const double dy = y - cy;
    for (int x = 0; x < kColumns; ++x) {
      const double dx = x - cx;
      auto inside = [&](double a, double b) {
        return (dx * dx) / (a * a) + (dy * dy) / (b * b) <= 1.0;
      };
      int hu = kAirHu;
      if (inside(outer_a, outer_b)) {
        if (!inside(skull_a, skull_b)) {
          hu = kScalpHu;
        } else if (!inside(brain_a, brain_b)) {
          hu = kSkullHu;
        } else {
          hu = kBrainHu;
        }
      }
      if (bits_left == 0) {
        bits = SplitMix64(state);
        bits_left = 8;
      }
      const int noise =
          static_cast<int>(bits & 0xFF) % (2 * kNoiseHu + 1) - kNoiseHu;
      bits >>= 8;
      --bits_left;
      const int stored = hu + noise - kRescaleIntercept;
      // Signed 16-bit stored value, carried in OW as its two's complement.
      pixels[static_cast<std::size_t>(y) * kColumns + x] =
          static_cast<Uint16>(static_cast<Sint16>(stored));
    }
  }
}

std::string FormatDecimal(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", value);
  return buf;
}

// Puts a string element, remembering the first failure.
class DatasetWriter {
 public:
  explicit DatasetWriter(DcmDataset& dataset) : dataset_(dataset) {}
  void Put(const DcmTagKey& tag, const std::string& value) {
    const OFCondition cond = dataset_.putAndInsertString(tag, value.c_str());
    if (cond.bad() && status_.good()) status_ = cond;
  }
  void PutU16(const DcmTagKey& tag, Uint16 value) {
    const OFCondition cond = dataset_.putAndInsertUint16(tag, value);
    if (cond.bad() && status_.good()) status_ = cond;
  }
  const OFCondition& status() const { return status_; }

 private:
  DcmDataset& dataset_;
  OFCondition status_ = EC_Normal;
};

// Writes the attributes every slice shares.
void PutSeriesAttributes(DatasetWriter& w, const Options& options,
                         const std::string& study_uid,
                         const std::string& series_uid,
                         const std::string& frame_uid) {
  w.Put(DCM_SpecificCharacterSet, "ISO_IR 100");
  w.Put(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
  w.Put(DCM_SOPClassUID, UID_CTImageStorage);
  w.Put(DCM_StudyDate, kStudyDate);
  w.Put(DCM_SeriesDate, kStudyDate);
  w.Put(DCM_AcquisitionDate, kStudyDate);
  w.Put(DCM_ContentDate, kStudyDate);
  w.Put(DCM_StudyTime, kStudyTime);
  w.Put(DCM_SeriesTime, kStudyTime);
  w.Put(DCM_AcquisitionTime, kStudyTime);
  w.Put(DCM_ContentTime, kStudyTime);
  w.Put(DCM_AccessionNumber, "BENCH" + std::to_string(options.seed));
  w.Put(DCM_Modality, "CT");
  w.Put(DCM_Manufacturer, "Parallax");
  w.Put(DCM_InstitutionName, "Parallax Synthetic");
  w.Put(DCM_ReferringPhysicianName, "");
  w.Put(DCM_StudyDescription, "Synthetic head CT phantom");
  w.Put(DCM_SeriesDescription, "Axial 1.0 mm phantom");
  w.Put(DCM_ManufacturerModelName, "parallax-make-ct-series");
  w.Put(DCM_PatientName, "PHANTOM^BENCH");
  w.Put(DCM_PatientID, "PHANTOM-" + std::to_string(options.seed));
  w.Put(DCM_PatientBirthDate, "19700101");
  w.Put(DCM_PatientSex, "O");
  w.Put(DCM_BodyPartExamined, "HEAD");
  w.Put(DCM_SliceThickness, FormatDecimal(kSliceThicknessMm));
  w.Put(DCM_KVP, "120");
  w.Put(DCM_PatientPosition, "HFS");
  w.Put(DCM_StudyInstanceUID, study_uid);
  w.Put(DCM_SeriesInstanceUID, series_uid);
  w.Put(DCM_StudyID, "1");
  w.Put(DCM_SeriesNumber, "1");
  w.Put(DCM_AcquisitionNumber, "1");
  w.Put(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  w.Put(DCM_FrameOfReferenceUID, frame_uid);
  w.Put(DCM_PositionReferenceIndicator, "");
  w.PutU16(DCM_SamplesPerPixel, 1);
  w.Put(DCM_PhotometricInterpretation, "MONOCHROME2");
  w.PutU16(DCM_Rows, kRows);
  w.PutU16(DCM_Columns, kColumns);
  w.Put(DCM_PixelSpacing,
        FormatDecimal(kPixelSpacingMm) + "\\" + FormatDecimal(kPixelSpacingMm));
  w.PutU16(DCM_BitsAllocated, 16);
  w.PutU16(DCM_BitsStored, 16);
  w.PutU16(DCM_HighBit, 15);
  w.PutU16(DCM_PixelRepresentation, 1);
  w.Put(DCM_WindowCenter, "40");
  w.Put(DCM_WindowWidth, "80");
  w.Put(DCM_RescaleIntercept, std::to_string(kRescaleIntercept));
  w.Put(DCM_RescaleSlope, "1");
  w.Put(DCM_RescaleType, "HU");
}

int Run(const Options& options) {
  if (!dcmDataDict.isDictionaryLoaded()) {
    std::fputs(
        "parallax-make-ct-series: no DICOM data dictionary loaded; install "
        "the dcmtk dictionary or set DCMDICTPATH\n",
        stderr);
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "parallax-make-ct-series: cannot create %s: %s\n",
                 options.out_dir.c_str(), ec.message().c_str());
    return 1;
  }

  const std::string study_uid = options.study_uid.empty()
                                    ? parallax::dicom::DerivedUid(options.seed, "study", 0)
                                    : options.study_uid;
  // Series and instance UIDs also depend on the study UID, so two series
  // with the same seed under different studies stay distinct.
  const std::uint64_t uid_seed = options.seed ^ HashString(study_uid);
  const std::string series_uid = parallax::dicom::DerivedUid(uid_seed, "series", 0);
  const std::string frame_uid = parallax::dicom::DerivedUid(uid_seed, "frame-of-reference", 0);

  DcmFileFormat file;
  DcmDataset& dataset = *file.getDataset();
  DatasetWriter writer(dataset);
  PutSeriesAttributes(writer, options, study_uid, series_uid, frame_uid);
  if (writer.status().bad()) {
    std::fprintf(stderr, "parallax-make-ct-series: cannot build header: %s\n",
                 writer.status().text());
    return 1;
  }

  std::vector<Uint16> pixels(static_cast<std::size_t>(kRows) * kColumns);
  const double first_pixel = -(kColumns / 2.0 - 0.5) * kPixelSpacingMm;
  for (int i = 0; i < options.slices; ++i) {
    const double z = i * kSliceThicknessMm;
    const std::string sop_uid =
        parallax::dicom::DerivedUid(uid_seed, "instance", static_cast<std::uint64_t>(i));
    writer.Put(DCM_SOPInstanceUID, sop_uid);
    writer.Put(DCM_InstanceNumber, std::to_string(i + 1));
    writer.Put(DCM_ImagePositionPatient, FormatDecimal(first_pixel) + "\\" +
                                             FormatDecimal(first_pixel) + "\\" +
                                             FormatDecimal(z));
    writer.Put(DCM_SliceLocation, FormatDecimal(z));

    RenderSlice(i, options.slices, options.seed, pixels);
    OFCondition cond = dataset.putAndInsertUint16Array(
        DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
    if (cond.good()) cond = writer.status();
    if (cond.bad()) {
      std::fprintf(stderr, "parallax-make-ct-series: slice %d: %s\n", i + 1,
                   cond.text());
      return 1;
    }

    char name[32];
    std::snprintf(name, sizeof name, "CT%06d.dcm", i + 1);
    const std::string path =
        (std::filesystem::path(options.out_dir) / name).string();
    // EWM_createNewMeta rebuilds the file meta (SOP instance UID changes per
    // slice) rather than keeping the previous slice's.
    cond = file.saveFile(path.c_str(), EXS_LittleEndianExplicit,
                         EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                         EWM_createNewMeta);
    if (cond.bad()) {
      std::fprintf(stderr, "parallax-make-ct-series: cannot write %s: %s\n",
                   path.c_str(), cond.text());
      return 1;
    }
  }
  std::printf("wrote %d slices to %s (study %s, series %s)\n", options.slices,
              options.out_dir.c_str(), study_uid.c_str(), series_uid.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  const int parsed = ParseArgs(argc, argv, options);
  if (parsed == -1) return 0;
  if (parsed != 0) return parsed;
  return Run(options);
}
