// appendEvent: events serialized straight into the batch buffer. This runs twice per statement on the data path,
// so it writes the JSON itself instead of building a Boost.JSON DOM first (that cost ~3 µs per statement in
// allocations and hashing); what it writes is plain RFC 8259 JSON that any parser, Boost.JSON included, reads.
#include <array>
#include <charconv>
#include <cstring>
#include <concepts>
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

void escapedByte(unsigned char c, std::string& out) {
  const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
  out.append(u, sizeof u);
}

// Bytes that go into a JSON string as they are: printable ASCII but '"' and '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return plain;
}();

// A JSON string. SQL text may hold any bytes (a SQL_ASCII database accepts them): bytes that are not valid UTF-8
// are written as the code points U+0080..U+00FF, so that the line stays valid JSON and nothing is dropped.
void string(std::string_view s, std::string& out) {
  out += '"';
  std::size_t run = 0;  // start of the current run of bytes copied as they are
  for (std::size_t i = 0; i < s.size();) {
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
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: escapedByte(c, out); break;
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

template <std::integral Int>
void number(Int v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
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

}  // namespace

namespace {

// Ends the line that starts at batch[start]: its checksum goes inside the object, `,"crc":"xxxxxxxx"}`.
void closeLine(std::size_t start, std::string& batch) {
  const auto crc = lineCrc32(std::string_view(batch).substr(start));
  char suffix[kCrcSuffixSize + 1];
  std::memcpy(suffix, kCrcKey.data(), kCrcKey.size());
  for (std::size_t i = 0; i < 8; ++i) suffix[kCrcKey.size() + i] = kHex[(crc >> (28 - 4 * i)) & 0xF];
  std::memcpy(suffix + kCrcKey.size() + 8, "\"}\n", 3);
  batch.append(suffix, sizeof suffix);
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
  const std::size_t start = batch.size();
  batch += started_head_;
  number(seq, batch);
  batch += started_mid_;
  string(protocol, batch);
  batch += ",\"sql\":";
  string(sql, batch);
  batch += ",\"started_at_us\":";
  number(started_at_us, batch);
  closeLine(start, batch);
}

void StatementEventWriter::finished(uint64_t seq, int64_t duration_us, std::string_view tag,
                                    std::string_view sqlstate, std::string_view error_message, int64_t rows,
                                    std::string& batch) const {
  const std::size_t start = batch.size();
  batch += finished_head_;
  number(seq, batch);
  batch += ",\"duration_us\":";
  number(duration_us, batch);
  batch += ",\"tag\":";
  string(tag, batch);
  batch += ",\"sqlstate\":";
  string(sqlstate, batch);
  batch += ",\"error_message\":";
  string(error_message, batch);
  batch += ",\"rows\":";
  number(rows, batch);
  closeLine(start, batch);
}

}  // namespace gatehouse::recording
