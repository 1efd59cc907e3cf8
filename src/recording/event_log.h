// The append-only event log a gateway process writes: one file per process run in the recording directory.
// A statement's events are written here before its result is forwarded to the client; write(2) puts them in the
// page cache, which survives a kill of the process (SIGKILL included). Optional fdatasync covers power loss.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string_view>

#include "core/result.h"

namespace gatehouse::recording {

class EventLog {
 public:
  // Creates a new log file events-<UTC time>-<pid>[-n].jsonl in `dir` (created owner-only if missing).
  // `fsync`: fdatasync after every write.
  static Result<std::unique_ptr<EventLog>> open(const std::filesystem::path& dir, bool fsync);
  // Appends to exactly `file`, creating it if needed. For tests (a log on /dev/full) and tools.
  static Result<std::unique_ptr<EventLog>> openFile(const std::filesystem::path& file, bool fsync);

  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  ~EventLog();

  // Appends `batch` (whole lines from appendEvent) with one write(2), then fdatasync if enabled. Thread-safe
  // without a lock: the file is opened O_APPEND, and on a local filesystem each write(2) to a regular file lands
  // at the end in one piece relative to other writers (POSIX requires the seek and write to be atomic; Linux
  // serializes writes to one file). That does not hold on NFS, which is not supported for the recording dir.
  // Any failure (ENOSPC, EIO, EDQUOT…) is returned: the caller must not forward the statement's result.
  Result<void> write(std::string_view batch);

  // False after a write failed, until a later write succeeds.
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  const std::filesystem::path& path() const { return path_; }

 private:
  EventLog(int fd, std::filesystem::path path, bool fsync) : fd_(fd), path_(std::move(path)), fsync_(fsync) {}

  int fd_;
  std::filesystem::path path_;
  bool fsync_;
  std::atomic<bool> healthy_{true};
  // Set after a failed or short write, which may have left a partial line at the end of the file: the next write
  // starts with '\n' so that the fragment becomes a line of its own (which the indexer rejects by checksum)
  // instead of swallowing the next event.
  std::atomic<bool> torn_{false};
};

}  // namespace gatehouse::recording
