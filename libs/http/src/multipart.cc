#include "parallax/http/multipart.h"

#include <string.h>  // memmem (GNU)

#include <utility>

#include "absl/status/status.h"

namespace parallax::http {
namespace {

constexpr std::size_t kNpos = std::string_view::npos;

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (IsSpace(text.front()) || text.front() == '\r' || text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (IsSpace(text.back()) || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// RFC 9110 token characters.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Index of the first occurrence of `needle` in `hay` at or after `from`.
std::size_t FindFrom(std::string_view hay, std::size_t from, std::string_view needle) {
  if (from > hay.size()) return kNpos;
  const void* hit = memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
  return hit == nullptr ? kNpos : static_cast<std::size_t>(static_cast<const char*>(hit) - hay.data());
}

enum class DelimiterKind { kNone, kOpen, kClose };

struct Delimiter {
  DelimiterKind kind = DelimiterKind::kNone;
  std::size_t next = 0;  // index just after the delimiter line (kOpen)
  bool crlf = false;     // the line ended with CRLF (kOpen)
};

// Classifies what follows "--boundary" at index `after` of `body`: "--" makes
// a close delimiter; optional transport padding then CRLF or LF makes a
// delimiter opening a part; anything else means the bytes only look like a
// boundary (e.g. "--boundaryX").
Delimiter Classify(std::string_view body, std::size_t after) {
  Delimiter d;
  if (body.substr(after, 2) == "--") {
    d.kind = DelimiterKind::kClose;
    return d;
  }
  std::size_t i = after;
  while (i < body.size() && IsSpace(body[i])) ++i;
  if (body.substr(i, 2) == "\r\n") {
    d = {DelimiterKind::kOpen, i + 2, true};
  } else if (body.substr(i, 1) == "\n") {
    d = {DelimiterKind::kOpen, i + 1, false};
  }
  return d;
}

absl::Status ParsePartHeaders(std::string_view content, std::size_t index, Part* part) {
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t nl = content.find('\n', pos);
    std::size_t line_end = nl == kNpos ? content.size() : nl;
    std::string_view line = content.substr(pos, line_end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t next = nl == kNpos ? content.size() : nl + 1;
    if (line.empty()) {  // the empty line ending the header block
      part->body = content.substr(next);
      return absl::OkStatus();
    }
    if (IsSpace(line.front())) {  // obsolete folding: continues the last field
      if (part->headers.empty()) {
        return absl::InvalidArgumentError("multipart part " + std::to_string(index) +
                                          " starts with a continuation line");
      }
      part->headers.back().second += ' ';
      part->headers.back().second += Trim(line);
    } else {
      std::size_t colon = line.find(':');
      std::string_view name = colon == kNpos ? std::string_view() : Trim(line.substr(0, colon));
      if (!IsToken(name)) {
        return absl::InvalidArgumentError(
            "multipart part " + std::to_string(index) +
            " has a malformed header line (expected 'Name: value'); a part without headers "
            "must start with an empty line");
      }
      part->headers.emplace_back(std::string(name), std::string(Trim(line.substr(colon + 1))));
    }
    pos = next;
  }
  part->body = content.substr(content.size());  // headers only, empty body
  return absl::OkStatus();
}

absl::Status ParsePart(std::string_view content, std::size_t index, std::vector<Part>* parts) {
  Part part;
  if (absl::Status status = ParsePartHeaders(content, index, &part); !status.ok()) return status;
  if (auto type = FindHeader(part.headers, "Content-Type")) part.content_type = std::string(*type);
  parts->push_back(std::move(part));
  return absl::OkStatus();
}

}  // namespace

std::optional<std::string_view> ContentType::Param(std::string_view name) const {
  auto it = parameters.find(ToLower(name));
  if (it == parameters.end()) return std::nullopt;
  return std::string_view(it->second);
}

bool ContentType::IsMultipart() const { return media_type.rfind("multipart/", 0) == 0; }

absl::StatusOr<ContentType> ParseContentType(std::string_view header) {
  ContentType result;
  std::size_t semicolon = header.find(';');
  std::string_view media = Trim(header.substr(0, semicolon));
  if (media.empty()) return absl::InvalidArgumentError("Content-Type is empty");
  std::size_t slash = media.find('/');
  if (slash == kNpos || !IsToken(media.substr(0, slash)) || !IsToken(media.substr(slash + 1))) {
    return absl::InvalidArgumentError("Content-Type media type '" + std::string(media) +
                                      "' is not of the form type/subtype");
  }
  result.media_type = ToLower(media);
  if (semicolon == kNpos) return result;

  std::size_t i = semicolon + 1;
  const std::size_t n = header.size();
  while (i < n) {
    while (i < n && IsSpace(header[i])) ++i;
    if (i == n) break;
    if (header[i] == ';') {  // empty parameter
      ++i;
      continue;
    }
    std::size_t eq = header.find('=', i);
    std::size_t next_semicolon = header.find(';', i);
    if (eq == kNpos || (next_semicolon != kNpos && next_semicolon < eq)) {
      return absl::InvalidArgumentError(
          "Content-Type parameter '" +
          std::string(Trim(header.substr(i, next_semicolon == kNpos ? kNpos : next_semicolon - i))) +
          "' has no '=value'");
    }
    std::string_view name = Trim(header.substr(i, eq - i));
    if (!IsToken(name)) {
      return absl::InvalidArgumentError("Content-Type parameter name '" + std::string(name) +
                                        "' is not a token");
    }
    i = eq + 1;
    while (i < n && IsSpace(header[i])) ++i;
    std::string value;
    if (i < n && header[i] == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        char c = header[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < n) c = header[i++];
        value.push_back(c);
      }
      if (!closed) {
        return absl::InvalidArgumentError("Content-Type parameter '" + std::string(name) +
                                          "' has an unterminated quoted string");
      }
      while (i < n && IsSpace(header[i])) ++i;
      if (i < n && header[i] != ';') {
        return absl::InvalidArgumentError("Content-Type parameter '" + std::string(name) +
                                          "' has text after its quoted value");
      }
    } else {
      // A token; lenient about characters such as '/' that some clients
      // leave unquoted (type=application/dicom).
      std::size_t end = header.find(';', i);
      value = std::string(Trim(header.substr(i, end == kNpos ? kNpos : end - i)));
      i = end == kNpos ? n : end;
      if (value.empty()) {
        return absl::InvalidArgumentError("Content-Type parameter '" + std::string(name) +
                                          "' has an empty value");
      }
    }
    if (i < n) ++i;  // the ';'
    result.parameters.emplace(ToLower(name), std::move(value));  // first one wins
  }
  return result;
}

std::string_view Part::Header(std::string_view name) const {
  return FindHeader(headers, name).value_or(std::string_view());
}

absl::StatusOr<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty()) return absl::InvalidArgumentError("multipart boundary is empty");
  const std::string dash_boundary = "--" + std::string(boundary);

  // The first delimiter is at the very start of the body or at the start of
  // a line; the preamble before it may hold anything.
  Delimiter first;
  std::size_t candidate = body.substr(0, dash_boundary.size()) == dash_boundary
                              ? 0
                              : FindFrom(body, 0, "\n" + dash_boundary);
  if (candidate != kNpos && candidate != 0) ++candidate;  // skip the '\n'
  while (candidate != kNpos) {
    first = Classify(body, candidate + dash_boundary.size());
    if (first.kind != DelimiterKind::kNone) break;
    candidate = FindFrom(body, candidate + 1, "\n" + dash_boundary);
    if (candidate != kNpos) ++candidate;
  }
  if (candidate == kNpos) {
    return absl::InvalidArgumentError("multipart body has no delimiter line '" + dash_boundary +
                                      "' (wrong boundary?)");
  }
  if (first.kind == DelimiterKind::kClose) {
    return absl::InvalidArgumentError("multipart body has no parts (it starts with the close "
                                      "delimiter)");
  }

  // With CRLF line endings only CRLF "--boundary" delimits; with bare LF
  // endings LF "--boundary" does (a CR before it is dropped too).
  const bool crlf = first.crlf;
  const std::string needle = (crlf ? "\r\n" : "\n") + dash_boundary;
  std::vector<Part> parts;
  std::size_t part_start = first.next;
  std::size_t search_from = part_start;
  while (true) {
    std::size_t hit = FindFrom(body, search_from, needle);
    if (hit == kNpos) {
      return absl::InvalidArgumentError(
          "multipart body ends without the close delimiter '" + dash_boundary + "--' (part " +
          std::to_string(parts.size() + 1) + " is truncated or the body is incomplete)");
    }
    Delimiter d = Classify(body, hit + needle.size());
    if (d.kind == DelimiterKind::kNone) {  // boundary-like bytes inside content
      search_from = hit + 1;
      continue;
    }
    std::size_t part_end = hit;
    if (!crlf && part_end > part_start && body[part_end - 1] == '\r') --part_end;
    if (absl::Status status =
            ParsePart(body.substr(part_start, part_end - part_start), parts.size() + 1, &parts);
        !status.ok()) {
      return status;
    }
    if (d.kind == DelimiterKind::kClose) break;  // the rest is the epilogue
    part_start = d.next;
    search_from = part_start;
  }
  return parts;
}

std::string BuildMultipart(std::string_view boundary, const std::vector<Part>& parts) {
  std::size_t size = boundary.size() + 8;
  for (const Part& part : parts) {
    size += boundary.size() + 8 + part.body.size() + part.content_type.size() + 20;
    for (const auto& [name, value] : part.headers) size += name.size() + value.size() + 4;
  }
  std::string out;
  out.reserve(size);
  for (const Part& part : parts) {
    out.append("--").append(boundary).append("\r\n");
    for (const auto& [name, value] : part.headers) {
      out.append(name).append(": ").append(value).append("\r\n");
    }
    if (!part.content_type.empty() && !FindHeader(part.headers, "Content-Type")) {
      out.append("Content-Type: ").append(part.content_type).append("\r\n");
    }
    out.append("\r\n").append(part.body).append("\r\n");
  }
  out.append("--").append(boundary).append("--\r\n");
  return out;
}

}  // namespace parallax::http
