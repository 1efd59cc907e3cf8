// Event (de)serialization as checksummed JSON lines; see events.h for the layout.
#include "recording/events.h"

#include <boost/json.hpp>
#include <charconv>

#include <zlib.h>

namespace gatehouse::recording {

namespace {

namespace json = boost::json;

// `,"crc":"` + 8 hex digits + `"}`
constexpr std::string_view kCrcKey = ",\"crc\":\"";
constexpr size_t kCrcSuffixSize = kCrcKey.size() + 8 + 2;

// zlib's CRC-32 (the same polynomial as Boost.CRC's crc_32_type) processes several bytes per step: it is on the
// per-statement path, twice (writer and indexer).
uint32_t crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      ::crc32_z(::crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}





// Reads typed fields out of a parsed line, remembering the first problem so that a parser reads straight through.
class Fields {
 public:
  explicit Fields(const json::object& o) : o_(o) {}

  std::string str(std::string_view key) {
    const json::value* v = find(key);
    if (v == nullptr) {
      return {};
    }
    if (!v->is_string()) {
      fail(key, "a string");
      return {};
    }
    return std::string(v->get_string());
  }

  int64_t i64(std::string_view key) {
    const json::value* v = find(key);
    if (v != nullptr && v->is_int64()) {
      return v->get_int64();
    }
    if (v != nullptr) {
      fail(key, "an integer");
    }
    return 0;
  }

  uint64_t u64(std::string_view key) {
    const json::value* v = find(key);
    if (v != nullptr && v->is_uint64()) {
      return v->get_uint64();
    }
    if (v != nullptr && v->is_int64() && v->get_int64() >= 0) {
      return static_cast<uint64_t>(v->get_int64());
    }
    if (v != nullptr) {
      fail(key, "a non-negative integer");
    }
    return 0;
  }

  bool boolean(std::string_view key) {
    const json::value* v = find(key);
    if (v != nullptr && v->is_bool()) {
      return v->get_bool();
    }
    if (v != nullptr) {
      fail(key, "a boolean");
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
  const json::value* find(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr && error_.empty()) {
      error_ = "event field '" + std::string(key) + "' is missing";
    }
    return v;
  }

  void fail(std::string_view key, std::string_view what) {
    if (error_.empty()) {
      error_ = "event field '" + std::string(key) + "' is not " + std::string(what);
    }
  }

  const json::object& o_;
  std::string error_;
};

}  // namespace

Result<Event> parseEvent(std::string_view line) {
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

  boost::system::error_code jec;
  const json::value v = json::parse(json::string_view(line.data(), line.size()), jec);
  if (jec || !v.is_object()) {
    return makeError("event line is not a JSON object");
  }
  Fields f(v.get_object());
  const std::string type = f.str("type");
  if (type == "session_opened") {
    SessionOpened e{.session_id = f.str("session_id"), .user = f.str("user"), .connection = f.str("connection"),
                    .client_addr = f.str("client_addr"), .started_at_us = f.i64("started_at_us"),
                    .tls = f.boolean("tls")};
    return f.done(std::move(e));
  }
  if (type == "statement_started") {
    StatementStarted e{.session_id = f.str("session_id"), .seq = f.u64("seq"), .user = f.str("user"),
                       .connection = f.str("connection"), .client_addr = f.str("client_addr"),
                       .protocol = f.str("protocol"), .sql = f.str("sql"),
                       .started_at_us = f.i64("started_at_us")};
    return f.done(std::move(e));
  }
  if (type == "statement_finished") {
    StatementFinished e{.session_id = f.str("session_id"), .seq = f.u64("seq"), .duration_us = f.i64("duration_us"),
                        .tag = f.str("tag"), .sqlstate = f.str("sqlstate"),
                        .error_message = f.str("error_message"), .rows = f.i64("rows")};
    return f.done(std::move(e));
  }
  if (type == "session_closed") {
    SessionClosed e{.session_id = f.str("session_id"), .ended_at_us = f.i64("ended_at_us"),
                    .reason = f.str("reason"), .bytes_from_client = f.u64("bytes_from_client"),
                    .bytes_from_server = f.u64("bytes_from_server")};
    return f.done(std::move(e));
  }
  return makeError("unknown event type '" + type + "'");
}

}  // namespace gatehouse::recording
