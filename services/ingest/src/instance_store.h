#pragma once
// The on-disk store of received instances, exactly as received.
//
// Layout: <root>/objects/<xx>/<SOP Instance UID>.dcm, where <xx> is a hash
// byte of the UID (256 directories). An instance is first written to a
// staging file in its final directory, then made durable: rename it into
// place (never over another file), fsync it, fsync the directory. Only then
// may its index row be committed and Success be answered. The index is the
// authority: a file in place without an index row was never acknowledged.
//
// Thread-safe: every method may be called concurrently; callers serialise
// work on the same SOP Instance UID themselves.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

namespace parallax::ingest {

struct InstanceStoreOptions {
  std::string root;                // store directory
  int64_t min_free_bytes = 0;      // CheckCapacity() fails below this much free space
};

class InstanceStore {
 public:
  explicit InstanceStore(InstanceStoreOptions options);

  // Creates the directory tree and removes staging files left by a crash
  // (never acknowledged). INTERNAL naming the path on failure.
  absl::Status Open();

  // OK when at least min_free_bytes are free; RESOURCE_EXHAUSTED otherwise.
  absl::Status CheckCapacity() const;

  // A new, unique staging path in the directory of `sop_instance_uid`.
  std::string StagingPathFor(const std::string& sop_instance_uid);

  // Makes a complete staging file durable under its final name: rename it
  // into place without replacing anything, fsync the file, fsync the
  // directory. Returns the path relative to the root. ALREADY_EXISTS when a
  // file of that SOP Instance UID is already in place (the staging file is
  // then kept, for the caller to Discard or Replace); RESOURCE_EXHAUSTED when
  // the disk is full; INTERNAL otherwise (staging file removed).
  absl::StatusOr<std::string> Commit(const std::string& staging_path, const std::string& sop_instance_uid);

  // Like Commit, but replaces a file already in place (one left by an
  // interrupted earlier store that was never indexed).
  absl::StatusOr<std::string> Replace(const std::string& staging_path, const std::string& sop_instance_uid);

  // Writes `bytes` to a new staging file; returns its path. RESOURCE_EXHAUSTED
  // when the disk is full, INTERNAL otherwise.
  absl::StatusOr<std::string> WriteStaging(std::string_view bytes, const std::string& sop_instance_uid);

  // Removes a staging file that will not be committed.
  void Discard(const std::string& staging_path);

  // Absolute path of a stored instance from its relative path.
  std::string AbsolutePath(const std::string& relative_path) const;

  // Relative path of the final file of `sop_instance_uid`.
  static std::string RelativePathFor(const std::string& sop_instance_uid);

 private:
  // Renames a staging file into place, fsyncs it and its directory.
  absl::StatusOr<std::string> Publish(const std::string& staging_path, const std::string& sop_instance_uid,
                                      bool replace);

  InstanceStoreOptions options_;
  std::atomic<uint64_t> staging_counter_{0};
};

}  // namespace parallax::ingest
