// Reads event lines for the indexer, which reads every line the gateway writes: the format, checks and error
// messages of parseEvent (events.h), but with Boost.JSON's streaming (SAX) parser filling the event's fields
// directly, instead of a JSON document allocated, searched and freed per line. One reader per thread.
#pragma once

#include <memory>
#include <string_view>

#include "core/result.h"
#include "recording/events.h"

namespace gatehouse::recording {

class EventReader {
 public:
  EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;
  ~EventReader();

  // Parses one line (without its '\n'), as parseEvent does.
  Result<Event> read(std::string_view line);

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

}  // namespace gatehouse::recording
