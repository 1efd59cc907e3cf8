// Event lines: round trip of every event type, and detection of torn, corrupt and malformed lines.
#include "recording/events.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <limits>

namespace gatehouse::recording {
namespace {

std::string line(const Event& e) {
  std::string batch;
  appendEvent(e, batch);
  EXPECT_FALSE(batch.empty());
  EXPECT_EQ(batch.back(), '\n');
  EXPECT_EQ(batch.find('\n'), batch.size() - 1) << "one event is one line";
  batch.pop_back();
  return batch;
}

std::vector<Event> samples() {
  return {
      SessionOpened{.session_id = "s-1", .user = "alice@example.com", .connection = "pg-prod",
                    .client_addr = "[::1]:50123", .started_at_us = 1714567890123456, .tls = true},
      StatementStarted{.session_id = "s-1", .seq = 7, .user = "alice@example.com", .connection = "pg-prod",
                       .client_addr = "10.0.0.1:4000", .protocol = "extended",
                       .sql = "SELECT 'ünï\"cødé',\n\t$1 -- \\ comment \x01",
                       .started_at_us = -5},
      StatementFinished{.session_id = "s-1", .seq = std::numeric_limits<uint64_t>::max(),
                        .duration_us = 1234, .tag = "", .sqlstate = "42P01",
                        .error_message = "relation \"nope\" does not exist", .rows = -1},
      SessionClosed{.session_id = "s-1", .ended_at_us = 1714567899000000, .reason = "terminated",
                    .bytes_from_client = std::numeric_limits<uint64_t>::max(), .bytes_from_server = 0},
      ValuesMasked{.session_id = "s-1", .seq = 3,
                   .counts = {{.rule = "contact", .column = "email", .count = 12},
                              {.rule = "r\"ü\n", .column = "", .count = std::numeric_limits<uint64_t>::max()}}},
      ValuesMasked{.session_id = "s-1", .seq = 0, .counts = {}},
  };
}

TEST(Events, EveryTypeRoundTrips) {
  for (const auto& e : samples()) {
    const std::string l = line(e);
    auto parsed = parseEvent(l);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message << "\n" << l;
    EXPECT_EQ(parsed->index(), e.index());
    EXPECT_TRUE(*parsed == e) << l;
  }
}

TEST(Events, LinesAreJsonObjectsWithTypeAndChecksum) {
  const std::string l = line(samples()[1]);
  boost::system::error_code ec;
  auto v = boost::json::parse(l, ec);
  ASSERT_FALSE(ec) << l;
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.at("type").as_string(), "statement_started");
  EXPECT_EQ(v.at("seq").to_number<uint64_t>(), 7u);
  EXPECT_EQ(v.at("crc").as_string().size(), 8u);
}

TEST(Events, BatchHoldsOneLinePerEvent) {
  std::string batch;
  for (const auto& e : samples()) {
    appendEvent(e, batch);
  }
  size_t start = 0;
  size_t n = 0;
  for (size_t nl = batch.find('\n'); nl != std::string::npos; nl = batch.find('\n', start)) {
    auto parsed = parseEvent(std::string_view(batch).substr(start, nl - start));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_TRUE(*parsed == samples()[n]);
    start = nl + 1;
    ++n;
  }
  EXPECT_EQ(n, samples().size());
  EXPECT_EQ(start, batch.size());
}

TEST(Events, AnyFlippedByteIsDetected) {
  const std::string good = line(samples()[1]);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    EXPECT_FALSE(parseEvent(bad).ok()) << "byte " << i << ": " << bad;
  }
}

TEST(Events, TornLinesAreRejected) {
  const std::string good = line(samples()[0]);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(parseEvent(good.substr(0, n)).ok()) << n;
    EXPECT_FALSE(parseEvent(good.substr(n + 1)).ok()) << n;
  }
}

// Frames `object_without_brace` the way the format says (CRC-32 of the bytes before `,"crc":`), independently of
// appendEvent, so that lines with a valid checksum but bad content can be built.
std::string framed(const std::string& object_without_brace) {
  boost::crc_32_type crc;
  crc.process_bytes(object_without_brace.data(), object_without_brace.size());
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc.checksum());
  return object_without_brace + ",\"crc\":\"" + hex + "\"}";
}

TEST(Events, ChecksumMatchesAnIndependentCrc32) {
  const std::string l = line(samples()[3]);
  const std::string body = l.substr(0, l.size() - std::string(R"(,"crc":"12345678"})").size());
  EXPECT_EQ(framed(body), l);
}

TEST(Events, ValuesMaskedIsOneLineWithItsCountsAsAnArray) {
  const std::string l =
      line(ValuesMasked{.session_id = "s-1", .seq = 3,
                        .counts = {{.rule = "contact", .column = "email", .count = 12},
                                   {.rule = "contact", .column = "phone", .count = 0}}});
  const std::string body = l.substr(0, l.size() - std::string(R"(,"crc":"12345678"})").size());
  EXPECT_EQ(body, R"({"type":"values_masked","session_id":"s-1","seq":3,"counts":[)"
                  R"({"rule":"contact","column":"email","count":12},{"rule":"contact","column":"phone","count":0}])");
  EXPECT_EQ(framed(body), l);
}

TEST(Events, MalformedCountsAreRejectedNamingTheEntry) {
  const std::string head = R"({"type":"values_masked","session_id":"s","seq":1,"counts":)";
  const std::pair<std::string, std::string> cases[] = {
      {"{}", "event field 'counts' is not an array"},
      {R"([{"rule":"r","column":"c","count":1},"x"])", "event field 'counts[1]' is not an object"},
      {R"([{"rule":"r","count":1}])", "event field 'counts[0].column' is missing"},
      {R"([{"rule":"r","column":"c","count":-1}])", "event field 'counts[0].count' is not a non-negative integer"},
      {R"([{"rule":7,"column":"c","count":1}])", "event field 'counts[0].rule' is not a string"},
  };
  for (const auto& [counts, message] : cases) {
    auto r = parseEvent(framed(head + counts));
    ASSERT_FALSE(r.ok()) << counts;
    EXPECT_EQ(r.error().message, message);
  }
  auto missing = parseEvent(framed(R"({"type":"values_masked","session_id":"s","seq":1)"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "event field 'counts' is missing");
}

TEST(Events, ValidChecksumButWrongShapeIsRejected) {
  const std::string ok = R"({"type":"session_closed","session_id":"x","ended_at_us":5,"reason":"r",)"
                         R"("bytes_from_client":1,"bytes_from_server":2)";
  ASSERT_TRUE(parseEvent(framed(ok)).ok());

  auto unknown = parseEvent(framed(R"({"type":"session_exploded","session_id":"x")"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("session_exploded"), std::string::npos);

  auto missing = parseEvent(framed(R"({"type":"session_closed","session_id":"x","ended_at_us":5)"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos) << missing.error().message;

  auto negative = parseEvent(framed(R"({"type":"session_closed","session_id":"x","ended_at_us":5,"reason":"r",)"
                                    R"("bytes_from_client":-1,"bytes_from_server":2)"));
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("bytes_from_client"), std::string::npos);

  EXPECT_FALSE(parseEvent(framed(R"({"type":"session_closed","session_id":7)")).ok());
  EXPECT_FALSE(parseEvent(framed(R"([1,2)")).ok());
  EXPECT_FALSE(parseEvent(R"({"type":"session_closed","session_id":"x"})").ok());
  EXPECT_FALSE(parseEvent("").ok());
}

}  // namespace
}  // namespace gatehouse::recording
