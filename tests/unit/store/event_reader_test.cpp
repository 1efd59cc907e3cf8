// The indexer's event reader against parseEvent, the reference: for every line, the same event or the same error,
// whether the reader takes its fast path (the writer's plain layout) or hands the line to Boost.JSON.
#include "recording/event_reader.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>

#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

#include "recording/events.h"

namespace gatehouse::recording {
namespace {

// Closes `body` (an object missing its closing brace) with a valid checksum, as appendEvent does. The checksum is
// computed here with Boost.CRC, independently of the code under test: the lines carry the standard CRC-32.
std::string withCrc(std::string_view body) {
  boost::crc_32_type crc32;
  crc32.process_bytes(body.data(), body.size());
  const auto crc = static_cast<uint32_t>(crc32.checksum());
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc);
  return std::string(body) + ",\"crc\":\"" + hex + "\"}";
}

using Fields = std::vector<std::pair<std::string, std::string>>;  // key, raw JSON value

// The writer's layout: no whitespace.
std::string compact(const Fields& fields) {
  std::string body = "{";
  for (const auto& [k, v] : fields) {
    body += (body.size() > 1 ? ",\"" : "\"") + k + "\":" + v;
  }
  return withCrc(body);
}

// The same object with whitespace around every token: valid JSON the fast path does not take.
std::string spaced(const Fields& fields) {
  std::string body = "{ ";
  for (const auto& [k, v] : fields) {
    body += (body.size() > 2 ? " , \"" : "\"") + k + "\" : " + v;
  }
  return withCrc(body + " ");
}

std::string written(const Event& e) {
  std::string batch;
  appendEvent(e, batch);
  batch.pop_back();
  return batch;
}

std::string describe(const Result<Event>& r) {
  if (!r) {
    return "error: " + r.error().message;
  }
  return "event of type " + std::to_string(r->index());
}

// The reader's answer is parseEvent's: the same event, or an error with the same message.
void expectSameAsParseEvent(EventReader& reader, const std::string& line) {
  const auto expected = parseEvent(line);
  const auto actual = reader.read(line);
  ASSERT_EQ(actual.ok(), expected.ok()) << line << "\nreader: " << describe(actual)
                                        << "\nparseEvent: " << describe(expected);
  if (expected.ok()) {
    EXPECT_TRUE(*actual == *expected) << line;
  } else {
    EXPECT_EQ(actual.error().message, expected.error().message) << line;
  }
}

Fields started() {
  return {{"type", "\"statement_started\""},
          {"session_id", "\"ses_0123456789abcdef01234567\""},
          {"seq", "42"},
          {"user", "\"alice\""},
          {"connection", "\"pg-prod\""},
          {"client_addr", "\"127.0.0.1:5432\""},
          {"protocol", "\"simple\""},
          {"sql", "\"SELECT abalance FROM pgbench_accounts WHERE aid = 81727;\""},
          {"started_at_us", "1714567890123456"}};
}

Fields with(Fields fields, const std::string& key, const std::string& value) {
  for (auto& [k, v] : fields) {
    if (k == key) {
      v = value;
      return fields;
    }
  }
  fields.emplace_back(key, value);
  return fields;
}

Fields without(Fields fields, const std::string& key) {
  std::erase_if(fields, [&](const auto& f) { return f.first == key; });
  return fields;
}

TEST(EventReader, ReadsEveryWrittenEventAsParseEventDoes) {
  EventReader reader;
  const std::vector<Event> events = {
      SessionOpened{.session_id = "s-1", .user = "alice@example.com", .connection = "pg-prod",
                    .client_addr = "[::1]:50123", .started_at_us = 1714567890123456, .tls = true},
      SessionOpened{.session_id = "", .user = "", .connection = "", .client_addr = "", .started_at_us = 0,
                    .tls = false},
      StatementStarted{.session_id = "s-1", .seq = 7, .user = "alice", .connection = "pg-prod",
                       .client_addr = "10.0.0.1:4000", .protocol = "extended",
                       .sql = "SELECT 'ünï\"cødé',\n\t$1 -- \\ comment \x01", .started_at_us = -5},
      StatementStarted{.session_id = "s-2", .seq = 1, .user = "bob", .connection = "pg", .client_addr = "a",
                       .protocol = "simple", .sql = "SELECT 1", .started_at_us = 1},
      StatementFinished{.session_id = "s-1", .seq = std::numeric_limits<uint64_t>::max(), .duration_us = 1234,
                        .tag = "", .sqlstate = "42P01", .error_message = "relation \"nope\" does not exist",
                        .rows = -1},
      StatementFinished{.session_id = "s-1", .seq = 8, .duration_us = std::numeric_limits<int64_t>::min(),
                        .tag = "SELECT 1", .sqlstate = "", .error_message = "",
                        .rows = std::numeric_limits<int64_t>::max()},
      SessionClosed{.session_id = "s-1", .ended_at_us = 1714567899000000, .reason = "terminated",
                    .bytes_from_client = std::numeric_limits<uint64_t>::max(), .bytes_from_server = 0},
  };
  for (const auto& e : events) {
    const std::string line = written(e);
    auto r = reader.read(line);
    ASSERT_TRUE(r.ok()) << r.error().message << "\n" << line;
    EXPECT_TRUE(*r == e) << line;
    expectSameAsParseEvent(reader, line);
  }
  // Bytes that are not UTF-8 come back as the writer encoded them (see event_writer.cpp), as from parseEvent.
  expectSameAsParseEvent(reader, written(StatementStarted{.session_id = "s", .seq = 1, .user = "u",
                                                          .connection = "c", .client_addr = "a",
                                                          .protocol = "simple", .sql = "SELECT '\xff\xfe'",
                                                          .started_at_us = 1}));
}

TEST(EventReader, FastPathAndGeneralParserAgree) {
  EventReader reader;
  const std::vector<Fields> objects = {
      started(),
      // Keys in another order, and keys the events do not have: read all the same.
      {{"seq", "1"}, {"started_at_us", "2"}, {"sql", "\"x\""}, {"future", "true"}, {"protocol", "\"simple\""},
       {"client_addr", "\"a\""}, {"connection", "\"c\""}, {"user", "\"u\""}, {"session_id", "\"s\""},
       {"type", "\"statement_started\""}},
      with(started(), "future", "{\"nested\":[1,{\"a\":null}]}"),
      {{"type", "\"session_opened\""}, {"session_id", "\"s\""}, {"user", "\"u\""}, {"connection", "\"c\""},
       {"client_addr", "\"a\""}, {"started_at_us", "-9223372036854775808"}, {"tls", "false"}},
      {{"type", "\"session_closed\""}, {"session_id", "\"s\""}, {"ended_at_us", "0"}, {"reason", "\"\""},
       {"bytes_from_client", "9223372036854775808"}, {"bytes_from_server", "18446744073709551615"}},
  };
  for (const auto& fields : objects) {
    const std::string plain = compact(fields);
    const std::string padded = spaced(fields);
    auto a = reader.read(plain);
    auto b = reader.read(padded);
    ASSERT_TRUE(a.ok()) << a.error().message << "\n" << plain;
    ASSERT_TRUE(b.ok()) << b.error().message << "\n" << padded;
    EXPECT_TRUE(*a == *b) << plain;
    expectSameAsParseEvent(reader, plain);
    expectSameAsParseEvent(reader, padded);
  }
}

TEST(EventReader, RejectsWhatParseEventRejectsWithTheSameMessage) {
  EventReader reader;
  const std::vector<Fields> objects = {
      without(started(), "sql"),
      without(started(), "type"),
      with(started(), "type", "\"statement_exploded\""),
      with(started(), "type", "7"),
      with(started(), "seq", "\"42\""),
      with(started(), "seq", "-1"),
      with(started(), "seq", "-0"),
      with(started(), "seq", "1.5"),
      with(started(), "seq", "1e3"),
      with(started(), "seq", "null"),
      with(started(), "seq", "[42]"),
      with(started(), "seq", "{\"n\":42}"),
      with(started(), "seq", "18446744073709551616"),  // past 64 bits: a double
      with(started(), "seq", "01"),                    // not JSON
      with(started(), "started_at_us", "9223372036854775808"),
      with(started(), "started_at_us", "true"),
      with(started(), "sql", "5"),
      with(started(), "sql", "\"\\q\""),      // not a JSON escape
      with(started(), "sql", "\"a\tb\""),     // a raw control character
      with(started(), "sql", "\"\xff\""),     // not UTF-8
      with(with(started(), "seq", "\"x\""), "started_at_us", "\"y\""),  // the first problem is reported
      {{"type", "\"session_opened\""}, {"session_id", "\"s\""}, {"user", "\"u\""}, {"connection", "\"c\""},
       {"client_addr", "\"a\""}, {"started_at_us", "1"}, {"tls", "\"yes\""}},
      {},
  };
  for (const auto& fields : objects) {
    expectSameAsParseEvent(reader, compact(fields));
    expectSameAsParseEvent(reader, spaced(fields));
  }
  // Broken envelopes and broken JSON.
  const std::string good = compact(started());
  std::string flipped = good;
  flipped[good.find("pgbench")] = 'P';
  std::string bad_hex = good;
  bad_hex[bad_hex.size() - 3] = 'z';
  for (const std::string& line :
       {flipped, bad_hex, good.substr(0, good.size() - 1), good.substr(0, 20), std::string(), std::string("{}"),
        withCrc("{\"type\":\"session_opened\",,\"x\":1"), withCrc("[1,2"), withCrc("{\"a\":1} {\"b\":2"),
        good + " ", " " + good}) {
    expectSameAsParseEvent(reader, line);
  }
}

TEST(EventReader, RepeatedKeysAreReadAsParseEventReadsThem) {
  EventReader reader;
  Fields twice = started();
  twice.emplace_back("seq", "43");
  twice.emplace_back("sql", "\"SELECT 2\"");
  expectSameAsParseEvent(reader, compact(twice));
  expectSameAsParseEvent(reader, spaced(twice));
}

TEST(EventReader, FieldsViewTheLineUntilTheNextRead) {
  EventReader reader;
  const std::string line = compact(started());
  EventFields e;
  // What a previous line left behind does not show through.
  const std::string before = compact({{"type", "\"statement_finished\""}, {"session_id", "\"s\""}, {"seq", "1"},
                                      {"duration_us", "3"}, {"tag", "\"SELECT 1\""}, {"sqlstate", "\"\""},
                                      {"error_message", "\"\""}, {"rows", "1"}});
  ASSERT_TRUE(reader.readFields(before, e).ok());
  EXPECT_EQ(e.tag, "SELECT 1");
  auto r = reader.readFields(line, e);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(e.type, EventType::kStatementStarted);
  EXPECT_EQ(e.sql, "SELECT abalance FROM pgbench_accounts WHERE aid = 81727;");
  EXPECT_EQ(e.seq, 42u);
  EXPECT_EQ(e.started_at_us, 1714567890123456);
  EXPECT_TRUE(e.tag.empty());  // not a field of this type
  EXPECT_EQ(e.duration_us, 0);
  // A plain line is not copied: the views point into it.
  EXPECT_GE(e.sql.data(), line.data());
  EXPECT_LE(e.sql.data() + e.sql.size(), line.data() + line.size());
}

}  // namespace
}  // namespace gatehouse::recording
