// The event writer's JSON: every byte a client can put in SQL survives the trip through the log, and each line
// is valid JSON for any parser.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <random>

#include "recording/events.h"

namespace gatehouse::recording {
namespace {

std::string line(const Event& e) {
  std::string out;
  appendEvent(e, out);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one event, one line";
  return out.substr(0, out.size() - 1);
}

StatementStarted withSql(std::string sql) {
  return StatementStarted{.session_id = "ses_1", .seq = 7, .user = "alice@example.com", .connection = "pg",
                          .client_addr = "127.0.0.1", .protocol = "simple", .sql = std::move(sql),
                          .started_at_us = 1700000000000000};
}

TEST(EventWriter, EscapesWhatJsonRequiresAndKeepsUtf8) {
  const std::string sql = "SELECT '\"quoted\"', E'back\\\\slash', 'tab\there', 'nl\nhere', 'cr\rhere', "
                          "'\x01\x1f', 'café ☕ 𝄞'";
  const auto text = line(withSql(sql));
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  EXPECT_EQ(v.at("sql").as_string(), sql);
  EXPECT_NE(text.find("café ☕ 𝄞"), std::string::npos) << "valid UTF-8 is written as it is";
  EXPECT_NE(text.find("\\u0001"), std::string::npos);

  auto back = parseEvent(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(std::get<StatementStarted>(*back), withSql(sql));
}

TEST(EventWriter, BytesThatAreNotUtf8BecomeLatin1CodePoints) {
  // A lone continuation byte, an overlong '/', a surrogate, a truncated sequence, a byte above F4.
  const std::string bad = std::string("a\x80z ") + "\xC0\xAF " + "\xED\xA0\x80 " + "\xE2\x82 " + "\xF8";
  const auto text = line(withSql(bad));
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << "the line must stay valid JSON: " << text;
  const auto sql = v.at("sql").as_string();
  EXPECT_EQ(std::string(sql.data(), sql.size()), "a\xC2\x80z \xC3\x80\xC2\xAF \xC3\xAD\xC2\xA0\xC2\x80 \xC3\xA2\xC2\x82 \xC3\xB8");
  EXPECT_TRUE(parseEvent(text)) << "and the indexer still accepts it";
}

// The writer looks at plain text 8 bytes at a time: every byte value, at every position of a word and across
// word boundaries, must still be noticed and escaped (checked against Boost.JSON's reading of the line).
TEST(EventWriter, EveryByteAtEveryPositionIsEscapedOrKept) {
  const std::string plain = "SELECT abalance FROM t WHERE aid = 1234567";  // 42 bytes: five words and a tail
  for (int c = 0; c < 256; ++c) {
    // What the value must read back as: ASCII as it is, a lone byte >= 0x80 as the code point U+0080..U+00FF.
    const std::string expected_byte = c < 0x80 ? std::string(1, static_cast<char>(c))
                                               : std::string{static_cast<char>(0xC0 | (c >> 6)),
                                                             static_cast<char>(0x80 | (c & 0x3F))};
    for (std::size_t pos = 0; pos <= plain.size(); ++pos) {
      std::string sql = plain;
      sql.insert(pos, 1, static_cast<char>(c));
      const auto text = line(withSql(sql));
      boost::system::error_code ec;
      const auto v = boost::json::parse(text, ec);
      ASSERT_FALSE(ec) << "byte " << c << " at " << pos << ": " << text;
      const auto got = v.at("sql").as_string();
      std::string expected = plain;
      expected.insert(pos, expected_byte);
      ASSERT_EQ(std::string(got.data(), got.size()), expected) << "byte " << c << " at " << pos;
    }
  }
}

TEST(EventWriter, EveryEventTypeRoundTrips) {
  const Event events[] = {
      SessionOpened{.session_id = "s", .user = "u", .connection = "c", .client_addr = "::1", .started_at_us = 1,
                    .tls = true},
      withSql("SELECT 1"),
      StatementFinished{.session_id = "s", .seq = 18446744073709551615ull, .duration_us = -5, .tag = "SELECT 1",
                        .sqlstate = "22012", .error_message = "division by zero", .rows = 9000000000},
      SessionClosed{.session_id = "s", .ended_at_us = 2, .reason = "client terminated", .bytes_from_client = 3,
                    .bytes_from_server = 4},
      ValuesMasked{.session_id = "s", .seq = 5,
                   .counts = {{.rule = "contact", .column = "email", .count = 2},
                              {.rule = "card\t\"x\"", .column = "café", .count = 18446744073709551615ull}}},
      ValuesMasked{.session_id = "s", .seq = 0, .counts = {}},
  };
  for (const auto& e : events) {
    auto back = parseEvent(line(e));
    ASSERT_TRUE(back) << back.error().message << "\n" << line(e);
    EXPECT_EQ(*back, e);
  }
}

TEST(EventWriter, ChecksumCatchesAnyChange) {
  auto text = line(withSql("SELECT 1"));
  ASSERT_TRUE(parseEvent(text));
  text[text.find("SELECT 1") + 7] = '2';
  EXPECT_FALSE(parseEvent(text));
}

// Text of every kind a session or a statement may carry: quotes, backslashes, control bytes, valid UTF-8 of every
// length, and bytes that are not UTF-8.
std::string randomText(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "SELECT 1", "\"", "\\", "\n", "\r", "\t", std::string(1, '\0'), "\x01", "\x1f", " ", "~", "\x7f", "é",
      "€", "😀", "\xc3", "\xe2\x82", "\xff", "\xed\xa0\x80", "\xf4\x90\x80\x80", "'x'", "{}", ",\"crc\":\"",
      "abcdefghijklmnopqrstuvwxyz0123456789"};
  std::string out;
  const auto n = std::uniform_int_distribution<int>(0, 12)(rng);
  for (int i = 0; i < n; ++i) out += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
  return out;
}

TEST(StatementEventWriter, WritesExactlyWhatAppendEventWrites) {
  std::mt19937 rng(20261123);
  for (int round = 0; round < 2000; ++round) {
    const std::string session = randomText(rng), user = randomText(rng), connection = randomText(rng),
                      addr = randomText(rng);
    const StatementEventWriter writer(session, user, connection, addr);
    const auto seq = std::uniform_int_distribution<uint64_t>()(rng);
    const auto when = std::uniform_int_distribution<int64_t>()(rng);
    const StatementStarted s{.session_id = session, .seq = seq, .user = user, .connection = connection,
                             .client_addr = addr, .protocol = randomText(rng), .sql = randomText(rng),
                             .started_at_us = when};
    const StatementFinished f{.session_id = session, .seq = seq, .duration_us = -when, .tag = randomText(rng),
                              .sqlstate = randomText(rng), .error_message = randomText(rng), .rows = when / 3};
    std::string expected = "prefix\n";
    appendEvent(s, expected);
    appendEvent(f, expected);
    std::string written = "prefix\n";
    writer.started(s.seq, s.protocol, s.sql, s.started_at_us, written);
    writer.finished(f.seq, f.duration_us, f.tag, f.sqlstate, f.error_message, f.rows, written);
    ASSERT_EQ(written, expected) << "round " << round;
  }
}

TEST(StatementEventWriter, LinesParseBackToTheEvents) {
  const StatementEventWriter writer("ses_1", "alice@example.com", "pg", "127.0.0.1:5000");
  std::string batch;
  writer.started(3, "extended", "SELECT $1", 42, batch);
  writer.finished(3, 17, "SELECT 1", "", "", 1, batch);
  const auto nl = batch.find('\n');
  ASSERT_EQ(batch.back(), '\n');
  auto started = parseEvent(std::string_view(batch).substr(0, nl));
  auto finished = parseEvent(std::string_view(batch).substr(nl + 1, batch.size() - nl - 2));
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_EQ(*started, Event(StatementStarted{.session_id = "ses_1", .seq = 3, .user = "alice@example.com",
                                             .connection = "pg", .client_addr = "127.0.0.1:5000",
                                             .protocol = "extended", .sql = "SELECT $1", .started_at_us = 42}));
  EXPECT_EQ(*finished, Event(StatementFinished{.session_id = "ses_1", .seq = 3, .duration_us = 17, .tag = "SELECT 1",
                                               .sqlstate = "", .error_message = "", .rows = 1}));
}

}  // namespace
}  // namespace gatehouse::recording
