// RAII over the SQLite C API; see sqlite_db.h.
#include "store/sqlite_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace gatehouse::store::sqlite {

namespace {

constexpr int kBusyTimeoutMs = 5000;

int toInt(size_t n) { return static_cast<int>(n); }

}  // namespace

Cursor::~Cursor() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Cursor::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so callers may pass temporaries.
  sqlite3_bind_text(stmt_, index, text.data(), toInt(text.size()), SQLITE_TRANSIENT);
}

void Cursor::bindBorrowed(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), toInt(text.size()), SQLITE_STATIC);
}

void Cursor::bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Cursor::bind(int index, const std::optional<std::string>& text) {
  if (text) {
    bind(index, std::string_view(*text));
  } else {
    bindNull(index);
  }
}

void Cursor::bind(int index, const std::optional<int64_t>& value) {
  if (value) {
    bind(index, *value);
  } else {
    bindNull(index);
  }
}

void Cursor::bindNull(int index) { sqlite3_bind_null(stmt_, index); }

Result<bool> Cursor::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return makeError(std::string("sqlite: ") + sqlite3_errmsg(sqlite3_db_handle(stmt_)));
}

Result<void> Cursor::run() {
  auto r = step();
  if (!r) {
    return r.error();
  }
  return {};
}

std::string Cursor::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

int64_t Cursor::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<int64_t> Cursor::optionalInteger(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
    return std::nullopt;
  }
  return integer(column);
}

Result<std::unique_ptr<Database>> Database::open(const std::filesystem::path& path) {
  // Audit records hold SQL text that may be sensitive: create the file owner-only before SQLite does (SQLite
  // gives its -wal and -shm files the database file's permissions).
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return makeError("cannot create directory " + path.parent_path().string() + ": " + ec.message());
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return makeError("cannot create store " + path.string() + ": " + std::strerror(errno));
  }
  ::close(fd);

  // SQLite counts every allocation it makes for sqlite3_status(), under a global mutex; nothing here reads those
  // counts, and the indexer makes several allocations per statement. Only possible before SQLite initializes:
  // if something else in the process already used it, the call fails and the counts stay on, which is harmless.
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });

  sqlite3* db = nullptr;
  // NOMUTEX: the store serializes calls with its own mutex, so SQLite's would only add cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return makeError("cannot open store " + path.string() + ": " + message);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return std::unique_ptr<Database>(new Database(db));
}

bool Database::lastErrorWasBusy() const {
  const int code = sqlite3_errcode(db_);
  return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

Database::~Database() {
  for (auto& [sql, stmt] : statements_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

Result<Cursor> Database::query(const std::string& sql) {
  auto p = prepare(sql);
  if (!p) {
    return p.error();
  }
  return p->cursor();
}

Result<Prepared> Database::prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), toInt(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
        SQLITE_OK) {
      return makeError("sqlite: cannot prepare statement: " + errorMessage());
    }
    it = statements_.emplace(sql, stmt).first;
  }
  return Prepared(it->second);
}

Result<void> Database::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : errorMessage();
    sqlite3_free(message);
    return makeError("sqlite: " + text);
  }
  return {};
}

int64_t Database::changes() const { return sqlite3_changes64(db_); }

std::string Database::errorMessage() const { return sqlite3_errmsg(db_); }

Result<Transaction> Transaction::begin(Database& db) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) {
    return r.error();
  }
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) {
    // Nothing to report to: the caller already returns the error that made it abandon the transaction.
    (void)db_->exec("ROLLBACK");
  }
}

Result<void> Transaction::commit() {
  auto r = db_->exec("COMMIT");
  if (r) {
    db_ = nullptr;
  }
  return r;
}

}  // namespace gatehouse::store::sqlite
