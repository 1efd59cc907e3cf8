// The indexer's event reader against parseEvent, the reference: for every line, the same event or the same error,
// whether the reader takes its fast path (the writer's plain layout) or hands the line to Boost.JSON.
#include "recording/event_reader.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>

#include <cstdio>
#include <limits>
#include <random>
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

Fields masked(const std::string& counts = R"([{"rule":"contact","column":"email","count":12}])") {
  return {{"type", "\"values_masked\""}, {"session_id", "\"ses_1\""}, {"seq", "3"}, {"counts", counts}};
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
      ValuesMasked{.session_id = "s-1", .seq = 3,
                   .counts = {{.rule = "contact", .column = "email", .count = 12},
                              {.rule = "pan", .column = "card_number", .count = 0},
                              {.rule = "r\"ü\n", .column = "", .count = std::numeric_limits<uint64_t>::max()}}},
      ValuesMasked{.session_id = "s-1", .seq = 0, .counts = {}},
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
      masked(),
      masked("[]"),
      // Entries' keys in another order, keys they do not have, a repeated key (the last counts).
      masked(R"([{"count":1,"x":true,"column":"b","rule":"a"},{"rule":"c","rule":"d","column":"e","count":2,"count":3}])"),
      // A repeated "counts": the last one counts.
      {{"counts", "[{\"rule\":\"x\",\"column\":\"y\",\"count\":9}]"}, {"type", "\"values_masked\""},
       {"session_id", "\"s\""}, {"seq", "1"}, {"counts", "[{\"rule\":\"r\",\"column\":\"c\",\"count\":1}]"}},
      // Nested values after the counts are no entries of them.
      with(masked(), "future", R"([{"rule":"x","column":"y","count":1},2,[3]])"),
      // "counts" on another type is a key it does not have.
      with(started(), "counts", "[{\"rule\":\"r\"}]"),
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
      without(masked(), "counts"),
      with(masked(), "seq", "-3"),
      with(masked(), "counts", "{}"),
      with(masked(), "counts", "\"[]\""),
      with(masked(), "counts", "null"),
      masked(R"([{"rule":"a","column":"b","count":1},7])"),
      masked(R"([null])"),
      masked(R"([[{"rule":"a","column":"b","count":1}]])"),
      masked(R"([{"rule":"a","count":1}])"),
      masked(R"([{"column":"b","count":1}])"),
      masked(R"([{"rule":"a","column":"b"}])"),
      masked(R"([{}])"),
      masked(R"([{"rule":"a","column":"b","count":-1}])"),
      masked(R"([{"rule":"a","column":"b","count":1.5}])"),
      masked(R"([{"rule":"a","column":"b","count":"1"}])"),
      masked(R"([{"rule":"a","column":"b","count":18446744073709551616}])"),
      masked(R"([{"rule":["a"],"column":"b","count":1}])"),
      masked(R"([{"rule":{"a":1},"column":"b","count":1}])"),
      masked(R"([{"rule":null,"column":"b","count":1}])"),
      masked(R"([{"rule":"a","column":false,"count":1}])"),
      masked(R"([{"rule":"a\q","column":"b","count":1}])"),                                // not a JSON escape
      masked(R"([{"rule":"a","column":"b","count":1},{"rule":"a","column":7,"count":-1}])"),  // the first problem
      with(masked(R"([{"rule":"a","column":"b"}])"), "seq", "\"x\""),                     // before the counts'
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

// Any text a rule or column name may hold, and values of every JSON kind where counts and their entries go: the
// reader's answer is parseEvent's, whichever path it takes.
std::string randomText(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "email", "\"", "\\", "\n", "\t", std::string(1, '\0'), "\x01", "\x7f", "é", "😀", "\xc3", "\xff",
      "]", "[", "{", "}", ",", ":", "\"count\":", ",\"crc\":\"", " "};
  std::string out;
  const auto n = std::uniform_int_distribution<int>(0, 4)(rng);
  for (int i = 0; i < n; ++i) out += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
  return out;
}

std::string randomValue(std::mt19937& rng, int depth);

std::string randomEntry(std::mt19937& rng, int depth) {
  static const std::vector<std::string> keys = {"rule", "column", "count", "other"};
  std::string out = "{";
  const auto n = std::uniform_int_distribution<int>(0, 5)(rng);
  for (int i = 0; i < n; ++i) {
    out += (i > 0 ? "," : "") + ("\"" + keys[std::uniform_int_distribution<std::size_t>(0, keys.size() - 1)(rng)] +
                                 "\":") + randomValue(rng, depth + 1);
  }
  return out + "}";
}

std::string randomValue(std::mt19937& rng, int depth) {
  static const std::vector<std::string> scalars = {
      "\"a\"", "\"\\u00e9\\n\"", "\"\"", "0", "12", "-1", "18446744073709551615", "18446744073709551616",
      "1.5", "true", "null"};
  const auto pick = std::uniform_int_distribution<int>(0, depth > 3 ? 0 : 9)(rng);
  if (pick <= 4) return scalars[std::uniform_int_distribution<std::size_t>(0, scalars.size() - 1)(rng)];
  if (pick <= 7) return randomEntry(rng, depth);
  std::string out = "[";
  const auto n = std::uniform_int_distribution<int>(0, 3)(rng);
  for (int i = 0; i < n; ++i) out += (i > 0 ? "," : "") + randomValue(rng, depth + 1);
  return out + "]";
}

TEST(EventReader, RandomValuesMaskedAgreeWithParseEvent) {
  EventReader reader;
  std::mt19937 rng(20260512);
  for (int round = 0; round < 3000; ++round) {
    // Written events: any text round trips as parseEvent reads it.
    ValuesMasked e{.session_id = randomText(rng), .seq = std::uniform_int_distribution<uint64_t>()(rng), .counts = {}};
    const auto n = std::uniform_int_distribution<int>(0, 4)(rng);
    for (int i = 0; i < n; ++i) {
      e.counts.push_back({.rule = randomText(rng), .column = randomText(rng),
                          .count = std::uniform_int_distribution<uint64_t>()(rng)});
    }
    expectSameAsParseEvent(reader, written(e));
    // Hand-made lines: counts of random shapes, entries mostly of the right one.
    std::string counts = "[";
    const auto entries = std::uniform_int_distribution<int>(0, 4)(rng);
    for (int i = 0; i < entries; ++i) {
      counts += i > 0 ? "," : "";
      counts += std::uniform_int_distribution<int>(0, 3)(rng) == 0
                    ? randomValue(rng, 1)
                    : R"({"rule":"r)" + std::to_string(i) + R"(","column":"c","count":)" + std::to_string(i) + "}";
    }
    counts += "]";
    Fields fields = masked(std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? randomValue(rng, 0) : counts);
    if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) fields.emplace_back("counts", randomValue(rng, 0));
    if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) fields.emplace_back("future", randomValue(rng, 0));
    expectSameAsParseEvent(reader, compact(fields));
    expectSameAsParseEvent(reader, spaced(fields));
    if (HasFatalFailure()) return;
  }
}

TEST(EventReader, MaskedCountsViewTheLineOnTheFastPath) {
  EventReader reader;
  const std::string line = compact(masked(R"([{"rule":"contact","column":"email","count":12},{"rule":"pan",)"
                                          R"("column":"card","count":3}])"));
  EventFields e;
  auto r = reader.readFields(line, e);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(e.type, EventType::kValuesMasked);
  EXPECT_EQ(e.seq, 3u);
  ASSERT_EQ(e.counts.size(), 2u);
  EXPECT_EQ(e.counts[1].rule, "pan");
  EXPECT_EQ(e.counts[1].column, "card");
  EXPECT_EQ(e.counts[1].count, 3u);
  EXPECT_GE(e.counts[0].column.data(), line.data());
  EXPECT_LE(e.counts[0].column.data() + e.counts[0].column.size(), line.data() + line.size());
  // A line with fewer counts leaves none of these behind.
  ASSERT_TRUE(reader.readFields(compact(masked("[]")), e).ok());
  EXPECT_TRUE(e.counts.empty());
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
