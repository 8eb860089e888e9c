#pragma once
// A directory under $TMPDIR (or /tmp) removed with its contents on
// destruction. Not thread-safe; one per test.
#include <filesystem>
#include <string>

namespace parallax::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "parallax-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeTcpPort();

}  // namespace parallax::testing
