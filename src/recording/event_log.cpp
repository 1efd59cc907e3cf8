// Append-only event log files; see event_log.h.
#include "recording/event_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
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

}  // namespace

Result<std::unique_ptr<EventLog>> EventLog::open(const std::filesystem::path& dir, bool fsync) {
  // Recordings hold SQL text, which can be sensitive: owner-only directory and files.
  std::error_code ec;  // a failure here shows up as mkdir's error below, which names the directory we need
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return makeError("cannot create recording directory " + dir.string() + ": " + errnoText(errno));
  }
  const std::string base = "events-" + utcStamp() + "-" + std::to_string(::getpid());
  // O_EXCL: never append to another run's file, even if a pid repeats within the same second.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::string name = base + (attempt == 0 ? "" : "-" + std::to_string(attempt)) + ".jsonl";
    const std::filesystem::path file = dir / name;
    const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      // The new file's directory entry must survive a power loss too, or its synced data is unreachable.
      if (fsync) {
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
          ::fsync(dfd);
          ::close(dfd);
        }
      }
      return std::unique_ptr<EventLog>(new EventLog(fd, file, fsync));
    }
    if (errno != EEXIST) {
      return makeError("cannot create event log " + file.string() + ": " + errnoText(errno));
    }
  }
  return makeError("cannot create event log in " + dir.string() + ": too many files named " + base + "*");
}

Result<std::unique_ptr<EventLog>> EventLog::openFile(const std::filesystem::path& file, bool fsync) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return makeError("cannot open event log " + file.string() + ": " + errnoText(errno));
  }
  return std::unique_ptr<EventLog>(new EventLog(fd, file, fsync));
}

EventLog::~EventLog() { ::close(fd_); }

Result<void> EventLog::write(std::string_view batch) {
  std::string repaired;
  if (torn_.exchange(false)) {
    repaired.reserve(batch.size() + 1);
    repaired += '\n';
    repaired += batch;
    batch = repaired;
  }
  const char* p = batch.data();
  size_t left = batch.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      // Only a partial earlier iteration can have left a fragment behind.
      if (left != batch.size()) {
        torn_.store(true);
      }
      healthy_.store(false, std::memory_order_relaxed);
      return makeError("event log " + path_.string() + ": write failed: " + errnoText(err));
    }
    // A short write (disk nearly full, a signal) leaves the rest to a second write(2); another thread may append
    // between the two, which tears this batch's last line. The indexer's checksum catches that line.
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (fsync_ && ::fdatasync(fd_) != 0) {
    const int err = errno;
    healthy_.store(false, std::memory_order_relaxed);
    return makeError("event log " + path_.string() + ": fdatasync failed: " + errnoText(err));
  }
  healthy_.store(true, std::memory_order_relaxed);
  return {};
}

}  // namespace gatehouse::recording
