// appendEvent: events serialized straight into the batch buffer. This runs twice per statement on the data path,
// so it writes the JSON itself instead of building a Boost.JSON DOM first (that cost ~3 µs per statement in
// allocations and hashing); what it writes is plain RFC 8259 JSON that any parser, Boost.JSON included, reads.
#include <array>
#include <charconv>
#include <cstring>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "recording/events.h"
#include "recording/line_format.h"

namespace gatehouse::recording {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
std::size_t utf8Sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  const auto continuation = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    const unsigned char c1 = byte(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    const unsigned char c1 = byte(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Bytes that go into a JSON string as they are: printable ASCII but '"' and '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return plain;
}();

// Whether any of the 8 bytes in `w` is not plain: a control byte (< 0x20), '"', '\\', or a byte >= 0x80.
// The classic "has a zero byte" / "has a byte less than n" tests, word at a time: SQL text is almost all plain
// ASCII, and this looks at it 8 bytes per step instead of one (about 4x fewer instructions per statement).
constexpr bool anyNotPlain(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHigh = 0x8080808080808080;
  const auto hasZero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | below_space | hasZero(w ^ (kOnes * '"')) | hasZero(w ^ (kOnes * '\\'))) != 0;
}

// The most bytes string() writes for `n` bytes of input: quotes, and each byte as a 6-byte \u00XX at worst.
constexpr std::size_t stringBound(std::size_t n) { return 2 + 6 * n; }

// A JSON string, written at `p` (room for stringBound(s.size()) bytes); returns the end. SQL text may hold any
// bytes (a SQL_ASCII database accepts them): bytes that are not valid UTF-8 are written as the code points
// U+0080..U+00FF, so that the line stays valid JSON and nothing is dropped.
char* putString(char* p, std::string_view s) {
  *p++ = '"';
  std::size_t run = 0;  // start of the current run of bytes copied as they are
  const auto flush = [&](std::size_t to) {
    std::memcpy(p, s.data() + run, to - run);
    p += to - run;
  };
  for (std::size_t i = 0; i < s.size();) {
    if (s.size() - i >= 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!anyNotPlain(w)) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (kPlain[c]) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const auto n = utf8Sequence(s, i); n != 0) {
        i += n;
        continue;
      }
    }
    flush(i);
    *p++ = '\\';
    switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 0xF];
        break;
    }
    run = ++i;
  }
  flush(s.size());
  *p++ = '"';
  return p;
}

// Writers that go through `char*` rather than std::string::append: one size check per line instead of one per
// piece (the per-call cost of append was most of a statement's formatting).
char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

constexpr std::size_t kNumberBound = 20;  // digits of the largest uint64_t, or a '-' and those of an int64_t

template <std::integral Int>
char* putNumber(char* p, Int v) {
  return std::to_chars(p, p + kNumberBound, v).ptr;
}

// Makes room for `bound` more bytes at the end of `out`; returns where they start. finish() trims to what was
// written.
char* grow(std::string& out, std::size_t bound) {
  const std::size_t old = out.size();
  out.resize(old + bound);
  return out.data() + old;
}
void finish(std::string& out, const char* end) { out.resize(static_cast<std::size_t>(end - out.data())); }

void string(std::string_view s, std::string& out) { finish(out, putString(grow(out, stringBound(s.size())), s)); }

template <std::integral Int>
void number(Int v, std::string& out) {
  finish(out, putNumber(grow(out, kNumberBound), v));
}

// Writes `,"key":` (or `"key":` for the first field).
void key(std::string_view k, std::string& out) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += k;
  out += "\":";
}

void field(std::string_view k, std::string_view v, std::string& out) {
  key(k, out);
  string(v, out);
}
template <std::integral Int>
  requires(!std::same_as<Int, bool>)
void field(std::string_view k, Int v, std::string& out) {
  key(k, out);
  number(v, out);
}
void field(std::string_view k, bool v, std::string& out) {
  key(k, out);
  out += v ? "true" : "false";
}

void body(const SessionOpened& e, std::string& out) {
  field("type", std::string_view("session_opened"), out);
  field("session_id", e.session_id, out);
  field("user", e.user, out);
  field("connection", e.connection, out);
  field("client_addr", e.client_addr, out);
  field("started_at_us", e.started_at_us, out);
  field("tls", e.tls, out);
}

void body(const StatementStarted& e, std::string& out) {
  field("type", std::string_view("statement_started"), out);
  field("session_id", e.session_id, out);
  field("seq", e.seq, out);
  field("user", e.user, out);
  field("connection", e.connection, out);
  field("client_addr", e.client_addr, out);
  field("protocol", e.protocol, out);
  field("sql", e.sql, out);
  field("started_at_us", e.started_at_us, out);
}

void body(const StatementFinished& e, std::string& out) {
  field("type", std::string_view("statement_finished"), out);
  field("session_id", e.session_id, out);
  field("seq", e.seq, out);
  field("duration_us", e.duration_us, out);
  field("tag", e.tag, out);
  field("sqlstate", e.sqlstate, out);
  field("error_message", e.error_message, out);
  field("rows", e.rows, out);
}

void body(const SessionClosed& e, std::string& out) {
  field("type", std::string_view("session_closed"), out);
  field("session_id", e.session_id, out);
  field("ended_at_us", e.ended_at_us, out);
  field("reason", e.reason, out);
  field("bytes_from_client", e.bytes_from_client, out);
  field("bytes_from_server", e.bytes_from_server, out);
}

void body(const ValuesMasked& e, std::string& out) {
  field("type", std::string_view("values_masked"), out);
  field("session_id", e.session_id, out);
  field("seq", e.seq, out);
  key("counts", out);
  out += '[';
  for (const auto& c : e.counts) {
    if (out.back() != '[') out += ',';
    out += '{';
    field("rule", c.rule, out);
    field("column", c.column, out);
    field("count", c.count, out);
    out += '}';
  }
  out += ']';
}

}  // namespace

namespace {

// Ends the line that starts at `line` and has been written up to `p`: its checksum goes inside the object,
// `,"crc":"xxxxxxxx"}` and the newline (kCrcSuffixSize + 1 bytes). Returns the end.
char* putLineEnd(const char* line, char* p) {
  const auto crc = lineCrc32(std::string_view(line, static_cast<std::size_t>(p - line)));
  p = put(p, kCrcKey);
  for (std::size_t i = 0; i < 8; ++i) *p++ = kHex[(crc >> (28 - 4 * i)) & 0xF];
  return put(p, "\"}\n");
}

void closeLine(std::size_t start, std::string& batch) {
  char* end = grow(batch, kCrcSuffixSize + 1);
  finish(batch, putLineEnd(batch.data() + start, end));
}

}  // namespace

void appendEvent(const Event& e, std::string& batch) {
  const std::size_t start = batch.size();
  batch += '{';
  std::visit([&](const auto& ev) { body(ev, batch); }, e);
  closeLine(start, batch);
}

StatementEventWriter::StatementEventWriter(std::string_view session_id, std::string_view user,
                                           std::string_view connection, std::string_view client_addr) {
  // The same fields, in the same order, as body(StatementStarted) and body(StatementFinished).
  started_head_ = "{";
  field("type", std::string_view("statement_started"), started_head_);
  field("session_id", session_id, started_head_);
  key("seq", started_head_);
  started_mid_ = "0";  // stands for the seq before it, so that key() writes the separating comma; dropped below
  field("user", user, started_mid_);
  field("connection", connection, started_mid_);
  field("client_addr", client_addr, started_mid_);
  key("protocol", started_mid_);
  started_mid_.erase(0, 1);
  finished_head_ = "{";
  field("type", std::string_view("statement_finished"), finished_head_);
  field("session_id", session_id, finished_head_);
  key("seq", finished_head_);
}

void StatementEventWriter::started(uint64_t seq, std::string_view protocol, std::string_view sql,
                                   int64_t started_at_us, std::string& batch) const {
  static constexpr std::string_view kSql = ",\"sql\":";
  static constexpr std::string_view kStartedAt = ",\"started_at_us\":";
  const std::size_t bound = started_head_.size() + kNumberBound + started_mid_.size() +
                            stringBound(protocol.size()) + kSql.size() + stringBound(sql.size()) +
                            kStartedAt.size() + kNumberBound + kCrcSuffixSize + 1;
  const std::size_t start = batch.size();
  char* p = grow(batch, bound);
  p = put(p, started_head_);
  p = putNumber(p, seq);
  p = put(p, started_mid_);
  p = putString(p, protocol);
  p = put(p, kSql);
  p = putString(p, sql);
  p = put(p, kStartedAt);
  p = putNumber(p, started_at_us);
  finish(batch, putLineEnd(batch.data() + start, p));
}

void StatementEventWriter::finished(uint64_t seq, int64_t duration_us, std::string_view tag,
                                    std::string_view sqlstate, std::string_view error_message, int64_t rows,
                                    std::string& batch) const {
  static constexpr std::string_view kDuration = ",\"duration_us\":";
  static constexpr std::string_view kTag = ",\"tag\":";
  static constexpr std::string_view kSqlstate = ",\"sqlstate\":";
  static constexpr std::string_view kErrorMessage = ",\"error_message\":";
  static constexpr std::string_view kRows = ",\"rows\":";
  const std::size_t bound = finished_head_.size() + kNumberBound + kDuration.size() + kNumberBound + kTag.size() +
                            stringBound(tag.size()) + kSqlstate.size() + stringBound(sqlstate.size()) +
                            kErrorMessage.size() + stringBound(error_message.size()) + kRows.size() +
                            kNumberBound + kCrcSuffixSize + 1;
  const std::size_t start = batch.size();
  char* p = grow(batch, bound);
  p = put(p, finished_head_);
  p = putNumber(p, seq);
  p = put(p, kDuration);
  p = putNumber(p, duration_us);
  p = put(p, kTag);
  p = putString(p, tag);
  p = put(p, kSqlstate);
  p = putString(p, sqlstate);
  p = put(p, kErrorMessage);
  p = putString(p, error_message);
  p = put(p, kRows);
  p = putNumber(p, rows);
  finish(batch, putLineEnd(batch.data() + start, p));
}

}  // namespace gatehouse::recording
