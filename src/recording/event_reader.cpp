// Streaming event-line reader; see event_reader.h. The line layout and the rules (checksum, required fields and
// their JSON types, first problem reported) are those of events.cpp, which writes the lines.
#include "recording/event_reader.h"

#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdint>
#include <string>

#include <zlib.h>

namespace gatehouse::recording {

namespace {

namespace json = boost::json;

// `,"crc":"` + 8 hex digits + `"}`
constexpr std::string_view kCrcKey = ",\"crc\":\"";
constexpr size_t kCrcSuffixSize = kCrcKey.size() + 8 + 2;

uint32_t crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      ::crc32_z(::crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

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

Field fieldNamed(std::string_view key) {
  for (size_t i = 0; i < kFieldNames.size(); ++i) {
    if (kFieldNames[i] == key) {
      return static_cast<Field>(i);
    }
  }
  return Field::kOther;
}

// What JSON value a field had, in the terms of a DOM json::value (an integer that fits int64 is kInt64).
enum class Kind : uint8_t { kMissing, kString, kInt64, kUint64, kBool, kOther };

struct Slot {
  Kind kind = Kind::kMissing;
  std::string text;
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
        slot->text.clear();  // a repeated key: the last one counts, as in a DOM object
      }
    }
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (Slot* slot = target()) {
      slot->text.append(s.data(), s.size());
    }
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (Slot* slot = target()) {
      slot->text.append(s.data(), s.size());
      slot->kind = Kind::kString;
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

// Takes typed fields out of the slots, remembering the first problem, as events.cpp's reader does.
class Fields {
 public:
  explicit Fields(Handler& h) : h_(h) {}

  std::string str(Field f) {
    Slot* s = find(f);
    if (s == nullptr) {
      return {};
    }
    if (s->kind != Kind::kString) {
      fail(f, "a string");
      return {};
    }
    return std::move(s->text);
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

  template <class T>
  Result<Event> done(T event) {
    if (!error_.empty()) {
      return makeError(error_);
    }
    return Event(std::move(event));
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

Result<Event> EventReader::read(std::string_view line) {
  if (line.size() < kCrcSuffixSize + 2 || !line.ends_with("\"}") ||
      line.substr(line.size() - kCrcSuffixSize, kCrcKey.size()) != kCrcKey) {
    return makeError("event line has no checksum (torn or not an event)");
  }
  const std::string_view body = line.substr(0, line.size() - kCrcSuffixSize);
  const std::string_view hex = line.substr(line.size() - 10, 8);
  uint32_t stated = 0;
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), stated, 16);
  if (ec != std::errc() || end != hex.data() + hex.size()) {
    return makeError("event line has a malformed checksum");
  }
  if (crc32(body) != stated) {
    return makeError("event line checksum mismatch (corrupt line)");
  }

  auto& parser = parser_->json;
  Handler& h = parser.handler();
  parser.reset();
  h.clear();
  json::error_code jec;
  const size_t n = parser.write_some(false, line.data(), line.size(), jec);
  if (jec || n != line.size() || !h.top_object) {
    return makeError("event line is not a JSON object");
  }
  Fields f(h);
  const std::string type = f.str(Field::kType);
  if (type == "session_opened") {
    SessionOpened e{.session_id = f.str(Field::kSessionId), .user = f.str(Field::kUser),
                    .connection = f.str(Field::kConnection), .client_addr = f.str(Field::kClientAddr),
                    .started_at_us = f.i64(Field::kStartedAtUs), .tls = f.boolean(Field::kTls)};
    return f.done(std::move(e));
  }
  if (type == "statement_started") {
    StatementStarted e{.session_id = f.str(Field::kSessionId), .seq = f.u64(Field::kSeq),
                       .user = f.str(Field::kUser), .connection = f.str(Field::kConnection),
                       .client_addr = f.str(Field::kClientAddr), .protocol = f.str(Field::kProtocol),
                       .sql = f.str(Field::kSql), .started_at_us = f.i64(Field::kStartedAtUs)};
    return f.done(std::move(e));
  }
  if (type == "statement_finished") {
    StatementFinished e{.session_id = f.str(Field::kSessionId), .seq = f.u64(Field::kSeq),
                        .duration_us = f.i64(Field::kDurationUs), .tag = f.str(Field::kTag),
                        .sqlstate = f.str(Field::kSqlstate), .error_message = f.str(Field::kErrorMessage),
                        .rows = f.i64(Field::kRows)};
    return f.done(std::move(e));
  }
  if (type == "session_closed") {
    SessionClosed e{.session_id = f.str(Field::kSessionId), .ended_at_us = f.i64(Field::kEndedAtUs),
                    .reason = f.str(Field::kReason), .bytes_from_client = f.u64(Field::kBytesFromClient),
                    .bytes_from_server = f.u64(Field::kBytesFromServer)};
    return f.done(std::move(e));
  }
  return makeError("unknown event type '" + type + "'");
}

}  // namespace gatehouse::recording
