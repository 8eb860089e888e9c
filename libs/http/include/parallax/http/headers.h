#pragma once
// Header fields of HTTP messages and MIME parts: an ordered list of
// (name, value) pairs, kept as received. Names compare ASCII
// case-insensitively, as RFC 9110 and RFC 2045 require.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parallax::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// True when `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Returns the value of the first field named `name` (case-insensitive), or
// nullopt when there is none. The view points into `headers`.
std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view name);

}  // namespace parallax::http
