// Event log indexer; see indexer.h.
#include "recording/indexer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <vector>

#include "recording/events.h"

namespace gatehouse::recording {

namespace {

constexpr size_t kReadChunk = 1 << 20;
constexpr size_t kBatchChanges = 1000;

store::RecordChange toChange(const SessionOpened& e) {
  store::SessionRow row;
  row.session_id = e.session_id;
  row.user = e.user;
  row.connection = e.connection;
  row.client_addr = e.client_addr;
  row.tls = e.tls;
  row.started_at_us = e.started_at_us;
  return row;
}

store::RecordChange toChange(const StatementStarted& e) {
  store::StatementRow row;
  row.session_id = e.session_id;
  row.seq = e.seq;
  row.user = e.user;
  row.connection = e.connection;
  row.client_addr = e.client_addr;
  row.protocol = e.protocol;
  row.sql = e.sql;
  row.started_at_us = e.started_at_us;
  row.status = "running";
  return row;
}

store::RecordChange toChange(const StatementFinished& e) {
  return store::StatementEnd{.session_id = e.session_id, .seq = e.seq, .duration_us = e.duration_us, .tag = e.tag,
                             .sqlstate = e.sqlstate, .error_message = e.error_message, .rows = e.rows};
}

store::RecordChange toChange(const SessionClosed& e) {
  return store::SessionEnd{.session_id = e.session_id, .ended_at_us = e.ended_at_us, .end_reason = e.reason,
                           .bytes_from_client = e.bytes_from_client, .bytes_from_server = e.bytes_from_server};
}

bool isLogName(const std::string& name) { return name.starts_with("events-") && name.ends_with(".jsonl"); }

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<size_t> Indexer::catchUp() {
  std::lock_guard lock(mu_);
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return size_t{0};
    }
    return makeError("cannot read recording directory " + dir_.string() + ": " + ec.message());
  }
  // increment(ec) rather than a range-for, whose ++ throws on a read error.
  for (const std::filesystem::directory_iterator end; it != end;) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && isLogName(it->path().filename().string())) {
      files.push_back(it->path());
    }
    it.increment(ec);
    if (ec) {
      return makeError("cannot read recording directory " + dir_.string() + ": " + ec.message());
    }
  }
  std::sort(files.begin(), files.end());
  size_t applied = 0;
  for (const auto& file : files) {
    auto n = indexFile(file);
    if (!n) {
      return n.error();
    }
    applied += *n;
  }
  return applied;
}

Result<size_t> Indexer::indexFile(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  // Most files (earlier runs, idle gateways) have not grown since the last pass: a stat settles that without
  // opening the file or asking the store.
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return size_t{0};  // removed since the directory was listed
    }
    return makeError("cannot stat event log " + file.string() + ": " + std::strerror(errno));
  }
  if (auto k = known_.find(name); k != known_.end() && k->second == static_cast<uint64_t>(st.st_size)) {
    return size_t{0};
  }
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return makeError("cannot open event log " + file.string() + ": " + std::strerror(errno));
  }
  if (::fstat(fd.get(), &st) != 0) {
    return makeError("cannot stat event log " + file.string() + ": " + std::strerror(errno));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  auto stored = store_.getLogOffset(name);
  if (!stored) {
    return stored.error();
  }
  uint64_t batch_from = *stored;
  if (size < batch_from) {
    spdlog::warn("event log {} is shorter ({} bytes) than its indexed offset {}; was it truncated? skipping it",
                 name, size, batch_from);
    return size_t{0};
  }

  size_t applied = 0;
  std::vector<store::RecordChange> batch;
  uint64_t batch_corrupt = 0;
  std::string buf;              // unconsumed bytes, starting at file offset buf_start
  uint64_t buf_start = batch_from;
  bool conflict = false;

  // Commits the changes read so far up to buf_start; false when another indexer moved the offset first.
  auto flush = [&]() -> Result<bool> {
    if (buf_start == batch_from) {
      return true;
    }
    auto ok = store_.applyLogBatch(name, batch_from, buf_start, batch);
    if (!ok) {
      return makeError("indexing " + name + ": " + ok.error().message);
    }
    if (!*ok) {
      return false;
    }
    applied += batch.size();
    corrupt_lines_.fetch_add(batch_corrupt, std::memory_order_relaxed);
    batch.clear();
    batch_corrupt = 0;
    batch_from = buf_start;
    return true;
  };

  while (!conflict) {
    const size_t old_size = buf.size();
    buf.resize(old_size + kReadChunk);
    const ssize_t n = ::pread(fd.get(), buf.data() + old_size, kReadChunk,
                              static_cast<off_t>(buf_start + old_size));
    if (n < 0) {
      if (errno == EINTR) {
        buf.resize(old_size);
        continue;
      }
      return makeError("cannot read event log " + file.string() + ": " + std::strerror(errno));
    }
    buf.resize(old_size + static_cast<size_t>(n));
    if (n == 0) {
      break;
    }
    size_t consumed = 0;
    for (size_t nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n', consumed)) {
      const std::string_view line(buf.data() + consumed, nl - consumed);
      const uint64_t line_offset = buf_start + consumed;
      consumed = nl + 1;
      if (line.empty()) {
        continue;  // written by EventLog after a failed write, to close a torn line
      }
      auto event = parseEvent(line);
      if (!event) {
        spdlog::warn("event log {}: skipping line at byte {}: {}", name, line_offset, event.error().message);
        ++batch_corrupt;
        continue;
      }
      batch.push_back(std::visit([](const auto& e) { return toChange(e); }, *event));
      if (batch.size() >= kBatchChanges) {
        buf_start += consumed;
        buf.erase(0, consumed);
        consumed = 0;
        auto ok = flush();
        if (!ok) {
          return ok.error();
        }
        if (!*ok) {
          conflict = true;
          break;
        }
      }
    }
    buf.erase(0, consumed);
    buf_start += consumed;
  }
  if (!conflict) {
    auto ok = flush();
    if (!ok) {
      return ok.error();
    }
    conflict = !*ok;
  }
  if (!conflict) {
    known_[name] = batch_from;
  }
  // A conflict is not an error: the next catchUp resumes from wherever the other indexer stopped.
  return applied;
}

void runIndexerLoop(Indexer& indexer, std::stop_token stop, std::chrono::milliseconds period) {
  std::mutex m;
  std::condition_variable_any cv;
  bool failing = false;
  auto pass = [&] {
    auto r = indexer.catchUp();
    if (!r && !failing) {
      spdlog::error("indexer: {} (retrying every {} ms)", r.error().message, period.count());
    } else if (r && failing) {
      spdlog::info("indexer: recovered");
    }
    failing = !r;
  };
  while (!stop.stop_requested()) {
    pass();
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, period, [] { return false; });
  }
  // A pass that was already running when stop came may have missed the last writes; this one starts after.
  pass();
}

}  // namespace gatehouse::recording
