// The append-only event log. Each writer (one per gateway worker thread) appends to its own chain of segment
// files in the recording directory, events-<UTC time>-<pid>-<stream>-<NNNNNN>.jsonl.
//
// A segment is allocated whole when it is opened (posix_fallocate) and mapped into memory (MAP_SHARED), so that
// appending an event is a memcpy: no system call on a statement's path. The mapping *is* the page cache, so what
// append() copied survives a kill of the process (SIGKILL included) exactly as a returned write(2) would. The
// disk space is reserved up front: a full disk is found when a segment is allocated, and append() fails then
// (the gateway refuses the statement: fail closed), never later behind the gateway's back. Optional msync covers
// power loss.
//
// Readers (the indexer) tell a live segment from a finished one by the lock its writer holds on it (flock): a
// live segment is read up to its first NUL byte or its first line that does not check, and read again later; a
// finished one (truncated to its data when closed cleanly, or left with a NUL tail by a killed writer) is read to
// its end.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gatehouse::recording {

struct LogOptions {
  uint64_t segment_bytes = uint64_t{32} << 20;  // each segment's preallocated size (an event never spans two)
  bool fsync = false;                           // sync() makes appended events durable (msync)
};

inline constexpr uint64_t kMinSegmentBytes = uint64_t{64} << 10;
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 30;

class EventLog {
 public:
  // Opens a writer and its first segment in `dir` (created owner-only if missing). `stream` tells this writer's
  // files from the other writers' of the same process (e.g. "w0" for worker 0): [a-z0-9]+.
  static Result<std::unique_ptr<EventLog>> open(const std::filesystem::path& dir, std::string_view stream,
                                                LogOptions options = {});

  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  // Finishes the current segment: truncated to its data, unlocked.
  ~EventLog();

  // Appends `lines` (whole lines from appendEvent). On success they are in the page cache. Opens the next
  // segment when this one is full; fails when no segment can be allocated (ENOSPC, EDQUOT, EIO…), and the caller
  // must then not forward the statement or its result. Not thread-safe: one writer per thread.
  Result<void> append(std::string_view lines);

  // With fsync, makes everything appended so far durable (msync of the new pages); without, does nothing.
  Result<void> sync();
  bool fsync() const { return options_.fsync; }

  // False after an append or sync failed, until a later one succeeds. Any thread may ask.
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  // The current segment (empty while none could be opened).
  const std::filesystem::path& path() const { return path_; }
  uint64_t segmentsOpened() const { return sequence_; }

 private:
  EventLog(std::filesystem::path dir, std::string base, LogOptions options)
      : dir_(std::move(dir)), base_(std::move(base)), options_(options) {}
  Result<void> openSegment(uint64_t min_bytes);
  void prefault(uint64_t until);
  void finishSegment();

  std::filesystem::path dir_;
  std::string base_;  // events-<time>-<pid>-<stream>
  LogOptions options_;
  uint64_t sequence_ = 0;  // segments opened so far
  int fd_ = -1;
  char* map_ = nullptr;
  uint64_t size_ = 0;    // the segment's allocated size
  uint64_t used_ = 0;    // bytes appended to it
  uint64_t synced_ = 0;  // bytes known durable (fsync)
  uint64_t ready_ = 0;   // bytes whose pages are already mapped writable (prefaulted)
  bool populate_ = true; // the kernel supports MADV_POPULATE_WRITE
  std::filesystem::path path_;
  std::atomic<bool> healthy_{true};
};

// Whether a segment's writer still holds it (a reader's question): false once it was finished or its writer
// died. Files of other layouts, never locked, count as finished.
Result<bool> segmentIsLive(int fd);

}  // namespace gatehouse::recording
