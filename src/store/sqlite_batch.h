// Applies the indexer's batches of record changes to the SQLite store. The hot path of recording: every statement
// the gateway relays passes through here once, so it keeps its statements prepared and does per batch what it can
// (one statement-count update per session, not one per statement).
#pragma once

#include <span>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "store/records.h"
#include "store/sqlite_db.h"

namespace gatehouse::store::sqlite {

class BatchWriter {
 public:
  // Prepares the writer's statements on `db`, which must outlive the writer.
  static Result<BatchWriter> prepare(Database& db);

  // Applies `changes` in order, inside the caller's transaction. The inserts ignore rows that already exist, so
  // that a batch replayed by hand (or by a future recovery tool) cannot fail or count a statement twice; a
  // statement's end applies whether or not its row was inserted by this batch; a masked count replaces the one
  // stored for its statement, rule and column, so a replay sets it again rather than adding it twice.
  Result<void> apply(std::span<const RecordChange> changes);

 private:
  BatchWriter() = default;

  Result<void> apply(const SessionRow& s);
  Result<void> apply(const StatementRow& s);
  Result<void> apply(const StatementEnd& e);
  Result<void> apply(const SessionEnd& e);
  Result<void> apply(const MaskedValues& m);
  Result<void> end(std::string_view session_id, uint64_t seq, int64_t duration_us, std::string_view tag,
                   std::string_view sqlstate, std::string_view error_message, int64_t rows);

  Database* db_ = nullptr;
  Prepared insert_session_;
  Prepared insert_statement_;
  Prepared end_statement_;
  Prepared count_statements_;
  Prepared end_session_;
  Prepared set_masked_;
  // Statements inserted by the current batch, per session (keys point into the batch).
  std::unordered_map<std::string_view, int64_t> new_statements_;
};

}  // namespace gatehouse::store::sqlite
