// The SQLite store: migrations, tokens, batches with their offsets, listing filters, several connections.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace gatehouse::store {
namespace {

using testing::TempDir;

std::unique_ptr<Store> mustOpen(const std::filesystem::path& p) {
  auto s = openSqliteStore(p);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(*s) : nullptr;
}

// Reads one integer with the plain SQLite API, to check what is on disk independently of the store.
int64_t scalar(const std::filesystem::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
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

void execRaw(const std::filesystem::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

SessionRow session(std::string id, std::string user, std::string conn, int64_t start) {
  SessionRow s;
  s.session_id = std::move(id);
  s.user = std::move(user);
  s.connection = std::move(conn);
  s.client_addr = "127.0.0.1:5000";
  s.started_at_us = start;
  return s;
}

StatementRow statement(const SessionRow& s, uint64_t seq, std::string sql, int64_t start) {
  StatementRow r;
  r.session_id = s.session_id;
  r.seq = seq;
  r.user = s.user;
  r.connection = s.connection;
  r.client_addr = s.client_addr;
  r.protocol = "simple";
  r.sql = std::move(sql);
  r.started_at_us = start;
  r.status = "running";
  return r;
}

TEST(SqliteStore, MigratesFreshFileToCurrentVersionOwnerOnlyAndInWalMode) {
  TempDir dir;
  const auto path = dir.path() / "sub" / "gatehouse.db";
  {
    auto s = mustOpen(path);
    ASSERT_NE(s, nullptr);
  }
  EXPECT_EQ(scalar(path, "SELECT MAX(version) FROM schema_version"), sqliteSchemaVersion());
  EXPECT_EQ(scalar(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                         "('tokens', 'sessions', 'statements', 'log_offsets', 'masked_values')"),
            5);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // WAL is a property of the file, so a plain connection sees it too.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)), "wal");
  sqlite3_finalize(q);
  sqlite3_close(db);
}

TEST(SqliteStore, ReopeningKeepsDataAndDoesNotReapplyMigrations) {
  TempDir dir;
  const auto path = dir.path() / "g.db";
  {
    auto s = mustOpen(path);
    ASSERT_TRUE(s->createToken("alice", {"dba"}, "hash1").ok());
  }
  auto s = mustOpen(path);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(scalar(path, "SELECT COUNT(*) FROM schema_version"), sqliteSchemaVersion());
  auto tokens = s->listTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].user, "alice");
}

TEST(SqliteStore, RefusesASchemaNewerThanItKnows) {
  TempDir dir;
  const auto path = dir.path() / "g.db";
  { ASSERT_NE(mustOpen(path), nullptr); }
  execRaw(path, "INSERT INTO schema_version (version, applied_at_us) VALUES (999, 0)");
  auto s = openSqliteStore(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("newer"), std::string::npos) << s.error().message;
}

TEST(SqliteStore, OpenFailsWithAClearErrorWhenThePathIsADirectory) {
  TempDir dir;
  auto s = openSqliteStore(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(dir.path().string()), std::string::npos) << s.error().message;
}

TEST(SqliteStore, ManyConnectionsCanOpenAFreshFileAtOnce) {
  TempDir dir;
  const auto path = dir.path() / "g.db";
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto s = openSqliteStore(path);
      ASSERT_TRUE(s.ok()) << s.error().message;
      auto token = (*s)->createToken("u" + std::to_string(i), {}, "h" + std::to_string(i));
      ASSERT_TRUE(token.ok()) << token.error().message;
      ++opened;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(opened.load(), 6);
  EXPECT_EQ(scalar(path, "SELECT COUNT(*) FROM schema_version"), sqliteSchemaVersion());
  EXPECT_EQ(scalar(path, "SELECT COUNT(*) FROM tokens"), 6);
}

TEST(SqliteStore, TokensAreFoundByHashListedAndRevokedOnce) {
  TempDir dir;
  auto s = mustOpen(dir.path() / "g.db");
  auto a = s->createToken("alice", {"dba", "oncall"}, "aaaa");
  auto b = s->createToken("bob", {}, "bbbb");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_TRUE(a->id.starts_with("tok_"));

  auto found = s->findTokenByHash("aaaa");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, a->id);
  EXPECT_EQ((*found)->groups, (std::vector<std::string>{"dba", "oncall"}));
  EXPECT_FALSE((*found)->revoked_at_us.has_value());
  auto none = s->findTokenByHash("cccc");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // The same hash twice would make lookups ambiguous.
  EXPECT_FALSE(s->createToken("mallory", {}, "aaaa").ok());

  ASSERT_TRUE(s->revokeToken(a->id).ok());
  auto revoked = s->findTokenByHash("aaaa");
  ASSERT_TRUE(revoked.ok() && revoked->has_value());
  ASSERT_TRUE((*revoked)->revoked_at_us.has_value());
  const int64_t first = *(*revoked)->revoked_at_us;
  ASSERT_TRUE(s->revokeToken(a->id).ok());
  EXPECT_EQ(*(*s->findTokenByHash("aaaa"))->revoked_at_us, first);

  auto unknown = s->revokeToken("tok_nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("tok_nope"), std::string::npos);

  auto list = s->listTokens();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, a->id);  // oldest first
  EXPECT_TRUE((*list)[0].revoked_at_us.has_value());
  EXPECT_FALSE((*list)[1].revoked_at_us.has_value());
}

TEST(SqliteStore, BatchesApplyChangesAndMoveTheOffsetTogether) {
  TempDir dir;
  auto s = mustOpen(dir.path() / "g.db");
  auto sess = session("s1", "alice", "pg-prod", 1000);
  sess.tls = true;
  std::vector<RecordChange> batch1{sess, statement(sess, 1, "SELECT 1", 1100),
                                   StatementEnd{.session_id = "s1", .seq = 1, .duration_us = 50, .tag = "SELECT 1",
                                                .sqlstate = "", .error_message = "", .rows = 1},
                                   statement(sess, 2, "SELEC oops", 1200)};
  auto r = s->applyLogBatch("events-a.jsonl", 0, 400, batch1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(*r);
  EXPECT_EQ(*s->getLogOffset("events-a.jsonl"), 400u);
  EXPECT_EQ(*s->getLogOffset("events-b.jsonl"), 0u);

  // A batch that starts from a stale offset (another indexer got there first) changes nothing.
  std::vector<RecordChange> stale{statement(sess, 3, "SELECT 3", 1300)};
  auto again = s->applyLogBatch("events-a.jsonl", 0, 500, stale);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(*s->getLogOffset("events-a.jsonl"), 400u);

  std::vector<RecordChange> batch2{
      StatementEnd{.session_id = "s1", .seq = 2, .duration_us = 20, .tag = "", .sqlstate = "42601",
                   .error_message = "syntax error", .rows = 0},
      SessionEnd{.session_id = "s1", .ended_at_us = 9000, .end_reason = "client closed",
                 .bytes_from_client = 123, .bytes_from_server = 4567}};
  ASSERT_TRUE(*s->applyLogBatch("events-a.jsonl", 400, 700, batch2));

  auto stmts = s->listStatements({});
  ASSERT_TRUE(stmts.ok());
  ASSERT_EQ(stmts->size(), 2u);
  EXPECT_EQ((*stmts)[0].seq, 2u);  // newest first
  EXPECT_EQ((*stmts)[0].status, "error");
  EXPECT_EQ((*stmts)[0].sqlstate, "42601");
  EXPECT_EQ((*stmts)[0].error_message, "syntax error");
  EXPECT_EQ((*stmts)[1].status, "ok");
  EXPECT_EQ((*stmts)[1].tag, "SELECT 1");
  EXPECT_EQ((*stmts)[1].rows, 1);
  EXPECT_EQ((*stmts)[1].duration_us, 50);
  EXPECT_EQ((*stmts)[1].sql, "SELECT 1");
  EXPECT_EQ((*stmts)[1].protocol, "simple");

  auto sessions = s->listSessions({});
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  const auto& row = (*sessions)[0];
  EXPECT_EQ(row.statements, 2u);
  EXPECT_TRUE(row.tls);
  EXPECT_EQ(row.client_addr, "127.0.0.1:5000");
  EXPECT_EQ(row.started_at_us, 1000);
  ASSERT_TRUE(row.ended_at_us.has_value());
  EXPECT_EQ(*row.ended_at_us, 9000);
  EXPECT_EQ(row.end_reason, "client closed");
  EXPECT_EQ(row.bytes_from_client, 123u);
  EXPECT_EQ(row.bytes_from_server, 4567u);
}

TEST(SqliteStore, ReplayedInsertsNeitherFailNorCountTwice) {
  TempDir dir;
  auto s = mustOpen(dir.path() / "g.db");
  const auto sess = session("s1", "alice", "pg", 1);
  std::vector<RecordChange> batch{sess, statement(sess, 1, "SELECT 1", 2)};
  ASSERT_TRUE(*s->applyLogBatch("f", 0, 10, batch));
  ASSERT_TRUE(*s->applyLogBatch("g", 0, 10, batch));
  EXPECT_EQ((*s->listSessions({}))[0].statements, 1u);
  EXPECT_EQ(s->listStatements({})->size(), 1u);
}

TEST(SqliteStore, ListingFiltersByUserConnectionSessionAndTimeWithLimit) {
  TempDir dir;
  auto s = mustOpen(dir.path() / "g.db");
  const auto a = session("sa", "alice", "pg-prod", 1000);
  const auto b = session("sb", "bob", "pg-prod", 2000);
  const auto c = session("sc", "alice", "pg-dev", 3000);
  std::vector<RecordChange> batch{a, b, c};
  for (uint64_t i = 1; i <= 3; ++i) {
    const auto t = static_cast<int64_t>(i) * 10;
    batch.push_back(statement(a, i, "a" + std::to_string(i), 1000 + t));
    batch.push_back(statement(b, i, "b" + std::to_string(i), 2000 + t));
    batch.push_back(statement(c, i, "c" + std::to_string(i), 3000 + t));
  }
  ASSERT_TRUE(*s->applyLogBatch("f", 0, 1, batch));

  auto all = s->listSessions({.limit = 0, .user = std::nullopt, .connection = std::nullopt});
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].session_id, "sc");
  EXPECT_EQ((*all)[2].session_id, "sa");

  auto alice = s->listSessions({.limit = 0, .user = "alice", .connection = std::nullopt});
  ASSERT_EQ(alice->size(), 2u);
  EXPECT_EQ((*alice)[0].session_id, "sc");
  EXPECT_EQ((*alice)[1].session_id, "sa");

  auto prod_alice = s->listSessions({.limit = 0, .user = "alice", .connection = "pg-prod"});
  ASSERT_EQ(prod_alice->size(), 1u);
  EXPECT_EQ((*prod_alice)[0].session_id, "sa");

  EXPECT_EQ(s->listSessions({.limit = 2, .user = std::nullopt, .connection = std::nullopt})->size(), 2u);

  auto by_session = s->listStatements(
      {.limit = 0, .session_id = "sb", .user = std::nullopt, .connection = std::nullopt, .since_us = std::nullopt});
  ASSERT_EQ(by_session->size(), 3u);
  EXPECT_EQ((*by_session)[0].sql, "b3");
  EXPECT_EQ((*by_session)[2].sql, "b1");

  auto dev = s->listStatements(
      {.limit = 0, .session_id = std::nullopt, .user = std::nullopt, .connection = "pg-dev", .since_us = std::nullopt});
  ASSERT_EQ(dev->size(), 3u);
  for (const auto& r : *dev) {
    EXPECT_EQ(r.session_id, "sc");
  }

  auto since = s->listStatements(
      {.limit = 0, .session_id = std::nullopt, .user = "alice", .connection = std::nullopt, .since_us = 1030});
  ASSERT_EQ(since->size(), 4u);  // a3 at 1030 and all of sc
  EXPECT_EQ(since->back().sql, "a3");

  auto limited = s->listStatements(
      {.limit = 4, .session_id = std::nullopt, .user = std::nullopt, .connection = std::nullopt, .since_us = std::nullopt});
  ASSERT_EQ(limited->size(), 4u);
  EXPECT_EQ((*limited)[0].sql, "c3");
  EXPECT_EQ((*limited)[3].sql, "b3");
}

TEST(SqliteStore, MaskedCountsAreListedPerStatementAndSummedPerSession) {
  TempDir dir;
  auto s = mustOpen(dir.path() / "g.db");
  const auto a = session("sa", "alice", "pg", 1000);
  const auto b = session("sb", "bob", "pg", 2000);
  const std::vector<RecordChange> batch{
      a, b, statement(a, 1, "SELECT email FROM users", 1100), statement(a, 2, "SELECT 1", 1200),
      statement(b, 1, "SELECT phone FROM users", 2100),
      MaskedValues{.session_id = "sa", .seq = 1,
                   .counts = {{.rule = "contact", .column = "email", .count = 12},
                              {.rule = "card", .column = "pan", .count = 1}}},
      MaskedValues{.session_id = "sa", .seq = 0, .counts = {{.rule = "contact", .column = "email", .count = 2}}},
      MaskedValues{.session_id = "sb", .seq = 1, .counts = {{.rule = "contact", .column = "phone", .count = 5}}}};
  ASSERT_TRUE(*s->applyLogBatch("f", 0, 10, batch));
  ASSERT_TRUE(*s->applyLogBatch("g", 0, 10, batch));  // replayed: counts are set again, not added

  auto rows = s->listStatements({.limit = 0, .session_id = "sa", .user = std::nullopt, .connection = std::nullopt,
                                 .since_us = std::nullopt});
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_TRUE((*rows)[0].masked.empty());
  EXPECT_EQ((*rows)[1].masked, (std::vector<MaskedCount>{{.rule = "card", .column = "pan", .count = 1},
                                                         {.rule = "contact", .column = "email", .count = 12}}));

  auto sessions = s->listSessions({.limit = 0, .user = std::nullopt, .connection = std::nullopt});
  ASSERT_TRUE(sessions.ok()) << sessions.error().message;
  ASSERT_EQ(sessions->size(), 2u);
  EXPECT_EQ((*sessions)[0].masked, (std::vector<MaskedCount>{{.rule = "contact", .column = "phone", .count = 5}}));
  EXPECT_EQ((*sessions)[1].masked, (std::vector<MaskedCount>{{.rule = "card", .column = "pan", .count = 1},
                                                             {.rule = "contact", .column = "email", .count = 14}}));
  EXPECT_EQ(scalar(dir.path() / "g.db", "SELECT COUNT(*) FROM masked_values"), 4);
}

TEST(SqliteStore, AStoreFromBeforeMaskingIsMigratedAndKeepsItsRows) {
  TempDir dir;
  const auto path = dir.path() / "g.db";
  {
    auto s = mustOpen(path);
    const auto a = session("sa", "alice", "pg", 1000);
    ASSERT_TRUE(*s->applyLogBatch("f", 0, 10, std::vector<RecordChange>{a, statement(a, 1, "SELECT 1", 1100)}));
  }
  // As a store written by the version before masked_values (schema 4) is.
  execRaw(path,
          "DROP TABLE masked_values; DROP TABLE service_account_keys; DROP TABLE service_accounts; "
          "DROP TABLE session_tokens; DELETE FROM schema_version WHERE version >= 5");
  auto s = mustOpen(path);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(scalar(path, "SELECT MAX(version) FROM schema_version"), sqliteSchemaVersion());
  const std::vector<RecordChange> batch{
      MaskedValues{.session_id = "sa", .seq = 1, .counts = {{.rule = "contact", .column = "email", .count = 3}}}};
  ASSERT_TRUE(*s->applyLogBatch("f", 10, 20, batch));
  auto rows = s->listStatements({});
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].masked, (std::vector<MaskedCount>{{.rule = "contact", .column = "email", .count = 3}}));
}

TEST(SqliteStore, TwoConnectionsSeeEachOthersWrites) {
  TempDir dir;
  const auto path = dir.path() / "g.db";
  auto server = mustOpen(path);
  auto cli = mustOpen(path);
  auto t = cli->createToken("alice", {}, "h");
  ASSERT_TRUE(t.ok());
  auto found = server->findTokenByHash("h");
  ASSERT_TRUE(found.ok() && found->has_value());
  ASSERT_TRUE(cli->revokeToken(t->id).ok());
  EXPECT_TRUE((*server->findTokenByHash("h"))->revoked_at_us.has_value());
}

}  // namespace
}  // namespace gatehouse::store
