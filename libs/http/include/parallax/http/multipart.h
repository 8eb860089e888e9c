#pragma once
// MIME multipart bodies (RFC 2046 section 5.1), as DICOMweb STOW-RS and
// WADO-RS use them (multipart/related; type="application/dicom").
//
//   auto ct = ParseContentType(request.Header("Content-Type"));
//   auto boundary = ct->Param("boundary");
//   auto parts = ParseMultipart(request.body, *boundary);
//   for (const Part& p : *parts) Store(p.body);   // p.body views request.body
//
// Parsing is zero-copy for part bodies and binary-safe, and finds delimiters
// with memmem, so a body of hundreds of MB parses in milliseconds.
// All functions are thread-safe (no shared state).
#include <concepts>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "parallax/http/headers.h"

namespace parallax::http {

// A parsed Content-Type field value.
struct ContentType {
  std::string media_type;  // lower-cased, e.g. "multipart/related"
  // Parameters by lower-cased name; values unquoted and unescaped, case kept.
  std::map<std::string, std::string> parameters;

  // Value of parameter `name` (case-insensitive); nullopt when absent.
  std::optional<std::string_view> Param(std::string_view name) const;
  // True when media_type starts with "multipart/".
  bool IsMultipart() const;
};

// Parses `type/subtype *(; name=value)`, values being tokens or quoted
// strings (backslash escapes honoured). Empty parameters (";;") are skipped;
// when a name repeats, the first value is kept. Returns INVALID_ARGUMENT,
// saying what is wrong, for an empty value, a media type without '/', a
// parameter without '=', or an unterminated quoted string.
absl::StatusOr<ContentType> ParseContentType(std::string_view header);

// One body part. When parsed, `body` views the buffer given to
// ParseMultipart, which must outlive it.
struct Part {
  Headers headers;           // the part's header fields, as sent
  std::string content_type;  // value of its Content-Type header, "" if none
  std::string_view body;     // the part's content, excluding the CRLF that
                             // precedes the next delimiter

  // Value of the first header named `name` (case-insensitive); "" if absent.
  std::string_view Header(std::string_view name) const;
};

// Splits a multipart `body` delimited by `boundary` (the parameter value,
// without the leading "--"). Accepts a preamble and an epilogue, transport
// padding (spaces, tabs) after delimiters, parts without headers, and bare
// LF line endings when the first delimiter line ends with a bare LF (with
// CRLF endings only "\r\n--boundary" delimits, so boundary-like bytes in
// binary content are harmless). Returns the parts in order, or
// INVALID_ARGUMENT when the boundary is empty, no delimiter is found, the
// body has no parts, the close delimiter "--boundary--" is missing, or a
// part has a malformed header line.
absl::StatusOr<std::vector<Part>> ParseMultipart(std::string_view body,
                                                 std::string_view boundary);

// The parts would view a temporary that dies at the end of the statement:
// keep the body in a variable (e.g. Request::body) and parse that.
template <typename S>
  requires std::same_as<S, std::string>
absl::StatusOr<std::vector<Part>> ParseMultipart(S&& body, std::string_view boundary) = delete;

// Writes `parts` as a multipart body with CRLF line endings and a close
// delimiter. For each part, its headers are written, then "Content-Type:
// <content_type>" if content_type is set and headers have no Content-Type.
// The caller picks a boundary that does not occur in any body.
std::string BuildMultipart(std::string_view boundary, const std::vector<Part>& parts);

}  // namespace parallax::http
