// The event writer's JSON: every byte a client can put in SQL survives the trip through the log, and each line
// is valid JSON for any parser.
#include <boost/json.hpp>
#include <gtest/gtest.h>

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

TEST(EventWriter, EveryEventTypeRoundTrips) {
  const Event events[] = {
      SessionOpened{.session_id = "s", .user = "u", .connection = "c", .client_addr = "::1", .started_at_us = 1,
                    .tls = true},
      withSql("SELECT 1"),
      StatementFinished{.session_id = "s", .seq = 18446744073709551615ull, .duration_us = -5, .tag = "SELECT 1",
                        .sqlstate = "22012", .error_message = "division by zero", .rows = 9000000000},
      SessionClosed{.session_id = "s", .ended_at_us = 2, .reason = "client terminated", .bytes_from_client = 3,
                    .bytes_from_server = 4},
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

}  // namespace
}  // namespace gatehouse::recording
