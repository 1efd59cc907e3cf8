// The SQLite Store: schema migrations, tokens, recorded sessions and statements, indexer offsets.
#include "store/sqlite_store.h"

#include <openssl/rand.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "store/sqlite_batch.h"
#include "store/sqlite_identities.h"
#include "store/sqlite_reviews.h"
#include "store/sqlite_values.h"
#include "store/sqlite_db.h"

namespace gatehouse::store {

namespace {

using sqlite::Cursor;
using sqlite::Database;
using sqlite::Prepared;
using sqlite::Transaction;

// Versioned migrations: entry N-1 takes the schema from version N-1 to N. Append only; never edit a released one.
// Column names avoid words reserved in SQLite or PostgreSQL (user, rows, offset, groups) so that the PostgreSQL
// store can keep the same schema.
constexpr std::array<const char*, 6> kMigrations = {
    R"sql(
CREATE TABLE tokens (
  id            TEXT PRIMARY KEY,
  user_name     TEXT NOT NULL,
  groups_json   TEXT NOT NULL,
  token_hash    TEXT NOT NULL UNIQUE,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER
);
CREATE TABLE sessions (
  session_id        TEXT PRIMARY KEY,
  user_name         TEXT NOT NULL,
  connection        TEXT NOT NULL,
  client_addr       TEXT NOT NULL,
  tls               INTEGER NOT NULL,
  started_at_us     INTEGER NOT NULL,
  ended_at_us       INTEGER,
  end_reason        TEXT NOT NULL DEFAULT '',
  bytes_from_client INTEGER NOT NULL DEFAULT 0,
  bytes_from_server INTEGER NOT NULL DEFAULT 0,
  statement_count   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_start ON sessions (started_at_us);
CREATE TABLE statements (
  session_id    TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  user_name     TEXT NOT NULL,
  connection    TEXT NOT NULL,
  client_addr   TEXT NOT NULL,
  protocol      TEXT NOT NULL,
  sql_text      TEXT NOT NULL,
  started_at_us INTEGER NOT NULL,
  duration_us   INTEGER NOT NULL DEFAULT 0,
  tag           TEXT NOT NULL DEFAULT '',
  sqlstate      TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  row_count     INTEGER NOT NULL DEFAULT 0,
  status        TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX statements_by_start ON statements (started_at_us);
CREATE TABLE log_offsets (
  log_name    TEXT PRIMARY KEY,
  byte_offset INTEGER NOT NULL
);
)sql",
    R"sql(
CREATE TABLE reviews (
  review_id        TEXT PRIMARY KEY,
  status           TEXT NOT NULL,
  requester        TEXT NOT NULL,
  requester_groups TEXT NOT NULL,
  connection       TEXT NOT NULL,
  session_id       TEXT NOT NULL,
  sql_text         TEXT NOT NULL,
  statement_hash   TEXT NOT NULL,
  rule             TEXT NOT NULL,
  reason           TEXT NOT NULL,
  mode             TEXT NOT NULL,
  approver_groups  TEXT NOT NULL,
  approvals_needed INTEGER NOT NULL,
  window_us        INTEGER NOT NULL,
  created_at_us    INTEGER NOT NULL,
  decide_by_us     INTEGER NOT NULL,
  decided_at_us    INTEGER,
  usable_until_us  INTEGER,
  used_at_us       INTEGER
);
CREATE INDEX reviews_by_statement ON reviews (statement_hash, status);
CREATE INDEX reviews_by_created ON reviews (created_at_us);
CREATE TABLE review_decisions (
  review_id     TEXT NOT NULL REFERENCES reviews (review_id),
  approver      TEXT NOT NULL,
  approved      INTEGER NOT NULL,
  reason        TEXT NOT NULL,
  decided_at_us INTEGER NOT NULL,
  PRIMARY KEY (review_id, approver)
);
)sql",
    R"sql(
CREATE TABLE notifications (
  notification_id INTEGER PRIMARY KEY AUTOINCREMENT,
  event           TEXT NOT NULL,
  review_id       TEXT NOT NULL,
  created_at_us   INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_us INTEGER NOT NULL,
  delivered_at_us INTEGER,
  gave_up         INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notifications_due ON notifications (next_attempt_us) WHERE delivered_at_us IS NULL AND gave_up = 0;
)sql",
    R"sql(
ALTER TABLE reviews ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reviews ADD COLUMN used_session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN used_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX reviews_by_statement_asked ON reviews (session_id, seq);
CREATE INDEX reviews_by_statement_run ON reviews (used_session_id, used_seq);
)sql",
    R"sql(
-- The key's index also serves the lookups by statement (session_id, seq) and by session.
CREATE TABLE masked_values (
  session_id  TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  rule        TEXT NOT NULL,
  column_name TEXT NOT NULL,
  value_count INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq, rule, column_name)
);
)sql",
    // 6: service accounts and their keys (hashes only), and the session tokens the gateway issued, by id, for
    // listing and revoking.
    R"sql(
CREATE TABLE service_accounts (
  name          TEXT PRIMARY KEY,
  groups_json   TEXT NOT NULL,
  created_at_us INTEGER NOT NULL
);
CREATE TABLE service_account_keys (
  key_id        TEXT PRIMARY KEY,
  account       TEXT NOT NULL REFERENCES service_accounts (name),
  key_hash      TEXT NOT NULL UNIQUE,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER
);
CREATE INDEX service_account_keys_by_account ON service_account_keys (account);
CREATE TABLE session_tokens (
  token_id      TEXT PRIMARY KEY,
  subject       TEXT NOT NULL,
  groups_json   TEXT NOT NULL,
  source        TEXT NOT NULL,
  issued_at_us  INTEGER NOT NULL,
  expires_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER
);
CREATE INDEX session_tokens_by_issue ON session_tokens (issued_at_us);
)sql",
};

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SQLite integers are signed 64-bit; byte counters never come near 2^63.
int64_t toDb(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t fromDb(int64_t v) { return static_cast<uint64_t>(v); }
// LIMIT -1 is SQLite's "no limit".
int64_t limitFor(size_t limit) { return limit == 0 ? -1 : static_cast<int64_t>(limit); }

constexpr const char* kTokenColumns = "id, user_name, groups_json, created_at_us, revoked_at_us";

Result<TokenInfo> readToken(const Cursor& c) {
  TokenInfo t;
  t.id = c.text(0);
  t.user = c.text(1);
  auto groups = sqlite::namesFromJson(c.text(2), "token groups");
  if (!groups) {
    return groups.error();
  }
  t.groups = std::move(*groups);
  t.created_at_us = c.integer(3);
  t.revoked_at_us = c.optionalInteger(4);
  return t;
}

// Reads the (rule, column, count) rows of a masked_values query into `out`.
Result<void> readMasked(Cursor& q, std::vector<MaskedCount>& out) {
  while (true) {
    auto row = q.step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return {};
    }
    out.push_back({.rule = q.text(0), .column = q.text(1), .count = fromDb(q.integer(2))});
  }
}

Result<void> migrate(Database& db) {
  // 16 KiB pages rather than 4 KiB: the store is mostly statement rows that the indexer appends, and bigger pages
  // mean fewer page splits, WAL frames and writes per row (about 7% less indexer CPU per statement, measured with
  // bench/indexer_benchmark). Only a new, empty file takes it; an existing store keeps its page size, which only
  // a VACUUM could change.
  if (auto r = db.exec("PRAGMA page_size=16384"); !r) {
    return r.error();
  }
  {
    // Scoped: a cursor that is not reset keeps a statement in progress, which would block COMMIT below.
    auto journal = db.query("PRAGMA journal_mode=WAL");
    if (!journal) {
      return journal.error();
    }
    auto row = journal->step();
    if (!row) {
      return row.error();
    }
    if (!*row || journal->text(0) != "wal") {
      return makeError("store: cannot switch to WAL mode (is the file on a network filesystem?)");
    }
  }
  // FULL: a token printed to a user must not vanish in a power loss. The indexer's batches, which can be rebuilt
  // from the logs, switch to NORMAL for their own transactions (see applyLogBatch).
  if (auto r = db.exec("PRAGMA synchronous=FULL"); !r) {
    return r.error();
  }

  auto txn = Transaction::begin(db);
  if (!txn) {
    return txn.error();
  }
  if (auto r = db.exec("CREATE TABLE IF NOT EXISTS schema_version ("
                       "version INTEGER PRIMARY KEY, applied_at_us INTEGER NOT NULL)");
      !r) {
    return r.error();
  }
  int64_t current = 0;
  {
    auto q = db.query("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!q) {
      return q.error();
    }
    if (auto r = q->step(); !r) {
      return r.error();
    }
    current = q->integer(0);
  }
  const auto known = static_cast<int64_t>(kMigrations.size());
  if (current > known) {
    return makeError("store schema version " + std::to_string(current) + " is newer than this gatehouse knows (" +
                     std::to_string(known) + "); upgrade gatehouse");
  }
  for (int64_t v = current + 1; v <= known; ++v) {
    if (auto r = db.exec(kMigrations[static_cast<size_t>(v - 1)]); !r) {
      return makeError("store migration " + std::to_string(v) + " failed: " + r.error().message);
    }
    auto q = db.query("INSERT INTO schema_version (version, applied_at_us) VALUES (?1, ?2)");
    if (!q) {
      return q.error();
    }
    q->bind(1, v);
    q->bind(2, nowUs());
    if (auto r = q->run(); !r) {
      return r.error();
    }
  }
  return txn->commit();
}

class SqliteStore final : public Store {
 public:
  // `db` is migrated; the statements are prepared on it.
  static Result<std::unique_ptr<Store>> create(std::unique_ptr<Database> db) {
    auto read_offset = db->prepare("SELECT byte_offset FROM log_offsets WHERE log_name = ?1");
    if (!read_offset) {
      return read_offset.error();
    }
    auto write_offset = db->prepare(
        "INSERT INTO log_offsets (log_name, byte_offset) VALUES (?1, ?2) "
        "ON CONFLICT (log_name) DO UPDATE SET byte_offset = excluded.byte_offset");
    if (!write_offset) {
      return write_offset.error();
    }
    auto writer = sqlite::BatchWriter::prepare(*db);
    if (!writer) {
      return writer.error();
    }
    return std::unique_ptr<Store>(new SqliteStore(std::move(db), *read_offset, *write_offset, std::move(*writer)));
  }

  Result<TokenInfo> createToken(std::string_view user, const std::vector<std::string>& groups,
                                std::string_view token_hash) override {
    auto id = sqlite::newId("tok_");
    if (!id) {
      return id.error();
    }
    TokenInfo t{.id = std::move(*id), .user = std::string(user), .groups = groups, .created_at_us = nowUs(),
                .revoked_at_us = std::nullopt};
    std::lock_guard lock(mu_);
    auto q = db_->query(
        "INSERT INTO tokens (id, user_name, groups_json, token_hash, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!q) {
      return q.error();
    }
    q->bind(1, std::string_view(t.id));
    q->bind(2, user);
    q->bind(3, std::string_view(sqlite::namesToJson(groups)));
    q->bind(4, token_hash);
    q->bind(5, t.created_at_us);
    if (auto r = q->run(); !r) {
      return makeError("cannot store token: " + r.error().message);
    }
    return t;
  }

  Result<std::optional<TokenInfo>> findTokenByHash(std::string_view token_hash) override {
    std::lock_guard lock(mu_);
    auto q = db_->query(std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE token_hash = ?1");
    if (!q) {
      return q.error();
    }
    q->bind(1, token_hash);
    auto row = q->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return std::optional<TokenInfo>();
    }
    auto t = readToken(*q);
    if (!t) {
      return t.error();
    }
    return std::optional<TokenInfo>(std::move(*t));
  }

  Result<std::vector<TokenInfo>> listTokens() override {
    std::lock_guard lock(mu_);
    auto q = db_->query(std::string("SELECT ") + kTokenColumns + " FROM tokens ORDER BY created_at_us, id");
    if (!q) {
      return q.error();
    }
    std::vector<TokenInfo> out;
    while (true) {
      auto row = q->step();
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return out;
      }
      auto t = readToken(*q);
      if (!t) {
        return t.error();
      }
      out.push_back(std::move(*t));
    }
  }

  Result<void> revokeToken(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto q = db_->query("UPDATE tokens SET revoked_at_us = COALESCE(revoked_at_us, ?2) WHERE id = ?1");
    if (!q) {
      return q.error();
    }
    q->bind(1, id);
    q->bind(2, nowUs());
    if (auto r = q->run(); !r) {
      return r.error();
    }
    if (db_->changes() == 0) {
      return makeError("no token with id " + std::string(id));
    }
    return {};
  }

  Result<ServiceAccountRow> createServiceAccount(std::string_view name,
                                                 const std::vector<std::string>& groups) override {
    std::lock_guard lock(mu_);
    return sqlite::createServiceAccount(*db_, name, groups, nowUs());
  }
  Result<std::vector<ServiceAccountRow>> listServiceAccounts() override {
    std::lock_guard lock(mu_);
    return sqlite::listServiceAccounts(*db_);
  }
  Result<ServiceAccountKey> addServiceAccountKey(std::string_view account, std::string_view key_hash,
                                                 bool revoke_others) override {
    std::lock_guard lock(mu_);
    return sqlite::addServiceAccountKey(*db_, account, key_hash, revoke_others, nowUs());
  }
  Result<std::optional<ServiceAccountKeyInfo>> findServiceAccountKey(std::string_view key_hash) override {
    std::lock_guard lock(mu_);
    return sqlite::findServiceAccountKey(*db_, key_hash);
  }
  Result<void> revokeServiceAccountKey(std::string_view key_id) override {
    std::lock_guard lock(mu_);
    return sqlite::revokeServiceAccountKey(*db_, key_id, nowUs());
  }
  Result<void> recordSessionToken(const SessionTokenRow& token) override {
    std::lock_guard lock(mu_);
    return sqlite::recordSessionToken(*db_, token);
  }
  Result<std::vector<SessionTokenRow>> listSessionTokens(bool active_only, int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::listSessionTokens(*db_, active_only, now_us);
  }
  Result<void> revokeSessionToken(std::string_view id) override {
    std::lock_guard lock(mu_);
    return sqlite::revokeSessionToken(*db_, id, nowUs());
  }
  Result<std::optional<SessionTokenRow>> findSessionToken(std::string_view id) override {
    std::lock_guard lock(mu_);
    return sqlite::findSessionToken(*db_, id);
  }

  Result<std::vector<SessionRow>> listSessions(const SessionFilter& filter) override {
    std::lock_guard lock(mu_);
    auto q = db_->query(
        "SELECT session_id, user_name, connection, client_addr, tls, started_at_us, ended_at_us, end_reason, "
        "bytes_from_client, bytes_from_server, statement_count FROM sessions "
        "WHERE (?1 IS NULL OR user_name = ?1) AND (?2 IS NULL OR connection = ?2) "
        "ORDER BY started_at_us DESC, session_id DESC LIMIT ?3");
    if (!q) {
      return q.error();
    }
    q->bind(1, filter.user);
    q->bind(2, filter.connection);
    q->bind(3, limitFor(filter.limit));
    std::vector<SessionRow> out;
    while (true) {
      auto row = q->step();
      if (!row) {
        return row.error();
      }
      if (!*row) {
        break;
      }
      SessionRow s;
      s.session_id = q->text(0);
      s.user = q->text(1);
      s.connection = q->text(2);
      s.client_addr = q->text(3);
      s.tls = q->integer(4) != 0;
      s.started_at_us = q->integer(5);
      s.ended_at_us = q->optionalInteger(6);
      s.end_reason = q->text(7);
      s.bytes_from_client = fromDb(q->integer(8));
      s.bytes_from_server = fromDb(q->integer(9));
      s.statements = fromDb(q->integer(10));
      out.push_back(std::move(s));
    }
    auto masked = db_->prepare(
        "SELECT rule, column_name, SUM(value_count) FROM masked_values WHERE session_id = ?1 "
        "GROUP BY rule, column_name ORDER BY rule, column_name");
    if (!masked) {
      return masked.error();
    }
    for (auto& s : out) {
      Cursor m = masked->cursor();
      m.bind(1, std::string_view(s.session_id));
      if (auto r = readMasked(m, s.masked); !r) {
        return r.error();
      }
    }
    return out;
  }

  Result<std::vector<StatementRow>> listStatements(const StatementFilter& filter) override {
    std::lock_guard lock(mu_);
    auto q = db_->query(
        "SELECT session_id, seq, user_name, connection, client_addr, protocol, sql_text, started_at_us, "
        "duration_us, tag, sqlstate, error_message, row_count, status, "
        // The review that held the statement (asked) or let it run (used), newest first.
        "(SELECT review_id || ' ' || status FROM reviews r WHERE (r.session_id = statements.session_id AND r.seq = "
        "statements.seq) OR (r.used_session_id = statements.session_id AND r.used_seq = statements.seq) "
        "ORDER BY r.created_at_us DESC LIMIT 1) FROM statements "
        "WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR user_name = ?2) "
        "AND (?3 IS NULL OR connection = ?3) AND (?4 IS NULL OR started_at_us >= ?4) "
        "ORDER BY started_at_us DESC, session_id DESC, seq DESC LIMIT ?5");
    if (!q) {
      return q.error();
    }
    q->bind(1, filter.session_id);
    q->bind(2, filter.user);
    q->bind(3, filter.connection);
    q->bind(4, filter.since_us);
    q->bind(5, limitFor(filter.limit));
    std::vector<StatementRow> out;
    while (true) {
      auto row = q->step();
      if (!row) {
        return row.error();
      }
      if (!*row) {
        break;
      }
      StatementRow s;
      s.session_id = q->text(0);
      s.seq = fromDb(q->integer(1));
      s.user = q->text(2);
      s.connection = q->text(3);
      s.client_addr = q->text(4);
      s.protocol = q->text(5);
      s.sql = q->text(6);
      s.started_at_us = q->integer(7);
      s.duration_us = q->integer(8);
      s.tag = q->text(9);
      s.sqlstate = q->text(10);
      s.error_message = q->text(11);
      s.rows = q->integer(12);
      s.status = q->text(13);
      if (const auto review = q->text(14); !review.empty()) {
        const auto space = review.find(' ');
        s.review_id = review.substr(0, space);
        if (space != std::string::npos) s.review_status = review.substr(space + 1);
      }
      out.push_back(std::move(s));
    }
    auto masked = db_->prepare(
        "SELECT rule, column_name, value_count FROM masked_values WHERE session_id = ?1 AND seq = ?2 "
        "ORDER BY rule, column_name");
    if (!masked) {
      return masked.error();
    }
    for (auto& s : out) {
      Cursor m = masked->cursor();
      m.bind(1, std::string_view(s.session_id));
      m.bind(2, toDb(s.seq));
      if (auto r = readMasked(m, s.masked); !r) {
        return r.error();
      }
    }
    return out;
  }

  Result<ReviewRow> createReview(const NewReview& review, int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::createReview(*db_, review, now_us);
  }
  Result<std::optional<ReviewRow>> getReview(std::string_view id, int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::getReview(*db_, id, now_us);
  }
  Result<std::vector<ReviewRow>> listReviews(bool pending_only, int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::listReviews(*db_, pending_only, now_us);
  }
  Result<ReviewRow> decideReview(std::string_view id, std::string_view approver,
                                 const std::vector<std::string>& approver_groups, bool approve, std::string_view reason,
                                 int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::decideReview(*db_, id, approver, approver_groups, approve, reason, now_us);
  }
  Result<std::optional<ReviewRow>> findPendingReview(std::string_view statement_hash, int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::findPendingReview(*db_, statement_hash, now_us);
  }
  Result<std::optional<ReviewRow>> claimApprovedReview(std::string_view statement_hash, int64_t now_us,
                                                       std::string_view session_id, uint64_t seq) override {
    std::lock_guard lock(mu_);
    return sqlite::claimApprovedReview(*db_, statement_hash, now_us, session_id, seq);
  }
  Result<void> markReviewUsed(std::string_view id, int64_t now_us, std::string_view session_id,
                              uint64_t seq) override {
    std::lock_guard lock(mu_);
    return sqlite::markReviewUsed(*db_, id, now_us, session_id, seq);
  }

  Result<std::vector<Notification>> dueNotifications(int64_t now_us, std::size_t limit) override {
    std::lock_guard lock(mu_);
    return sqlite::dueNotifications(*db_, now_us, limit);
  }
  Result<void> notificationDelivered(int64_t id, int64_t now_us) override {
    std::lock_guard lock(mu_);
    return sqlite::notificationDelivered(*db_, id, now_us);
  }
  Result<void> notificationFailed(int64_t id, std::string_view error, std::optional<int64_t> retry_at_us) override {
    std::lock_guard lock(mu_);
    return sqlite::notificationFailed(*db_, id, error, retry_at_us);
  }

  Result<uint64_t> getLogOffset(std::string_view log_name) override {
    std::lock_guard lock(mu_);
    return readOffset(log_name);
  }

  Result<bool> applyLogBatch(std::string_view log_name, uint64_t from_offset, uint64_t to_offset,
                             std::span<const RecordChange> changes) override {
    std::lock_guard lock(mu_);
    // NORMAL for the indexer's transactions only: in WAL mode a NORMAL commit survives a crash of the process
    // (the commit is in the WAL, in the page cache) and may be lost only with the machine (power loss, kernel
    // crash) — and then whole, with the rows and the log offset together, back to a consistent earlier state
    // from which the indexer re-reads the same lines from the log, which is the source of truth. Skipping the
    // fsync per batch saves the indexer's share of the cores and the disk. Token changes keep FULL: those have
    // no log to be rebuilt from.
    if (auto r = db_->exec("PRAGMA synchronous=NORMAL"); !r) {
      return r.error();
    }
    auto applied = applyInTransaction(log_name, from_offset, to_offset, changes);
    if (auto r = db_->exec("PRAGMA synchronous=FULL"); !r) {
      return r.error();
    }
    return applied;
  }

 private:
  Result<bool> applyInTransaction(std::string_view log_name, uint64_t from_offset, uint64_t to_offset,
                                  std::span<const RecordChange> changes) {
    auto txn = Transaction::begin(*db_);
    if (!txn) {
      return txn.error();
    }
    // Re-read inside the write lock: another process may have indexed this range since our caller looked.
    auto current = readOffset(log_name);
    if (!current) {
      return current.error();
    }
    if (*current != from_offset) {
      return false;
    }
    if (auto r = writer_.apply(changes); !r) {
      return r.error();
    }
    {
      Cursor q = write_offset_.cursor();
      q.bind(1, log_name);
      q.bind(2, toDb(to_offset));
      if (auto r = q.run(); !r) {
        return r.error();
      }
    }
    if (auto r = txn->commit(); !r) {
      return r.error();
    }
    return true;
  }

  Result<uint64_t> readOffset(std::string_view log_name) {
    Cursor q = read_offset_.cursor();
    q.bind(1, log_name);
    auto row = q.step();
    if (!row) {
      return row.error();
    }
    return *row ? fromDb(q.integer(0)) : uint64_t{0};
  }

  SqliteStore(std::unique_ptr<Database> db, Prepared read_offset, Prepared write_offset, sqlite::BatchWriter writer)
      : db_(std::move(db)), read_offset_(read_offset), write_offset_(write_offset), writer_(std::move(writer)) {}

  std::mutex mu_;
  std::unique_ptr<Database> db_;
  Prepared read_offset_;
  Prepared write_offset_;
  sqlite::BatchWriter writer_;
};

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const std::filesystem::path& path) {
  auto db = Database::open(path);
  if (!db) {
    return db.error();
  }
  // Connections opening a fresh file at the same moment race to set it up (page size, WAL, schema), and SQLite
  // answers some of those races with SQLITE_BUSY at once instead of calling the busy handler (switching to WAL
  // takes a lock that waiting could deadlock on). The setup is idempotent: try again for a while.
  for (int attempt = 0;; ++attempt) {
    auto r = migrate(**db);
    if (r) break;
    if (!(*db)->lastErrorWasBusy() || attempt >= 200) {
      return makeError("store " + path.string() + ": " + r.error().message);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + attempt % 20));
  }
  auto store = SqliteStore::create(std::move(*db));
  if (!store) {
    return makeError("store " + path.string() + ": " + store.error().message);
  }
  return store;
}

int sqliteSchemaVersion() { return static_cast<int>(kMigrations.size()); }

}  // namespace gatehouse::store
