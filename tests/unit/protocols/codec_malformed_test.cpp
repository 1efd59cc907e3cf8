// Malformed message bodies: every layout fault (truncated strings, counts and lengths past the end, negative
// lengths, bad enumerations, trailing bytes, unknown types) is an error that names the message and field.
#include <gtest/gtest.h>

#include "protocols/postgres/codec.h"
#include "unit/protocols/codec_test_support.h"

namespace gatehouse::pg {
namespace {

using fixtures::be16;
using fixtures::be32;
using fixtures::bytes;
using fixtures::encoded;

struct BadBody {
  char type;
  std::string body;
  std::string error;  // a part of the expected error text
};

std::string cstr(const char* s) {
  return std::string(s) + '\0';
}

TEST(CodecMalformed, FrontendBodies) {
  const std::vector<BadBody> cases = {
      {'Q', "SELECT 1", "Query: query has no NUL terminator"},
      {'Q', cstr("SELECT 1") + "x", "Query: 1 unexpected byte(s) after the last field"},
      {'P', cstr("s") + "q", "Parse: query has no NUL terminator"},
      {'P', cstr("s") + cstr("q") + be16(3) + be32(23), "Parse: parameter type count 3 runs past the end"},
      {'P', cstr("s") + cstr("q"), "Parse: parameter type count runs past the end"},
      {'B', cstr("") + cstr("") + be16(0) + be16(1) + be32(10) + "abc",
       "Bind: parameter 1 length runs past the end of the message"},
      {'B', cstr("") + cstr("") + be16(0) + be16(2) + be32(0xffffffff) + be32(0xfffffffe),
       "Bind: parameter 2 has a negative length (-2)"},
      {'B', cstr("") + cstr("") + be16(0) + be16(0), "Bind: result format count runs past the end"},
      {'B', cstr("") + cstr("") + be16(2) + be16(0), "Bind: parameter format count 2 runs past the end"},
      {'B', cstr("portal"), "Bind: statement name has no NUL terminator"},
      {'D', cstr("Xs"), "Describe: kind must be 'S' or 'P', not 'X'"},
      {'D', "", "Describe: kind runs past the end"},
      {'D', "Ss", "Describe: name has no NUL terminator"},
      {'E', cstr("p") + std::string(2, '\0'), "Execute: row limit runs past the end"},
      {'C', std::string("\x01", 1) + cstr("x"), "Close: kind must be 'S' or 'P', not 0x01"},
      {'S', "x", "Sync: 1 unexpected byte(s)"},
      {'H', "xy", "Flush: 2 unexpected byte(s)"},
      {'X', "x", "Terminate: 1 unexpected"},
      {'c', "x", "CopyDone: 1 unexpected"},
      {'f', "why", "CopyFail: message has no NUL terminator"},
      {'F', be32(1598) + be16(0) + be16(1) + be32(5) + "ab", "FunctionCall: argument 1 length runs past"},
      {'F', be32(1598) + be16(0) + be16(0), "FunctionCall: result format runs past"},
      {'F', std::string(2, '\0'), "FunctionCall: function OID runs past"},
      {'z', "", "unknown frontend message type 'z'"},
      {'\x01', "", "unknown frontend message type 0x01"},
  };
  for (const BadBody& c : cases) {
    auto r = decodeFrontend(c.type, c.body);
    ASSERT_FALSE(r.ok()) << "type " << c.type << " expected: " << c.error;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos)
        << "got: " << r.error().message << "\nexpected: " << c.error;
  }
}

TEST(CodecMalformed, BackendBodies) {
  const std::string field = cstr("f") + be32(0) + be16(0) + be32(23) + be16(4) + be32(0xffffffff) + be16(0);
  const std::vector<BadBody> cases = {
      {'R', std::string(2, '\0'), "Authentication: code runs past the end"},
      {'R', be32(6), "Authentication: code 6 is not a known authentication request"},
      {'R', be32(0) + "x", "Authentication: 1 unexpected byte(s)"},
      {'R', be32(5) + "abc", "Authentication: salt runs past the end"},
      {'R', be32(5) + "abcde", "Authentication: 1 unexpected"},
      {'R', be32(10) + cstr("SCRAM-SHA-256"), "Authentication: SASL mechanism 2 has no NUL terminator"},
      {'R', be32(10) + cstr(""), "Authentication: SASL mechanism list is empty"},
      {'R', be32(10) + cstr("A") + cstr("") + "x", "Authentication: 1 unexpected"},
      {'K', be32(1), "BackendKeyData: secret key runs past the end"},
      {'K', be32(1) + be32(2) + "x", "BackendKeyData: 1 unexpected"},
      {'S', cstr("name") + "value", "ParameterStatus: value has no NUL terminator"},
      {'Z', "", "ReadyForQuery: transaction status runs past the end"},
      {'Z', "X", "ReadyForQuery: transaction status must be 'I', 'T' or 'E', not 'X'"},
      {'Z', "II", "ReadyForQuery: 1 unexpected"},
      {'T', be16(2) + field, "RowDescription: field count 2 runs past the end"},
      {'T', be16(1) + field.substr(0, field.size() - 1),
       "RowDescription: format of field 1 runs past the end"},
      {'T', be16(1) + "f", "RowDescription: field count 1 runs past the end"},
      {'T', be16(1) + "f" + std::string(18, '\x01'), "RowDescription: name of field 1 has no NUL terminator"},
      {'T', be16(1) + field + "x", "RowDescription: 1 unexpected"},
      {'T', be16(0xffff), "RowDescription: field count 65535 runs past the end"},
      {'D', be16(1) + be32(4) + "abc", "DataRow: column 1 length runs past the end"},
      {'D', be16(1) + be32(0xfffffffd), "DataRow: column 1 has a negative length (-3)"},
      {'D', be16(3) + be32(0) + be32(0), "DataRow: column count 3 runs past the end"},
      {'D', std::string(1, '\0'), "DataRow: column count runs past the end"},
      {'C', "INSERT 0 1", "CommandComplete: command tag has no NUL terminator"},
      {'I', "x", "EmptyQueryResponse: 1 unexpected"},
      {'E', cstr("SERROR"), "ErrorResponse: field code (or the final 0 byte) runs past the end"},
      {'E', "SERROR", "ErrorResponse: field 1 has no NUL terminator"},
      {'E', cstr("SERROR") + "M", "ErrorResponse: field 2 has no NUL terminator"},
      {'E', cstr("SERROR") + '\0' + "x", "ErrorResponse: 1 unexpected"},
      {'E', "", "ErrorResponse: field code (or the final 0 byte) runs past"},
      {'N', cstr("MHi"), "NoticeResponse: field code (or the final 0 byte) runs past"},
      {'A', be32(1) + cstr("channel"), "NotificationResponse: payload has no NUL terminator"},
      {'A', std::string(3, '\0'), "NotificationResponse: process id runs past"},
      {'1', "x", "ParseComplete: 1 unexpected"},
      {'2', "x", "BindComplete: 1 unexpected"},
      {'3', "x", "CloseComplete: 1 unexpected"},
      {'n', "x", "NoData: 1 unexpected"},
      {'s', "x", "PortalSuspended: 1 unexpected"},
      {'c', "x", "CopyDone: 1 unexpected"},
      {'t', be16(2) + be32(23), "ParameterDescription: parameter count 2 runs past the end"},
      {'t', be16(1) + be32(23) + "x", "ParameterDescription: 1 unexpected"},
      {'G', bytes({0}), "CopyInResponse: column count runs past the end"},
      {'H', bytes({0}) + be16(1), "CopyOutResponse: column count 1 runs past the end"},
      {'W', "", "CopyBothResponse: format runs past the end"},
      {'v', be32(0) + be32(0xffffffff), "NegotiateProtocolVersion: option count is negative (-1)"},
      {'v', be32(0) + be32(3) + cstr("a"), "NegotiateProtocolVersion: option count 3 runs past the end"},
      {'v', be32(0) + be32(1) + "ab", "NegotiateProtocolVersion: option 1 has no NUL terminator"},
      {'V', be32(0xfffffffe), "FunctionCallResponse: result has a negative length (-2)"},
      {'V', be32(3) + "ab", "FunctionCallResponse: result length runs past the end"},
      {'q', "", "unknown backend message type 'q'"},
  };
  for (const BadBody& c : cases) {
    auto r = decodeBackend(c.type, c.body);
    ASSERT_FALSE(r.ok()) << "type " << c.type << " expected: " << c.error;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos)
        << "got: " << r.error().message << "\nexpected: " << c.error;
  }
}

// Messages whose body is opaque bytes, where any prefix or extension is itself valid.
bool isOpaque(const FrontendMessage& m) {
  return std::holds_alternative<CopyData>(m) || std::holds_alternative<PasswordMessage>(m);
}
bool isOpaque(const BackendMessage& m) {
  if (std::holds_alternative<CopyData>(m)) return true;
  if (const auto* auth = std::get_if<Authentication>(&m)) {
    return auth->code == AuthCode::kGssContinue || auth->code == AuthCode::kSaslContinue ||
           auth->code == AuthCode::kSaslFinal;
  }
  return false;
}

// Every structured layout is exact: cutting a body short anywhere, or adding a byte, is an error.
template <class Message, class DecodeFn>
void expectExactLayouts(const std::vector<Message>& samples, DecodeFn decode) {
  for (const Message& m : samples) {
    if (isOpaque(m)) continue;
    const std::string wire = encoded(m);
    const char type = wire[0];
    const std::string body = wire.substr(5);
    if (body.size() > 4096) continue;  // the 40000-parameter Bind: its prefixes add nothing but time
    for (size_t len = 0; len < body.size(); ++len)
      EXPECT_FALSE(decode(type, std::string_view(body).substr(0, len)).ok())
          << "type " << type << " (alternative " << m.index() << ") cut to " << len << " of " << body.size();
    EXPECT_FALSE(decode(type, body + '\0').ok()) << "type " << type << " with a trailing byte";
  }
}

TEST(CodecMalformed, EveryTruncationOrExtensionOfAFrontendBodyFails) {
  expectExactLayouts(fixtures::frontendSamples(), decodeFrontend);
}

TEST(CodecMalformed, EveryTruncationOrExtensionOfABackendBodyFails) {
  expectExactLayouts(fixtures::backendSamples(), decodeBackend);
}

TEST(CodecMalformed, EveryTruncationOfAStartupPacketWaitsAndEveryBadLengthFails) {
  for (const StartupPacket& p : fixtures::startupSamples()) {
    const std::string wire = encoded(p);
    for (size_t len = 0; len < wire.size(); ++len)
      EXPECT_EQ(decodeStartup(std::string_view(wire).substr(0, len), Limits{}).status,
                DecodeStatus::kNeedMore);
    // The same bytes with a length word one short: the packet no longer ends where its layout does.
    std::string shorter = wire.substr(0, wire.size() - 1);
    shorter.replace(0, 4, be32(static_cast<uint32_t>(shorter.size())));
    EXPECT_EQ(decodeStartup(shorter, Limits{}).status, DecodeStatus::kError) << p.index();
  }
}

}  // namespace
}  // namespace gatehouse::pg
