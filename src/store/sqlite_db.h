// A thin RAII layer over the SQLite C API for the SQLite store: a connection that caches prepared statements,
// a statement cursor that resets itself, and an IMMEDIATE transaction that rolls back unless committed.
// Written by hand because Debian 12 packages no C++ SQLite wrapper; it is only the few calls the store needs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gatehouse::store::sqlite {

// One bound use of a cached prepared statement. Resets and clears its bindings when it goes out of scope, so the
// statement is ready for reuse.
class Cursor {
 public:
  explicit Cursor(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Cursor(Cursor&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Parameters are 1-based, as in SQLite's "?N".
  void bind(int index, std::string_view text);
  // Binds `text` without copying it: it must stay alive and unchanged until this cursor is destroyed (whose
  // reset and clear end SQLite's use of it). For the indexer's rows, whose strings outlive the batch.
  void bindBorrowed(int index, std::string_view text);
  void bind(int index, int64_t value);
  void bind(int index, const std::optional<std::string>& text);
  void bind(int index, const std::optional<int64_t>& value);
  void bindNull(int index);

  // Advances to the next row: true for a row, false when done, an Error on failure.
  Result<bool> step();
  // Runs a statement that returns no rows.
  Result<void> run();

  std::string text(int column) const;
  int64_t integer(int column) const;
  std::optional<int64_t> optionalInteger(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

// A statement prepared once and cached by its Database, which finalizes it: a handle to keep in a member, so that
// a hot path skips the cache lookup (hashing the SQL text) on every use. Valid while the Database lives.
class Prepared {
 public:
  Prepared() = default;
  // A cursor over the statement; at most one at a time per statement.
  Cursor cursor() const { return Cursor(stmt_); }

 private:
  friend class Database;
  explicit Prepared(sqlite3_stmt* stmt) : stmt_(stmt) {}
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Prepares `sql` once and hands out a cursor over the cached statement. The store serializes access, so one
  // cached statement per SQL text is enough.
  Result<Cursor> query(const std::string& sql);
  // Prepares `sql` once (sharing query's cache) and returns its handle.
  Result<Prepared> prepare(const std::string& sql);
  // Runs one or more statements with no parameters and no result (migrations, pragmas).
  Result<void> exec(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t changes() const;
  std::string errorMessage() const;
  // Whether the last call failed because another connection held a lock the busy handler could not wait out.
  bool lastErrorWasBusy() const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that later upgrades can hit SQLITE_BUSY
// without the busy timeout helping, when another process writes at the same time.
class Transaction {
 public:
  static Result<Transaction> begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  explicit Transaction(Database& db) : db_(&db) {}
  Database* db_;
};

}  // namespace gatehouse::store::sqlite
