#include "parallax/store/bytea.h"

#include <absl/strings/str_cat.h>

namespace parallax::store {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string ToByteaHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

absl::StatusOr<std::string> FromByteaHex(std::string_view text, std::string_view what) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
    return absl::InternalError(absl::StrCat(std::string(what), ": unexpected bytea output format (want hex)"));
  }
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    const int hi = HexDigit(text[i]), lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return absl::InternalError(absl::StrCat(std::string(what), ": bad hex digit in bytea"));
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

}  // namespace parallax::store
