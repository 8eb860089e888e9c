#include "parallax/dicom/pixel_reader.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <system_error>

namespace parallax::dicom {
namespace {

void RegisterDecodersOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

// The modality transform: a Modality LUT when present, else rescale.
struct ModalityTransform {
  double slope = 1.0;
  double intercept = 0.0;
  // Modality LUT (takes precedence when non-empty).
  std::vector<float> lut;
  int lut_first = 0;

  float Apply(int32_t stored) const {
    if (lut.empty()) return static_cast<float>(stored * slope + intercept);
    const int64_t index = static_cast<int64_t>(stored) - lut_first;
    if (index <= 0) return lut.front();
    if (index >= static_cast<int64_t>(lut.size())) return lut.back();
    return lut[static_cast<size_t>(index)];
  }
};

struct PixelLayout {
  int rows = 0;
  int columns = 0;
  int frames = 1;
  int bits_allocated = 0;
  int bits_stored = 0;
  int high_bit = 0;
  bool is_signed = false;
  bool monochrome1 = false;
};

std::string TransferSyntaxUid(DcmFileFormat& file) {
  OFString uid;
  if (file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, uid).good() && !uid.empty()) {
    return std::string(uid.c_str());
  }
  const char* id = DcmXfer(file.getDataset()->getOriginalXfer()).getXferID();
  return id ? std::string(id) : std::string("unknown");
}

absl::Status ReadModalityLut(DcmItem& ds, bool is_signed, ModalityTransform& transform) {
  DcmItem* item = nullptr;
  if (ds.findAndGetSequenceItem(DCM_ModalityLUTSequence, item, 0).bad() || item == nullptr) {
    return absl::OkStatus();
  }
  Uint16 entries = 0, first = 0, bits = 0;
  if (item->findAndGetUint16(DCM_LUTDescriptor, entries, 0).bad() ||
      item->findAndGetUint16(DCM_LUTDescriptor, first, 1).bad() ||
      item->findAndGetUint16(DCM_LUTDescriptor, bits, 2).bad()) {
    return absl::InvalidArgumentError("Modality LUT Sequence (0028,3000) has a malformed LUT Descriptor (0028,3002)");
  }
  const size_t count = entries == 0 ? 65536 : entries;
  const Uint16* data = nullptr;
  unsigned long words = 0;
  if (item->findAndGetUint16Array(DCM_LUTData, data, &words).bad() || data == nullptr) {
    return absl::InvalidArgumentError("Modality LUT Sequence (0028,3000) has no LUT Data (0028,3006)");
  }
  transform.lut.resize(count);
  if (words >= count) {
    for (size_t i = 0; i < count; ++i) transform.lut[i] = static_cast<float>(data[i]);
  } else if (bits == 8 && words * 2 >= count) {  // 8-bit entries packed two per word
    for (size_t i = 0; i < count; ++i) {
      transform.lut[i] = static_cast<float>(i % 2 == 0 ? (data[i / 2] & 0xFF) : (data[i / 2] >> 8));
    }
  } else {
    return absl::InvalidArgumentError("Modality LUT Data (0028,3006) is shorter than its LUT Descriptor says");
  }
  transform.lut_first = is_signed ? static_cast<int16_t>(first) : first;
  return absl::OkStatus();
}

absl::StatusOr<ModalityTransform> ReadModalityTransform(DcmItem& ds, bool is_signed) {
  ModalityTransform t;
  Float64 v = 0;
  if (ds.findAndGetFloat64(DCM_RescaleSlope, v).good() && std::isfinite(v) && v != 0) t.slope = v;
  if (ds.findAndGetFloat64(DCM_RescaleIntercept, v).good() && std::isfinite(v)) t.intercept = v;
  // Rescale and a Modality LUT are mutually exclusive; rescale wins if both.
  if (!ds.tagExists(DCM_RescaleSlope) && !ds.tagExists(DCM_RescaleIntercept)) {
    absl::Status lut = ReadModalityLut(ds, is_signed, t);
    if (!lut.ok()) return lut;
  }
  return t;
}

absl::StatusOr<PixelLayout> ReadLayout(DcmItem& ds) {
  OFString photometric;
  ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  Uint16 samples = 1;
  ds.findAndGetUint16(DCM_SamplesPerPixel, samples);
  const bool mono1 = photometric == "MONOCHROME1";
  const bool mono2 = photometric == "MONOCHROME2";
  if (samples != 1 || (!photometric.empty() && !mono1 && !mono2)) {
    return absl::InvalidArgumentError("colour images are not supported (PhotometricInterpretation " +
                                      std::string(photometric.c_str()) + ")");
  }
  PixelLayout l;
  Uint16 us = 0;
  if (ds.findAndGetUint16(DCM_Rows, us).good()) l.rows = us;
  if (ds.findAndGetUint16(DCM_Columns, us).good()) l.columns = us;
  if (ds.findAndGetUint16(DCM_BitsAllocated, us).good()) l.bits_allocated = us;
  l.bits_stored = l.bits_allocated;
  if (ds.findAndGetUint16(DCM_BitsStored, us).good()) l.bits_stored = us;
  l.high_bit = l.bits_stored - 1;
  if (ds.findAndGetUint16(DCM_HighBit, us).good()) l.high_bit = us;
  if (ds.findAndGetUint16(DCM_PixelRepresentation, us).good()) l.is_signed = us == 1;
  Sint32 frames = 1;
  if (ds.findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames > 0) l.frames = frames;
  l.monochrome1 = mono1;
  if (l.rows <= 0 || l.columns <= 0) {
    return absl::InvalidArgumentError("image has no Rows (0028,0010) or Columns (0028,0011)");
  }
  if (l.bits_allocated != 8 && l.bits_allocated != 16) {
    return absl::InvalidArgumentError("BitsAllocated " + std::to_string(l.bits_allocated) +
                                      " is not supported (8 or 16)");
  }
  if (l.bits_stored < 1 || l.bits_stored > l.bits_allocated || l.high_bit >= l.bits_allocated ||
      l.high_bit + 1 < l.bits_stored) {
    return absl::InvalidArgumentError("inconsistent BitsStored (0028,0101) / HighBit (0028,0102)");
  }
  return l;
}

std::array<double, 2> ReadSpacing(DcmItem& ds) {
  for (const DcmTagKey& tag : {DCM_PixelSpacing, DCM_ImagerPixelSpacing}) {
    Float64 row = 0, column = 0;
    if (ds.findAndGetFloat64(tag, row, 0).good() && ds.findAndGetFloat64(tag, column, 1).good()) {
      return {row, column};
    }
  }
  return {0, 0};
}

// Converts one decoded frame (host byte order) to modality units.
void ConvertFrame(const uint8_t* raw, const PixelLayout& l, const ModalityTransform& t, float lo, float hi,
                  PixelImage& image) {
  const size_t count = static_cast<size_t>(l.rows) * l.columns;
  image.values.resize(count);
  const int shift = l.high_bit + 1 - l.bits_stored;
  const uint32_t mask = l.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << l.bits_stored) - 1u);
  const uint32_t sign_bit = 1u << (l.bits_stored - 1);
  auto stored = [&](uint32_t word) -> int32_t {
    uint32_t v = (word >> shift) & mask;
    if (l.is_signed && (v & sign_bit)) return static_cast<int32_t>(v) - static_cast<int32_t>(mask) - 1;
    return static_cast<int32_t>(v);
  };
  // A lookup table over every possible word is cheap for up to 16 bits and
  // makes the conversion exact and fast.
  const size_t table_size = size_t{1} << l.bits_allocated;
  std::vector<float> table(table_size);
  for (size_t w = 0; w < table_size; ++w) {
    float v = t.Apply(stored(static_cast<uint32_t>(w)));
    table[w] = l.monochrome1 ? (lo + hi) - v : v;
  }
  if (l.bits_allocated == 8) {
    for (size_t i = 0; i < count; ++i) image.values[i] = table[raw[i]];
  } else {
    const uint16_t* words = reinterpret_cast<const uint16_t*>(raw);
    for (size_t i = 0; i < count; ++i) image.values[i] = table[words[i]];
  }
}

absl::StatusOr<std::vector<PixelImage>> Decode(DcmFileFormat& file) {
  DcmDataset& ds = *file.getDataset();
  const std::string xfer_uid = TransferSyntaxUid(file);
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return absl::InvalidArgumentError("instance has no Pixel Data (7FE0,0010) (transfer syntax " + xfer_uid + ")");
  }
  auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
  if (pixel_data == nullptr) return absl::InvalidArgumentError("Pixel Data (7FE0,0010) is not pixel data");

  absl::StatusOr<PixelLayout> layout = ReadLayout(ds);
  if (!layout.ok()) return layout.status();
  const PixelLayout& l = *layout;

  const E_TransferSyntax xfer = ds.getOriginalXfer();
  const DcmXfer xfer_info(xfer);
  if (xfer_info.isEncapsulated() && !DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit)) {
    return absl::InvalidArgumentError("cannot decode pixel data in transfer syntax " + xfer_uid);
  }

  absl::StatusOr<ModalityTransform> transform = ReadModalityTransform(ds, l.is_signed);
  if (!transform.ok()) return transform.status();

  // Range of the modality transform over every stored value, for MONOCHROME1.
  float lo = 0, hi = 0;
  if (l.monochrome1) {
    const int32_t min_stored = l.is_signed ? -(1 << (l.bits_stored - 1)) : 0;
    const int32_t max_stored = l.is_signed ? (1 << (l.bits_stored - 1)) - 1 : (1 << l.bits_stored) - 1;
    if (transform->lut.empty()) {
      float a = transform->Apply(min_stored), b = transform->Apply(max_stored);
      lo = std::min(a, b);
      hi = std::max(a, b);
    } else {
      auto [mn, mx] = std::minmax_element(transform->lut.begin(), transform->lut.end());
      lo = *mn;
      hi = *mx;
    }
  }

  Uint32 frame_size = 0;
  OFCondition cond = pixel_data->getUncompressedFrameSize(&ds, frame_size);
  if (cond.bad()) return absl::InvalidArgumentError(std::string("cannot size the image frames: ") + cond.text());
  const size_t expected = static_cast<size_t>(l.rows) * l.columns * (l.bits_allocated / 8);
  if (frame_size < expected) return absl::InvalidArgumentError("frame size is smaller than Rows x Columns");
  if (!xfer_info.isEncapsulated()) {
    const size_t available = pixel_data->getLength();
    if (available < static_cast<size_t>(frame_size) * (l.frames - 1) + expected) {
      return absl::InvalidArgumentError("Pixel Data (7FE0,0010) is shorter than NumberOfFrames frames");
    }
  }

  const std::array<double, 2> spacing = ReadSpacing(ds);
  // Decoders may write up to an even number of bytes; keep an aligned buffer.
  std::vector<uint16_t> buffer((frame_size + 1) / 2 + 1);
  std::vector<PixelImage> images;
  images.reserve(static_cast<size_t>(l.frames));
  DcmFileCache cache;
  Uint32 start_fragment = 0;
  for (int frame = 0; frame < l.frames; ++frame) {
    OFString colour_model;
    cond = pixel_data->getUncompressedFrame(&ds, static_cast<Uint32>(frame), start_fragment, buffer.data(),
                                            frame_size, colour_model, &cache);
    if (cond.bad()) {
      return absl::InvalidArgumentError("cannot decode frame " + std::to_string(frame) + " in transfer syntax " +
                                        xfer_uid + ": " + cond.text());
    }
    PixelImage image;
    image.rows = l.rows;
    image.columns = l.columns;
    image.pixel_spacing_mm = spacing;
    image.inverted = l.monochrome1;
    ConvertFrame(reinterpret_cast<const uint8_t*>(buffer.data()), l, *transform, lo, hi, image);
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace

absl::StatusOr<std::vector<PixelImage>> ReadPixels(const std::string& path) {
  RegisterDecodersOnce();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError("no DICOM file at the given path");
  }
  try {
    DcmFileFormat file;
    OFCondition cond = file.loadFile(path.c_str());
    if (cond.bad()) return absl::InvalidArgumentError(std::string("unparseable DICOM data: ") + cond.text());
    return Decode(file);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("DICOM pixel decoding failed: ") + e.what());
  }
}

absl::StatusOr<std::vector<PixelImage>> ReadPixelsFromBuffer(const char* data, size_t size) {
  RegisterDecodersOnce();
  if (data == nullptr || size < 132 || std::string_view(data + 128, 4) != "DICM") {
    return absl::InvalidArgumentError("not a DICOM Part-10 file (no DICM preamble)");
  }
  try {
    DcmInputBufferStream stream;
    stream.setBuffer(data, static_cast<offile_off_t>(size));
    stream.setEos();
    DcmFileFormat file;
    file.transferInit();
    OFCondition cond = file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.transferEnd();
    if (cond.bad()) return absl::InvalidArgumentError(std::string("unparseable DICOM data: ") + cond.text());
    // Elements longer than DCM_MaxReadLength are read lazily from the stream,
    // which does not outlive this call: load them now.
    file.loadAllDataIntoMemory();
    return Decode(file);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("DICOM pixel decoding failed: ") + e.what());
  }
}

void ApplyWindow(const PixelImage& image, double center, double width, float* out) {
  const size_t n = image.values.size();
  if (width <= 0) {
    for (size_t i = 0; i < n; ++i) out[i] = image.values[i] >= center ? 1.0f : 0.0f;
    return;
  }
  const double low = center - width / 2.0;
  const double scale = 1.0 / width;
  for (size_t i = 0; i < n; ++i) {
    const double v = (image.values[i] - low) * scale;
    out[i] = static_cast<float>(std::clamp(v, 0.0, 1.0));
  }
}

}  // namespace parallax::dicom
