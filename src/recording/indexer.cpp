// Event log indexer; see indexer.h.
#include "recording/indexer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <span>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "recording/event_log.h"
#include "recording/event_reader.h"

namespace gatehouse::recording {

namespace {

constexpr size_t kReadChunk = 1 << 20;
// Changes per transaction, and log bytes per transaction (a bound on memory when statements are large). A
// transaction costs a commit (WAL frames for every page it dirtied, the offset row): larger batches rewrite the
// pages that every statement touches (the indexes' rightmost leaves) less often. The write lock is held for
// the batch, a few tens of milliseconds at most, which `gatehouse token` and other writers wait out.
constexpr size_t kBatchChanges = 8192;
constexpr size_t kBatchBytes = 16 << 20;

// The changes one batch applies, built from events as they are read. A statement whose start and end are both in
// the batch becomes one row written once, complete, instead of an insert then an update.
class Batch {
 public:
  Batch() {
    changes_.reserve(kBatchChanges);
    started_.reserve(kBatchChanges);
  }

  // Adds the change `e` makes. Its strings are copied once, into the change (a merged end copies none of its
  // session id).
  void add(const EventFields& e, size_t line_bytes) {
    ++events_;
    bytes_ += line_bytes;
    switch (e.type) {
      case EventType::kSessionOpened: return addSessionOpened(e);
      case EventType::kStatementStarted: return addStatementStarted(e);
      case EventType::kStatementFinished: return addStatementFinished(e);
      case EventType::kSessionClosed: return addSessionClosed(e);
      case EventType::kValuesMasked: return addValuesMasked(e);
    }
  }

  bool full() const { return changes_.size() >= kBatchChanges || bytes_ >= kBatchBytes; }
  std::span<const store::RecordChange> changes() const { return changes_; }
  size_t events() const { return events_; }

  void clear() {
    started_.clear();
    changes_.clear();
    events_ = 0;
    bytes_ = 0;
  }

 private:
  // A statement's identity. The session id points into the StatementRow in changes_, which never moves: changes_
  // has its full capacity reserved and is never grown past it.
  struct Key {
    std::string_view session_id;
    uint64_t seq;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<std::string_view>()(k.session_id) ^ k.seq; }
  };

  // A new change of type T, built in place.
  template <class T>
  T& push() {
    assert(changes_.size() < changes_.capacity());
    return std::get<T>(changes_.emplace_back(std::in_place_type<T>));
  }

  void addSessionOpened(const EventFields& e) {
    auto& row = push<store::SessionRow>();
    row.session_id = e.session_id;
    row.user = e.user;
    row.connection = e.connection;
    row.client_addr = e.client_addr;
    row.tls = e.tls;
    row.started_at_us = e.started_at_us;
  }

  void addStatementStarted(const EventFields& e) {
    auto& row = push<store::StatementRow>();
    row.session_id = e.session_id;
    row.seq = e.seq;
    row.user = e.user;
    row.connection = e.connection;
    row.client_addr = e.client_addr;
    row.protocol = e.protocol;
    row.sql = e.sql;
    row.started_at_us = e.started_at_us;
    row.status = store::kStatementRunning;
    // A repeated start (a replayed line) keeps the first: the store ignores the second insert.
    started_.try_emplace(Key{row.session_id, row.seq}, changes_.size() - 1);
  }

  void addStatementFinished(const EventFields& e) {
    if (auto it = started_.find(Key{e.session_id, e.seq}); it != started_.end()) {
      // Nothing between the start and here changes this row: the end can be written with the start. A second end
      // (a replayed line) overwrites the first, as a second update would.
      auto& row = std::get<store::StatementRow>(changes_[it->second]);
      row.duration_us = e.duration_us;
      row.tag = e.tag;
      row.sqlstate = e.sqlstate;
      row.error_message = e.error_message;
      row.rows = e.rows;
      row.status = store::statementStatus(e.sqlstate, e.error_message);
      return;
    }
    // Its start was applied by an earlier batch (or never logged): update the row.
    auto& end = push<store::StatementEnd>();
    end.session_id = e.session_id;
    end.seq = e.seq;
    end.duration_us = e.duration_us;
    end.tag = e.tag;
    end.sqlstate = e.sqlstate;
    end.error_message = e.error_message;
    end.rows = e.rows;
  }

  void addSessionClosed(const EventFields& e) {
    auto& end = push<store::SessionEnd>();
    end.session_id = e.session_id;
    end.ended_at_us = e.ended_at_us;
    end.end_reason = e.reason;
    end.bytes_from_client = e.bytes_from_client;
    end.bytes_from_server = e.bytes_from_server;
  }

  void addValuesMasked(const EventFields& e) {
    auto& masked = push<store::MaskedValues>();
    masked.session_id = e.session_id;
    masked.seq = e.seq;
    masked.counts.reserve(e.counts.size());
    for (const auto& c : e.counts) {
      masked.counts.push_back({.rule = std::string(c.rule), .column = std::string(c.column), .count = c.count});
    }
  }

  std::vector<store::RecordChange> changes_;
  std::unordered_map<Key, size_t, KeyHash> started_;  // statements started in this batch -> index in changes_
  size_t events_ = 0;
  size_t bytes_ = 0;
};

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
  // Most files (earlier runs, finished segments) have not changed since the last pass: a stat settles that
  // without opening the file or asking the store.
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
    if (errno == ENOENT) {
      return size_t{0};  // an empty segment, removed when its writer finished it
    }
    return makeError("cannot open event log " + file.string() + ": " + std::strerror(errno));
  }
  if (::fstat(fd.get(), &st) != 0) {
    return makeError("cannot stat event log " + file.string() + ": " + std::strerror(errno));
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
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
  Batch batch;
  uint64_t batch_corrupt = 0;
  EventReader reader;
  EventFields event;
  std::string buf(kReadChunk, '\0');  // buf[0, filled) holds unconsumed bytes from file offset buf_start
  size_t filled = 0;
  uint64_t buf_start = batch_from;
  bool conflict = false;
  // A segment still being written (its writer holds its lock) is read up to what is certainly complete: the first
  // NUL (not yet written) or the first line that does not check (still being copied in), and again on a later
  // pass. A finished one — closed cleanly, or left by a writer that died — is read to its end, NULs skipped, lines
  // that do not check counted as corrupt. Which one a file is, is asked only when reading meets such a place.
  bool finished = false;
  bool stop = false;

  // Commits the batch, which ends at file offset `to`; false when another indexer moved the offset first.
  auto flush = [&](uint64_t to) -> Result<bool> {
    if (to == batch_from) {
      return true;
    }
    auto ok = store_.applyLogBatch(name, batch_from, to, batch.changes());
    if (!ok) {
      return makeError("indexing " + name + ": " + ok.error().message);
    }
    if (!*ok) {
      return false;
    }
    applied += batch.events();
    corrupt_lines_.fetch_add(batch_corrupt, std::memory_order_relaxed);
    batch.clear();
    batch_corrupt = 0;
    batch_from = to;
    return true;
  };
  // At a place that only a finished segment may have (a NUL, a line that does not check): whether to stop here
  // (the writer is still at it), go on (finished), or read again from here (just found finished: its writer may
  // have appended and truncated it since it was read).
  enum class Next { kStop, kGoOn, kReread };
  auto atSuspectPlace = [&]() -> Result<Next> {
    if (finished) {
      return Next::kGoOn;
    }
    auto live = segmentIsLive(fd.get());
    if (!live) {
      return makeError("event log " + file.string() + ": " + live.error().message);
    }
    if (*live) {
      return Next::kStop;
    }
    finished = true;
    if (::fstat(fd.get(), &st) != 0) {
      return makeError("cannot stat event log " + file.string() + ": " + std::strerror(errno));
    }
    size = static_cast<uint64_t>(st.st_size);
    return Next::kReread;
  };

  while (!conflict && !stop) {
    if (filled == buf.size()) {
      buf.resize(buf.size() * 2);  // a line longer than the buffer
    }
    const ssize_t n =
        ::pread(fd.get(), buf.data() + filled, buf.size() - filled, static_cast<off_t>(buf_start + filled));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return makeError("cannot read event log " + file.string() + ": " + std::strerror(errno));
    }
    if (n == 0) {
      break;
    }
    filled += static_cast<size_t>(n);
    const std::string_view data(buf.data(), filled);
    size_t consumed = 0;
    bool reread = false;
    while (consumed < data.size()) {
      const size_t nl = data.find('\n', consumed);
      const std::string_view line = data.substr(consumed, (nl == std::string_view::npos ? data.size() : nl) - consumed);
      const size_t nul = line.find('\0');  // bytes not written (yet), in a segment
      if (nl == std::string_view::npos && nul == std::string_view::npos) {
        break;  // a partial line: more to read
      }
      if (line.empty()) {
        consumed = nl + 1;
        continue;  // written by an earlier log writer after a failed write, to close a torn line
      }
      Result<void> ok = nul == std::string_view::npos ? reader.readFields(line, event) : makeError("NUL bytes");
      if (!ok) {
        auto next = atSuspectPlace();
        if (!next) {
          return next.error();
        }
        if (*next == Next::kStop) {
          stop = true;
          break;
        }
        if (*next == Next::kReread) {
          reread = true;
          break;
        }
        if (nul == 0) {
          const size_t past = data.find_first_not_of('\0', consumed);  // a NUL tail (or a page lost to a crash)
          consumed = past == std::string_view::npos ? data.size() : past;
          continue;
        }
        const size_t bad = nul == std::string_view::npos ? line.size() + 1 : nul;
        spdlog::warn("event log {}: skipping {} bytes at byte {}: {}", name, bad, buf_start + consumed,
                     nul == std::string_view::npos ? ok.error().message : "a torn line");
        ++batch_corrupt;
        consumed += bad;
        continue;
      }
      consumed = nl + 1;
      batch.add(event, line.size() + 1);
      if (batch.full()) {
        auto flushed = flush(buf_start + consumed);
        if (!flushed) {
          return flushed.error();
        }
        if (!*flushed) {
          conflict = true;
          break;
        }
      }
    }
    if (reread) {
      filled = consumed;  // drop what was read after this place; read it again as the file is now
    }
    // Keep the unread rest (a partial line), at the front.
    std::memmove(buf.data(), buf.data() + consumed, filled - consumed);
    filled -= consumed;
    buf_start += consumed;
  }
  if (!conflict) {
    // A finished segment's NUL tail was consumed with it, so later passes skip it at the stat. A partial last line
    // without NULs can only be a plain appended file's line still being written: it waits, as before.
    auto ok = flush(buf_start);
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
