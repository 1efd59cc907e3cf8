// The SQLite implementation of Store: one file, shared by the server and CLI commands running at the same time.
#pragma once

#include <filesystem>
#include <memory>

#include "core/result.h"
#include "store/store.h"

namespace gatehouse::store {

// Opens (creating if needed, owner-only) the SQLite store at `path` and brings its schema up to date. WAL mode and
// a busy timeout let several processes use the file at once; calls on the returned Store are thread-safe.
Result<std::unique_ptr<Store>> openSqliteStore(const std::filesystem::path& path);

// The schema version this build migrates to (for tests and `gatehouse version`-style diagnostics).
int sqliteSchemaVersion();

}  // namespace gatehouse::store
