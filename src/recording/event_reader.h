// Reads event lines for the indexer, which reads every line the gateway writes: the format, checks and error
// messages of parseEvent (events.h), at a fraction of the cost. Lines in the writer's own plain layout are scanned
// directly; any other line goes through Boost.JSON's streaming (SAX) parser; either way the fields are filled in
// place, with no JSON document allocated, searched and freed per line. One reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/result.h"
#include "recording/events.h"

namespace gatehouse::recording {

enum class EventType : uint8_t {
  kSessionOpened,
  kStatementStarted,
  kStatementFinished,
  kSessionClosed,
  kValuesMasked,
};

// One entry of a values_masked event's counts, its text viewing the line or the reader's buffers (as EventFields).
struct MaskedCountFields {
  std::string_view rule;
  std::string_view column;
  uint64_t count = 0;
};

// One event as read, its text fields viewing the line or the reader's buffers: valid until the reader's next read
// and while the line lives. Fields that its type does not have are empty. The indexer builds the store's rows from
// these directly, copying each string once, into the row.
struct EventFields {
  EventType type = EventType::kSessionOpened;
  std::string_view session_id;
  std::string_view user;
  std::string_view connection;
  std::string_view client_addr;
  std::string_view protocol;
  std::string_view sql;
  std::string_view tag;
  std::string_view sqlstate;
  std::string_view error_message;
  std::string_view reason;
  std::span<const MaskedCountFields> counts;  // in the reader's buffers
  uint64_t seq = 0;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_from_server = 0;
  int64_t started_at_us = 0;
  int64_t ended_at_us = 0;
  int64_t duration_us = 0;
  int64_t rows = 0;
  bool tls = false;
};

class EventReader {
 public:
  EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;
  ~EventReader();

  // Parses one line (without its '\n'), as parseEvent does: the same event, or the same error.
  Result<Event> read(std::string_view line);
  // The same, into `fields` and without copying the text: see EventFields for how long the views stay valid.
  // On an error `fields` holds nothing of use.
  Result<void> readFields(std::string_view line, EventFields& fields);

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

}  // namespace gatehouse::recording
