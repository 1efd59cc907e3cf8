// Segmented, memory-mapped event log; see event_log.h.
#include "recording/event_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace gatehouse::recording {

namespace {

std::string errnoText(int err) { return std::strerror(err); }

std::string utcStamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

uint64_t pageSize() {
  static const auto size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t roundUpToPage(uint64_t n) { return (n + pageSize() - 1) / pageSize() * pageSize(); }

void syncDirectory(const std::filesystem::path& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

Result<std::unique_ptr<EventLog>> EventLog::open(const std::filesystem::path& dir, std::string_view stream,
                                                 LogOptions options) {
  if (stream.empty() || stream.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string_view::npos)
    return makeError("event log stream name '" + std::string(stream) + "' must be [a-z0-9]+");
  if (options.segment_bytes < kMinSegmentBytes || options.segment_bytes > kMaxSegmentBytes)
    return makeError("event log segment size must be between 64 KiB and 1 GiB");
  // Recordings hold SQL text, which can be sensitive: owner-only directory and files.
  std::error_code ec;  // a failure here shows up as mkdir's error below, which names the directory we need
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return makeError("cannot create recording directory " + dir.string() + ": " + errnoText(errno));
  std::string base = "events-" + utcStamp() + "-" + std::to_string(::getpid()) + "-" + std::string(stream);
  std::unique_ptr<EventLog> log(new EventLog(dir, std::move(base), options));
  if (auto r = log->openSegment(0); !r) return r.error();
  return log;
}

EventLog::~EventLog() { finishSegment(); }

Result<void> EventLog::openSegment(uint64_t min_bytes) {
  const uint64_t size = std::max(options_.segment_bytes, roundUpToPage(min_bytes));
  // Created under a name the readers ignore, and renamed once locked and allocated: a reader never sees a
  // segment that is not yet locked (it would take it for a dead writer's) or not yet allocated.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    char number[16];
    std::snprintf(number, sizeof number, "%06llu", static_cast<unsigned long long>(sequence_ + 1));
    const std::string name = base_ + "-" + number + ".jsonl";
    const std::filesystem::path file = dir_ / name;
    const std::filesystem::path temp = dir_ / ("." + name + ".new");
    const int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      if (err == EEXIST) {
        ++sequence_;
        continue;
      }
      return makeError("cannot create event log segment " + temp.string() + ": " + errnoText(err));
    }
    const auto fail = [&](std::string what, int err) -> Result<void> {
      ::close(fd);
      ::unlink(temp.c_str());
      return makeError("event log segment " + file.string() + ": " + what + ": " + errnoText(err));
    };
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return fail("cannot lock", errno);
    // posix_fallocate returns the error rather than setting errno. Where the filesystem cannot preallocate,
    // glibc writes the blocks instead, which reserves them all the same.
    if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); err != 0)
      return fail("cannot allocate " + std::to_string(size >> 10) + " KiB", err);
    void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return fail("cannot map", errno);
    if (options_.fsync && ::fsync(fd) != 0) {
      const int err = errno;
      ::munmap(map, size);
      return fail("fsync", err);
    }
    if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, file.c_str(), RENAME_NOREPLACE) != 0) {
      const int err = errno;
      ::munmap(map, size);
      ::close(fd);
      ::unlink(temp.c_str());
      if (err == EEXIST) {  // a file of that name from an earlier run whose pid and start second were ours
        ++sequence_;
        continue;
      }
      return makeError("cannot name event log segment " + file.string() + ": " + errnoText(err));
    }
    if (options_.fsync) syncDirectory(dir_);  // the segment's name must survive a power loss too
    ++sequence_;
    fd_ = fd;
    map_ = static_cast<char*>(map);
    size_ = size;
    used_ = 0;
    synced_ = 0;
    ready_ = 0;
    path_ = file;
    return {};
  }
  return makeError("cannot create an event log segment in " + dir_.string() + ": too many files named " + base_ +
                   "*");
}

void EventLog::finishSegment() {
  if (fd_ < 0) return;
  ::munmap(map_, size_);
  // Give back the unused reservation. Readers take a segment that is not locked for finished in any case, so a
  // failed truncation only leaves a NUL tail that they skip.
  if (used_ == 0) {
    ::unlink(path_.c_str());
  } else {
    (void)::ftruncate(fd_, static_cast<off_t>(used_));
    if (options_.fsync) ::fdatasync(fd_);
  }
  ::close(fd_);  // releases the lock: the segment is finished
  fd_ = -1;
  map_ = nullptr;
  size_ = used_ = synced_ = ready_ = 0;
  path_.clear();
}

Result<void> EventLog::append(std::string_view lines) {
  if (fd_ < 0 || used_ + lines.size() > size_) {
    if (auto synced = sync(); !synced) return synced;
    finishSegment();
    if (auto opened = openSegment(lines.size()); !opened) {
      healthy_.store(false, std::memory_order_relaxed);
      return opened;
    }
  }
  if (used_ + lines.size() > ready_) prefault(used_ + lines.size());
  std::memcpy(map_ + used_, lines.data(), lines.size());
  used_ += lines.size();
  healthy_.store(true, std::memory_order_relaxed);
  return {};
}

// The first write to each page of the mapping faults (the kernel allocates the page and the filesystem marks it
// for writing), about 2 µs a page, which is a fault every few statements. Mapping the next pages writable in
// one call, a window ahead, costs a fraction of that per page. Where the kernel cannot (before Linux 5.14), the
// pages fault one by one as before.
void EventLog::prefault(uint64_t until) {
  constexpr uint64_t kWindow = uint64_t{64} << 10;
  const uint64_t from = ready_;
  const uint64_t to = std::min(size_, std::max(until, from + kWindow) / pageSize() * pageSize() + pageSize());
  ready_ = std::min(size_, to);
  if (populate_ && ::madvise(map_ + from, ready_ - from, MADV_POPULATE_WRITE) != 0) populate_ = false;
}

Result<void> EventLog::sync() {
  if (!options_.fsync || fd_ < 0 || synced_ == used_) return {};
  const uint64_t from = synced_ / pageSize() * pageSize();
  if (::msync(map_ + from, used_ - from, MS_SYNC) != 0) {
    const int err = errno;
    healthy_.store(false, std::memory_order_relaxed);
    return makeError("event log " + path_.string() + ": msync failed: " + errnoText(err));
  }
  synced_ = used_;
  return {};
}

Result<bool> segmentIsLive(int fd) {
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
    return false;
  }
  if (errno == EWOULDBLOCK) return true;
  return makeError(std::string("cannot test the event log segment's lock: ") + std::strerror(errno));
}

}  // namespace gatehouse::recording
