// The event log and the indexer together: what a gateway writes is what `sessions` and `audit` later list, once,
// even with partial lines, corrupt lines, concurrent writers, concurrent indexers and a killed writer.
#include <gtest/gtest.h>
#include <signal.h>
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
  std::unique_ptr<EventLog> openLog(bool fsync = false) {
    auto log = EventLog::open(recordings(), fsync);
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

TEST_F(EventLogIndexerTest, LogIsANewOwnerOnlyFilePerRun) {
  auto a = openLog();
  auto b = openLog();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->path(), b->path());
  const std::string name = a->path().filename().string();
  EXPECT_TRUE(name.starts_with("events-")) << name;
  EXPECT_TRUE(name.ends_with(".jsonl")) << name;
  EXPECT_NE(name.find("-" + std::to_string(::getpid())), std::string::npos) << name;
  struct stat st {};
  ASSERT_EQ(::stat(a->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(recordings().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(a->healthy());
}

TEST_F(EventLogIndexerTest, WrittenEventsAreIndexedExactlyOnce) {
  auto log = openLog(/*fsync=*/true);
  ASSERT_TRUE(log->write(lines({opened("s1"), started("s1", 1), finished("s1", 1), started("s1", 2)})).ok());
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 4u);
  auto rows = statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "running");
  EXPECT_EQ(rows[1].status, "ok");

  EXPECT_EQ(mustCatchUp(indexer), 0u);
  Indexer fresh(*store_, recordings());  // e.g. a CLI command: nothing in memory, offsets from the store
  EXPECT_EQ(mustCatchUp(fresh), 0u);

  ASSERT_TRUE(log->write(lines({finished("s1", 2), closed("s1")})).ok());
  EXPECT_EQ(mustCatchUp(fresh), 2u);
  rows = statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "ok");
  auto sessions = store_->listSessions({});
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].statements, 2u);
  EXPECT_EQ((*sessions)[0].end_reason, "client closed");
  EXPECT_EQ(*store_->getLogOffset(log->path().filename().string()), std::filesystem::file_size(log->path()));
}

TEST_F(EventLogIndexerTest, ManyEventsAreAppliedInSeveralBatches) {
  auto log = openLog();
  std::string batch;
  appendEvent(opened("big"), batch);
  for (uint64_t i = 1; i <= 1500; ++i) {
    appendEvent(started("big", i), batch);
    appendEvent(finished("big", i), batch);
  }
  ASSERT_TRUE(log->write(batch).ok());
  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 3001u);
  EXPECT_EQ((*store_->listSessions({}))[0].statements, 1500u);
  for (const auto& r : statements()) {
    ASSERT_EQ(r.status, "ok") << r.seq;
  }
}

TEST_F(EventLogIndexerTest, PartialLastLineWaitsUntilItIsComplete) {
  auto log = openLog();
  const std::string first = lines({opened("s1")});
  const std::string second = lines({started("s1", 1)});
  ASSERT_TRUE(log->write(first).ok());
  appendRaw(log->path(), second.substr(0, second.size() / 2));

  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  EXPECT_TRUE(statements().empty());
  EXPECT_EQ(indexer.corruptLines(), 0u);
  EXPECT_EQ(*store_->getLogOffset(log->path().filename().string()), first.size());

  appendRaw(log->path(), second.substr(second.size() / 2));
  EXPECT_EQ(mustCatchUp(indexer), 1u);
  auto rows = statements();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sql, "SELECT 1");
  EXPECT_EQ(indexer.corruptLines(), 0u);
}

TEST_F(EventLogIndexerTest, CorruptLinesAreSkippedCountedOnceAndDoNotStopIndexing) {
  auto log = openLog();
  std::string flipped = lines({started("s1", 2)});
  flipped[flipped.find("SELECT 2")] = 'Z';  // as if a disk or an editor changed one byte
  ASSERT_TRUE(log->write(lines({opened("s1"), started("s1", 1)})).ok());
  appendRaw(log->path(), "this is not an event\n");
  appendRaw(log->path(), flipped);
  appendRaw(log->path(), "\n");  // what EventLog writes after a failed write: ignored, not corrupt
  ASSERT_TRUE(log->write(lines({started("s1", 3)})).ok());

  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 3u);
  EXPECT_EQ(indexer.corruptLines(), 2u);
  auto rows = statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].seq, 3u);
  EXPECT_EQ(rows[1].seq, 1u);

  Indexer again(*store_, recordings());
  EXPECT_EQ(mustCatchUp(again), 0u);
  EXPECT_EQ(again.corruptLines(), 0u);
}

TEST_F(EventLogIndexerTest, ConcurrentWritersFromThreadsAndAnotherProcessKeepLinesWhole) {
  auto log = openLog();
  constexpr int kThreads = 4;
  constexpr uint64_t kPerWriter = 200;
  const auto file = log->path();

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Another process appending to the same file, as a second gateway would if it shared a file name.
    auto other = EventLog::openFile(file, false);
    bool ok = other.ok() && (*other)->write(lines({opened("proc")})).ok();
    for (uint64_t i = 1; ok && i <= kPerWriter; ++i) {
      ok = (*other)->write(lines({started("proc", i), finished("proc", i)})).ok();
    }
    ::_exit(ok ? 0 : 1);
  }

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "thread-" + std::to_string(t);
      ASSERT_TRUE(log->write(lines({opened(id)})).ok());
      for (uint64_t i = 1; i <= kPerWriter; ++i) {
        ASSERT_TRUE(log->write(lines({started(id, i), finished(id, i)})).ok());
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), (kThreads + 1) * (1 + 2 * kPerWriter));
  EXPECT_EQ(indexer.corruptLines(), 0u);
  auto sessions = store_->listSessions({.limit = 0, .user = std::nullopt, .connection = std::nullopt});
  ASSERT_EQ(sessions->size(), static_cast<size_t>(kThreads + 1));
  for (const auto& s : *sessions) {
    EXPECT_EQ(s.statements, kPerWriter) << s.session_id;
  }
  for (const auto& r : statements()) {
    ASSERT_EQ(r.status, "ok") << r.session_id << " " << r.seq;
  }
}

TEST_F(EventLogIndexerTest, RecordsOfAKilledWriterAreStillIndexed) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto log = EventLog::open(recordings(), false);
    if (!log.ok() || !(*log)->write(lines({opened("victim"), started("victim", 1)})).ok()) {
      ::_exit(1);
    }
    // The result of statement 1 would reach the client now; the gateway dies before indexing or closing.
    ::raise(SIGKILL);
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  Indexer indexer(*store_, recordings());
  EXPECT_EQ(mustCatchUp(indexer), 2u);
  auto rows = statements("victim");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sql, "SELECT 1");
  EXPECT_EQ(rows[0].status, "running");
  auto sessions = store_->listSessions({});
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_FALSE((*sessions)[0].ended_at_us.has_value());
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
  ASSERT_TRUE(log->write(lines({opened("s")})).ok());
  for (uint64_t i = 1; i <= kStatements; ++i) {
    ASSERT_TRUE(log->write(lines({started("s", i), finished("s", i)})).ok());
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
  ASSERT_TRUE(log->write(lines({opened("s"), started("s", 1)})).ok());
  for (int i = 0; i < 500 && statements().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(statements().size(), 1u);

  // Written just before shutdown: the loop's last pass must pick it up.
  ASSERT_TRUE(log->write(lines({finished("s", 1), closed("s")})).ok());
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

TEST(EventLog, WriteToAFullDeviceIsAnErrorAndMarksTheLogUnhealthy) {
  if (!std::filesystem::exists("/dev/full")) {
    GTEST_SKIP() << "no /dev/full";
  }
  auto log = EventLog::openFile("/dev/full", false);
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_TRUE((*log)->healthy());
  auto r = (*log)->write(lines({opened("s")}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("No space left"), std::string::npos) << r.error().message;
  EXPECT_FALSE((*log)->healthy());
}

TEST(EventLog, OpeningInAnUnusableDirectoryIsAnError) {
  TempDir dir;
  appendRaw(dir.path() / "file", "x");
  auto log = EventLog::open(dir.path() / "file" / "recordings", false);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().message.find("recordings"), std::string::npos) << log.error().message;
}

}  // namespace
}  // namespace gatehouse::recording
