// The indexer writes a statement whose start and finish it reads in one batch as one complete row, and counts a
// session's statements once per batch. These tests check that the store ends up exactly as applying every event
// on its own would leave it: finishes in later batches, starts without finishes, replayed lines and files.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>

#include "recording/events.h"
#include "recording/indexer.h"
#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gatehouse::recording {
namespace {

using testing::TempDir;

SessionOpened opened(const std::string& id) {
  return {.session_id = id, .user = "alice", .connection = "pg-prod", .client_addr = "127.0.0.1:1",
          .started_at_us = 1000, .tls = true};
}

StatementStarted started(const std::string& id, uint64_t seq) {
  return {.session_id = id, .seq = seq, .user = "alice", .connection = "pg-prod", .client_addr = "127.0.0.1:1",
          .protocol = "simple", .sql = "SELECT " + std::to_string(seq),
          .started_at_us = 1000 + static_cast<int64_t>(seq)};
}

StatementFinished finished(const std::string& id, uint64_t seq) {
  return {.session_id = id, .seq = seq, .duration_us = 10 + static_cast<int64_t>(seq), .tag = "SELECT 1",
          .sqlstate = "", .error_message = "", .rows = 1};
}

StatementFinished failed(const std::string& id, uint64_t seq) {
  return {.session_id = id, .seq = seq, .duration_us = 7, .tag = "", .sqlstate = "42P01",
          .error_message = "relation \"nope\" does not exist", .rows = 0};
}

SessionClosed closed(const std::string& id) {
  return {.session_id = id, .ended_at_us = 5000, .reason = "client closed", .bytes_from_client = 10,
          .bytes_from_server = 20};
}

ValuesMasked masked(const std::string& id, uint64_t seq, uint64_t emails, uint64_t phones = 0) {
  ValuesMasked e{.session_id = id, .seq = seq, .counts = {{.rule = "contact", .column = "email", .count = emails}}};
  if (phones > 0) e.counts.push_back({.rule = "contact", .column = "phone", .count = phones});
  return e;
}

std::string lines(std::initializer_list<Event> events) {
  std::string batch;
  for (const auto& e : events) {
    appendEvent(e, batch);
  }
  return batch;
}

// Runs one statement on the store's file through its own connection, failing the test on an error.
void exec(const std::filesystem::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

int64_t scalar(const std::filesystem::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// A store and a recording directory; the store's file counts, with triggers, the statement rows the indexer
// updates after inserting them, which is how a test tells a merged row from an insert followed by an update.
class Recording {
 public:
  explicit Recording(const std::filesystem::path& dir) : dir_(dir), store_(open(db())), indexer_(*store_, recordings()) {
    exec(db(),
         "CREATE TABLE statement_updates (n INTEGER);"
         "CREATE TRIGGER count_statement_updates AFTER UPDATE ON statements "
         "BEGIN INSERT INTO statement_updates VALUES (1); END;");
    std::filesystem::create_directories(recordings());
  }

  std::filesystem::path db() const { return dir_ / "g.db"; }
  std::filesystem::path recordings() const { return dir_ / "recordings"; }
  store::Store& store() { return *store_; }

  void append(const std::string& file, std::string_view bytes) {
    std::ofstream out(recordings() / file, std::ios::binary | std::ios::app);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  size_t catchUp() {
    auto n = indexer_.catchUp();
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message);
    return n.ok() ? *n : 0;
  }

  int64_t statementUpdates() const { return scalar(db(), "SELECT COUNT(*) FROM statement_updates"); }

  std::vector<store::StatementRow> statements() {
    auto r = store_->listStatements({.limit = 0, .session_id = std::nullopt, .user = std::nullopt,
                                     .connection = std::nullopt, .since_us = std::nullopt});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<store::StatementRow>{};
  }

  std::vector<store::SessionRow> sessions() {
    auto r = store_->listSessions({.limit = 0, .user = std::nullopt, .connection = std::nullopt});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<store::SessionRow>{};
  }

 private:
  static std::unique_ptr<store::Store> open(const std::filesystem::path& path) {
    auto s = store::openSqliteStore(path);
    if (!s.ok()) {
      ADD_FAILURE() << s.error().message;
      std::abort();  // every test needs the store
    }
    return std::move(*s);
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  Indexer indexer_;
};

constexpr const char* kLog = "events-a.jsonl";

TEST(IndexerMerge, StartAndFinishInOneBatchWriteOneCompleteRow) {
  TempDir dir;
  Recording rec(dir.path());
  rec.append(kLog, lines({opened("s"), started("s", 1), failed("s", 1), started("s", 2), finished("s", 2)}));
  EXPECT_EQ(rec.catchUp(), 5u);

  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 2u);
  const auto& error = rows[1];
  EXPECT_EQ(error.seq, 1u);
  EXPECT_EQ(error.status, "error");
  EXPECT_EQ(error.sqlstate, "42P01");
  EXPECT_EQ(error.error_message, "relation \"nope\" does not exist");
  EXPECT_EQ(error.duration_us, 7);
  EXPECT_EQ(error.sql, "SELECT 1");
  const auto& ok = rows[0];
  EXPECT_EQ(ok.status, "ok");
  EXPECT_EQ(ok.tag, "SELECT 1");
  EXPECT_EQ(ok.rows, 1);
  EXPECT_EQ(ok.duration_us, 12);
  EXPECT_EQ(rec.statementUpdates(), 0) << "each row is written once, complete";
  EXPECT_EQ(rec.sessions()[0].statements, 2u);
}

TEST(IndexerMerge, FinishInALaterBatchUpdatesTheRow) {
  TempDir dir;
  Recording rec(dir.path());
  rec.append(kLog, lines({opened("s"), started("s", 1)}));
  EXPECT_EQ(rec.catchUp(), 2u);
  ASSERT_EQ(rec.statements()[0].status, "running");

  rec.append(kLog, lines({failed("s", 1), closed("s")}));
  EXPECT_EQ(rec.catchUp(), 2u);
  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "error");
  EXPECT_EQ(rows[0].sqlstate, "42P01");
  EXPECT_EQ(rows[0].duration_us, 7);
  EXPECT_EQ(rec.statementUpdates(), 1);
  auto sessions = rec.sessions();
  EXPECT_EQ(sessions[0].statements, 1u);
  EXPECT_EQ(sessions[0].end_reason, "client closed");
}

TEST(IndexerMerge, StartWithoutFinishStaysRunningWithNothingOfAnEnd) {
  TempDir dir;
  Recording rec(dir.path());
  rec.append(kLog, lines({opened("s"), started("s", 1), started("s", 2), finished("s", 1)}));
  EXPECT_EQ(rec.catchUp(), 4u);
  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].seq, 2u);
  EXPECT_EQ(rows[0].status, "running");
  EXPECT_EQ(rows[0].duration_us, 0);
  EXPECT_EQ(rows[0].tag, "");
  EXPECT_EQ(rows[0].rows, 0);
  EXPECT_EQ(rows[1].status, "ok");
  EXPECT_EQ(rec.sessions()[0].statements, 2u);
}

TEST(IndexerMerge, ReplayedLinesInOneBatchNeitherDuplicateNorRecount) {
  TempDir dir;
  Recording rec(dir.path());
  const std::string events = lines({opened("s"), started("s", 1), finished("s", 1), started("s", 2)});
  rec.append(kLog, events + events + lines({failed("s", 2)}));
  EXPECT_EQ(rec.catchUp(), 9u);
  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "error");  // the one finish of statement 2 reached its first start
  EXPECT_EQ(rows[1].status, "ok");
  EXPECT_EQ(rec.sessions()[0].statements, 2u);
}

TEST(IndexerMerge, ReplayedFileCompletesARunningRowAndCountsNothingTwice) {
  TempDir dir;
  Recording rec(dir.path());
  rec.append(kLog, lines({opened("s"), started("s", 1), started("s", 2)}));
  EXPECT_EQ(rec.catchUp(), 3u);
  // Another file holding the same session again, this time with the ends (as a restored copy of a log would):
  // its starts find their rows already there, and their ends must still land.
  rec.append("events-b.jsonl", lines({opened("s"), started("s", 1), finished("s", 1), started("s", 2),
                                      failed("s", 2), closed("s")}));
  EXPECT_EQ(rec.catchUp(), 6u);
  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "error");
  EXPECT_EQ(rows[0].sqlstate, "42P01");
  EXPECT_EQ(rows[1].status, "ok");
  EXPECT_EQ(rows[1].duration_us, 11);
  auto sessions = rec.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].statements, 2u);
  EXPECT_EQ(sessions[0].end_reason, "client closed");
}

TEST(IndexerMerge, BatchBoundariesBetweenStartsAndFinishesLoseNothing) {
  TempDir dir;
  Recording rec(dir.path());
  constexpr uint64_t kStatements = 5000;  // 10,000 rows: more than one batch holds
  std::string log = lines({opened("a"), opened("b")});
  for (uint64_t i = 1; i <= kStatements; ++i) {
    appendEvent(started("a", i), log);
    appendEvent(started("b", i), log);
    appendEvent(finished("a", i), log);
    appendEvent(i % 100 == 0 ? Event(failed("b", i)) : Event(finished("b", i)), log);
  }
  rec.append(kLog, log);
  EXPECT_EQ(rec.catchUp(), 2 + 4 * kStatements);
  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 2 * kStatements);
  for (const auto& r : rows) {
    const bool error = r.session_id == "b" && r.seq % 100 == 0;
    ASSERT_EQ(r.status, error ? "error" : "ok") << r.session_id << " " << r.seq;
    ASSERT_EQ(r.duration_us, error ? 7 : 10 + static_cast<int64_t>(r.seq)) << r.session_id << " " << r.seq;
  }
  for (const auto& s : rec.sessions()) {
    EXPECT_EQ(s.statements, kStatements) << s.session_id;
  }
  // Almost every row was written complete; only ends cut off from their starts by a batch boundary (there is
  // one: a batch closes right after a start) update their row.
  EXPECT_GE(rec.statementUpdates(), 1);
  EXPECT_LT(rec.statementUpdates(), 10);
}

TEST(IndexerMerge, MaskedCountsAreStoredPerStatementAndOnceWhenReplayed) {
  TempDir dir;
  Recording rec(dir.path());
  const std::string events = lines({opened("s"), started("s", 1), masked("s", 1, 3, 2), finished("s", 1),
                                    started("s", 2), finished("s", 2), masked("s", 0, 4)});
  rec.append(kLog, events + events);  // the same lines twice in one batch
  EXPECT_EQ(rec.catchUp(), 14u);
  rec.append("events-b.jsonl", events);  // and again in another file, another batch
  EXPECT_EQ(rec.catchUp(), 7u);

  const std::vector<store::MaskedCount> first = {{.rule = "contact", .column = "email", .count = 3},
                                                 {.rule = "contact", .column = "phone", .count = 2}};
  auto rows = rec.statements();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].masked.empty()) << "statement 2 masked nothing";
  EXPECT_EQ(rows[1].masked, first);
  // The session's totals include what no one statement masked (seq 0).
  auto sessions = rec.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].masked, (std::vector<store::MaskedCount>{{.rule = "contact", .column = "email", .count = 7},
                                                                 {.rule = "contact", .column = "phone", .count = 2}}));
  EXPECT_EQ(sessions[0].statements, 2u);

  // A later event is the statement's total so far: it replaces the count, whatever batch it is in.
  rec.append(kLog, lines({masked("s", 1, 5)}));
  EXPECT_EQ(rec.catchUp(), 1u);
  EXPECT_EQ(rec.statements()[1].masked[0].count, 5u);
  EXPECT_EQ(rec.statements()[1].masked[1].count, 2u);
}

// The same log, indexed in one pass (starts and finishes merged) and one line per pass (never merged), leaves the
// same rows behind.
TEST(IndexerMerge, MergedAndEventByEventIndexingLeaveTheSameStore) {
  const std::vector<Event> events = {
      opened("s1"),       started("s1", 1), opened("s2"),      started("s2", 1),  finished("s1", 1),
      started("s1", 2),   failed("s2", 1),  started("s2", 2),  finished("s1", 2), started("s1", 3),
      started("s1", 1),   finished("s1", 1), finished("s2", 2), closed("s2"),      started("s3", 1),
      opened("s3"),       started("s3", 2), finished("s3", 1), finished("s3", 2), finished("s1", 9),
      masked("s1", 1, 2), masked("s2", 2, 1, 1), masked("s1", 1, 3), masked("s3", 0, 4),
  };
  TempDir merged_dir;
  Recording merged(merged_dir.path());
  std::string all;
  for (const auto& e : events) {
    appendEvent(e, all);
  }
  merged.append(kLog, all);
  EXPECT_EQ(merged.catchUp(), events.size());

  TempDir single_dir;
  Recording single(single_dir.path());
  for (const auto& e : events) {
    std::string line;
    appendEvent(e, line);
    single.append(kLog, line);
    EXPECT_EQ(single.catchUp(), 1u);
  }

  const auto rows = merged.statements();
  EXPECT_EQ(rows.size(), 7u);
  EXPECT_EQ(std::count_if(rows.begin(), rows.end(), [](const auto& r) { return !r.masked.empty(); }), 2);
  EXPECT_EQ(rows, single.statements());
  EXPECT_EQ(merged.sessions(), single.sessions());
  EXPECT_LT(merged.statementUpdates(), single.statementUpdates());
}

}  // namespace
}  // namespace gatehouse::recording
