// Event (de)serialization as checksummed JSON lines; see events.h for the layout.
#include "recording/events.h"
#include "recording/line_format.h"

#include <boost/json.hpp>
#include <charconv>


namespace gatehouse::recording {

namespace {

namespace json = boost::json;





// Reads typed fields out of a parsed line, remembering the first problem so that a parser reads straight through.
class Fields {
 public:
  // `prefix` goes before the keys in errors: "counts[2]." for the fields of an entry of an array.
  explicit Fields(const json::object& o, std::string prefix = {}) : o_(o), prefix_(std::move(prefix)) {}

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

  // An array of {rule, column, count} objects.
  std::vector<MaskedCount> counts(std::string_view key) {
    const json::value* v = find(key);
    if (v == nullptr) {
      return {};
    }
    if (!v->is_array()) {
      fail(key, "an array");
      return {};
    }
    const json::array& items = v->get_array();
    std::vector<MaskedCount> out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const json::value& item = items[i];
      const std::string name = std::string(key) + "[" + std::to_string(i) + "]";
      if (!item.is_object()) {
        fail(name, "an object");
        return {};
      }
      Fields entry(item.get_object(), name + ".");
      MaskedCount c{.rule = entry.str("rule"), .column = entry.str("column"), .count = entry.u64("count")};
      if (!entry.error_.empty()) {
        if (error_.empty()) error_ = std::move(entry.error_);
        return {};
      }
      out.push_back(std::move(c));
    }
    return out;
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
      error_ = "event field '" + prefix_ + std::string(key) + "' is missing";
    }
    return v;
  }

  void fail(std::string_view key, std::string_view what) {
    if (error_.empty()) {
      error_ = "event field '" + prefix_ + std::string(key) + "' is not " + std::string(what);
    }
  }

  const json::object& o_;
  std::string prefix_;
  std::string error_;
};

}  // namespace

Result<Event> parseEvent(std::string_view line) {
  if (auto checked = checkedLineBody(line); !checked) return checked.error();

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
  if (type == "values_masked") {
    ValuesMasked e{.session_id = f.str("session_id"), .seq = f.u64("seq"), .counts = f.counts("counts")};
    return f.done(std::move(e));
  }
  return makeError("unknown event type '" + type + "'");
}

}  // namespace gatehouse::recording
