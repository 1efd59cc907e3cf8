// The stateful decoders over byte streams: whole, byte by byte, split at every offset; the startup phase;
// limits applied from the header before the body arrives; the sticky error state.
#include <gtest/gtest.h>

#include <variant>

#include "protocols/postgres/codec.h"
#include "unit/protocols/codec_test_support.h"

namespace gatehouse::pg {
namespace {

using fixtures::be32;
using fixtures::bytes;
using fixtures::encoded;
using fixtures::frame;

using FrontendItem = FrontendDecoder::Item;

// Pulls every complete message out of a decoder. Returns the error text if the decoder failed.
template <class Decoder, class Item>
std::string drain(Decoder& decoder, std::vector<Item>& out) {
  for (;;) {
    auto n = decoder.next();
    if (n.status == DecodeStatus::kNeedMore) return {};
    if (n.status == DecodeStatus::kError) {
      EXPECT_FALSE(n.error.empty());
      return n.error;
    }
    out.push_back(std::move(n.message));
  }
}

const StartupMessage kStartup{kProtocolV3, {{"user", "alice"}, {"database", "pg-prod"}}};

// The frontend samples after a StartupMessage. `small` leaves out the 160 KB Bind so that splitting at every
// offset stays quick.
std::pair<std::string, std::vector<FrontendItem>> frontendStream(bool small) {
  std::string wire = encoded(kStartup);
  std::vector<FrontendItem> items{StartupPacket{kStartup}};
  for (const FrontendMessage& m : fixtures::frontendSamples()) {
    const std::string one = encoded(m);
    if (small && one.size() > 1000) continue;
    wire += one;
    items.emplace_back(m);
  }
  return {wire, items};
}

std::pair<std::string, std::vector<BackendMessage>> backendStream() {
  std::string wire;
  std::vector<BackendMessage> items;
  for (const BackendMessage& m : fixtures::backendSamples()) {
    wire += encoded(m);
    items.push_back(m);
  }
  return {wire, items};
}

TEST(FrontendDecoder, DecodesManyMessagesFromOneBuffer) {
  const auto [wire, expected] = frontendStream(false);
  FrontendDecoder d;
  d.feed(wire);
  std::vector<FrontendItem> got;
  EXPECT_EQ(drain(d, got), "");
  EXPECT_EQ(got, expected);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrontendDecoder, DecodesByteByByte) {
  const auto [wire, expected] = frontendStream(false);
  FrontendDecoder d;
  std::vector<FrontendItem> got;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    ASSERT_EQ(drain(d, got), "");
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrontendDecoder, DecodesWhenSplitAtEveryOffset) {
  const auto [wire, expected] = frontendStream(true);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    FrontendDecoder d;
    std::vector<FrontendItem> got;
    d.feed(std::string_view(wire).substr(0, cut));
    ASSERT_EQ(drain(d, got), "") << "cut at " << cut;
    d.feed(std::string_view(wire).substr(cut));
    ASSERT_EQ(drain(d, got), "") << "cut at " << cut;
    ASSERT_EQ(got, expected) << "cut at " << cut;
  }
}

TEST(FrontendDecoder, KeepsAPartialMessageBuffered) {
  const std::string first = encoded(kStartup) + encoded(Query{"SELECT 1"});
  const std::string second = encoded(Query{"SELECT 2"});
  FrontendDecoder d;
  d.feed(first + second.substr(0, 7));
  std::vector<FrontendItem> got;
  EXPECT_EQ(drain(d, got), "");
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(d.buffered(), 7u);
  d.feed(second.substr(7));
  EXPECT_EQ(drain(d, got), "");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2], FrontendItem{FrontendMessage{Query{"SELECT 2"}}});
}

TEST(FrontendDecoder, BufferedCountsOnlyPendingBytesOverALongStream) {
  // Many messages, each split in two: after each, only the pending fragment counts as buffered, however the
  // decoder compacts its storage underneath.
  FrontendDecoder d;
  d.feed(encoded(kStartup));
  std::vector<FrontendItem> got;
  const std::string q = encoded(Query{"SELECT 1"});
  for (int i = 0; i < 20000; ++i) {
    d.feed(q.substr(0, 3));
    ASSERT_EQ(drain(d, got), "");
    EXPECT_EQ(d.buffered(), 3u);
    d.feed(q.substr(3));
    ASSERT_EQ(drain(d, got), "");
    ASSERT_EQ(d.buffered(), 0u);
  }
  EXPECT_EQ(got.size(), 20001u);
}

TEST(FrontendDecoder, SslRequestKeepsTheStartupPhase) {
  FrontendDecoder d;
  d.feed(encoded(SslRequest{}) + encoded(kStartup) + encoded(Query{"SELECT 1"}));
  std::vector<FrontendItem> got;
  EXPECT_EQ(drain(d, got), "");
  const std::vector<FrontendItem> expected{StartupPacket{SslRequest{}}, StartupPacket{kStartup},
                                           FrontendMessage{Query{"SELECT 1"}}};
  EXPECT_EQ(got, expected);
}

TEST(FrontendDecoder, GssEncRequestThenSslRequestThenStartup) {
  // libpq falls back from GSS encryption to TLS on the same connection when the server refuses the first.
  FrontendDecoder d;
  d.feed(encoded(GssEncRequest{}) + encoded(SslRequest{}) + encoded(kStartup) + encoded(Sync{}));
  std::vector<FrontendItem> got;
  EXPECT_EQ(drain(d, got), "");
  const std::vector<FrontendItem> expected{StartupPacket{GssEncRequest{}}, StartupPacket{SslRequest{}},
                                           StartupPacket{kStartup}, FrontendMessage{Sync{}}};
  EXPECT_EQ(got, expected);
}

TEST(FrontendDecoder, CancelRequestEndsTheStream) {
  FrontendDecoder d;
  d.feed(encoded(CancelRequest{77, 88}));
  auto n = d.next();
  ASSERT_EQ(n.status, DecodeStatus::kMessage) << n.error;
  const auto& cancel = std::get<CancelRequest>(std::get<StartupPacket>(n.message));
  EXPECT_EQ(cancel.pid, 77);
  EXPECT_EQ(cancel.key, 88);
  EXPECT_EQ(d.next().status, DecodeStatus::kNeedMore);  // nothing more yet: not an error

  d.feed(bytes({0}));
  n = d.next();
  EXPECT_EQ(n.status, DecodeStatus::kError);
  EXPECT_NE(n.error.find("CancelRequest"), std::string::npos) << n.error;
}

TEST(FrontendDecoder, CancelRequestFollowedByAnythingIsAnError) {
  FrontendDecoder d;
  d.feed(encoded(CancelRequest{1, 2}) + encoded(kStartup));
  std::vector<FrontendItem> got;
  EXPECT_NE(drain(d, got), "");
  EXPECT_EQ(got.size(), 1u);
}

TEST(FrontendDecoder, RejectsProtocolVersionsOtherThanThree) {
  for (uint32_t version : {0x00020000u, 0x00040000u, 0u, (1234u << 16) | 5681u}) {
    FrontendDecoder d;
    d.feed(be32(16) + be32(version) + std::string("user\0u\0\0", 8));
    auto n = d.next();
    EXPECT_EQ(n.status, DecodeStatus::kError) << version;
    EXPECT_NE(n.error.find("protocol"), std::string::npos) << n.error;
  }
  // A minor version above 0 is still protocol 3; it is the server's business to negotiate it down.
  FrontendDecoder d;
  d.feed(be32(9) + be32(0x00030005) + bytes({0}));
  auto n = d.next();
  ASSERT_EQ(n.status, DecodeStatus::kMessage) << n.error;
  EXPECT_EQ(std::get<StartupMessage>(std::get<StartupPacket>(n.message)).protocol, 0x00030005);
}

TEST(FrontendDecoder, TypedMessageBeforeStartupIsRejected) {
  FrontendDecoder d;
  d.feed(encoded(Query{"SELECT 1"}));
  EXPECT_EQ(d.next().status, DecodeStatus::kError);  // 'Q',0,0,0 reads as a length far over max_startup
}

TEST(FrontendDecoder, MalformedStartupPacketsAreErrors) {
  const std::vector<std::string> bad = {
      be32(8) + be32(kProtocolV3),                                    // no terminator at all
      be32(14) + be32(kProtocolV3) + std::string("user\0u", 6),       // value without NUL
      be32(15) + be32(kProtocolV3) + std::string("user\0u\0", 7),     // no final empty name
      be32(17) + be32(kProtocolV3) + std::string("user\0u\0\0x", 9),  // bytes after the terminator
      be32(12) + be32(kSslRequestCode) + be32(0),                     // SSLRequest with a payload
      be32(12) + be32(kCancelRequestCode) + be32(1),                  // CancelRequest too short
  };
  for (const std::string& wire : bad) {
    StartupResult r = decodeStartup(wire, Limits{});
    EXPECT_EQ(r.status, DecodeStatus::kError) << ::testing::PrintToString(wire);
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(FrontendDecoder, StartupLengthIsCheckedFromTheHeaderAlone) {
  const Limits limits{100, 1000};
  {
    FrontendDecoder d(limits);
    d.feed(be32(101));  // only the length word: the body is never waited for
    auto n = d.next();
    EXPECT_EQ(n.status, DecodeStatus::kError);
    EXPECT_NE(n.error.find("limit"), std::string::npos) << n.error;
  }
  {
    FrontendDecoder d(limits);
    d.feed(be32(100));
    EXPECT_EQ(d.next().status, DecodeStatus::kNeedMore);  // at the limit is allowed
  }
  for (uint32_t len : {0u, 4u, 7u, 0xffffffffu}) {
    FrontendDecoder d(limits);
    d.feed(be32(len));
    EXPECT_EQ(d.next().status, DecodeStatus::kError) << len;
  }
  EXPECT_EQ(decodeStartup(be32(7).substr(0, 3), limits).status, DecodeStatus::kNeedMore);
}

TEST(FrontendDecoder, TypedLengthIsCheckedFromTheHeaderAlone) {
  const Limits limits{10000, 1000};
  auto after_startup = [&](const std::string& bytes_in) {
    FrontendDecoder d(limits);
    d.feed(encoded(kStartup));
    EXPECT_EQ(d.next().status, DecodeStatus::kMessage);
    d.feed(bytes_in);
    return d.next();
  };
  auto over = after_startup(std::string("Q") + be32(1001));
  EXPECT_EQ(over.status, DecodeStatus::kError);
  EXPECT_NE(over.error.find("exceeds the limit of 1000"), std::string::npos) << over.error;
  EXPECT_EQ(after_startup(std::string("d") + be32(1000)).status, DecodeStatus::kNeedMore);
  for (uint32_t len : {0u, 3u, 0x80000000u, 0xffffffffu})
    EXPECT_EQ(after_startup(std::string("Q") + be32(len)).status, DecodeStatus::kError) << len;
}

TEST(FrontendDecoder, StaysInErrorAfterAnError) {
  FrontendDecoder d;
  d.feed(encoded(kStartup) + frame('Q', "no terminator"));
  EXPECT_EQ(d.next().status, DecodeStatus::kMessage);
  auto n = d.next();
  EXPECT_EQ(n.status, DecodeStatus::kError);
  EXPECT_NE(n.error.find("Query"), std::string::npos) << n.error;
  d.feed(encoded(Sync{}));
  EXPECT_EQ(d.next().status, DecodeStatus::kError);
  EXPECT_EQ(d.next().status, DecodeStatus::kError);
}

TEST(BackendDecoder, DecodesManyMessagesFromOneBuffer) {
  const auto [wire, expected] = backendStream();
  BackendDecoder d;
  d.feed(wire);
  std::vector<BackendMessage> got;
  EXPECT_EQ(drain(d, got), "");
  EXPECT_EQ(got, expected);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(BackendDecoder, DecodesByteByByte) {
  const auto [wire, expected] = backendStream();
  BackendDecoder d;
  std::vector<BackendMessage> got;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    ASSERT_EQ(drain(d, got), "");
  }
  EXPECT_EQ(got, expected);
}

TEST(BackendDecoder, DecodesWhenSplitAtEveryOffset) {
  const auto [wire, expected] = backendStream();
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    BackendDecoder d;
    std::vector<BackendMessage> got;
    d.feed(std::string_view(wire).substr(0, cut));
    ASSERT_EQ(drain(d, got), "") << "cut at " << cut;
    d.feed(std::string_view(wire).substr(cut));
    ASSERT_EQ(drain(d, got), "") << "cut at " << cut;
    ASSERT_EQ(got, expected) << "cut at " << cut;
  }
}

TEST(BackendDecoder, LengthIsCheckedFromTheHeaderAlone) {
  const Limits limits{10000, 1 << 20};
  BackendDecoder big(limits);
  big.feed(std::string("D") + be32((1 << 20) + 1));
  EXPECT_EQ(big.next().status, DecodeStatus::kError);

  BackendDecoder short_length(limits);
  short_length.feed(std::string("Z") + be32(3));
  EXPECT_EQ(short_length.next().status, DecodeStatus::kError);

  BackendDecoder at_limit(limits);
  at_limit.feed(std::string("D") + be32(1 << 20));
  EXPECT_EQ(at_limit.next().status, DecodeStatus::kNeedMore);
}

TEST(BackendDecoder, StaysInErrorAfterAnError) {
  BackendDecoder d;
  d.feed(frame('Z', "X") + encoded(ReadyForQuery{'I'}));
  EXPECT_EQ(d.next().status, DecodeStatus::kError);
  EXPECT_EQ(d.next().status, DecodeStatus::kError);
}

TEST(PeekHeader, GivesTypeAndSizeFromFiveBytes) {
  FrameHeader h = peekHeader(std::string("d") + be32(1 << 16), Limits{});
  EXPECT_EQ(h.status, DecodeStatus::kMessage);
  EXPECT_EQ(h.type, 'd');
  EXPECT_EQ(h.size, 1u + (1u << 16));
  EXPECT_EQ(peekHeader("d\0\0\0", Limits{}).status, DecodeStatus::kNeedMore);
  EXPECT_EQ(peekHeader(std::string("d") + be32(2), Limits{}).status, DecodeStatus::kError);
}

TEST(PeekFrame, WaitsForTheWholeBodyAndPointsIntoTheBuffer) {
  const std::string wire = frame('Q', std::string("SELECT 1\0", 9)) + "tail";
  FrameResult f = peekFrame(std::string_view(wire).substr(0, 10), Limits{});
  EXPECT_EQ(f.status, DecodeStatus::kNeedMore);
  f = peekFrame(wire, Limits{});
  ASSERT_EQ(f.status, DecodeStatus::kMessage);
  EXPECT_EQ(f.frame.type, 'Q');
  EXPECT_EQ(f.frame.size, 14u);
  EXPECT_EQ(f.frame.body, std::string_view("SELECT 1\0", 9));
  EXPECT_EQ(f.frame.body.data(), wire.data() + 5);  // not copied
}

}  // namespace
}  // namespace gatehouse::pg
