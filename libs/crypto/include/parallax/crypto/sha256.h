#pragma once
// SHA-256 digests (OpenSSL stays behind this header): of model weights for
// ModelInfo.weights_sha256, later of audit entries for the hash chain.
// Pure functions, thread-safe.
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

namespace parallax::crypto {

// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

// The raw 32-byte SHA-256 of `data`.
std::string Sha256(std::string_view data);

// Lower-case hex SHA-256 of a file's contents, read in chunks. NOT_FOUND when
// the file cannot be opened (the message names the path), DATA_LOSS when a
// read fails midway.
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

}  // namespace parallax::crypto
