// Streaming event-line reader; see event_reader.h. The line layout and the rules (checksum, required fields and
// their JSON types, first problem reported) are those of events.cpp, which writes the lines.
#include "recording/event_reader.h"
#include "recording/line_format.h"

#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>


namespace gatehouse::recording {

namespace {

namespace json = boost::json;

// Every field any event type has. A line's other keys ("crc", fields a later version adds) are skipped.
enum class Field : uint8_t {
  kType,
  kSessionId,
  kSeq,
  kUser,
  kConnection,
  kClientAddr,
  kProtocol,
  kSql,
  kStartedAtUs,
  kTls,
  kDurationUs,
  kTag,
  kSqlstate,
  kErrorMessage,
  kRows,
  kEndedAtUs,
  kReason,
  kBytesFromClient,
  kBytesFromServer,
  kCount,
  kOther = kCount,
};

constexpr std::array<std::string_view, static_cast<size_t>(Field::kCount)> kFieldNames = {
    "type",         "session_id", "seq",          "user",       "connection",        "client_addr",
    "protocol",     "sql",        "started_at_us", "tls",       "duration_us",       "tag",
    "sqlstate",     "error_message", "rows",      "ended_at_us", "reason",           "bytes_from_client",
    "bytes_from_server"};

// Called for every key of every line: dispatch on the length first, which leaves at most five candidates.
Field fieldNamed(std::string_view key) {
  auto is = [&](Field f) { return key == kFieldNames[static_cast<size_t>(f)] ? f : Field::kOther; };
  switch (key.size()) {
    case 3:
      switch (key[0]) {
        case 's': return key[1] == 'e' ? is(Field::kSeq) : is(Field::kSql);
        case 't': return key[1] == 'l' ? is(Field::kTls) : is(Field::kTag);
        default: return Field::kOther;
      }
    case 4:
      switch (key[0]) {
        case 't': return is(Field::kType);
        case 'u': return is(Field::kUser);
        case 'r': return is(Field::kRows);
        default: return Field::kOther;
      }
    case 6: return is(Field::kReason);
    case 8: return key[0] == 'p' ? is(Field::kProtocol) : is(Field::kSqlstate);
    case 10: return key[0] == 's' ? is(Field::kSessionId) : is(Field::kConnection);
    case 11:
      switch (key[0]) {
        case 'c': return is(Field::kClientAddr);
        case 'd': return is(Field::kDurationUs);
        case 'e': return is(Field::kEndedAtUs);
        default: return Field::kOther;
      }
    case 13: return key[0] == 's' ? is(Field::kStartedAtUs) : is(Field::kErrorMessage);
    case 17: return key[11] == 'c' ? is(Field::kBytesFromClient) : is(Field::kBytesFromServer);
    default: return Field::kOther;
  }
}

// What JSON value a field had, in the terms of a DOM json::value (an integer that fits int64 is kInt64).
enum class Kind : uint8_t { kMissing, kString, kInt64, kUint64, kBool, kOther };

struct Slot {
  Kind kind = Kind::kMissing;
  std::string_view text;  // a string value: in the line (fast path) or in `buffer`
  std::string buffer;     // a string value from the general parser, which may deliver it in parts, unescaped
  int64_t i64 = 0;
  uint64_t u64 = 0;
  bool boolean = false;
};

// The SAX handler: records the top-level object's fields into slots. Nested values are skipped, except that a
// field whose value is an object or array is marked as having the wrong kind.
struct Handler {
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  std::array<Slot, static_cast<size_t>(Field::kCount)> slots;
  std::string key;
  Field field = Field::kOther;
  int depth = 0;           // containers open around the current value
  bool top_object = false;  // the document is an object

  void clear() {
    for (auto& s : slots) {
      s.kind = Kind::kMissing;
    }
    key.clear();
    field = Field::kOther;
    depth = 0;
    top_object = false;
  }

  // The slot the current value fills, if it is one of the top-level object's known fields.
  Slot* target() {
    return depth == 1 && field != Field::kOther ? &slots[static_cast<size_t>(field)] : nullptr;
  }
  void mark(Kind kind) {
    if (Slot* s = target()) {
      s->kind = kind;
    }
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    if (depth == 0) {
      top_object = true;
    }
    mark(Kind::kOther);
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    --depth;
    return true;
  }
  bool on_array_begin(json::error_code&) {
    mark(Kind::kOther);
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    --depth;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1) {
      key.append(s.data(), s.size());
    }
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1) {
      key.append(s.data(), s.size());
      field = fieldNamed(key);
      key.clear();
      if (Slot* slot = target()) {
        slot->buffer.clear();  // a repeated key: the last one counts, as in a DOM object
      }
    }
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (Slot* slot = target()) {
      slot->buffer.append(s.data(), s.size());
    }
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (Slot* slot = target()) {
      slot->buffer.append(s.data(), s.size());
      slot->kind = Kind::kString;
      slot->text = slot->buffer;
    }
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t v, json::string_view, json::error_code&) {
    if (Slot* slot = target()) {
      slot->kind = Kind::kInt64;
      slot->i64 = v;
    }
    return true;
  }
  bool on_uint64(uint64_t v, json::string_view, json::error_code&) {
    if (Slot* slot = target()) {
      slot->kind = Kind::kUint64;
      slot->u64 = v;
    }
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    mark(Kind::kOther);
    return true;
  }
  bool on_bool(bool v, json::error_code&) {
    if (Slot* slot = target()) {
      slot->kind = Kind::kBool;
      slot->boolean = v;
    }
    return true;
  }
  bool on_null(json::error_code&) {
    mark(Kind::kOther);
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// The fast path. appendEvent writes one layout only: an object of plain keys and values with no whitespace, no
// escapes and no nesting. Most lines are such, and for those this scan fills the slots as the SAX handler would,
// at a fraction of a general parser's cost, which the indexer pays for every line it reads. Anything else —
// whitespace, an escape, a byte outside printable ASCII, null, a fraction, a nested value, invalid JSON — makes it
// give up, and Boost.JSON parses the line instead; so the fast path only has to be right about what it accepts,
// and the tests compare both paths with parseEvent.

// True when every byte is printable ASCII and none is a backslash: then no string in the line has an escape, a
// control character or UTF-8 to validate, and each ends at the next quote. One branch-free pass, which the
// compiler vectorizes.
bool isPlain(std::string_view line) {
  unsigned bad = 0;
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    bad |= static_cast<unsigned>(c < 0x20) | static_cast<unsigned>(c > 0x7e) | static_cast<unsigned>(c == '\\');
  }
  return bad == 0;
}

// Advances `p` to the quote that ends the string it is in (in a plain line); false if there is none.
bool toQuote(const char*& p, const char* end) {
  const void* q = std::memchr(p, '"', static_cast<size_t>(end - p));
  if (q == nullptr) {
    return false;
  }
  p = static_cast<const char*>(q);
  return true;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// An integer as a DOM would type it: int64 when it fits, else uint64. Gives up on what a DOM would make a double
// (fractions, exponents, magnitudes past 64 bits), on -0, and on leading zeros (invalid JSON).
bool scanInteger(const char*& p, const char* end, Slot* slot) {
  const bool negative = *p == '-';
  if (negative) {
    ++p;
  }
  if (p == end || !isDigit(*p) || (*p == '0' && p + 1 < end && isDigit(p[1]))) {
    return false;
  }
  uint64_t v = 0;
  int digits = 0;
  for (; p < end && isDigit(*p); ++p) {
    if (++digits > 19) {  // 19 digits cannot overflow 64 bits
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
    return false;
  }
  constexpr uint64_t kInt64Max = static_cast<uint64_t>(INT64_MAX);
  if (negative && (v == 0 || v > kInt64Max + 1)) {
    return false;
  }
  if (slot != nullptr) {
    if (negative) {
      slot->kind = Kind::kInt64;
      slot->i64 = static_cast<int64_t>(0 - v);
    } else if (v <= kInt64Max) {
      slot->kind = Kind::kInt64;
      slot->i64 = static_cast<int64_t>(v);
    } else {
      slot->kind = Kind::kUint64;
      slot->u64 = v;
    }
  }
  return true;
}

bool scanLiteral(const char*& p, const char* end, std::string_view word) {
  if (static_cast<size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
    return false;
  }
  p += word.size();
  return true;
}

// Fills `h` from a line in the plain layout; false (with `h` in any state) when the line is not in it.
bool scanPlain(std::string_view line, Handler& h) {
  if (!isPlain(line)) {
    return false;
  }
  const char* p = line.data();
  const char* const end = p + line.size();
  if (p == end || *p != '{') {
    return false;
  }
  ++p;
  h.top_object = true;
  if (p < end && *p == '}') {
    return p + 1 == end;
  }
  while (true) {
    if (p == end || *p != '"') {
      return false;
    }
    const char* key = ++p;
    if (!toQuote(p, end)) {
      return false;
    }
    const Field field = fieldNamed(std::string_view(key, static_cast<size_t>(p - key)));
    Slot* slot = field == Field::kOther ? nullptr : &h.slots[static_cast<size_t>(field)];
    if (++p == end || *p != ':' || ++p == end) {
      return false;
    }
    if (*p == '"') {
      const char* value = ++p;
      if (!toQuote(p, end)) {
        return false;
      }
      if (slot != nullptr) {
        slot->kind = Kind::kString;
        slot->text = std::string_view(value, static_cast<size_t>(p - value));
      }
      ++p;
    } else if (*p == '-' || isDigit(*p)) {
      if (!scanInteger(p, end, slot)) {
        return false;
      }
    } else if (*p == 't' || *p == 'f') {
      const bool value = *p == 't';
      if (!scanLiteral(p, end, value ? "true" : "false")) {
        return false;
      }
      if (slot != nullptr) {
        slot->kind = Kind::kBool;
        slot->boolean = value;
      }
    } else {
      return false;
    }
    if (p == end) {
      return false;
    }
    if (*p == '}') {
      return p + 1 == end;
    }
    if (*p++ != ',') {
      return false;
    }
  }
}

// Takes typed fields out of the slots, remembering the first problem, as events.cpp's reader does.
class Fields {
 public:
  explicit Fields(Handler& h) : h_(h) {}

  std::string_view str(Field f) {
    Slot* s = find(f);
    if (s == nullptr) {
      return {};
    }
    if (s->kind != Kind::kString) {
      fail(f, "a string");
      return {};
    }
    return s->text;
  }

  int64_t i64(Field f) {
    Slot* s = find(f);
    if (s != nullptr && s->kind == Kind::kInt64) {
      return s->i64;
    }
    if (s != nullptr) {
      fail(f, "an integer");
    }
    return 0;
  }

  uint64_t u64(Field f) {
    Slot* s = find(f);
    if (s != nullptr && s->kind == Kind::kUint64) {
      return s->u64;
    }
    if (s != nullptr && s->kind == Kind::kInt64 && s->i64 >= 0) {
      return static_cast<uint64_t>(s->i64);
    }
    if (s != nullptr) {
      fail(f, "a non-negative integer");
    }
    return 0;
  }

  bool boolean(Field f) {
    Slot* s = find(f);
    if (s != nullptr && s->kind == Kind::kBool) {
      return s->boolean;
    }
    if (s != nullptr) {
      fail(f, "a boolean");
    }
    return false;
  }

  Result<void> done() {
    if (!error_.empty()) {
      return makeError(error_);
    }
    return {};
  }

 private:
  static std::string_view name(Field f) { return kFieldNames[static_cast<size_t>(f)]; }

  Slot* find(Field f) {
    Slot& s = h_.slots[static_cast<size_t>(f)];
    if (s.kind == Kind::kMissing) {
      if (error_.empty()) {
        error_ = "event field '" + std::string(name(f)) + "' is missing";
      }
      return nullptr;
    }
    return &s;
  }

  void fail(Field f, std::string_view what) {
    if (error_.empty()) {
      error_ = "event field '" + std::string(name(f)) + "' is not " + std::string(what);
    }
  }

  Handler& h_;
  std::string error_;
};

}  // namespace

struct EventReader::Parser {
  json::basic_parser<Handler> json{json::parse_options{}};
};

EventReader::EventReader() : parser_(std::make_unique<Parser>()) {}

EventReader::~EventReader() = default;

Result<void> EventReader::readFields(std::string_view line, EventFields& e) {
  if (auto checked = checkedLineBody(line); !checked) return checked.error();

  auto& parser = parser_->json;
  Handler& h = parser.handler();
  h.clear();
  if (!scanPlain(line, h)) {
    h.clear();
    parser.reset();
    json::error_code jec;
    const size_t n = parser.write_some(false, line.data(), line.size(), jec);
    if (jec || n != line.size() || !h.top_object) {
      return makeError("event line is not a JSON object");
    }
  }
  // The fields are taken in the order of each event's struct, so that the first problem reported is the one
  // parseEvent reports.
  Fields f(h);
  e = EventFields{};
  const std::string_view type = f.str(Field::kType);
  if (type == "session_opened") {
    e.type = EventType::kSessionOpened;
    e.session_id = f.str(Field::kSessionId);
    e.user = f.str(Field::kUser);
    e.connection = f.str(Field::kConnection);
    e.client_addr = f.str(Field::kClientAddr);
    e.started_at_us = f.i64(Field::kStartedAtUs);
    e.tls = f.boolean(Field::kTls);
  } else if (type == "statement_started") {
    e.type = EventType::kStatementStarted;
    e.session_id = f.str(Field::kSessionId);
    e.seq = f.u64(Field::kSeq);
    e.user = f.str(Field::kUser);
    e.connection = f.str(Field::kConnection);
    e.client_addr = f.str(Field::kClientAddr);
    e.protocol = f.str(Field::kProtocol);
    e.sql = f.str(Field::kSql);
    e.started_at_us = f.i64(Field::kStartedAtUs);
  } else if (type == "statement_finished") {
    e.type = EventType::kStatementFinished;
    e.session_id = f.str(Field::kSessionId);
    e.seq = f.u64(Field::kSeq);
    e.duration_us = f.i64(Field::kDurationUs);
    e.tag = f.str(Field::kTag);
    e.sqlstate = f.str(Field::kSqlstate);
    e.error_message = f.str(Field::kErrorMessage);
    e.rows = f.i64(Field::kRows);
  } else if (type == "session_closed") {
    e.type = EventType::kSessionClosed;
    e.session_id = f.str(Field::kSessionId);
    e.ended_at_us = f.i64(Field::kEndedAtUs);
    e.reason = f.str(Field::kReason);
    e.bytes_from_client = f.u64(Field::kBytesFromClient);
    e.bytes_from_server = f.u64(Field::kBytesFromServer);
  } else {
    return makeError("unknown event type '" + std::string(type) + "'");
  }
  return f.done();
}

Result<Event> EventReader::read(std::string_view line) {
  EventFields e;
  if (auto r = readFields(line, e); !r) {
    return r.error();
  }
  using S = std::string;
  switch (e.type) {
    case EventType::kSessionOpened:
      return Event(SessionOpened{.session_id = S(e.session_id), .user = S(e.user), .connection = S(e.connection),
                                 .client_addr = S(e.client_addr), .started_at_us = e.started_at_us, .tls = e.tls});
    case EventType::kStatementStarted:
      return Event(StatementStarted{.session_id = S(e.session_id), .seq = e.seq, .user = S(e.user),
                                    .connection = S(e.connection), .client_addr = S(e.client_addr),
                                    .protocol = S(e.protocol), .sql = S(e.sql), .started_at_us = e.started_at_us});
    case EventType::kStatementFinished:
      return Event(StatementFinished{.session_id = S(e.session_id), .seq = e.seq, .duration_us = e.duration_us,
                                     .tag = S(e.tag), .sqlstate = S(e.sqlstate),
                                     .error_message = S(e.error_message), .rows = e.rows});
    case EventType::kSessionClosed:
      return Event(SessionClosed{.session_id = S(e.session_id), .ended_at_us = e.ended_at_us, .reason = S(e.reason),
                                 .bytes_from_client = e.bytes_from_client, .bytes_from_server = e.bytes_from_server});
  }
  return makeError("unknown event type");  // unreachable: readFields sets one of the types
}

}  // namespace gatehouse::recording
