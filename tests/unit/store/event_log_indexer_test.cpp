// The event log and the indexer together: what a gateway writes is what `sessions` and `audit` later list, once,
// even with partial lines, corrupt lines, many writers and segments, concurrent indexers and a killed writer.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <thread>

#include "recording/event_log.h"
#include "recording/events.h"
#include "recording/indexer.h"
#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gatehouse::recording {
namespace {

using testing::TempDir;

SessionOpened opened(const std::string& id) {
  return {.session_id = id, .user = "alice", .connection = "pg-prod", .client_addr = "127.0.0.1:1",
          .started_at_us = 1000, .tls = false};
}

StatementStarted started(const std::string& id, uint64_t seq) {
  return {.session_id = id, .seq = seq, .user = "alice", .connection = "pg-prod", .client_addr = "127.0.0.1:1",
          .protocol = "simple", .sql = "SELECT " + std::to_string(seq), .started_at_us = 1000 + static_cast<int64_t>(seq)};
}

StatementFinished finished(const std::string& id, uint64_t seq) {
  return {.session_id = id, .seq = seq, .duration_us = 10, .tag = "SELECT 1", .sqlstate = "", .error_message = "",
          .rows = 1};
}

SessionClosed closed(const std::string& id) {
  return {.session_id = id, .ended_at_us = 5000, .reason = "client closed", .bytes_from_client = 10,
          .bytes_from_server = 20};
}

std::string lines(std::initializer_list<Event> events) {
  std::string batch;
  for (const auto& e : events) {
    appendEvent(e, batch);
  }
  return batch;
}

void appendRaw(const std::filesystem::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class EventLogIndexerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = openStore();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<store::Store> openStore() {
    auto s = store::openSqliteStore(dir_.path() / "g.db");
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<EventLog> openLog(bool fsync = false, std::string_view stream = "t",
                                    uint64_t segment_bytes = kMinSegmentBytes) {
    auto log = EventLog::open(recordings(), stream, {.segment_bytes = segment_bytes, .fsync = fsync});
    EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error().message);
    return log.ok() ? std::move(*log) : nullptr;
  }
  std::filesystem::path recordings() const { return dir_.path() / "recordings"; }
  std::vector<store::StatementRow> statements(std::optional<std::string> session = std::nullopt) {
    auto r = store_->listStatements({.limit = 0, .session_id = std::move(session), .user = std::nullopt,
                                     .connection = std::nullopt, .since_us = std::nullopt});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<store::StatementRow>{};
  }
  size_t mustCatchUp(Indexer& indexer) {
    auto n = indexer.catchUp();
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message);
    return n.ok() ? *n : 0;
  }

  TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(EventLogIndexerTest, EachLogHasItsOwnOwnerOnlyPreallocatedSegment) {
  auto a = openLog();
  auto b = openLog();  // same stream name, same second: the next free name
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->path(), b->path());
  const std::string name = a->path().filename().string();
  EXPECT_TRUE(name.starts_with("events-")) << name;
  EXPECT_TRUE(name.ends_with(".jsonl")) << name;
  EXPECT_NE(name.find("-" + std::to_string(::getpid()) + "-t-0000"), std::string::npos) << name;
  struct stat st {};
  ASSERT_EQ(::stat(a->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kMinSegmentBytes);  // reserved up front
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, kMinSegmentBytes);
  ASSERT_EQ(::stat(recordings().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(a->healthy());
  EXPECT_FALSE(EventLog::open(recordings(), "W/0").ok());  // stream names become file names
}

TEST_F(EventLogIndexerTest, AFinishedSegmentIsTruncatedToItsEventsAndAnEmptyOneRemoved) {
  const std::string events = lines({opened("s1"), started("s1", 1)});
  std::filesystem::path used;
  std::filesystem::path unused;
  {
    auto log = openLog(false, "used");
    ASSERT_TRUE(log->append(events).ok());
    used = log->path();
    auto empty = openLog(false, "empty");
    unused = empty->path();
    ASSERT_TRUE(std::filesystem::exists(unused));
  }
  EXPECT_EQ(std::filesystem::file_size(used), events.size());
  EXPECT_FALSE(std::filesystem::exists(unused));
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 2u);
}

TEST_F(EventLogIndexerTest, WrittenEventsAreIndexedExactlyOnce) {
  auto log = openLog(/*fsync=*/true);
  ASSERT_TRUE(log->append(lines({opened("s1"), started("s1", 1), finished("s1", 1), started("s1", 2)})).ok());
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 4u);
  auto rows = statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "running");
  EXPECT_EQ(rows[1].status, "ok");

  EXPECT_EQ(mustCatchUp(indexer), 0u);
  Indexer fresh(*store_, recordings());  // e.g. a CLI command: nothing in memory, offsets from the store
  EXPECT_EQ(mustCatchUp(fresh), 0u);

  ASSERT_TRUE(log->append(lines({finished("s1", 2), closed("s1")})).ok());
  EXPECT_EQ(mustCatchUp(fresh), 2u);
  rows = statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "ok");
  auto sessions = store_->listSessions({});
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].statements, 2u);
  EXPECT_EQ((*sessions)[0].end_reason, "client closed");
  const auto file = log->path();
  const uint64_t written = lines({opened("s1"), started("s1", 1), finished("s1", 1), started("s1", 2)}).size() +
                           lines({finished("s1", 2), closed("s1")}).size();
  EXPECT_EQ(*store_->getLogOffset(file.filename().string()), written);
  log.reset();  // finished: truncated to what was written; the offset already says all of it is indexed
  EXPECT_EQ(std::filesystem::file_size(file), written);
  EXPECT_EQ(mustCatchUp(fresh), 0u);
}

TEST_F(EventLogIndexerTest, ManyEventsAreAppliedInSeveralBatches) {
  auto log = openLog();
  std::string batch;
  appendEvent(opened("big"), batch);
  for (uint64_t i = 1; i <= 1500; ++i) {
    appendEvent(started("big", i), batch);
    appendEvent(finished("big", i), batch);
  }
  ASSERT_TRUE(log->append(batch).ok());
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 3001u);
  EXPECT_EQ((*store_->listSessions({}))[0].statements, 1500u);
  for (const auto& r : statements()) {
    ASSERT_EQ(r.status, "ok") << r.seq;
  }
}

TEST_F(EventLogIndexerTest, ALineBeingWrittenWaitsUntilItIsComplete) {
  auto log = openLog();
  const std::string first = lines({opened("s1")});
  const std::string second = lines({started("s1", 1)});
  ASSERT_TRUE(log->append(first).ok());
  ASSERT_TRUE(log->append(second.substr(0, second.size() / 2)).ok());  // as if caught in the middle of the copy

  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  EXPECT_TRUE(statements().empty());
  EXPECT_EQ(indexer.corruptLines(), 0u);
  EXPECT_EQ(*store_->getLogOffset(log->path().filename().string()), first.size());

  ASSERT_TRUE(log->append(second.substr(second.size() / 2)).ok());
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  auto rows = statements();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sql, "SELECT 1");
  EXPECT_EQ(indexer.corruptLines(), 0u);
}

TEST_F(EventLogIndexerTest, ALineWhoseBytesAreNotAllThereYetIsReadAgainLater) {
  // Another core may see the end of a line being copied before its middle: a line that does not check in a live
  // segment is not corrupt yet, only unfinished.
  auto log = openLog();
  const std::string first = lines({opened("s1")});
  std::string second = lines({started("s1", 1)});
  const std::string whole = second;
  second[second.size() / 2] = '\0';
  ASSERT_TRUE(log->append(first + second).ok());
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  EXPECT_EQ(indexer.corruptLines(), 0u);
  EXPECT_EQ(*store_->getLogOffset(log->path().filename().string()), first.size());
}

TEST_F(EventLogIndexerTest, CorruptLinesAreSkippedCountedOnceAndDoNotStopIndexing) {
  std::string flipped = lines({started("s1", 2)});
  flipped[flipped.find("SELECT 2")] = 'Z';  // as if a disk or an editor changed one byte
  auto log = openLog();
  const auto file = log->path();
  ASSERT_TRUE(log->append(lines({opened("s1"), started("s1", 1)})).ok());
  ASSERT_TRUE(log->append("this is not an event\n").ok());
  ASSERT_TRUE(log->append(flipped).ok());
  ASSERT_TRUE(log->append("\n").ok());  // an empty line (an earlier writer's repair of a torn write): ignored
  ASSERT_TRUE(log->append(lines({started("s1", 3)})).ok());

  // While the writer holds the segment, a bad line may be one still being copied in: indexing waits there.
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 2u);
  EXPECT_EQ(indexer.corruptLines(), 0u);

  log.reset();  // finished: now they are corrupt for good
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  EXPECT_EQ(indexer.corruptLines(), 2u);
  auto rows = statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].seq, 3u);
  EXPECT_EQ(rows[1].seq, 1u);
  EXPECT_EQ(*store_->getLogOffset(file.filename().string()), std::filesystem::file_size(file));

  Indexer again(*store_, recordings());
  EXPECT_EQ(mustCatchUp(again), 0u);
  EXPECT_EQ(again.corruptLines(), 0u);
}

TEST_F(EventLogIndexerTest, PlainAppendedFilesAreReadToo) {
  // Logs in the plain appended layout (never locked, no NULs): complete lines indexed, a corrupt one skipped at
  // once, a partial last line left for later.
  std::filesystem::create_directories(recordings());
  const auto file = recordings() / "events-20260101T000000Z-1.jsonl";
  const std::string tail = lines({started("p", 2)});
  appendRaw(file, lines({opened("p"), started("p", 1)}) + "garbage\n" + tail.substr(0, 10));
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 2u);
  EXPECT_EQ(indexer.corruptLines(), 1u);
  appendRaw(file, tail.substr(10));
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  EXPECT_EQ(statements("p").size(), 2u);
}

TEST_F(EventLogIndexerTest, WritersInThreadsAndAnotherProcessEachFillTheirOwnSegments) {
  constexpr int kThreads = 4;
  constexpr uint64_t kPerWriter = 400;  // ~200 KB each: several 64 KiB segments

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto other = EventLog::open(recordings(), "proc", {.segment_bytes = kMinSegmentBytes});
    bool ok = other.ok() && (*other)->append(lines({opened("proc")})).ok();
    for (uint64_t i = 1; ok && i <= kPerWriter; ++i) {
      ok = (*other)->append(lines({started("proc", i), finished("proc", i)})).ok();
    }
    ::_exit(ok && (*other)->segmentsOpened() > 1 ? 0 : 1);
  }

  Indexer indexer(*store_, recordings());
  std::atomic<bool> writing{true};
  size_t applied = 0;
  std::thread reading([&] {
    while (writing.load()) {
      applied += mustCatchUp(indexer);  // reads segments while they are written, finished and replaced
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "thread-" + std::to_string(t);
      auto log = EventLog::open(recordings(), "w" + std::to_string(t), {.segment_bytes = kMinSegmentBytes});
      ASSERT_TRUE(log.ok()) << log.error().message;
      ASSERT_TRUE((*log)->append(lines({opened(id)})).ok());
      for (uint64_t i = 1; i <= kPerWriter; ++i) {
        ASSERT_TRUE((*log)->append(lines({started(id, i), finished(id, i)})).ok());
      }
      EXPECT_GT((*log)->segmentsOpened(), 1u);
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  writing = false;
  reading.join();
  applied += mustCatchUp(indexer);

  EXPECT_EQ(applied, (kThreads + 1) * (1 + 2 * kPerWriter));
  EXPECT_EQ(indexer.corruptLines(), 0u);
  auto sessions = store_->listSessions({.limit = 0, .user = std::nullopt, .connection = std::nullopt});
  ASSERT_EQ(sessions->size(), static_cast<size_t>(kThreads + 1));
  for (const auto& s : *sessions) {
    EXPECT_EQ(s.statements, kPerWriter) << s.session_id;
  }
  for (const auto& r : statements()) {
    ASSERT_EQ(r.status, "ok") << r.session_id << " " << r.seq;
  }
  // Every segment was finished: truncated to its events, and fully indexed.
  for (const auto& entry : std::filesystem::directory_iterator(recordings())) {
    const auto name = entry.path().filename().string();
    EXPECT_EQ(*store_->getLogOffset(name), entry.file_size()) << name;
  }
}

TEST_F(EventLogIndexerTest, AnEventLargerThanASegmentGetsASegmentOfItsOwn) {
  auto log = openLog();
  ASSERT_TRUE(log->append(lines({opened("big")})).ok());
  StatementStarted huge = started("big", 1);
  huge.sql = "SELECT '" + std::string(3 * kMinSegmentBytes, 'x') + "'";
  ASSERT_TRUE(log->append(lines({huge})).ok());
  EXPECT_EQ(log->segmentsOpened(), 2u);
  EXPECT_GE(std::filesystem::file_size(log->path()), huge.sql.size());
  ASSERT_TRUE(log->append(lines({finished("big", 1)})).ok());
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 3u);
  auto rows = statements("big");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sql.size(), huge.sql.size());
  EXPECT_EQ(rows[0].status, "ok");
}

TEST_F(EventLogIndexerTest, RecordsOfAKilledWriterAreStillIndexed) {
  const std::string torn = lines({started("victim", 2)});
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto log = EventLog::open(recordings(), "w0");
    if (!log.ok() || !(*log)->append(lines({opened("victim"), started("victim", 1)})).ok()) {
      ::_exit(1);
    }
    // The result of statement 1 would reach the client now. Then the gateway dies while copying statement 2's
    // start (whose statement therefore never went on), before indexing or closing anything.
    if (!(*log)->append(torn.substr(0, torn.size() / 2)).ok()) {
      ::_exit(1);
    }
    ::raise(SIGKILL);
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 2u);
  EXPECT_EQ(indexer.corruptLines(), 1u);  // the torn line
  auto rows = statements("victim");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sql, "SELECT 1");
  EXPECT_EQ(rows[0].status, "running");
  auto sessions = store_->listSessions({});
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_FALSE((*sessions)[0].ended_at_us.has_value());
  // The dead writer's segment, NUL tail included, is consumed: nothing is read or counted again.
  for (const auto& entry : std::filesystem::directory_iterator(recordings())) {
    EXPECT_EQ(*store_->getLogOffset(entry.path().filename().string()), entry.file_size());
  }
  Indexer again(*store_, recordings());
  EXPECT_EQ(mustCatchUp(again), 0u);
  EXPECT_EQ(again.corruptLines(), 0u);
}

TEST_F(EventLogIndexerTest, TwoIndexersOnSeparateConnectionsApplyEachEventOnce) {
  auto log = openLog();
  auto other_store = openStore();
  Indexer a(*store_, recordings());
  Indexer b(*other_store, recordings());
  constexpr uint64_t kStatements = 300;
  std::atomic<bool> writing{true};
  std::atomic<size_t> applied{0};
  auto index = [&](Indexer& idx) {
    do {
      auto n = idx.catchUp();
      ASSERT_TRUE(n.ok()) << n.error().message;
      applied += *n;
    } while (writing.load());
    auto n = idx.catchUp();
    ASSERT_TRUE(n.ok());
    applied += *n;
  };
  std::thread ta(index, std::ref(a));
  std::thread tb(index, std::ref(b));
  ASSERT_TRUE(log->append(lines({opened("s")})).ok());
  for (uint64_t i = 1; i <= kStatements; ++i) {
    ASSERT_TRUE(log->append(lines({started("s", i), finished("s", i)})).ok());
  }
  writing = false;
  ta.join();
  tb.join();
  EXPECT_EQ(applied.load(), 1 + 2 * kStatements);
  EXPECT_EQ((*store_->listSessions({}))[0].statements, kStatements);
}

TEST_F(EventLogIndexerTest, BackgroundLoopIndexesAndFinishesOnStop) {
  auto log = openLog();
  Indexer indexer(*store_, recordings());
  std::jthread loop([&](std::stop_token stop) { runIndexerLoop(indexer, stop, std::chrono::milliseconds(20)); });
  ASSERT_TRUE(log->append(lines({opened("s"), started("s", 1)})).ok());
  for (int i = 0; i < 500 && statements().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(statements().size(), 1u);

  // Written just before shutdown: the loop's last pass must pick it up.
  ASSERT_TRUE(log->append(lines({finished("s", 1), closed("s")})).ok());
  loop.request_stop();
  loop.join();
  EXPECT_EQ(statements()[0].status, "ok");
  EXPECT_TRUE((*store_->listSessions({}))[0].ended_at_us.has_value());
}

TEST_F(EventLogIndexerTest, MissingDirectoryHoldsNoEvents) {
  Indexer indexer(*store_, dir_.path() / "never-created");
  EXPECT_EQ(mustCatchUp(indexer), 0u);
}

TEST_F(EventLogIndexerTest, FilesThatAreNotLogsAreIgnored) {
  std::filesystem::create_directories(recordings());
  appendRaw(recordings() / "notes.txt", "hello\n");
  appendRaw(recordings() / "events-x.jsonl.tmp", lines({opened("s")}));
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 0u);
  EXPECT_EQ(indexer.corruptLines(), 0u);
}

// No room for a segment: opening fails, and an append that needs a new segment which cannot be allocated fails and
// marks the log unhealthy (the gateway then refuses statements) until one can. The file size limit (RLIMIT_FSIZE)
// stands in for a full disk, in a child process so that the limit stays there; a real full disk is in the
// integration tests (recording_fault_test).
TEST(EventLog, NoRoomForASegmentIsAnErrorAndMarksTheLogUnhealthy) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{.rlim_cur = kMinSegmentBytes, .rlim_max = RLIM_INFINITY};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    auto too_big = EventLog::open(dir.path(), "big", {.segment_bytes = 2 * kMinSegmentBytes});
    if (too_big.ok() || too_big.error().message.find("cannot allocate") == std::string::npos) ::_exit(11);
    auto log = EventLog::open(dir.path(), "w0", {.segment_bytes = kMinSegmentBytes});
    if (!log.ok()) ::_exit(12);
    if (!(*log)->append(lines({opened("s")})).ok()) ::_exit(13);
    StatementStarted large = started("s", 1);
    large.sql.assign(kMinSegmentBytes + 1, 'x');  // needs a larger segment, which the limit forbids
    auto r = (*log)->append(lines({large}));
    if (r.ok() || r.error().message.find("File too large") == std::string::npos) ::_exit(14);
    if ((*log)->healthy()) ::_exit(15);
    if (!(*log)->append(lines({started("s", 2)})).ok() || !(*log)->healthy()) ::_exit(16);  // room again
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step that failed: " << WEXITSTATUS(status);
}

TEST(EventLog, OpeningInAnUnusableDirectoryIsAnError) {
  TempDir dir;
  appendRaw(dir.path() / "file", "x");
  auto log = EventLog::open(dir.path() / "file" / "recordings", "w0");
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().message.find("recordings"), std::string::npos) << log.error().message;
}

}  // namespace
}  // namespace gatehouse::recording
