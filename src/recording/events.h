// The events a session records, and their on-disk form: one JSON object per line (JSON Lines), each carrying a
// CRC-32 of its own bytes so that the indexer can tell a torn or corrupted line from a real event.
//
// Line layout: {"type":"statement_started",...,"crc":"1a2b3c4d"}\n — the CRC covers every byte before
// `,"crc":`, so the line stays valid JSON for jq and the checksum needs no re-serialization to verify.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"

namespace gatehouse::recording {

// Times are microseconds since the Unix epoch, UTC.

struct SessionOpened {
  std::string session_id;
  std::string user;
  std::string connection;
  std::string client_addr;
  int64_t started_at_us = 0;
  bool tls = false;
  friend bool operator==(const SessionOpened&, const SessionOpened&) = default;
};

struct StatementStarted {
  std::string session_id;
  uint64_t seq = 0;
  std::string user;
  std::string connection;
  std::string client_addr;
  std::string protocol;  // "simple" | "extended"
  std::string sql;
  int64_t started_at_us = 0;
  friend bool operator==(const StatementStarted&, const StatementStarted&) = default;
};

struct StatementFinished {
  std::string session_id;
  uint64_t seq = 0;
  int64_t duration_us = 0;
  std::string tag;
  std::string sqlstate;  // empty: success
  std::string error_message;
  int64_t rows = 0;
  friend bool operator==(const StatementFinished&, const StatementFinished&) = default;
};

struct SessionClosed {
  std::string session_id;
  int64_t ended_at_us = 0;
  std::string reason;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_from_server = 0;
  friend bool operator==(const SessionClosed&, const SessionClosed&) = default;
};

// How many values of one result column a masking rule masked. Never the values themselves.
struct MaskedCount {
  std::string rule;
  std::string column;
  uint64_t count = 0;
  friend bool operator==(const MaskedCount&, const MaskedCount&) = default;
};

// What masking masked in a statement's results, by rule and column. The counts are totals so far (for seq 0, of
// the session's masking outside any one statement): a later event for the same statement, rule and column
// replaces the count, so that a line indexed twice (a replayed or copied log) still counts once.
struct ValuesMasked {
  std::string session_id;
  uint64_t seq = 0;  // the statement whose results were masked (0: not attributable to one statement)
  std::vector<MaskedCount> counts;
  friend bool operator==(const ValuesMasked&, const ValuesMasked&) = default;
};

using Event = std::variant<SessionOpened, StatementStarted, StatementFinished, SessionClosed, ValuesMasked>;

// Appends `e` as one checksummed line (ending in '\n') to `batch`. Several events appended to one batch are then
// appended to the log with one EventLog::append.
void appendEvent(const Event& e, std::string& batch);

// A session's statement events, written byte for byte as appendEvent writes StatementStarted and
// StatementFinished, at a fraction of the cost: what stays the same for the whole session (its id, user,
// connection and client address) is escaped once, and nothing is copied into an Event first. This runs twice per
// statement on the gateway's data path; appendEvent stays the reference it is tested against.
class StatementEventWriter {
 public:
  StatementEventWriter() = default;
  StatementEventWriter(std::string_view session_id, std::string_view user, std::string_view connection,
                       std::string_view client_addr);

  void started(uint64_t seq, std::string_view protocol, std::string_view sql, int64_t started_at_us,
               std::string& batch) const;
  void finished(uint64_t seq, int64_t duration_us, std::string_view tag, std::string_view sqlstate,
                std::string_view error_message, int64_t rows, std::string& batch) const;

 private:
  std::string started_head_;   // {"type":"statement_started","session_id":"…","seq":
  std::string started_mid_;    // ,"user":"…","connection":"…","client_addr":"…","protocol":
  std::string finished_head_;  // {"type":"statement_finished","session_id":"…","seq":
};

// Parses one line (without its '\n'). Fails on a checksum mismatch, malformed JSON, an unknown type or a missing
// field.
// The reference reader (a Boost.JSON DOM, simple to check by eye). The indexer uses EventReader
// (event_reader.h), which must agree with this one line for line; the tests hold them to it.
Result<Event> parseEvent(std::string_view line);

}  // namespace gatehouse::recording
