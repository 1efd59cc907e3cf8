// StatementTracker: how requests and answers pair up, for every flow the protocol allows.
#include "gateway/statement_tracker.h"

#include <gtest/gtest.h>

#include "protocols/postgres/codec.h"

namespace gatehouse::gateway {
namespace {

// Bodies built with the real encoder, so that the tracker sees exactly what a client or server sends.
std::string body(const pg::FrontendMessage& m) {
  std::string out;
  pg::encode(m, out);
  return out.substr(5);
}
std::string body(const pg::BackendMessage& m) {
  std::string out;
  pg::encode(m, out);
  return out.substr(5);
}

class Tracker : public ::testing::Test {
 protected:
  bool front(char type, const pg::FrontendMessage& m, int64_t t = 0) {
    return tracker.onFrontend(type, body(m), t, out);
  }
  bool back(char type, const pg::BackendMessage& m, int64_t t = 0) { return tracker.onBackend(type, body(m), t, out); }
  bool complete(std::string tag, int64_t t = 0) { return back('C', pg::CommandComplete{std::move(tag)}, t); }
  bool ready(char status = 'I', int64_t t = 0) { return back('Z', pg::ReadyForQuery{status}, t); }
  bool error(std::string code, std::string message, int64_t t = 0) {
    return back('E', pg::ErrorResponse{{{'S', "ERROR"}, {'C', std::move(code)}, {'M', std::move(message)}}}, t);
  }
  StatementTracker tracker;
  TrackerOutput out;
};

TEST_F(Tracker, SimpleQueryStartsAtQueryAndEndsAtReadyForQuery) {
  ASSERT_TRUE(front('Q', pg::Query{"SELECT 1"}, 100));
  ASSERT_EQ(out.starts.size(), 1u);
  EXPECT_EQ(out.starts[0].seq, 1);
  EXPECT_EQ(out.starts[0].protocol, "simple");
  EXPECT_EQ(out.starts[0].sql, "SELECT 1");
  EXPECT_EQ(out.starts[0].started_at_us, 100);
  EXPECT_TRUE(tracker.inFlight());
  tracker.onDataRow();
  ASSERT_TRUE(complete("SELECT 1", 150));
  EXPECT_TRUE(out.ends.empty()) << "a simple query ends at ReadyForQuery, not CommandComplete";
  ASSERT_TRUE(ready('I', 180));
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].seq, 1);
  EXPECT_EQ(out.ends[0].tag, "SELECT 1");
  EXPECT_EQ(out.ends[0].rows, 1);
  EXPECT_EQ(out.ends[0].duration_us, 80);
  EXPECT_TRUE(out.ends[0].sqlstate.empty());
  EXPECT_FALSE(tracker.inFlight());
}

TEST_F(Tracker, MultiStatementQueryJoinsTagsAndSumsRows) {
  ASSERT_TRUE(front('Q', pg::Query{"INSERT INTO t VALUES (1),(2); UPDATE t SET a = 1"}));
  ASSERT_TRUE(complete("INSERT 0 2"));
  ASSERT_TRUE(complete("UPDATE 5"));
  ASSERT_TRUE(ready());
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].tag, "INSERT 0 2; UPDATE 5");
  EXPECT_EQ(out.ends[0].rows, 7);
}

TEST_F(Tracker, QueryErrorCarriesSqlstate) {
  ASSERT_TRUE(front('Q', pg::Query{"SELECT 1/0"}));
  ASSERT_TRUE(error("22012", "division by zero"));
  ASSERT_TRUE(ready('I'));
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].sqlstate, "22012");
  EXPECT_EQ(out.ends[0].error_message, "division by zero");
}

TEST_F(Tracker, EmptyQueryAndTransactionStatus) {
  ASSERT_TRUE(front('Q', pg::Query{""}));
  ASSERT_TRUE(back('I', pg::EmptyQueryResponse{}));
  ASSERT_TRUE(ready('T'));
  EXPECT_EQ(tracker.transactionStatus(), 'T');
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].tag, "");
}

TEST_F(Tracker, ExtendedProtocolRecordsTheParsedTextAtExecute) {
  ASSERT_TRUE(front('P', pg::Parse{"s1", "SELECT $1::int", {}}));
  ASSERT_TRUE(front('B', pg::Bind{"p1", "s1", {}, {std::string("7")}, {}}));
  ASSERT_TRUE(front('E', pg::Execute{"p1", 0}, 10));
  ASSERT_TRUE(front('S', pg::Sync{}));
  ASSERT_EQ(out.starts.size(), 1u);
  EXPECT_EQ(out.starts[0].protocol, "extended");
  EXPECT_EQ(out.starts[0].sql, "SELECT $1::int");
  ASSERT_TRUE(back('1', pg::ParseComplete{}));
  ASSERT_TRUE(back('2', pg::BindComplete{}));
  tracker.onDataRow();
  ASSERT_TRUE(complete("SELECT 1", 30));
  ASSERT_EQ(out.ends.size(), 1u) << "an Execute ends at its CommandComplete";
  EXPECT_EQ(out.ends[0].rows, 1);
  EXPECT_EQ(out.ends[0].duration_us, 20);
  ASSERT_TRUE(ready());
  EXPECT_FALSE(tracker.inFlight());
}

TEST_F(Tracker, PreparedStatementIsReusedAcrossExecutes) {
  ASSERT_TRUE(front('P', pg::Parse{"q", "UPDATE t SET a = $1", {}}));
  ASSERT_TRUE(front('S', pg::Sync{}));
  ASSERT_TRUE(back('1', pg::ParseComplete{}));
  ASSERT_TRUE(ready());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(front('B', pg::Bind{"", "q", {}, {std::string("1")}, {}}));
    ASSERT_TRUE(front('E', pg::Execute{"", 0}));
    ASSERT_TRUE(front('S', pg::Sync{}));
    ASSERT_TRUE(back('2', pg::BindComplete{}));
    ASSERT_TRUE(complete("UPDATE 2"));
    ASSERT_TRUE(ready());
  }
  ASSERT_EQ(out.starts.size(), 3u);
  for (const auto& s : out.starts) EXPECT_EQ(s.sql, "UPDATE t SET a = $1");
  ASSERT_EQ(out.ends.size(), 3u);
  EXPECT_EQ(out.ends[2].seq, 3);
  EXPECT_EQ(out.ends[2].rows, 2);
}

TEST_F(Tracker, PipelinedErrorSkipsTheRestUntilSync) {
  ASSERT_TRUE(front('P', pg::Parse{"", "SELECT 1/0", {}}));
  ASSERT_TRUE(front('B', pg::Bind{}));
  ASSERT_TRUE(front('E', pg::Execute{}));
  ASSERT_TRUE(front('P', pg::Parse{"", "SELECT 2", {}}));
  ASSERT_TRUE(front('B', pg::Bind{}));
  ASSERT_TRUE(front('E', pg::Execute{}));
  ASSERT_TRUE(front('S', pg::Sync{}));
  ASSERT_EQ(out.starts.size(), 2u);
  ASSERT_TRUE(back('1', pg::ParseComplete{}));
  ASSERT_TRUE(back('2', pg::BindComplete{}));
  ASSERT_TRUE(error("22012", "division by zero"));
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].seq, 1);
  EXPECT_EQ(out.ends[0].sqlstate, "22012");
  ASSERT_TRUE(ready());
  ASSERT_EQ(out.ends.size(), 2u) << "the skipped Execute must not stay 'running' forever";
  EXPECT_EQ(out.ends[1].seq, 2);
  EXPECT_EQ(out.ends[1].tag, "(skipped)");
  EXPECT_FALSE(tracker.inFlight());
}

TEST_F(Tracker, ParseErrorIsRecordedWithItsText) {
  ASSERT_TRUE(front('P', pg::Parse{"", "SELEC 1", {}}));
  ASSERT_TRUE(front('S', pg::Sync{}));
  EXPECT_TRUE(out.starts.empty());
  ASSERT_TRUE(error("42601", "syntax error at or near \"SELEC\""));
  ASSERT_EQ(out.starts.size(), 1u);
  EXPECT_EQ(out.starts[0].sql, "SELEC 1");
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].sqlstate, "42601");
  ASSERT_TRUE(ready());
}

TEST_F(Tracker, PortalSuspendedEndsAnExecute) {
  ASSERT_TRUE(front('B', pg::Bind{}));
  ASSERT_TRUE(front('E', pg::Execute{"", 10}));
  ASSERT_TRUE(front('H', pg::Flush{}));
  ASSERT_TRUE(back('2', pg::BindComplete{}));
  for (int i = 0; i < 10; ++i) tracker.onDataRow();
  ASSERT_TRUE(back('s', pg::PortalSuspended{}));
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].rows, 10);
  EXPECT_EQ(out.ends[0].tag, "(portal suspended)");
}

TEST_F(Tracker, CopyInsideAQuery) {
  ASSERT_TRUE(front('Q', pg::Query{"COPY t FROM STDIN"}));
  ASSERT_TRUE(back('G', pg::CopyResponse{'G', 0, {0}}));
  ASSERT_TRUE(front('d', pg::CopyData{"1\n"}));
  ASSERT_TRUE(front('c', pg::CopyDone{}));
  ASSERT_TRUE(complete("COPY 1"));
  ASSERT_TRUE(ready());
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].tag, "COPY 1");
  EXPECT_EQ(out.ends[0].rows, 1);
}

TEST_F(Tracker, ClosedStatementIsForgotten) {
  ASSERT_TRUE(front('P', pg::Parse{"s", "SELECT 1", {}}));
  ASSERT_TRUE(front('C', pg::Close{'S', "s"}));
  ASSERT_TRUE(front('B', pg::Bind{"", "s", {}, {}, {}}));
  ASSERT_TRUE(front('E', pg::Execute{}));
  ASSERT_EQ(out.starts.size(), 1u);
  EXPECT_EQ(out.starts[0].sql, "") << "a closed statement's text must not be attributed to a later Bind";
}

TEST_F(Tracker, AnswersThatPairWithNothingAreRefused) {
  EXPECT_FALSE(ready()) << "ReadyForQuery with nothing sent";
  StatementTracker t2;
  TrackerOutput o2;
  EXPECT_FALSE(t2.onBackend('1', "", 0, o2)) << "ParseComplete with no Parse";
  EXPECT_FALSE(t2.onBackend('C', body(pg::BackendMessage{pg::CommandComplete{"SELECT 1"}}), 0, o2));
}

TEST_F(Tracker, MalformedClientMessagesAreRefused) {
  EXPECT_FALSE(tracker.onFrontend('Q', std::string_view("no terminator"), 0, out));
  EXPECT_FALSE(tracker.onFrontend('P', std::string_view("name\0", 5), 0, out));
  EXPECT_FALSE(tracker.onFrontend('C', std::string_view("Xname\0", 6), 0, out));
}

TEST_F(Tracker, AbandonEndsWhatIsStillRunning) {
  ASSERT_TRUE(front('Q', pg::Query{"SELECT pg_sleep(60)"}));
  tracker.abandon(500, "client disconnected", out);
  ASSERT_EQ(out.ends.size(), 1u);
  EXPECT_EQ(out.ends[0].error_message, "client disconnected");
  EXPECT_FALSE(tracker.inFlight());
}

TEST_F(Tracker, DropLastQueryUndoesARefusedQuery) {
  ASSERT_TRUE(front('Q', pg::Query{"SELECT 1"}));
  EXPECT_TRUE(tracker.dropLastQuery());
  EXPECT_FALSE(tracker.inFlight());
  ASSERT_TRUE(front('Q', pg::Query{"SELECT 2"}));
  EXPECT_EQ(out.starts.back().seq, 1) << "the refused query's number is reused: it was never recorded";
  ASSERT_TRUE(front('S', pg::Sync{}));
  EXPECT_FALSE(tracker.dropLastQuery());
}

TEST(RowsFromTag, ReadsTheLastNumber) {
  EXPECT_EQ(rowsFromTag("SELECT 5"), 5);
  EXPECT_EQ(rowsFromTag("INSERT 0 12"), 12);
  EXPECT_EQ(rowsFromTag("COPY 1000"), 1000);
  EXPECT_EQ(rowsFromTag("CREATE TABLE"), -1);
  EXPECT_EQ(rowsFromTag("BEGIN"), -1);
  EXPECT_EQ(rowsFromTag(""), -1);
}

}  // namespace
}  // namespace gatehouse::gateway
