// Batch application of record changes; see sqlite_batch.h.
#include "store/sqlite_batch.h"

#include <variant>

namespace gatehouse::store::sqlite {

namespace {

// SQLite integers are signed 64-bit; sequence numbers and byte counters never come near 2^63.
int64_t toDb(uint64_t v) { return static_cast<int64_t>(v); }

bool isComplete(const StatementRow& s) { return !s.status.empty() && s.status != kStatementRunning; }

}  // namespace

Result<BatchWriter> BatchWriter::prepare(Database& db) {
  BatchWriter w;
  w.db_ = &db;
  const std::pair<Prepared*, const char*> statements[] = {
      {&w.insert_session_,
       "INSERT INTO sessions (session_id, user_name, connection, client_addr, tls, started_at_us) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (session_id) DO NOTHING"},
      {&w.insert_statement_,
       "INSERT INTO statements (session_id, seq, user_name, connection, client_addr, protocol, sql_text, "
       "started_at_us, duration_us, tag, sqlstate, error_message, row_count, status) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
       "ON CONFLICT (session_id, seq) DO NOTHING"},
      {&w.end_statement_,
       "UPDATE statements SET duration_us = ?3, tag = ?4, sqlstate = ?5, error_message = ?6, row_count = ?7, "
       "status = ?8 WHERE session_id = ?1 AND seq = ?2"},
      {&w.count_statements_, "UPDATE sessions SET statement_count = statement_count + ?2 WHERE session_id = ?1"},
      {&w.end_session_,
       "UPDATE sessions SET ended_at_us = ?2, end_reason = ?3, bytes_from_client = ?4, bytes_from_server = ?5 "
       "WHERE session_id = ?1"},
      {&w.set_masked_,
       "INSERT INTO masked_values (session_id, seq, rule, column_name, value_count) VALUES (?1, ?2, ?3, ?4, ?5) "
       "ON CONFLICT (session_id, seq, rule, column_name) DO UPDATE SET value_count = excluded.value_count"},
  };
  for (const auto& [handle, sql] : statements) {
    auto p = db.prepare(sql);
    if (!p) {
      return p.error();
    }
    *handle = *p;
  }
  return w;
}

Result<void> BatchWriter::apply(std::span<const RecordChange> changes) {
  new_statements_.clear();
  for (const auto& change : changes) {
    auto r = std::visit([this](const auto& c) { return apply(c); }, change);
    if (!r) {
      return r;
    }
  }
  // Counting once per session and batch rather than once per statement: the session row is then updated (and
  // its page rewritten) once, instead of for every statement.
  for (const auto& [session_id, n] : new_statements_) {
    Cursor q = count_statements_.cursor();
    q.bindBorrowed(1, session_id);
    q.bind(2, n);
    if (auto r = q.run(); !r) {
      return r;
    }
  }
  new_statements_.clear();
  return {};
}

// Every string bound below belongs to the batch, which outlives the cursor: no copies.

Result<void> BatchWriter::apply(const SessionRow& s) {
  Cursor q = insert_session_.cursor();
  q.bindBorrowed(1, s.session_id);
  q.bindBorrowed(2, s.user);
  q.bindBorrowed(3, s.connection);
  q.bindBorrowed(4, s.client_addr);
  q.bind(5, int64_t{s.tls ? 1 : 0});
  q.bind(6, s.started_at_us);
  if (auto r = q.run(); !r) {
    return r;
  }
  if (db_->changes() > 0) {
    // Statements applied before their session row existed found no row to count them in (the count is added to
    // the row, not derived from the statements); keep it so, whatever the order within a batch.
    new_statements_.erase(s.session_id);
  }
  return {};
}

Result<void> BatchWriter::apply(const StatementRow& s) {
  const bool complete = isComplete(s);
  {
    Cursor q = insert_statement_.cursor();
    q.bindBorrowed(1, s.session_id);
    q.bind(2, toDb(s.seq));
    q.bindBorrowed(3, s.user);
    q.bindBorrowed(4, s.connection);
    q.bindBorrowed(5, s.client_addr);
    q.bindBorrowed(6, s.protocol);
    q.bindBorrowed(7, s.sql);
    q.bind(8, s.started_at_us);
    if (complete) {
      q.bind(9, s.duration_us);
      q.bindBorrowed(10, s.tag);
      q.bindBorrowed(11, s.sqlstate);
      q.bindBorrowed(12, s.error_message);
      q.bind(13, s.rows);
      q.bindBorrowed(14, statementStatus(s.sqlstate, s.error_message));
    } else {
      // A running statement has nothing of its end yet, whatever the row holds.
      q.bind(9, int64_t{0});
      q.bindBorrowed(10, "");
      q.bindBorrowed(11, "");
      q.bindBorrowed(12, "");
      q.bind(13, int64_t{0});
      q.bindBorrowed(14, kStatementRunning);
    }
    if (auto r = q.run(); !r) {
      return r;
    }
  }
  if (db_->changes() > 0) {
    ++new_statements_[s.session_id];
    return {};
  }
  if (!complete) {
    return {};
  }
  // The row was there already (its start was applied before; this is a replay): its end still applies, as a
  // StatementEnd would.
  return end(s.session_id, s.seq, s.duration_us, s.tag, s.sqlstate, s.error_message, s.rows);
}

Result<void> BatchWriter::apply(const StatementEnd& e) {
  return end(e.session_id, e.seq, e.duration_us, e.tag, e.sqlstate, e.error_message, e.rows);
}

Result<void> BatchWriter::end(std::string_view session_id, uint64_t seq, int64_t duration_us, std::string_view tag,
                              std::string_view sqlstate, std::string_view error_message, int64_t rows) {
  Cursor q = end_statement_.cursor();
  q.bindBorrowed(1, session_id);
  q.bind(2, toDb(seq));
  q.bind(3, duration_us);
  q.bindBorrowed(4, tag);
  q.bindBorrowed(5, sqlstate);
  q.bindBorrowed(6, error_message);
  q.bind(7, rows);
  q.bindBorrowed(8, statementStatus(sqlstate, error_message));
  return q.run();
}

Result<void> BatchWriter::apply(const SessionEnd& e) {
  Cursor q = end_session_.cursor();
  q.bindBorrowed(1, e.session_id);
  q.bind(2, e.ended_at_us);
  q.bindBorrowed(3, e.end_reason);
  q.bind(4, toDb(e.bytes_from_client));
  q.bind(5, toDb(e.bytes_from_server));
  return q.run();
}

Result<void> BatchWriter::apply(const MaskedValues& m) {
  for (const auto& c : m.counts) {
    Cursor q = set_masked_.cursor();
    q.bindBorrowed(1, m.session_id);
    q.bind(2, toDb(m.seq));
    q.bindBorrowed(3, c.rule);
    q.bindBorrowed(4, c.column);
    q.bind(5, toDb(c.count));
    if (auto r = q.run(); !r) {
      return r;
    }
  }
  return {};
}

}  // namespace gatehouse::store::sqlite
