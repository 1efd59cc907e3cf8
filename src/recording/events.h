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

using Event = std::variant<SessionOpened, StatementStarted, StatementFinished, SessionClosed>;

// Appends `e` as one checksummed line (ending in '\n') to `batch`. Several events appended to one batch are then
// appended to the log with one EventLog::append.
void appendEvent(const Event& e, std::string& batch);

// Parses one line (without its '\n'). Fails on a checksum mismatch, malformed JSON, an unknown type or a missing
// field.
// The reference reader (a Boost.JSON DOM, simple to check by eye). The indexer uses EventReader
// (event_reader.h), which must agree with this one line for line; the tests hold them to it.
Result<Event> parseEvent(std::string_view line);

}  // namespace gatehouse::recording
