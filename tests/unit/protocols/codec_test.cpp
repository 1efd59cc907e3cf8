// Round trips of every PostgreSQL message type, both directions, against hand-written wire bytes as well
// as against the encoder; ErrorResponse construction; the three meanings of a 'p' message.
#include "protocols/postgres/codec.h"

#include <gtest/gtest.h>

#include <variant>

#include "unit/protocols/codec_test_support.h"

namespace gatehouse::pg {
namespace {

using fixtures::be16;
using fixtures::be32;
using fixtures::bytes;
using fixtures::encoded;
using fixtures::frame;

FrontendMessage decodeFrontendFrame(const std::string& wire) {
  FrameResult f = peekFrame(wire, Limits{});
  EXPECT_EQ(f.status, DecodeStatus::kMessage) << f.error;
  EXPECT_EQ(f.frame.size, wire.size());
  auto m = decodeFrontend(f.frame.type, f.frame.body);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? *m : FrontendMessage{};
}

BackendMessage decodeBackendFrame(const std::string& wire) {
  FrameResult f = peekFrame(wire, Limits{});
  EXPECT_EQ(f.status, DecodeStatus::kMessage) << f.error;
  EXPECT_EQ(f.frame.size, wire.size());
  auto m = decodeBackend(f.frame.type, f.frame.body);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? *m : BackendMessage{};
}

TEST(CodecSamples, CoverEveryMessageType) {
  // If messages.h gains a type, the samples (and so every round-trip test) must cover it.
  EXPECT_EQ(fixtures::alternativesOf(fixtures::startupSamples()).size(), std::variant_size_v<StartupPacket>);
  EXPECT_EQ(fixtures::alternativesOf(fixtures::frontendSamples()).size(),
            std::variant_size_v<FrontendMessage>);
  EXPECT_EQ(fixtures::alternativesOf(fixtures::backendSamples()).size(), std::variant_size_v<BackendMessage>);
}

TEST(CodecRoundTrip, StartupPackets) {
  for (const StartupPacket& p : fixtures::startupSamples()) {
    const std::string wire = encoded(p);
    StartupResult r = decodeStartup(wire, Limits{});
    ASSERT_EQ(r.status, DecodeStatus::kMessage) << r.error;
    EXPECT_EQ(r.size, wire.size());
    EXPECT_EQ(r.packet, p) << "alternative " << p.index();
  }
}

TEST(CodecRoundTrip, FrontendMessages) {
  for (const FrontendMessage& m : fixtures::frontendSamples()) {
    SCOPED_TRACE(m.index());
    EXPECT_EQ(decodeFrontendFrame(encoded(m)), m);
  }
}

TEST(CodecRoundTrip, BackendMessages) {
  for (const BackendMessage& m : fixtures::backendSamples()) {
    SCOPED_TRACE(m.index());
    EXPECT_EQ(decodeBackendFrame(encoded(m)), m);
  }
}

TEST(CodecRoundTrip, EncodeAppendsToExistingBytes) {
  std::string out = "prefix";
  encode(FrontendMessage{Sync{}}, out);
  EXPECT_EQ(out, "prefix" + bytes({'S', 0, 0, 0, 4}));
}

// Wire bytes written from the protocol documentation, independent of the encoder.
TEST(CodecWire, StartupPacketsMatchTheDocumentedLayout) {
  const std::string startup = be32(16) + be32(0x00030000) + std::string("user\0u\0\0", 8);
  EXPECT_EQ(encoded(StartupMessage{kProtocolV3, {{"user", "u"}}}), startup);
  StartupResult r = decodeStartup(startup, Limits{});
  ASSERT_EQ(r.status, DecodeStatus::kMessage) << r.error;
  const auto& m = std::get<StartupMessage>(r.packet);
  ASSERT_NE(m.find("user"), nullptr);
  EXPECT_EQ(*m.find("user"), "u");
  EXPECT_EQ(m.find("database"), nullptr);

  EXPECT_EQ(encoded(SslRequest{}), bytes({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}));
  EXPECT_EQ(encoded(GssEncRequest{}), bytes({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}));
  EXPECT_EQ(encoded(CancelRequest{1, 2}),
            bytes({0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2}));
}

TEST(CodecWire, FrontendMessagesMatchTheDocumentedLayout) {
  EXPECT_EQ(encoded(Query{"SELECT 1"}), bytes({'Q', 0, 0, 0, 13}) + std::string("SELECT 1\0", 9));

  const std::string bind_body = std::string("p\0s\0", 4) + be16(1) + be16(1) + be16(2) + be32(2) + "hi" +
                                be32(0xffffffff) + be16(1) + be16(0);
  const std::string bind = frame('B', bind_body);
  EXPECT_EQ(encoded(Bind{"p", "s", {1}, {std::string("hi"), std::nullopt}, {0}}), bind);
  const auto decoded = std::get<Bind>(decodeFrontendFrame(bind));
  EXPECT_EQ(decoded.portal, "p");
  EXPECT_EQ(decoded.statement, "s");
  ASSERT_EQ(decoded.params.size(), 2u);
  EXPECT_EQ(decoded.params[0], "hi");
  EXPECT_FALSE(decoded.params[1].has_value());

  const std::string execute = frame('E', std::string("\0", 1) + be32(100));
  EXPECT_EQ(std::get<Execute>(decodeFrontendFrame(execute)).max_rows, 100);
  EXPECT_EQ(encoded(Describe{'P', "c"}), frame('D', std::string("Pc\0", 3)));
}

TEST(CodecWire, BackendMessagesMatchTheDocumentedLayout) {
  EXPECT_EQ(encoded(Authentication{}), bytes({'R', 0, 0, 0, 8, 0, 0, 0, 0}));
  EXPECT_EQ(encoded(ReadyForQuery{'I'}), bytes({'Z', 0, 0, 0, 5, 'I'}));
  EXPECT_EQ(encoded(DataRow{{std::string("1"), std::nullopt}}),
            bytes({'D', 0, 0, 0, 15, 0, 2, 0, 0, 0, 1, '1', 0xff, 0xff, 0xff, 0xff}));

  // RowDescription of "SELECT 1" as PostgreSQL 15 sends it.
  const std::string row_description = frame('T', be16(1) + std::string("?column?\0", 9) + be32(0) + be16(0) +
                                                     be32(23) + be16(4) + be32(0xffffffff) + be16(0));
  const auto rd = std::get<RowDescription>(decodeBackendFrame(row_description));
  ASSERT_EQ(rd.fields.size(), 1u);
  EXPECT_EQ(rd.fields[0].name, "?column?");
  EXPECT_EQ(rd.fields[0].type_oid, 23u);
  EXPECT_EQ(rd.fields[0].type_size, 4);
  EXPECT_EQ(rd.fields[0].type_modifier, -1);
  EXPECT_EQ(encoded(rd), row_description);

  const std::string copy_out = frame('H', bytes({0}) + be16(2) + be16(0) + be16(0));
  const auto cr = std::get<CopyResponse>(decodeBackendFrame(copy_out));
  EXPECT_EQ(cr.type, 'H');
  EXPECT_EQ(cr.column_formats.size(), 2u);

  const std::string notify = frame('A', be32(99) + std::string("ch\0pay\0", 7));
  const auto n = std::get<NotificationResponse>(decodeBackendFrame(notify));
  EXPECT_EQ(n.pid, 99);
  EXPECT_EQ(n.channel, "ch");
  EXPECT_EQ(n.payload, "pay");
}

TEST(CodecWire, CopyDataIsTheSameOnBothSides) {
  const std::string wire = frame('d', std::string("1\tx\n", 4));
  EXPECT_EQ(std::get<CopyData>(decodeFrontendFrame(wire)).data, "1\tx\n");
  EXPECT_EQ(std::get<CopyData>(decodeBackendFrame(wire)).data, "1\tx\n");
  EXPECT_EQ(encoded(FrontendMessage{CopyData{"1\tx\n"}}), encoded(BackendMessage{CopyData{"1\tx\n"}}));
}

TEST(CodecWire, SameTypeByteMeansDifferentMessagesPerDirection) {
  const std::string wire = frame('S', "");
  EXPECT_TRUE(std::holds_alternative<Sync>(decodeFrontendFrame(wire)));
  EXPECT_FALSE(decodeBackend('S', "").ok());  // a ParameterStatus needs a name and a value
}

TEST(CodecErrorResponse, CarriesSeverityCodeAndMessage) {
  const std::string wire = errorResponse("FATAL", sqlstate::kInvalidPassword, "token expired");
  ASSERT_FALSE(wire.empty());
  EXPECT_EQ(wire.front(), 'E');
  EXPECT_EQ(wire.back(), '\0');
  const auto e = std::get<ErrorResponse>(decodeBackendFrame(wire));
  const std::vector<std::pair<char, std::string>> expected = {
      {'S', "FATAL"}, {'V', "FATAL"}, {'C', "28P01"}, {'M', "token expired"}};
  EXPECT_EQ(e.fields, expected);
  EXPECT_EQ(e.find('D'), nullptr);
  EXPECT_EQ(e.find('H'), nullptr);
}

TEST(CodecErrorResponse, AddsDetailAndHintWhenGiven) {
  const std::string wire =
      errorResponse("ERROR", sqlstate::kInsufficientPrivilege, "denied", "rule no-drop", "ask for a grant");
  const auto e = std::get<ErrorResponse>(decodeBackendFrame(wire));
  ASSERT_EQ(e.fields.size(), 6u);
  EXPECT_EQ(e.fields[4], std::make_pair('D', std::string("rule no-drop")));
  EXPECT_EQ(e.fields[5], std::make_pair('H', std::string("ask for a grant")));
  EXPECT_EQ(*e.find('C'), "42501");

  const auto hint_only =
      std::get<ErrorResponse>(decodeBackendFrame(errorResponse("ERROR", "XX000", "m", "", "h")));
  EXPECT_EQ(hint_only.find('D'), nullptr);
  ASSERT_NE(hint_only.find('H'), nullptr);
  EXPECT_EQ(*hint_only.find('H'), "h");
}

TEST(CodecPassword, CleartextPasswordRoundTrips) {
  std::string wire;
  encodePassword("s3cret", wire);
  EXPECT_EQ(wire, frame('p', std::string("s3cret\0", 7)));
  const auto p = std::get<PasswordMessage>(decodeFrontendFrame(wire));
  auto password = decodePassword(p.data);
  ASSERT_TRUE(password.ok()) << password.error().message;
  EXPECT_EQ(*password, "s3cret");
  EXPECT_FALSE(decodePassword("no terminator").ok());
  EXPECT_FALSE(decodePassword(std::string("a\0b", 3)).ok());
}

TEST(CodecPassword, SaslInitialResponseRoundTrips) {
  for (const SaslInitialResponse& m :
       {SaslInitialResponse{"SCRAM-SHA-256", std::string("n,,n=,r=nonce")},
        SaslInitialResponse{"SCRAM-SHA-256", std::nullopt}, SaslInitialResponse{"X", std::string()}}) {
    std::string wire;
    encode(m, wire);
    const auto p = std::get<PasswordMessage>(decodeFrontendFrame(wire));
    auto back = decodeSaslInitialResponse(p.data);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, m);
  }
  // The documented layout: mechanism, int32 length, data.
  auto r = decodeSaslInitialResponse(std::string("M\0", 2) + be32(2) + "ab");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mechanism, "M");
  EXPECT_EQ(r->data, "ab");
  EXPECT_FALSE(decodeSaslInitialResponse(std::string("M\0", 2) + be32(3) + "ab").ok());
  EXPECT_FALSE(decodeSaslInitialResponse(std::string("M\0", 2) + be32(0xfffffffe)).ok());
}

TEST(CodecPassword, SaslMechanismsAreListedFromAuthenticationSasl) {
  const auto auth = std::get<Authentication>(
      decodeBackendFrame(frame('R', be32(10) + std::string("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34))));
  EXPECT_EQ(saslMechanisms(auth), (std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}));
  EXPECT_TRUE(saslMechanisms(Authentication{AuthCode::kMd5Password, "salt"}).empty());
}

}  // namespace
}  // namespace gatehouse::pg
