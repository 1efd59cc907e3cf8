// Streaming event-line reader; see event_reader.h. The line layout and the rules (checksum, required fields and
// their JSON types, first problem reported) are those of events.cpp, which writes the lines.
#include "recording/event_reader.h"
#include "recording/line_format.h"

#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>


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
  kCounts,
  kCount,
  kOther = kCount,
};

constexpr std::array<std::string_view, static_cast<size_t>(Field::kCount)> kFieldNames = {
    "type",         "session_id", "seq",          "user",       "connection",        "client_addr",
    "protocol",     "sql",        "started_at_us", "tls",       "duration_us",       "tag",
    "sqlstate",     "error_message", "rows",      "ended_at_us", "reason",           "bytes_from_client",
    "bytes_from_server", "counts"};

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
    case 6: return key[0] == 'r' ? is(Field::kReason) : is(Field::kCounts);
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

// The fields of an entry of "counts" (a values_masked event's array of objects).
enum class EntryField : uint8_t { kRule, kColumn, kCount, kOther };
constexpr std::array<std::string_view, 3> kEntryFieldNames = {"rule", "column", "count"};

EntryField entryFieldNamed(std::string_view key) {
  for (size_t i = 0; i < kEntryFieldNames.size(); ++i) {
    if (key == kEntryFieldNames[i]) {
      return static_cast<EntryField>(i);
    }
  }
  return EntryField::kOther;
}

// What JSON value a field had, in the terms of a DOM json::value (an integer that fits int64 is kInt64).
enum class Kind : uint8_t { kMissing, kString, kInt64, kUint64, kBool, kArray, kOther };

struct Slot {
  Kind kind = Kind::kMissing;
  std::string_view text;  // a string value: in the line (fast path) or in `buffer`
  std::string buffer;     // a string value from the general parser, which may deliver it in parts, unescaped
  int64_t i64 = 0;
  uint64_t u64 = 0;
  bool boolean = false;
};

// One element of the "counts" array: an object's fields in slots, or an element that is not an object.
struct Entry {
  bool object = false;
  std::array<Slot, kEntryFieldNames.size()> slots;
};

// The SAX handler: records the top-level object's fields into slots, and the elements of a "counts" array into
// entries. Other nested values are skipped, except that a field whose value is an object or array is marked as
// having that kind.
struct Handler {
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  std::array<Slot, static_cast<size_t>(Field::kCount)> slots;
  // The elements of the "counts" array, in order: the first `entries_used`. A deque, so that an entry's string
  // buffers, which its slots' text views, stay where they are as more entries are added; kept from line to line
  // for their buffers.
  std::deque<Entry> entries;
  size_t entries_used = 0;
  std::vector<MaskedCountFields> counts;  // what Fields::counts takes out of the entries
  std::string key;
  Field field = Field::kOther;
  EntryField entry_field = EntryField::kOther;
  int depth = 0;            // containers open around the current value
  bool top_object = false;  // the document is an object
  bool in_counts = false;   // inside the top-level "counts" array

  void clear() {
    for (auto& s : slots) {
      s.kind = Kind::kMissing;
    }
    entries_used = 0;
    key.clear();
    field = Field::kOther;
    entry_field = EntryField::kOther;
    depth = 0;
    top_object = false;
    in_counts = false;
  }

  Entry& addEntry(bool object) {
    if (entries_used == entries.size()) {
      entries.emplace_back();
    }
    Entry& e = entries[entries_used++];
    e.object = object;
    for (auto& s : e.slots) {
      s.kind = Kind::kMissing;
    }
    return e;
  }

  // Whether the current key or value is a field of an entry of "counts" (an object's members are one level
  // deeper than the array's elements).
  bool inEntry() const { return depth == 3 && in_counts; }

  // The slot the current value fills, if it is one of the top-level object's known fields or of an entry's.
  Slot* target() {
    if (depth == 1) {
      return field != Field::kOther ? &slots[static_cast<size_t>(field)] : nullptr;
    }
    if (inEntry() && entry_field != EntryField::kOther) {
      return &entries[entries_used - 1].slots[static_cast<size_t>(entry_field)];
    }
    return nullptr;
  }
  void mark(Kind kind) {
    if (Slot* s = target()) {
      s->kind = kind;
    }
  }
  // Called as each value begins (a container) or ends (a scalar): an element of "counts" becomes an entry.
  void element(bool object) {
    if (depth == 2 && in_counts) {
      addEntry(object);
    }
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    if (depth == 0) {
      top_object = true;
    }
    element(true);
    mark(Kind::kOther);
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    --depth;
    return true;
  }
  bool on_array_begin(json::error_code&) {
    element(false);
    mark(Kind::kArray);
    if (depth == 1 && field == Field::kCounts) {
      in_counts = true;
      entries_used = 0;  // a repeated key: the last one counts
    }
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    if (--depth == 1) {
      in_counts = false;
    }
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1 || inEntry()) {
      key.append(s.data(), s.size());
    }
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1 || inEntry()) {
      key.append(s.data(), s.size());
      if (depth == 1) {
        field = fieldNamed(key);
      } else {
        entry_field = entryFieldNamed(key);
      }
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
    element(false);
    if (Slot* slot = target()) {
      slot->buffer.append(s.data(), s.size());
      slot->kind = Kind::kString;
      slot->text = slot->buffer;
    }
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t v, json::string_view, json::error_code&) {
    element(false);
    if (Slot* slot = target()) {
      slot->kind = Kind::kInt64;
      slot->i64 = v;
    }
    return true;
  }
  bool on_uint64(uint64_t v, json::string_view, json::error_code&) {
    element(false);
    if (Slot* slot = target()) {
      slot->kind = Kind::kUint64;
      slot->u64 = v;
    }
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    element(false);
    mark(Kind::kOther);
    return true;
  }
  bool on_bool(bool v, json::error_code&) {
    element(false);
    if (Slot* slot = target()) {
      slot->kind = Kind::kBool;
      slot->boolean = v;
    }
    return true;
  }
  bool on_null(json::error_code&) {
    element(false);
    mark(Kind::kOther);
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// The fast path. appendEvent writes one layout only: an object of plain keys and values with no whitespace, no
// escapes and no nesting but the "counts" array of flat objects. Most lines are such, and for those this scan
// fills the slots and entries as the SAX handler would, at a fraction of a general parser's cost, which the
// indexer pays for every line it reads. Anything else — whitespace, an escape, a byte outside printable ASCII,
// null, a fraction, any other nested value, invalid JSON — makes it give up, and Boost.JSON parses the line
// instead; so the fast path only has to be right about what it accepts, and the tests compare both paths with
// parseEvent.

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

// Scans a plain scalar value (a string, an integer, true or false) into `slot` (none: the value is skipped).
bool scanScalar(const char*& p, const char* end, Slot* slot) {
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
    return true;
  }
  if (*p == '-' || isDigit(*p)) {
    return scanInteger(p, end, slot);
  }
  if (*p == 't' || *p == 'f') {
    const bool value = *p == 't';
    if (!scanLiteral(p, end, value ? "true" : "false")) {
      return false;
    }
    if (slot != nullptr) {
      slot->kind = Kind::kBool;
      slot->boolean = value;
    }
    return true;
  }
  return false;
}

// Scans an object's members, from just past its '{' to just past its '}'. `value(key, p)` scans each member's
// value (`p` at its first byte, never at the end); false gives up.
template <class ScanValue>
bool scanMembers(const char*& p, const char* end, ScanValue value) {
  if (p < end && *p == '}') {
    ++p;
    return true;
  }
  while (true) {
    if (p == end || *p != '"') {
      return false;
    }
    const char* key = ++p;
    if (!toQuote(p, end)) {
      return false;
    }
    const std::string_view name(key, static_cast<size_t>(p - key));
    if (++p == end || *p != ':' || ++p == end) {
      return false;
    }
    if (!value(name, p)) {
      return false;
    }
    if (p == end) {
      return false;
    }
    if (*p == '}') {
      ++p;
      return true;
    }
    if (*p++ != ',') {
      return false;
    }
  }
}

// Scans the "counts" array (at its '['), when it is what appendEvent writes: flat objects of plain scalars.
bool scanCounts(const char*& p, const char* end, Handler& h) {
  h.slots[static_cast<size_t>(Field::kCounts)].kind = Kind::kArray;
  h.entries_used = 0;  // a repeated key: the last one counts
  if (++p < end && *p == ']') {
    ++p;
    return true;
  }
  while (true) {
    if (p == end || *p != '{') {
      return false;
    }
    Entry& entry = h.addEntry(true);
    ++p;
    const bool scanned = scanMembers(p, end, [&](std::string_view key, const char*& v) {
      const EntryField field = entryFieldNamed(key);
      return scanScalar(v, end, field == EntryField::kOther ? nullptr : &entry.slots[static_cast<size_t>(field)]);
    });
    if (!scanned || p == end) {
      return false;
    }
    if (*p == ']') {
      ++p;
      return true;
    }
    if (*p++ != ',') {
      return false;
    }
  }
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
  const bool scanned = scanMembers(p, end, [&](std::string_view key, const char*& v) {
    const Field field = fieldNamed(key);
    if (*v == '[') {
      return field == Field::kCounts && scanCounts(v, end, h);
    }
    return scanScalar(v, end, field == Field::kOther ? nullptr : &h.slots[static_cast<size_t>(field)]);
  });
  return scanned && p == end;
}

// A field's name as errors give it: "seq", or "counts[2]" for an entry of an array, "counts[2].rule" for a field
// of one. Spelled out only for an error.
struct Name {
  std::string_view key;
  std::string_view array;  // the array the entry is in; empty for a top-level field
  size_t index = 0;

  std::string text() const {
    if (array.empty()) {
      return std::string(key);
    }
    std::string out = std::string(array) + "[" + std::to_string(index) + "]";
    if (!key.empty()) {
      out += ".";
      out += key;
    }
    return out;
  }
};

// Takes typed fields out of the slots, remembering the first problem, as events.cpp's reader does.
class Fields {
 public:
  explicit Fields(Handler& h) : h_(h) {}

  std::string_view str(Field f) { return str(slot(f), {.key = name(f)}); }
  int64_t i64(Field f) { return i64(slot(f), {.key = name(f)}); }
  uint64_t u64(Field f) { return u64(slot(f), {.key = name(f)}); }
  bool boolean(Field f) { return boolean(slot(f), {.key = name(f)}); }

  // An array of {rule, column, count} objects, taken into the handler's `counts`.
  std::span<const MaskedCountFields> counts(Field f) {
    Slot* s = find(slot(f), {.key = name(f)});
    if (s == nullptr) {
      return {};
    }
    if (s->kind != Kind::kArray) {
      fail({.key = name(f)}, "an array");
      return {};
    }
    h_.counts.clear();
    for (size_t i = 0; i < h_.entries_used; ++i) {
      Entry& entry = h_.entries[i];
      if (!entry.object) {
        fail({.array = name(f), .index = i}, "an object");
        return {};
      }
      const auto at = [&](EntryField ef) -> Slot& { return entry.slots[static_cast<size_t>(ef)]; };
      const auto named = [&](EntryField ef) {
        return Name{.key = kEntryFieldNames[static_cast<size_t>(ef)], .array = name(f), .index = i};
      };
      const MaskedCountFields c{.rule = str(at(EntryField::kRule), named(EntryField::kRule)),
                                .column = str(at(EntryField::kColumn), named(EntryField::kColumn)),
                                .count = u64(at(EntryField::kCount), named(EntryField::kCount))};
      if (!error_.empty()) {
        return {};
      }
      h_.counts.push_back(c);
    }
    return h_.counts;
  }

  Result<void> done() {
    if (!error_.empty()) {
      return makeError(error_);
    }
    return {};
  }

 private:
  static std::string_view name(Field f) { return kFieldNames[static_cast<size_t>(f)]; }
  Slot& slot(Field f) { return h_.slots[static_cast<size_t>(f)]; }

  std::string_view str(Slot& slot, const Name& n) {
    Slot* s = find(slot, n);
    if (s == nullptr) {
      return {};
    }
    if (s->kind != Kind::kString) {
      fail(n, "a string");
      return {};
    }
    return s->text;
  }

  int64_t i64(Slot& slot, const Name& n) {
    Slot* s = find(slot, n);
    if (s != nullptr && s->kind == Kind::kInt64) {
      return s->i64;
    }
    if (s != nullptr) {
      fail(n, "an integer");
    }
    return 0;
  }

  uint64_t u64(Slot& slot, const Name& n) {
    Slot* s = find(slot, n);
    if (s != nullptr && s->kind == Kind::kUint64) {
      return s->u64;
    }
    if (s != nullptr && s->kind == Kind::kInt64 && s->i64 >= 0) {
      return static_cast<uint64_t>(s->i64);
    }
    if (s != nullptr) {
      fail(n, "a non-negative integer");
    }
    return 0;
  }

  bool boolean(Slot& slot, const Name& n) {
    Slot* s = find(slot, n);
    if (s != nullptr && s->kind == Kind::kBool) {
      return s->boolean;
    }
    if (s != nullptr) {
      fail(n, "a boolean");
    }
    return false;
  }

  Slot* find(Slot& s, const Name& n) {
    if (s.kind == Kind::kMissing) {
      if (error_.empty()) {
        error_ = "event field '" + n.text() + "' is missing";
      }
      return nullptr;
    }
    return &s;
  }

  void fail(const Name& n, std::string_view what) {
    if (error_.empty()) {
      error_ = "event field '" + n.text() + "' is not " + std::string(what);
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
  } else if (type == "values_masked") {
    e.type = EventType::kValuesMasked;
    e.session_id = f.str(Field::kSessionId);
    e.seq = f.u64(Field::kSeq);
    e.counts = f.counts(Field::kCounts);
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
    case EventType::kValuesMasked: {
      ValuesMasked v{.session_id = S(e.session_id), .seq = e.seq, .counts = {}};
      v.counts.reserve(e.counts.size());
      for (const auto& c : e.counts) {
        v.counts.push_back(MaskedCount{.rule = S(c.rule), .column = S(c.column), .count = c.count});
      }
      return Event(std::move(v));
    }
  }
  return makeError("unknown event type");  // unreachable: readFields sets one of the types
}

}  // namespace gatehouse::recording
