// StreamScanner: inspected messages come out whole, others pass through in pieces, limits hold.
#include "protocols/postgres/stream_scanner.h"

#include <gtest/gtest.h>

#include "protocols/postgres/codec.h"

namespace gatehouse::pg {
namespace {

std::string stream() {
  std::string s;
  encode(BackendMessage{RowDescription{{FieldDescription{.name = "a", .type_oid = 23}}}}, s);
  for (int i = 0; i < 3; ++i) encode(BackendMessage{DataRow{{std::string("12345")}}}, s);
  encode(BackendMessage{CommandComplete{"SELECT 3"}}, s);
  encode(BackendMessage{ReadyForQuery{'I'}}, s);
  return s;
}

struct Seen {
  std::string messages;     // types returned whole
  std::string passed;       // types whose first piece passed through
  std::size_t consumed = 0;
  std::string tag;
};

// Feeds `data` in chunks of `chunk` bytes, keeping unconsumed bytes as a relay does.
Seen scan(const std::string& data, std::size_t chunk) {
  StreamScanner scanner("CZ", Limits{});
  Seen seen;
  std::string buf;
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    buf += data.substr(off, chunk);
    std::size_t pos = 0;
    for (;;) {
      auto step = scanner.next(std::string_view(buf).substr(pos));
      if (step.kind == StreamScanner::Kind::kNeedMore) break;
      EXPECT_NE(step.kind, StreamScanner::Kind::kError) << step.error;
      if (step.kind == StreamScanner::Kind::kError) return seen;
      if (step.kind == StreamScanner::Kind::kMessage) {
        seen.messages += step.type;
        if (step.type == 'C') seen.tag = std::string(step.body.substr(0, step.body.size() - 1));
      }
      if (step.kind == StreamScanner::Kind::kPassThrough && step.first) seen.passed += step.type;
      pos += step.consumed;
      seen.consumed += step.consumed;
    }
    buf.erase(0, pos);
  }
  return seen;
}

TEST(StreamScanner, WholeBuffer) {
  const auto data = stream();
  auto seen = scan(data, data.size());
  EXPECT_EQ(seen.messages, "CZ");
  EXPECT_EQ(seen.passed, "TDDD");
  EXPECT_EQ(seen.tag, "SELECT 3");
  EXPECT_EQ(seen.consumed, data.size());
}

TEST(StreamScanner, EveryChunkSize) {
  const auto data = stream();
  for (std::size_t chunk = 1; chunk <= data.size(); ++chunk) {
    auto seen = scan(data, chunk);
    EXPECT_EQ(seen.messages, "CZ") << "chunk " << chunk;
    EXPECT_EQ(seen.passed, "TDDD") << "chunk " << chunk;
    EXPECT_EQ(seen.consumed, data.size()) << "chunk " << chunk;
  }
}

TEST(StreamScanner, PassThroughDoesNotWaitForTheWholeMessage) {
  StreamScanner scanner("Z", Limits{});
  std::string big;
  encode(BackendMessage{DataRow{{std::string(100000, 'x')}}}, big);
  auto step = scanner.next(std::string_view(big).substr(0, 1000));
  ASSERT_EQ(step.kind, StreamScanner::Kind::kPassThrough);
  EXPECT_TRUE(step.first);
  EXPECT_EQ(step.consumed, 1000u);
  EXPECT_TRUE(scanner.midMessage());
  step = scanner.next(std::string_view(big).substr(1000));
  ASSERT_EQ(step.kind, StreamScanner::Kind::kPassThrough);
  EXPECT_FALSE(step.first);
  EXPECT_EQ(step.consumed, big.size() - 1000);
  EXPECT_FALSE(scanner.midMessage());
}

TEST(StreamScanner, InspectedMessageWaitsAndSaysHowMuchItNeeds) {
  StreamScanner scanner("Q", Limits{});
  std::string q;
  encode(FrontendMessage{Query{"SELECT 1"}}, q);
  auto step = scanner.next(std::string_view(q).substr(0, 7));
  EXPECT_EQ(step.kind, StreamScanner::Kind::kNeedMore);
  EXPECT_EQ(step.need, q.size());
}

TEST(StreamScanner, LimitsAndBadLengths) {
  StreamScanner small("Q", Limits{.max_startup = 10000, .max_message = 16});
  std::string q;
  encode(FrontendMessage{Query{"SELECT 'a long query'"}}, q);
  auto step = small.next(q);
  EXPECT_EQ(step.kind, StreamScanner::Kind::kError);
  EXPECT_NE(step.error.find("exceeds the limit"), std::string::npos);
  EXPECT_EQ(small.next("anything").kind, StreamScanner::Kind::kError) << "stays failed: the stream is out of sync";

  StreamScanner scanner("Q", Limits{});
  const char bad[] = {'Q', 0, 0, 0, 3};
  EXPECT_EQ(scanner.next(std::string_view(bad, 5)).kind, StreamScanner::Kind::kError);

  StreamScanner pass("", Limits{}, 1000);
  const char huge[] = {'D', 0x7f, 0, 0, 0};
  EXPECT_EQ(pass.next(std::string_view(huge, 5)).kind, StreamScanner::Kind::kError);
}

}  // namespace
}  // namespace gatehouse::pg
